"""One object's mask carried through a stack with SAM 1 (micro-sam's 3D annotator way), no napari.

The model is the tiny random-weight SAM of tests/sam_tiny.py: these tests check
the plumbing exactly (planes in order both ways, stops, ids, prompts), not
mask quality.
"""

from __future__ import annotations

import numpy as np
import pytest
from sam_tiny import TINY_TYPE, tiny_checkpoint  # noqa: F401  (fixture)

from napari_gazeseg.segmentation import ObjectMask, Stage
from napari_gazeseg.stack_propagation import (
    PropagationEnd,
    mask_iou,
    propagate_mask,
    propagation_planes,
)

PLANES, ROWS, COLS = 4, 40, 48


@pytest.mark.parametrize(
    ("n", "start", "each_way", "up", "down"),
    [
        (4, 1, None, [2, 3], [0]),
        (6, 2, 1, [3], [1]),
        (6, 0, None, [1, 2, 3, 4, 5], []),
        (6, 5, 2, [], [4, 3]),
        (6, 3, 0, [], []),
        (1, 0, None, [], []),
    ],
)
def test_planes_visited(n, start, each_way, up, down):
    assert propagation_planes(n, start, each_way) == (up, down)


@pytest.mark.parametrize(("n", "start", "each_way"), [(4, 4, None), (4, -1, None), (4, 1, -1)])
def test_planes_refused(n, start, each_way):
    with pytest.raises(ValueError, match="plane|0 or more"):
        propagation_planes(n, start, each_way)


@pytest.mark.parametrize(
    ("a", "b", "iou"),
    [([1, 1, 0, 0], [1, 1, 0, 0], 1.0), ([1, 1, 0, 0], [0, 1, 1, 0], 1 / 3), ([0, 0], [0, 0], 0.0)],
)
def test_mask_iou(a, b, iou):
    assert mask_iou(np.array(a, bool), np.array(b, bool)) == pytest.approx(iou)


@pytest.fixture(scope="module")
def stack():
    rows, cols = np.mgrid[:ROWS, :COLS]
    data = np.full((PLANES, ROWS, COLS), 20, np.uint8)
    for z in range(PLANES):  # a disk growing through the planes
        data[z][(rows - 20) ** 2 + (cols - 22) ** 2 < (7 + z) ** 2] = 200
    return data


class Spy:
    """The real tiny GazeSam, with its calls recorded (plane embedded, mask prompted, answer)."""

    def __init__(self, sam, empty_on=()):
        self.sam, self.calls, self.empty_on = sam, [], set(empty_on)

    def set_image(self, image, contrast_limits=None, slice_index=None):
        self.plane = tuple(slice_index)
        return self.sam.set_image(image, contrast_limits, slice_index)

    def segment_from_mask(self, mask, **kwargs):
        found = self.sam.segment_from_mask(mask, **kwargs)
        if self.plane in self.empty_on:  # fault injection: SAM finds nothing here
            found = np.zeros_like(found)
        self.calls.append((self.plane, mask.copy(), found))
        return found


@pytest.fixture(scope="module")
def sam(tiny_checkpoint):  # noqa: F811
    from napari_gazeseg.models import GazeSam

    return GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu")


def test_planes_in_order_both_ways_to_the_ends_with_the_object_id(sam, stack):
    spy = Spy(sam)
    start = stack[1] > 100
    items = list(propagate_mask(spy, stack, start, (1,), 7, iou_threshold=0.0, stages=True))

    assert [c[0] for c in spy.calls] == [(2,), (3,), (0,)]  # up to the end, then down
    # each plane is prompted with the previous plane's answer (the start plane's mask first)
    np.testing.assert_array_equal(spy.calls[0][1], start)
    np.testing.assert_array_equal(spy.calls[1][1], spy.calls[0][2])
    np.testing.assert_array_equal(spy.calls[2][1], start)
    masks = [i for i in items if isinstance(i, ObjectMask)]
    assert [(m.object_id, m.slice_index) for m in masks] == [(7, (2,)), (7, (3,)), (7, (0,))]
    for m, call in zip(masks, spy.calls):
        np.testing.assert_array_equal(m.mask, call[2])
        assert m.mask.shape == (ROWS, COLS) and m.pixels > 0  # SAM answered something
    ends = [i for i in items if isinstance(i, PropagationEnd)]
    assert ends == [PropagationEnd(1, 3, "end of the stack"), PropagationEnd(-1, 0, "end of the stack")]
    assert [i.text for i in items if isinstance(i, Stage)] == [
        "object 7: plane 2 (up)", "object 7: plane 3 (up)", "object 7: plane 0 (down)"
    ]
    # the answers are GazeSam's own for the same prompt
    sam.set_image(stack[2], None, (2,))
    np.testing.assert_array_equal(masks[0].mask, sam.segment_from_mask(start))


def test_a_vanished_mask_or_a_low_iou_stops_that_direction(sam, stack):
    start = stack[1] > 100
    spy = Spy(sam, empty_on={(3,)})
    items = list(propagate_mask(spy, stack, start, (1,), 2, iou_threshold=0.0))
    assert [c[0] for c in spy.calls] == [(2,), (3,), (0,)]
    assert [m.slice_index for m in items if isinstance(m, ObjectMask)] == [(2,), (0,)]
    assert next(i for i in items if isinstance(i, PropagationEnd)) == PropagationEnd(
        1, 2, "empty mask on plane 3"
    )
    # an IoU threshold above any overlap stops each direction at its first plane
    items = list(propagate_mask(sam, stack, start, (1,), 2, iou_threshold=1.01, planes_each_way=1))
    assert not [m for m in items if isinstance(m, ObjectMask)]
    ends = [i for i in items if isinstance(i, PropagationEnd)]
    assert [(e.direction, e.last_plane) for e in ends] == [(1, 1), (-1, 1)]
    assert all(e.reason.startswith("IoU ") and "< 1.01 with plane 1" in e.reason for e in ends)


def test_limits_and_refusals(sam, stack):
    start = stack[2] > 100
    spy = Spy(sam)
    items = list(propagate_mask(spy, stack, start, (2,), 1, iou_threshold=0.0, planes_each_way=1))
    assert [c[0] for c in spy.calls] == [(3,), (1,)]
    assert [i.reason for i in items if isinstance(i, PropagationEnd)] == [
        "end of the stack", "limit of 1 plane"
    ]
    with pytest.raises(ValueError, match="no mask on plane 2"):
        next(propagate_mask(sam, stack, np.zeros((ROWS, COLS), bool), (2,), 1))
    with pytest.raises(ValueError, match="2D image has no neighbouring planes"):
        next(propagate_mask(sam, stack[0], start, (), 1))
