"""Moved: :func:`napari_gazeseg.segmentation.paint_mask` (this name stays for old imports)."""

from ..segmentation import paint_mask

__all__ = ["paint_mask"]
