"""Gaze over a multiscale image: level-0 coordinates, SAM on a tile of the viewed level, labels
written back at level 0 into a zarr array (lazy 3-level 20000^2 pyramid, tiny SAM, CPU)."""

from __future__ import annotations

import numpy as np
import pytest
from sam_tiny import TINY_TYPE, tiny_checkpoint  # noqa: F401  (fixture)

pytest.importorskip("zarr")
da = pytest.importorskip("dask.array")

from napari_gazeseg.gaze.recording import Fixations  # noqa: E402
from napari_gazeseg.models import GazeSam  # noqa: E402
from napari_gazeseg.multiscale import (  # noqa: E402
    from_level0,
    level_factors,
    segment_on_tile,
    tile_around,
    to_level0,
    zarr_labels,
)

SIZE = 20000
CENTRE, RADIUS = (8000.0, 12000.0), 600.0  # a bright disc, in level-0 pixels


def _level(n: int):
    """Level ``n`` x ``n``, made block by block only when read (dask)."""
    factor = SIZE / n
    r0, c0 = (np.asarray(CENTRE) + 0.5) / factor - 0.5

    def disc(block, block_info=None):
        (top, bottom), (left, right) = block_info[0]["array-location"]
        r, c = np.ogrid[top:bottom, left:right]
        return np.where((r - r0) ** 2 + (c - c0) ** 2 <= (RADIUS / factor) ** 2, 200, 20).astype(np.uint8)

    return da.zeros((n, n), chunks=2048, dtype=np.uint8).map_blocks(disc, dtype=np.uint8)


