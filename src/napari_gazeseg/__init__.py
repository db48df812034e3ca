"""napari-gazeseg: turn where a person looks into segmentations.

The science lives in :mod:`napari_gazeseg.gaze` (numpy/scipy only), live gaze
sources in :mod:`napari_gazeseg.tracking`, the torch models in
:mod:`napari_gazeseg.models`, and the napari glue in ``napari_gazeseg._napari``.
Importing this package imports none of them.
"""

__version__ = "0.1.0"
