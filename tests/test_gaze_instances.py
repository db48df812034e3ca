"""labels_from_gaze: a foreground mask split into the objects the gaze sessions looked at."""

from __future__ import annotations

import numpy as np
import pytest

from napari_gazeseg.segmentation import labels_from_gaze


def _two_blobs() -> np.ndarray:
    mask = np.zeros((20, 30), bool)
    mask[2:8, 2:8] = True  # component A
    mask[10:18, 15:28] = True  # component B
    return mask


@pytest.mark.parametrize(
    ("points", "ids", "expected_a", "expected_b"),
    [
        ([[4, 4], [12, 20]], [1, 2], 1, 2),  # one session in each component
        ([[4, 4], [5, 5], [12, 20]], [3, 3, 7], 3, 7),  # several fixations, ids kept
        ([[4, 4]], [2], 2, 0),  # B not looked at: left out
        ([[4, 4], [12, 20]], [0, 5], 0, 5),  # object id 0 (no session) chooses nothing
        ([[0, 20], [12, 20]], [1, 5], 0, 5),  # a fixation on background chooses nothing
        ([[-3, 4], [25, 4], [np.nan, 5], [12, 20]], [1, 1, 1, 5], 0, 5),  # off the image, NaN
        ([[7.4, 7.4]], [4], 4, 0),  # rounds to the pixel (7, 7), inside A
    ],
)
def test_components_take_their_sessions_ids(points, ids, expected_a, expected_b):
    mask = _two_blobs()
    labels = labels_from_gaze(mask, np.array(points, float), np.array(ids))
    assert labels.dtype == np.int32 and labels.shape == mask.shape
    assert (labels[2:8, 2:8] == expected_a).all()
    assert (labels[10:18, 15:28] == expected_b).all()
    assert (labels[~mask] == 0).all()


def test_touching_objects_are_split_between_their_fixations():
    mask = np.zeros((10, 40), bool)
    mask[2:8, 2:38] = True  # one component, two objects looked at
    labels = labels_from_gaze(mask, np.array([[5.0, 8.0], [5.0, 30.0]]), np.array([1, 2]))
    assert (labels[2:8, 2:17] == 1).all()  # well on the side of the fixation at column 8
    assert (labels[2:8, 22:38] == 2).all()
    assert (labels[mask] > 0).all() and (labels[~mask] == 0).all()


def test_each_objects_share_of_a_bent_component_is_connected():
    from scipy import ndimage

    mask = np.zeros((20, 20), bool)  # a U: left arm, bottom, right arm
    mask[2:18, 2:6] = True
    mask[14:18, 2:18] = True
    mask[2:18, 14:18] = True
    labels = labels_from_gaze(mask, np.array([[16.0, 10.0], [3.0, 3.0]]), np.array([1, 2]))
    assert (labels[mask] > 0).all()
    for object_id in (1, 2):
        assert ndimage.label(labels == object_id)[1] == 1
    assert (labels[2:10, 14:18] == 1).all()  # the right arm is reached through the bottom


def test_no_points_and_empty_mask_give_no_labels():
    assert not labels_from_gaze(_two_blobs(), np.empty((0, 2)), np.empty(0, int)).any()
    assert not labels_from_gaze(np.zeros((5, 5), bool), np.array([[2.0, 2.0]]), [1]).any()


@pytest.mark.parametrize(
    ("mask_shape", "points", "ids", "message"),
    [
        ((2, 5, 5), [[2.0, 2.0]], [1], "2D"),
        ((5, 5), [[2.0, 2.0]], [1, 2], "object ids of shape"),
        ((5, 5), [[2.0, 2.0, 1.0]], [1], r"\(N, 2\)"),
        ((5, 5), [[2.0, 2.0]], [-1], "whole numbers"),
        ((5, 5), [[2.0, 2.0]], [1.5], "whole numbers"),
        ((5, 5), [[2.0, 2.0]], [2**31 + 5], "int32"),
    ],
)
def test_bad_input_is_refused(mask_shape, points, ids, message):
    with pytest.raises(ValueError, match=message):
        labels_from_gaze(np.zeros(mask_shape, bool), np.array(points), np.array(ids))