@pytest.fixture(scope="module")
def pyramid():
    return [_level(SIZE), _level(SIZE // 2), _level(SIZE // 4)]


@pytest.mark.parametrize(
    ("factors", "level_point", "level0_point"),
    [((1, 1), (7, 9), (7, 9)), ((2, 2), (0, 0), (0.5, 0.5)), ((4, 4), (10, 3), (41.5, 13.5)), ((4, 2), (1, 1), (5.5, 2.5))],
)
def test_level_coordinates_map_to_level0_and_back(factors, level_point, level0_point):
    np.testing.assert_allclose(to_level0([level_point], factors), [level0_point])
    np.testing.assert_allclose(from_level0([level0_point], factors), [level_point])


@pytest.mark.parametrize(
    ("points", "level", "tile", "origin", "size"),
    [
        ([(8000, 12000)], 2, 256, (1872, 2872), (256, 256)),  # centred: 1999.625 - 128, 2999.625 - 128
        ([(10, 10)], 2, 256, (0, 0), (256, 256)),  # pushed inside at the top left
        ([(19999, 19999)], 1, 512, (9488, 9488), (512, 512)),  # and at the bottom right
        ([(100, 100)], 2, 8000, (0, 0), (5000, 5000)),  # a tile larger than the level: the level
    ],
)
def test_tile_around_the_fixations_inside_the_level(pyramid, points, level, tile, origin, size):
    where = tile_around(points, pyramid, level, tile)
    assert (where.level, where.origin, where.size) == (level, origin, size)


def test_level_factors_refuse_missing_levels(pyramid):
    np.testing.assert_array_equal(level_factors(pyramid, 2), [4, 4])
    with pytest.raises(ValueError, match="levels 0..2"):
        level_factors(pyramid, 3)


class _Recorder:
    """The real GazeSam, with what it was given kept for the test."""

    def __init__(self, sam):
        self.sam, self.images, self.points = sam, [], []

    def set_image(self, image, contrast_limits=None, slice_index=None):
        self.images.append(np.array(image))
        return self.sam.set_image(image, contrast_limits, slice_index)

    def segment(self, fixations, recording=None, prompt=None, **kwargs):
        self.points.append(fixations.coords.copy())
        return self.sam.segment(fixations, recording, prompt, **kwargs)


def test_sam_on_a_tile_of_the_viewed_level_writes_level0_labels(pyramid, tiny_checkpoint, tmp_path):  # noqa: F811
    coords = np.array([[7990.0, 11990.0], [8010.0, 12030.0], [500.0, 500.0]])
    fixations = Fixations(np.arange(3.0), np.full(3, 0.3), coords, np.array([3, 3, 4]), {})
    labels = zarr_labels((SIZE, SIZE), tmp_path / "labels.zarr", chunks=2048)
    sam = _Recorder(GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu"))

    where, mask = segment_on_tile(sam, pyramid, fixations, 3, labels, level=2, tile=256)

    assert where.origin == (1872, 2874) and where.size == (256, 256)  # round((1999.625, 3002.125) - 128)
    # SAM saw exactly that tile of level 2, and object 3's fixations on it
    np.testing.assert_array_equal(sam.images[0], np.asarray(pyramid[2][1872:2128, 2874:3130]))
    np.testing.assert_allclose(sam.points[0], from_level0(coords[:2], (4, 4)) - [1872, 2874])
    assert mask.shape == (256, 256) and mask.any()
    # level 0: the mask scaled up 4x at the tile's place, nothing anywhere else
    top, left = 1872 * 4, 2874 * 4
    region = labels[top : top + 1024, left : left + 1024]
    np.testing.assert_array_equal(region == 3, np.kron(mask, np.ones((4, 4), bool)))
    assert int(np.count_nonzero(region == 3)) == 16 * int(mask.sum())
    # only chunks the mask touches were stored: the slide was never written whole
    import zarr

    stored = zarr.open_array(str(tmp_path / "labels.zarr"), mode="r")
    assert stored.nchunks_initialized <= 4 and stored.nchunks == 100
    rows, cols = np.nonzero(region == 3)
    assert stored[top + rows[0], left + cols[0]] == 3 and stored[0, 0] == 0 and stored[19999, 19999] == 0


def test_zarr_labels_never_replace_a_store_without_being_asked(tmp_path):
    zarr_labels((64, 64), tmp_path / "l.zarr", chunks=32)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        zarr_labels((64, 64), tmp_path / "l.zarr")
    assert zarr_labels((64, 64), tmp_path / "l.zarr", overwrite=True).shape == (64, 64)


def test_cursor_gaze_over_a_multiscale_layer_lands_in_level0_and_picks_the_viewed_level(
    make_napari_viewer, pyramid, qtbot
):
    """The cursor source over the pyramid in a real viewer: level-0 coordinates, the level napari shows."""
    import threading

    from qtpy.QtCore import QPoint

    from napari_gazeseg._napari._viewer import napari_canvas, snapshot_view
    from napari_gazeseg.tracking.mouse import CursorSource
    from napari_gazeseg.tracking.source import SampleBatch

    viewer = make_napari_viewer()
    layer = viewer.add_image(pyramid, multiscale=True, contrast_limits=(0, 255))
    viewer.camera.center = CENTRE
    viewer.camera.zoom = 0.2  # about 5 level-0 pixels per screen pixel: napari shows a coarser level
    canvas = napari_canvas(viewer).native
    qtbot.waitUntil(lambda: layer.data_level > 0, timeout=5000)
    view = snapshot_view(viewer, layer)
    middle = canvas.mapToGlobal(QPoint(canvas.width() // 2, canvas.height() // 2))
    source = CursorSource(rate_hz=200.0, cursor_position=lambda: (middle.x(), middle.y()))
    batches, done = [], threading.Event()
    source.start(lambda b: (batches.append(b), done.set() if sum(map(len, batches)) >= 20 else None), lambda m: None)
    done.wait(10.0)
    source.stop()
    coords, valid = view.map(SampleBatch.concatenate(batches).display)
    assert valid.all()
    # the canvas middle is the camera centre, in level-0 pixels (within a screen pixel)
    np.testing.assert_allclose(coords, np.tile(CENTRE, (len(coords), 1)), atol=1 / viewer.camera.zoom)
    where = tile_around(coords, pyramid, layer.data_level, tile=256)
    centre_on_level = from_level0([CENTRE], level_factors(pyramid, layer.data_level))[0]
    assert np.all(np.abs(np.asarray(where.origin) + 128 - centre_on_level) <= 1 + 1 / viewer.camera.zoom)
