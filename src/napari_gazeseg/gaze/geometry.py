"""Screen geometry: normalised display-area coordinates, millimetres and visual angle.

Coordinate conventions
----------------------
* **Normalised** display-area coordinates are the eye tracker's ``(x, y)``:
  ``(0, 0)`` is the top-left and ``(1, 1)`` the bottom-right corner of the
  active display area; ``x`` grows to the right, ``y`` downwards.
* **Screen pixels** are ``(x, y)`` from the top-left corner, continuous: the left
  edge is ``x = 0``, the right edge ``x = width_px``.
* **Millimetres** are ``(x, y)`` on the screen plane from the *screen centre*,
  ``x`` to the right and ``y`` downwards.
* The **eye** sits ``distance_mm`` in front of the screen centre, on the normal
  through it. Gaze *directions* are vectors from the eye: ``x`` right, ``y``
  down, ``z`` into the screen. Visual angles between two screen points are the
  exact angles between their directions (not the small-angle approximation), so
  thresholds in degrees hold anywhere on the screen.

Arrays of points have the ``(x, y)`` pair in the last axis and broadcast like
numpy arrays; NaN in, NaN out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ScreenGeometry"]

# 24 inch (609.6 mm) diagonal, 16:9 panel: the width and height follow exactly.
_DEFAULT_DIAGONAL_MM = 24 * 25.4
_DEFAULT_WIDTH_MM = _DEFAULT_DIAGONAL_MM * 16 / math.hypot(16, 9)
_DEFAULT_HEIGHT_MM = _DEFAULT_DIAGONAL_MM * 9 / math.hypot(16, 9)

_META_KEYS = ("width_px", "height_px", "width_mm", "height_mm", "distance_mm")


@dataclass(frozen=True)
class ScreenGeometry:
    """Size of the tracked screen and the viewing distance.

    Attributes
    ----------
    width_px, height_px : int
        Resolution of the display area in screen pixels.
    width_mm, height_mm : float
        Physical size of the display area in millimetres.
    distance_mm : float
        Distance from the eye to the screen centre in millimetres, along the
        screen's normal.
    """

    width_px: int
    height_px: int
    width_mm: float
    height_mm: float
    distance_mm: float

    def __post_init__(self) -> None:
        for name in _META_KEYS:
            value = getattr(self, name)
            if not (
                isinstance(value, (int, float, np.integer, np.floating))
                and math.isfinite(value)
                and value > 0
            ):
                raise ValueError(f"screen {name} must be a positive number, got {value!r}.")
        object.__setattr__(self, "width_px", int(self.width_px))
        object.__setattr__(self, "height_px", int(self.height_px))
        for name in ("width_mm", "height_mm", "distance_mm"):
            object.__setattr__(self, name, float(getattr(self, name)))

    # -- construction --------------------------------------------------------
    @classmethod
    def default(cls) -> ScreenGeometry:
        """A 24" 16:9 monitor at 1920 x 1080 (531.3 x 298.9 mm) viewed from 650 mm,
        the usual Tobii Pro Fusion set-up."""
        return cls(1920, 1080, _DEFAULT_WIDTH_MM, _DEFAULT_HEIGHT_MM, 650.0)

    @classmethod
    def from_meta(cls, meta: dict[str, Any] | None) -> ScreenGeometry | None:
        """The geometry stored in ``meta["screen"]``, or None when there is none.

        Raises ValueError when ``meta["screen"]`` exists but lacks a key or holds a
        value that is not a positive number.
        """
        screen = (meta or {}).get("screen")
        if screen is None:
            return None
        missing = [key for key in _META_KEYS if key not in screen]
        if missing:
            raise ValueError(
                f"meta['screen'] lacks {', '.join(missing)}; give all of {', '.join(_META_KEYS)}."
            )
        return cls(*(screen[key] for key in _META_KEYS))

    def to_meta(self) -> dict[str, float | int]:
        """The dict stored as ``meta["screen"]`` (JSON-serialisable)."""
        return {key: getattr(self, key) for key in _META_KEYS}

    # -- unit conversions ----------------------------------------------------
    @property
    def mm_per_px(self) -> tuple[float, float]:
        """Millimetres per screen pixel, ``(horizontal, vertical)``."""
        return self.width_mm / self.width_px, self.height_mm / self.height_px

    def normalised_to_mm(self, xy) -> np.ndarray:
        """Normalised ``(x, y)`` to millimetres from the screen centre (x right, y down)."""
        mm = np.subtract(xy, 0.5, dtype=np.float64)
        mm *= np.array([self.width_mm, self.height_mm])
        return mm

    def mm_to_normalised(self, mm) -> np.ndarray:
        """Millimetres from the screen centre to normalised ``(x, y)``."""
        mm = np.asarray(mm, dtype=np.float64)
        size = np.array([self.width_mm, self.height_mm])
        return mm / size + 0.5

    def normalised_to_px(self, xy) -> np.ndarray:
        """Normalised ``(x, y)`` to screen pixels ``(x, y)`` from the top-left corner."""
        return np.asarray(xy, dtype=np.float64) * np.array([self.width_px, self.height_px])

    def px_to_normalised(self, px) -> np.ndarray:
        """Screen pixels ``(x, y)`` from the top-left corner to normalised ``(x, y)``."""
        return np.asarray(px, dtype=np.float64) / np.array([self.width_px, self.height_px])

    def directions(self, xy) -> np.ndarray:
        """Gaze direction vectors (not unit length) from the eye to normalised ``(x, y)``.

        Shape ``(..., 3)``: ``(x_mm, y_mm, distance_mm)``.
        """
        mm = self.normalised_to_mm(xy)
        depth = np.broadcast_to(self.distance_mm, mm.shape[:-1] + (1,))
        return np.concatenate([mm, depth], axis=-1)

    # -- visual angle --------------------------------------------------------
    def visual_angle_deg(self, xy_a, xy_b) -> np.ndarray:
        """Exact visual angle in degrees between gaze at normalised ``xy_a`` and ``xy_b``.

        Both are ``(..., 2)`` arrays (broadcast against each other); the result has
        the broadcast leading shape. See :meth:`visual_angle_mm_deg`.
        """
        return self.visual_angle_mm_deg(self.normalised_to_mm(xy_a), self.normalised_to_mm(xy_b))

    def visual_angle_mm_deg(self, mm_a, mm_b) -> np.ndarray:
        """Exact visual angle in degrees between gaze at screen points given in mm
        from the centre (``(..., 2)``, see :meth:`normalised_to_mm`)."""
        mm_a = np.asarray(mm_a, dtype=np.float64) / self.distance_mm
        mm_b = np.asarray(mm_b, dtype=np.float64) / self.distance_mm
        return self.tangent_angle_deg(mm_a[..., 0], mm_a[..., 1], mm_b[..., 0], mm_b[..., 1])

    def normalised_to_tangent(self, xy) -> np.ndarray:
        """Normalised ``(x, y)`` to tangent-plane coordinates ``(u, v)``: millimetres from
        the screen centre divided by ``distance_mm``, so that ``(u, v, 1)`` is the gaze
        direction. ``atan(u)`` is the horizontal angle from the centre."""
        uv = np.subtract(xy, 0.5, dtype=np.float64)
        # Column by column: a scalar multiply beats broadcasting a 2-vector.
        uv[..., 0] *= self.width_mm / self.distance_mm
        uv[..., 1] *= self.height_mm / self.distance_mm
        return uv

    @staticmethod
    def tangent_angle_deg(ua, va, ub, vb) -> np.ndarray:
        """Exact angle in degrees between gaze directions ``(ua, va, 1)`` and ``(ub, vb, 1)``
        (tangent-plane coordinates, see :meth:`normalised_to_tangent`), broadcast.

        ``atan2(|a x b|, a . b)``, with the cross product written through the
        differences ``b - a`` so that the tiny angles between neighbouring samples at
        high sampling rates keep full precision (no ``arccos`` near 1):
        ``a x b = (va - vb, ub - ua, ua dv - va du)``. Contiguous arrays make this the
        fast path for millions of samples.
        """
        shape = np.broadcast_shapes(np.shape(ua), np.shape(va), np.shape(ub), np.shape(vb))
        du = np.subtract(ub, ua, out=np.empty(shape))
        dv = np.subtract(vb, va, out=np.empty(shape))
        z = np.multiply(ua, dv, out=np.empty(shape))
        z -= np.multiply(va, du)
        z *= z
        du *= du
        dv *= dv
        du += dv
        du += z
        sine = np.sqrt(du, out=du)
        cosine = np.multiply(ua, ub, out=dv)
        cosine += np.multiply(va, vb, out=z)
        cosine += 1.0
        angle = np.arctan2(sine, cosine, out=sine)
        angle *= 180.0 / math.pi
        return angle[()]  # a scalar for single points

    def normalised_to_degrees(self, xy) -> np.ndarray:
        """Normalised ``(x, y)`` to ``(azimuth, elevation)`` in degrees from the screen centre.

        Azimuth is the horizontal rotation of the gaze direction,
        ``atan(x_mm / distance_mm)``; elevation the rotation out of that plane,
        ``atan(y_mm / hypot(x_mm, distance_mm))`` (positive downwards). Near the
        centre both are the visual angles along x and y, so dispersions of these
        coordinates are in degrees anywhere on the screen.
        """
        return self.tangent_to_degrees(self.normalised_to_tangent(xy))

    @staticmethod
    def tangent_to_degrees(uv) -> np.ndarray:
        """Tangent-plane ``(u, v)`` to ``(azimuth, elevation)`` in degrees (see
        :meth:`normalised_to_degrees`)."""
        uv = np.asarray(uv, dtype=np.float64)
        azimuth = np.arctan(uv[..., 0])
        elevation = np.arctan2(uv[..., 1], np.hypot(uv[..., 0], 1.0))
        return np.degrees(np.stack([azimuth, elevation], axis=-1))

    def eccentricity_deg(self, xy) -> np.ndarray:
        """Visual angle in degrees between normalised ``xy`` and the screen centre."""
        return self.visual_angle_deg(xy, np.array([0.5, 0.5]))

    def px_per_degree(self, at=None) -> float | np.ndarray:
        """Screen pixels per degree of a small horizontal gaze shift at ``at``.

        ``at`` is a normalised ``(x, y)`` (or a ``(..., 2)`` array); by default the
        screen centre, where the value is ``distance_mm * pi / 180 / mm_per_px``.
        Off centre fewer degrees fit in a pixel, so the value grows with eccentricity.
        Returns a float for a single point, else an array of the leading shape.
        """
        at = np.array([0.5, 0.5]) if at is None else np.asarray(at, dtype=np.float64)
        step_px = 1e-3
        shifted = at + np.array([step_px / self.width_px, 0.0])
        # A symmetric difference would be no more exact here: the angle is smooth and
        # the step is a thousandth of a pixel.
        value = step_px / self.visual_angle_deg(at, shifted)
        return float(value) if np.ndim(value) == 0 else value

    def deg_to_px(self, degrees, at=None) -> float | np.ndarray:
        """A small visual angle in degrees as screen pixels (horizontal) at ``at``."""
        return np.asarray(degrees, dtype=np.float64) * self.px_per_degree(at)

    def deg_to_normalised(self, degrees, at=None) -> float | np.ndarray:
        """A small visual angle in degrees as a horizontal normalised distance at ``at``."""
        return self.deg_to_px(degrees, at) / self.width_px

    def offset_by_angle(self, xy, angle_deg, direction_deg: float = 0.0) -> np.ndarray:
        """The normalised point at exactly ``angle_deg`` visual angle from ``xy``.

        ``angle_deg`` is a float or an array broadcasting against ``xy[..., 0]``.
        ``direction_deg`` is the direction of the shift on the screen, measured from
        the ``+x`` axis towards ``+y`` (0 = right, 90 = down). The gaze direction is
        rotated by ``angle_deg`` in the plane through the eye that contains that
        screen direction, so :meth:`visual_angle_deg` of the result is ``angle_deg``.
        """
        a = self.directions(xy)
        a = a / np.linalg.norm(a, axis=-1, keepdims=True)
        theta = math.radians(direction_deg)
        screen_dir = np.array([math.cos(theta), math.sin(theta), 0.0])
        # The component of the screen direction orthogonal to the gaze direction.
        ortho = screen_dir - np.sum(a * screen_dir, axis=-1, keepdims=True) * a
        ortho = ortho / np.linalg.norm(ortho, axis=-1, keepdims=True)
        phi = np.radians(np.asarray(angle_deg, dtype=np.float64))[..., None]
        rotated = np.cos(phi) * a + np.sin(phi) * ortho
        if np.any(rotated[..., 2] <= 0):
            raise ValueError(
                f"a shift of {angle_deg} degrees leaves the screen plane; use a smaller angle."
            )
        mm = rotated[..., :2] * (self.distance_mm / rotated[..., 2:3])
        return self.mm_to_normalised(mm)
