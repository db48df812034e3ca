"""The painting policy: how one object's mask goes into a label image.

Every flag and case of ``paint_mask`` as a table on a 1 x 6 label row (0 background,
other objects 2 and 3), then the same policy through the segment widget's undoable
edit of a real napari Labels layer.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_gazeseg.segmentation import paint_mask

_ = 0  # background, for readable rows


@pytest.mark.parametrize(
    ("before", "mask", "overwrite", "after"),
    [
        # onto background: the mask becomes the object
        ([_, _, _, _, _, _], [0, 1, 1, 0, 0, 0], False, [_, 1, 1, _, _, _]),
        # another object's pixels are kept unless overwrite is asked for ...
        ([_, 2, 2, 3, _, _], [1, 1, 1, 1, 1, 0], False, [1, 2, 2, 3, 1, _]),
        # ... and taken when it is
        ([_, 2, 2, 3, _, _], [1, 1, 1, 1, 1, 0], True, [1, 1, 1, 1, 1, _]),
        # the object's old pixels outside the new mask go back to background (no stale pixels)
        ([1, 1, 1, _, 2, _], [0, 0, 1, 1, 0, 0], False, [_, _, 1, 1, 2, _]),
        ([1, 1, 1, _, 2, _], [0, 0, 1, 1, 1, 0], True, [_, _, 1, 1, 1, _]),
        # overwrite never touches other objects' pixels outside the mask
        ([2, 2, 3, 3, 1, 1], [0, 0, 0, 1, 0, 0], True, [2, 2, 3, 1, _, _]),
        # an empty mask removes the object
        ([1, 1, 2, _, _, _], [0, 0, 0, 0, 0, 0], False, [_, _, 2, _, _, _]),
        ([1, 1, 2, _, _, _], [0, 0, 0, 0, 0, 0], True, [_, _, 2, _, _, _]),
    ],
)
@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.uint32])
def test_paint_policy(before, mask, overwrite, after, dtype):
    labels = np.array([before], dtype=dtype)
    pixels = paint_mask(labels, np.array([mask], dtype=bool), 1, overwrite=overwrite)
    np.testing.assert_array_equal(labels, [after])
    assert labels.dtype == dtype
    assert pixels == after.count(1)


def test_overwrite_is_off_by_default():
    labels = np.array([[2, 2, 0]], dtype=np.uint8)
    paint_mask(labels, np.array([[1, 1, 1]], dtype=bool), 1)
    np.testing.assert_array_equal(labels, [[2, 2, 1]])


def test_paints_in_place_through_a_view_of_one_slice():
    stack = np.zeros((3, 2, 4), dtype=np.uint16)
    stack[0] = 5
    mask = np.zeros((2, 4), dtype=bool)
    mask[:, 1:3] = True
    paint_mask(stack[1], mask, 7, overwrite=True)
    assert (stack[1][mask] == 7).all() and (stack[1][~mask] == 0).all()
    assert (stack[0] == 5).all() and (stack[2] == 0).all()  # other slices untouched


@pytest.mark.parametrize(
    ("labels", "mask", "label_id", "message"),
    [
        (np.zeros((2, 2), np.uint8), np.ones((2, 2)), 0, "label id of 1 or more"),
        (np.zeros((2, 2), np.uint8), np.ones((2, 2)), -3, "label id of 1 or more"),
        (np.zeros((2, 2), np.uint8), np.ones((2, 2)), 256, "does not fit the labels layer's uint8"),
        (np.zeros((2, 2), np.int16), np.ones((2, 2)), 2**15, "does not fit the labels layer's int16"),
        (np.zeros((2, 2), np.uint8), np.ones((2, 3)), 1, r"mask has shape \(2, 3\)"),
    ],
)
def test_refusals_leave_the_labels_untouched(labels, mask, label_id, message):
    labels[0, 0] = 9
    before = labels.copy()
    with pytest.raises(ValueError, match=message):
        paint_mask(labels, mask, label_id, overwrite=True)
    np.testing.assert_array_equal(labels, before)


@pytest.mark.gui
@pytest.mark.parametrize("overwrite", [False, True])
def test_the_widget_paints_one_undoable_edit_with_the_policy(make_napari_viewer, overwrite):
    from napari_gazeseg._napari.segment_widget import _paint_undoable

    viewer = make_napari_viewer()
    data = np.zeros((2, 4, 6), dtype=np.int32)
    data[1, :, :2] = 2  # another object on the slice painted
    data[1, 0, 5] = 1  # a stale pixel of the object itself
    labels = viewer.add_labels(data.copy())
    mask = np.zeros((4, 6), dtype=bool)
    mask[1:3, 1:4] = True  # overlaps object 2 in column 1
    pixels = _paint_undoable(labels, (1,), mask, 1, overwrite)
    expected = data.copy()
    expected[1, 0, 5] = 0
    expected[1][mask & ((data[1] == 0) | overwrite)] = 1
    np.testing.assert_array_equal(labels.data, expected)
    assert pixels == int((expected[1] == 1).sum()) == (6 if overwrite else 4)
    labels.undo()  # one Ctrl+Z restores the slice as it was
    np.testing.assert_array_equal(labels.data, data)
