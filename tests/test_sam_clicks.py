"""Correction clicks (micro-sam style): positive and negative points added to an object's gaze prompt."""

from __future__ import annotations

import numpy as np
import pytest
from sam_tiny import blob_images, ours_and_stock, tiny_checkpoint  # noqa: F401  (fixture)

from napari_gazeseg.gaze.recording import Fixations
from napari_gazeseg.imaging import to_uint8_rgb
from napari_gazeseg.models.sam_prompts import SamPrompt, add_clicks, points_to_sam
from napari_gazeseg.segmentation import paint_all, sam_object_masks

SIZE = (150, 230)


@pytest.mark.parametrize(
    ("gaze_points", "positive", "negative", "labels"),
    [
        (None, [[10, 20]], None, [1]),
        (None, None, [[10, 20], [30, 40]], [0, 0]),
        ([[5, 5]], [[10, 20]], [[30, 40]], [1, 1, 0]),
        ([[5, 5], [6, 6]], None, [[30, 40]], [1, 1, 0]),
    ],
)
def test_add_clicks_keeps_the_gaze_prompt_and_labels_the_clicks(gaze_points, positive, negative,
                                                                 labels):
    base = SamPrompt(box=np.array([1.0, 2.0, 3.0, 4.0]), mask_input=np.zeros((1, 256, 256)))
    if gaze_points is not None:
        base.point_coords = points_to_sam(np.array(gaze_points, float), SIZE)
        base.point_labels = np.ones(len(gaze_points), dtype=np.int64)
    got = add_clicks(base, positive, negative, original_size=SIZE)
    assert got.point_labels.tolist() == labels
    clicks = [p for p in (positive, negative) if p is not None]
    expected_tail = points_to_sam(np.concatenate([np.array(c, float) for c in clicks]), SIZE)
    np.testing.assert_allclose(got.point_coords[-len(expected_tail):], expected_tail)
    assert got.box is base.box and got.mask_input is base.mask_input


def test_no_clicks_leaves_the_prompt_as_it_is():
    base = SamPrompt(point_coords=np.zeros((1, 2)), point_labels=np.ones(1, dtype=np.int64))
    assert add_clicks(base, None, np.zeros((0, 2)), original_size=SIZE) is base
    with pytest.raises(ValueError, match="no finite position"):
        add_clicks(base, [[np.nan, 1.0]], None, original_size=SIZE)


@pytest.fixture(scope="module")
def sams(tiny_checkpoint):  # noqa: F811
    return ours_and_stock(tiny_checkpoint)


def _image():
    image, _ = blob_images()["grey"]  # SIZE
    return image


def test_gaze_plus_clicks_equals_the_stock_predictor_with_the_same_points(sams):
    ours, stock = sams
    image = _image()
    gaze = np.array([[60.0, 90.0], [65.0, 100.0]])
    positive, negative = np.array([[40.0, 70.0]]), np.array([[100.0, 200.0], [10.0, 10.0]])
    ours.set_image(image)
    stock.set_image(to_uint8_rgb(image))
    points_rc = np.concatenate([gaze, positive, negative])
    masks, scores, _ = stock.predict(point_coords=points_rc[:, ::-1],
                                     point_labels=np.array([1, 1, 1, 0, 0]))
    got = ours.segment(gaze, clicks=(positive, negative))
    np.testing.assert_array_equal(got, masks[int(np.argmax(scores))])
    # and the click changes the answer: without it SAM sees only the gaze
    without, without_scores, _ = stock.predict(point_coords=gaze[:, ::-1], point_labels=np.ones(2))
    np.testing.assert_array_equal(ours.segment(gaze), without[int(np.argmax(without_scores))])


def _two_objects() -> Fixations:
    """Two fixations on object 1 near (61, 92), two on object 2 near (122, 42)."""
    return Fixations(
        start=[0.0, 0.3, 1.0, 1.3], duration=[0.2] * 4,
        coords=[[60.0, 90.0], [62.0, 95.0], [120.0, 40.0], [125.0, 45.0]], object_id=[1, 1, 2, 2],
    )


def test_clicks_reach_only_their_object(sams):
    ours, _ = sams
    image = _image()
    fixations = _two_objects()
    plain = list(sam_object_masks(ours, image, fixations))
    negative = np.array([[120.0, 40.0]])  # a background click on object 2's own fixation
    corrected = list(sam_object_masks(ours, image, fixations, clicks={2: (None, negative)}))
    assert [m.object_id for m in corrected] == [1, 2]
    np.testing.assert_array_equal(corrected[0].mask, plain[0].mask)  # object 1 untouched
    ours.set_image(image)
    expected = ours.segment(fixations.for_object(2), clicks=(None, negative), mask="best")
    np.testing.assert_array_equal(corrected[1].mask, expected)
    labels = paint_all(corrected, image.shape)
    assert labels.shape == image.shape


