"""Where an image sits on the screen, and gaze directions of screen points.

Screen pixels are ``(x, y)`` from the top-left corner of the display (continuous:
the left edge of the display is ``x = 0``, its right edge ``x = width_px``).
Normalised screen coordinates divide them by the display size, as the eye
tracker reports them. Image coordinates are ``(row, col)`` data coordinates with
pixel centres at integers, so image pixel ``(0, 0)`` covers
``[-0.5, 0.5) x [-0.5, 0.5)``.

Gaze *directions* are vectors from the eye, which sits ``distance_mm`` in front of
the screen centre (``x`` right, ``y`` down, ``z`` into the screen), as in
:class:`~napari_gazeseg.gaze.geometry.ScreenGeometry`. Turning unit directions by
angles gives exact visual angles, so accuracy and precision in degrees hold
anywhere on the screen, not only near its centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ImagePlacement", "screen_from_directions", "tilt", "unit_directions"]


@dataclass(frozen=True)
class ImagePlacement:
    """How image pixels map to screen pixels: a shift and a uniform zoom.

    Attributes
    ----------
    origin_px : (x, y)
        Screen pixel position of the image's top-left corner (the outer corner of
        pixel ``(0, 0)``, i.e. data coordinate ``(-0.5, -0.5)``).
    scale : float
        Screen pixels per image pixel.
    """

    origin_px: tuple[float, float]
    scale: float

    @classmethod
    def centred(
        cls, image_shape: tuple[int, int], screen_px: tuple[int, int], fraction: float = 0.8
    ):
        """The image centred on a ``(width_px, height_px)`` screen, zoomed so that it
        fills ``fraction`` of the screen height or width, whichever is reached first."""
        if not 0 < fraction <= 1:
            raise ValueError(f"the display fraction must lie in (0, 1], got {fraction}.")
        rows, cols = image_shape
        width_px, height_px = screen_px
        scale = fraction * min(height_px / rows, width_px / cols)
        origin = ((width_px - cols * scale) / 2.0, (height_px - rows * scale) / 2.0)
        return cls(origin_px=(float(origin[0]), float(origin[1])), scale=float(scale))

    @classmethod
    def from_meta(cls, meta: dict) -> ImagePlacement:
        """Read ``meta["display"]`` as written by :meth:`to_meta`."""
        try:
            display = meta["display"]
            return cls(
                origin_px=tuple(float(v) for v in display["origin_px"]),
                scale=float(display["scale"]),
            )
        except (KeyError, TypeError) as err:
            raise ValueError(
                f"the recording's meta has no image placement ({err}); "
                "it was not simulated on a screen."
            ) from None

    def to_meta(self) -> dict:
        return {"origin_px": [self.origin_px[0], self.origin_px[1]], "scale": self.scale}

    def image_to_screen_px(self, coords: np.ndarray) -> np.ndarray:
        """``(N, 2)`` image ``(row, col)`` to ``(N, 2)`` screen pixel ``(x, y)``."""
        coords = np.asarray(coords, dtype=np.float64)
        x = self.origin_px[0] + (coords[:, 1] + 0.5) * self.scale
        y = self.origin_px[1] + (coords[:, 0] + 0.5) * self.scale
        return np.stack([x, y], axis=1)

    def screen_px_to_image(self, screen_px: np.ndarray) -> np.ndarray:
        """``(N, 2)`` screen pixel ``(x, y)`` to ``(N, 2)`` image ``(row, col)``."""
        screen_px = np.asarray(screen_px, dtype=np.float64)
        row = (screen_px[:, 1] - self.origin_px[1]) / self.scale - 0.5
        col = (screen_px[:, 0] - self.origin_px[0]) / self.scale - 0.5
        return np.stack([row, col], axis=1)


def unit_directions(screen: np.ndarray, geometry) -> np.ndarray:
    """``(N, 2)`` normalised screen ``(x, y)`` to ``(N, 3)`` unit gaze directions."""
    directions = geometry.directions(screen)
    return directions / np.linalg.norm(directions, axis=-1, keepdims=True)


def screen_from_directions(directions: np.ndarray, geometry) -> np.ndarray:
    """``(N, 3)`` gaze directions (any length, towards the screen) to ``(N, 2)`` normalised
    ``(x, y)``: where each ray from the eye meets the screen plane (the inverse of
    ``geometry.directions``)."""
    mm = directions[:, :2] * (geometry.distance_mm / directions[:, 2:3])
    return geometry.mm_to_normalised(mm)


def tilt(directions: np.ndarray, offsets_rad: np.ndarray) -> np.ndarray:
    """Turn each unit direction by a small ``(N, 2)`` angular offset (radians).

    The offset's first component turns towards screen ``x`` (right), the second
    towards screen ``y`` (down), both perpendicular to the direction itself, so
    the angle turned is ``atan(|offset|)``: the offset's length to within 0.01 %
    for the sub-degree offsets of eye-tracker error.
    """
    horizontal = np.stack([directions[:, 2], np.zeros(len(directions)), -directions[:, 0]], axis=1)
    horizontal /= np.linalg.norm(horizontal, axis=1, keepdims=True)
    vertical = np.cross(directions, horizontal)
    turned = directions + offsets_rad[:, :1] * horizontal + offsets_rad[:, 1:2] * vertical
    return turned / np.linalg.norm(turned, axis=1, keepdims=True)
