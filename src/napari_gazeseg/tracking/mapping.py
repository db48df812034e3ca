"""Screen -> canvas -> world -> image data coordinates, vectorised per batch.

The chain, for normalised display-area gaze ``(x, y)``:

1. **screen**: the tracked screen's geometry in Qt's global *logical* pixels
   (physical pixels divided by the device pixel ratio), so
   ``global = screen_origin + (x, y) * screen_size``;
2. **canvas**: minus the global position of the top-left corner of napari's
   canvas widget (logical pixels, ``(x, y)``);
3. **world**: through the 2D camera, whose ``center`` (world ``(row, col)`` of
   the displayed dimensions) sits at the middle of the canvas and whose
   ``zoom`` is canvas pixels per world unit; axes flip where the camera's 2D
   orientation is ``up`` / ``left``. Non-displayed dimensions take
   ``viewer.dims.point`` (the slice on screen);
4. **data**: the image layer's world -> data transform (scale, translate,
   rotate, shear, affine), an affine map taken from ``layer.world_to_data``.

:class:`ViewTransform` is an immutable snapshot of all of this, taken from the
viewer on the UI thread (``napari_gazeseg._napari._viewer.snapshot_view``: this
package imports no napari; the Record widget hands the recorder a function that
takes it) and applied to whole batches on any thread (:meth:`ViewTransform.map`). Samples off the canvas or off the image come back
invalid with NaN coordinates; their screen coordinates are kept by the caller.
Pixel centres are at integers, so the image covers ``-0.5 .. shape - 0.5``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ViewNotMappableError", "ViewTransform"]


class ViewNotMappableError(ValueError):
    """The viewer shows the image in a way gaze cannot be mapped to (3D view)."""


@dataclass(frozen=True)
class ViewTransform:
    """Everything needed to map normalised display points to image data coordinates.

    Attributes
    ----------
    screen_origin, screen_size : (2,) float
        Tracked screen's top-left corner and size, global logical pixels ``(x, y)``.
    canvas_origin, canvas_size : (2,) float
        Canvas widget's top-left corner (global) and size, logical pixels ``(x, y)``.
    center : (2,) float
        Camera centre, world ``(row, col)`` of the displayed dimensions.
    zoom : float
        Canvas logical pixels per world unit.
    flip : (2,) float
        ``+1`` or ``-1`` per displayed axis ``(row, col)`` (camera orientation).
    world_point : (W,) float
        ``viewer.dims.point``: world position of every dimension (slice on screen).
    displayed : (2,) int
        World dimensions shown on the canvas (``viewer.dims.displayed``).
    world_to_data : (D, W + 1) float
        Affine matrix from world (homogeneous) to the layer's data coordinates.
    data_shape : (D,) int
        Shape of the image layer's data (level 0).
    device_pixel_ratio : float
        Physical pixels per logical pixel of the tracked screen.
    """

    screen_origin: np.ndarray
    screen_size: np.ndarray
    canvas_origin: np.ndarray
    canvas_size: np.ndarray
    center: np.ndarray
    zoom: float
    flip: np.ndarray
    world_point: np.ndarray
    displayed: np.ndarray
    world_to_data: np.ndarray
    data_shape: np.ndarray
    device_pixel_ratio: float = 1.0

    @property
    def ndim(self) -> int:
        """Dimensionality of the data coordinates produced."""
        return int(self.world_to_data.shape[0])

    def canvas_xy(self, display: np.ndarray) -> np.ndarray:
        """Normalised display ``(N, 2)`` ``(x, y)`` -> canvas logical pixels ``(x, y)``."""
        return self.screen_origin + np.asarray(display, float) * self.screen_size - self.canvas_origin

    def world(self, display: np.ndarray) -> np.ndarray:
        """Normalised display ``(N, 2)`` -> world coordinates ``(N, W)``."""
        canvas = self.canvas_xy(display)
        offset_rc = (canvas[:, ::-1] - self.canvas_size[::-1] / 2.0) / self.zoom
        world = np.tile(self.world_point, (canvas.shape[0], 1))
        world[:, self.displayed] = self.center + offset_rc * self.flip
        return world

    def display_of(self, coords: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`map` for the displayed axes: data ``(N, D)`` -> display ``(N, 2)``.

        Where the image point would be on the screen with the view as it is now
        (NaN coordinates give NaN). Used to replay recordings without screen
        coordinates.
        """
        coords = np.asarray(coords, dtype=np.float64).reshape(-1, self.ndim)
        linear, offset = self.world_to_data[:, :-1], self.world_to_data[:, -1]
        world = (coords - offset) @ np.linalg.pinv(linear).T
        offset_rc = (world[:, self.displayed] - self.center) * self.flip
        canvas_xy = (offset_rc * self.zoom + self.canvas_size[::-1] / 2.0)[:, ::-1]
        return (canvas_xy + self.canvas_origin - self.screen_origin) / self.screen_size

    def map(self, display: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map a batch of display points to image data coordinates.

        Returns ``(coords (N, D), valid (N,))``: NaN coordinates and ``False``
        where the point is NaN, off the canvas or off the image.
        """
        display = np.asarray(display, dtype=np.float64).reshape(-1, 2)
        canvas = self.canvas_xy(display)
        with np.errstate(invalid="ignore"):
            on_canvas = np.all((canvas >= 0) & (canvas < self.canvas_size), axis=1)
        world = self.world(display)
        homogeneous = np.column_stack([world, np.ones(world.shape[0])])
        coords = homogeneous @ self.world_to_data.T
        with np.errstate(invalid="ignore"):
            on_image = np.all((coords >= -0.5) & (coords < self.data_shape - 0.5), axis=1)
        valid = on_canvas & on_image & np.isfinite(coords).all(axis=1)
        coords[~valid] = np.nan
        return coords, valid