# -- the annotator's box (micro-sam: points and a box per object) ----------------------------


def _napari_rectangle(r0, c0, r1, c1):
    """The four vertices napari's rectangle tool stores, ``(row, col)``."""
    return np.array([[r0, c0], [r0, c1], [r1, c1], [r1, c0]], dtype=float)


@pytest.mark.parametrize("size", [(150, 230), (230, 150), (64, 64), (1024, 1024), (37, 2000),
                                  (3000, 101)])
def test_a_box_replaces_the_gaze_box_in_sams_input_frame(size):
    from segment_anything.utils.transforms import ResizeLongestSide

    rows, cols = size
    r0, c0, r1, c1 = 0.2 * rows, 0.3 * cols, 0.7 * rows, 0.9 * cols
    gaze = SamPrompt(point_coords=np.array([[5.0, 6.0]]), point_labels=np.ones(1, dtype=np.int64),
                     box=np.array([1.0, 2.0, 3.0, 4.0]), mask_input=np.zeros((1, 256, 256)))
    # drawn from the lower right to the upper left: the corners' order does not matter
    got = add_clicks(gaze, None, None, _napari_rectangle(r1, c1, r0, c0), original_size=size)
    scale = 1024 / max(rows, cols)
    new_h, new_w = int(rows * scale + 0.5), int(cols * scale + 0.5)
    expected = np.array([c0 * new_w / cols, r0 * new_h / rows, c1 * new_w / cols, r1 * new_h / rows])
    np.testing.assert_allclose(got.box, expected, rtol=1e-12)
    stock = ResizeLongestSide(1024).apply_boxes(np.array([[c0, r0, c1, r1]]), size)[0]
    np.testing.assert_allclose(got.box, stock, rtol=1e-12)
    # the gaze points and dense prompt stay; clicks join them in the same prompt
    assert got.point_coords is gaze.point_coords and got.mask_input is gaze.mask_input
    both = add_clicks(gaze, [[1.0, 2.0]], None, box=[[r0, c0], [r1, c1]], original_size=size)
    np.testing.assert_allclose(both.box, expected, rtol=1e-12)
    assert both.point_labels.tolist() == [1, 1] and both.mask_input is gaze.mask_input


def test_a_box_is_clipped_to_the_image_and_refused_rotated_or_off_the_image():
    rows = SIZE[0]
    got = add_clicks(SamPrompt(), None, None, [[-20.0, 10.0], [rows + 30.0, 40.0]],
                     original_size=SIZE)
    np.testing.assert_allclose(got.box, points_to_sam([[-0.5, 10.0], [rows - 0.5, 40.0]], SIZE)
                               .reshape(4))
    rotated = np.array([[10.0, 30.0], [30.0, 50.0], [50.0, 30.0], [30.0, 10.0]])  # a diamond
    with pytest.raises(ValueError, match="rotated"):
        add_clicks(SamPrompt(), None, None, rotated, original_size=SIZE)
    with pytest.raises(ValueError, match="outside the image"):
        add_clicks(SamPrompt(), None, None, [[rows + 5.0, 1.0], [rows + 9.0, 9.0]],
                   original_size=SIZE)
    with pytest.raises(ValueError, match="no finite position"):
        add_clicks(SamPrompt(), None, None, [[np.nan, 1.0], [3.0, 4.0]], original_size=SIZE)


def test_gaze_plus_a_box_equals_the_stock_predictor_and_changes_the_mask(sams):
    ours, stock = sams
    image = _image()
    gaze = np.array([[60.0, 90.0], [65.0, 100.0]])
    box_rc = _napari_rectangle(20.0, 30.0, 110.0, 160.0)
    ours.set_image(image)
    stock.set_image(to_uint8_rgb(image))
    masks, scores, _ = stock.predict(point_coords=gaze[:, ::-1], point_labels=np.ones(2),
                                     box=np.array([30.0, 20.0, 160.0, 110.0]))
    got = ours.segment(gaze, prompt="fixations+box", clicks=(None, None, box_rc))
    np.testing.assert_array_equal(got, masks[int(np.argmax(scores))])
    assert not np.array_equal(got, ours.segment(gaze, prompt="fixations+box"))  # the gaze box's


def test_a_box_reaches_only_its_object(sams):
    ours, _ = sams
    image = _image()
    fixations = _two_objects()
    plain = list(sam_object_masks(ours, image, fixations))
    box = _napari_rectangle(40.0, 60.0, 90.0, 130.0)
    corrected = list(sam_object_masks(ours, image, fixations, clicks={1: (None, None, box)}))
    np.testing.assert_array_equal(corrected[1].mask, plain[1].mask)  # object 2 untouched
    ours.set_image(image)
    expected = ours.segment(fixations.for_object(1), clicks=(None, None, box), mask="best")
    np.testing.assert_array_equal(corrected[0].mask, expected)
    assert not np.array_equal(corrected[0].mask, plain[0].mask)
