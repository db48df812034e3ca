"""SAM 2 through a stack: prompts per plane, propagation both ways, label ids (random weights, CPU).

The model is SAM 2.1's hiera-tiny configuration from the sam2 package, made
shallower (five blocks, one memory-attention layer, 128 px input) so a
stack propagates in seconds on a CPU. Its weights are random: these tests check
the plumbing exactly, not mask quality (that needs the released weights).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("sam2")

from napari_gazeseg.gaze.recording import Fixations  # noqa: E402
from napari_gazeseg.models.sam2_gaze import (  # noqa: E402
    build_video_predictor,
    plane_prompts,
    sam2_object_masks,
    video_frames,
)
from napari_gazeseg.segmentation import ObjectMask, Stage, paint_all  # noqa: E402

SMALL = (
    "++model.image_size=128",
    "++model.image_encoder.trunk.stages=[1,1,2,1]",
    "++model.image_encoder.trunk.global_att_blocks=[3]",
    "++model.memory_attention.num_layers=1",
)
PLANES, ROWS, COLS = 6, 40, 56


def _fixations(rows: list[tuple[float, float, float, int]]) -> Fixations:
    coords = np.array([r[:3] for r in rows], float)
    n = len(rows)
    return Fixations(
        np.arange(n, dtype=float), np.full(n, 0.3), coords, np.array([r[3] for r in rows], np.int64), {}
    )


@pytest.fixture(scope="module")
def predictor():
    torch.manual_seed(0)
    return build_video_predictor("tiny", None, device="cpu", overrides=SMALL)


@pytest.fixture(scope="module")
def stack():
    rng = np.random.default_rng(3)
    data = rng.integers(0, 60, (PLANES, ROWS, COLS)).astype(np.uint16)
    data[:, 10:25, 12:30] += 900  # a bright block through every plane
    return data


def test_frames_are_what_sam2s_own_loader_makes_of_a_lossless_file(tmp_path, predictor):
    from PIL import Image
    from sam2.utils.misc import _load_img_as_tensor

    rgb = np.random.default_rng(0).integers(0, 256, (2, ROWS, COLS, 3)).astype(np.uint8)
    frames = video_frames(rgb, predictor.image_size)
    assert frames.shape == (2, 3, 128, 128) and frames.dtype == torch.float32
    mean = torch.tensor((0.485, 0.456, 0.406))[:, None, None]
    std = torch.tensor((0.229, 0.224, 0.225))[:, None, None]
    for index in range(2):
        Image.fromarray(rgb[index]).save(tmp_path / f"{index}.png")
        own, height, width = _load_img_as_tensor(str(tmp_path / f"{index}.png"), 128)
        assert (height, width) == (ROWS, COLS)
        torch.testing.assert_close(frames[index], ((own.float() - mean) / std), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # one object on one plane: (x, y) = (col, row)
        ([(2, 5, 7, 1)], {1: {2: [[7, 5]]}}),
        # one object on two planes, another on one; id order, plane order
        (
            [(4, 1, 2, 3), (1, 3, 4, 3), (1.2, 6, 8, 3), (0, 9, 9, 1)],
            {1: {0: [[9, 9]]}, 3: {1: [[4, 3], [8, 6]], 4: [[2, 1]]}},
        ),
        # object 0 (outside sessions), planes or pixels off the stack are dropped
        (
            [(1, 1, 1, 0), (6, 1, 1, 2), (-1, 1, 1, 2), (1, 40, 1, 2), (1, 1, 56, 2), (5, 39, 55, 2)],
            {2: {5: [[55, 39]]}},
        ),
    ],
)
def test_plane_prompts(rows, expected):
    got = plane_prompts(_fixations(rows), (PLANES, ROWS, COLS))
    assert list(got) == list(expected)
    for object_id, planes in expected.items():
        assert list(got[object_id]) == list(planes)
        for plane, points in planes.items():
            np.testing.assert_array_equal(got[object_id][plane], np.array(points, np.float32))


def test_plane_prompts_refuse_what_cannot_be_propagated():
    with pytest.raises(ValueError, match="no \\(chosen\\) object"):
        plane_prompts(_fixations([(1, 1, 1, 0)]), (PLANES, ROWS, COLS))
    with pytest.raises(ValueError, match="plane, row, col"):
        plane_prompts(Fixations(np.zeros(1), np.ones(1), np.ones((1, 2)), np.ones(1, np.int64), {}), (2, 3, 4))
    with pytest.raises(ValueError, match="choose|pick the axis"):
        list(sam2_object_masks(None, np.zeros((2, 2, 8, 8)), _fixations([(1, 1, 1, 1)])))


@pytest.mark.slow
def test_gaze_on_several_planes_propagates_both_ways_into_one_label_stack(predictor, stack, monkeypatch):
    """Objects 2 (planes 3 and 4) and 5 (plane 2): prompts, directions, order and ids exactly."""
    fixations = _fixations([(3, 15, 20, 2), (3, 16, 24, 2), (4, 17, 21, 2), (2, 30, 45, 5), (0, 1, 1, 0)])
    prompts, directions = [], []
    add, propagate = predictor.add_new_points_or_box, predictor.propagate_in_video

    def spy_add(state, frame_idx, obj_id, points, labels, **kwargs):
        prompts.append((frame_idx, obj_id, np.asarray(points).tolist(), np.asarray(labels).tolist()))
        return add(state, frame_idx=frame_idx, obj_id=obj_id, points=points, labels=labels, **kwargs)

    def spy_propagate(state, reverse=False, **kwargs):
        directions.append(reverse)
        assert state["num_frames"] == PLANES
        assert (state["video_height"], state["video_width"]) == (ROWS, COLS)
        return propagate(state, reverse=reverse, **kwargs)

    monkeypatch.setattr(predictor, "add_new_points_or_box", spy_add)
    monkeypatch.setattr(predictor, "propagate_in_video", spy_propagate)
    items = list(sam2_object_masks(predictor, stack, fixations, stages=True))

    assert prompts == [
        (3, 2, [[20.0, 15.0], [24.0, 16.0]], [1, 1]),
        (4, 2, [[21.0, 17.0]], [1]),
        (2, 5, [[45.0, 30.0]], [1]),
    ]
    assert directions == [False, True]
    masks = [item for item in items if isinstance(item, ObjectMask)]
    # first prompted plane (2) upward, then downward; ids ascending on every plane
    order = [2, 3, 4, 5, 1, 0]
    assert [(m.slice_index, m.object_id) for m in masks] == [((p,), i) for p in order for i in (2, 5)]
    assert all(m.mask.shape == (ROWS, COLS) and m.mask.dtype == bool for m in masks)
    stage_texts = [item.text for item in items if isinstance(item, Stage)]
    assert stage_texts[:3] == [
        "preparing the frames",
        "prompting object 1 of 2 (label 2)",
        "prompting object 2 of 2 (label 5)",
    ]
    assert [t for t in stage_texts if t.startswith("propagating")] == [f"propagating: plane {p}" for p in order]

    labels = paint_all(masks, stack.shape)
    assert labels.shape == (PLANES, ROWS, COLS)
    assert set(np.unique(labels).tolist()) <= {0, 2, 5}
    for m in masks:  # every label pixel comes from its object's mask on that plane
        assert not ((labels[m.slice_index] == m.object_id) & ~m.mask).any()
    # random weights still give SAM 2 something to say on the prompted planes
    assert any(m.pixels for m in masks if m.slice_index in ((3,), (4,)) and m.object_id == 2)


def test_object_choice_keeps_only_the_chosen_ids(predictor, stack):
    fixations = _fixations([(3, 15, 20, 2), (2, 30, 45, 5)])
    masks = [m for m in sam2_object_masks(predictor, stack[:3], fixations, object_ids=[5]) if isinstance(m, ObjectMask)]
    assert [(m.slice_index, m.object_id) for m in masks] == [((2,), 5), ((1,), 5), ((0,), 5)]


@pytest.mark.slow
def test_gazeseg_propagate_writes_the_label_stack_the_library_makes(tmp_path, predictor, stack, capsys):
    """`gazeseg propagate` on a dataset folder: a TIFF stack and native 3D gaze (samples -> I-VT)."""
    import imageio.v3 as iio

    stack = stack[:4]  # four planes keep the two propagations short

    from napari_gazeseg.cli import main
    from napari_gazeseg.gaze.formats import read_gaze, write_gaze
    from napari_gazeseg.gaze.recording import GazeRecording
    from napari_gazeseg.segmentation import fixations_of

    dataset = tmp_path / "data"
    (dataset / "images").mkdir(parents=True)
    (dataset / "gaze").mkdir()
    iio.imwrite(dataset / "images" / "vol.tif", stack)
    # two objects: 300 ms still on (3, 15, 20) for id 2, then on (2, 30, 45) for id 5, at 100 Hz
    points = [(3, 15, 20, 2), (2, 30, 45, 5)]
    coords = np.repeat([p[:3] for p in points], 30, axis=0).astype(float)
    ids = np.repeat([p[3] for p in points], 30)
    write_gaze(GazeRecording(np.arange(60) / 100.0, coords, object_id=ids), dataset / "gaze" / "vol.gaze.tsv")
    checkpoint = tmp_path / "sam2_random.pt"
    torch.save({"model": predictor.state_dict()}, checkpoint)
    argv = ["propagate", str(dataset), "--out", str(tmp_path / "out"), "--checkpoint", str(checkpoint),
            "--device", "cpu", "--quiet", *(f"--override={o}" for o in SMALL)]

    assert main(argv) == 0
    labels = iio.imread(tmp_path / "out" / "vol.tif")
    fixations = fixations_of(read_gaze(dataset / "gaze" / "vol.gaze.tsv"))
    expected = paint_all(
        (m for m in sam2_object_masks(predictor, stack, fixations, contrast_limits=(0, int(stack.max())))
         if isinstance(m, ObjectMask)),
        stack.shape,
    )
    assert labels.shape == stack.shape and set(np.unique(labels).tolist()) <= {0, 2, 5}
    np.testing.assert_array_equal(labels, expected)
    # a second run refuses to replace the stack; a checkpoint of another model is one sentence
    assert main(argv) == 2 and "already exists; pass --overwrite" in capsys.readouterr().err
    torch.save({"model": {"foreign": torch.zeros(1)}}, checkpoint)
    assert main([*argv, "--overwrite"]) == 2
    assert "could not be built" in capsys.readouterr().err


def test_a_mask_on_one_plane_is_carried_both_ways_by_the_video_predictor(predictor, stack, monkeypatch):
    """What Annotate series' "Propagate to neighbouring planes" runs with a SAM 2 model: from
    plane 2 of 5, one plane each way (the full reach is sam2_object_masks' propagation)."""
    plane, each_way, order = 2, 1, [3, 1]
    from napari_gazeseg.models.sam2_gaze import sam2_mask_propagation

    mask = np.zeros((ROWS, COLS), bool)
    mask[10:25, 12:30] = True
    prompts, runs = [], []
    add, propagate = predictor.add_new_mask, predictor.propagate_in_video

    def spy_add(state, frame_idx, obj_id, mask):
        prompts.append((frame_idx, obj_id, np.array(mask)))
        return add(state, frame_idx=frame_idx, obj_id=obj_id, mask=mask)

    def spy_propagate(state, start_frame_idx=None, max_frame_num_to_track=None, reverse=False):
        runs.append((start_frame_idx, max_frame_num_to_track, reverse))
        return propagate(state, start_frame_idx, max_frame_num_to_track, reverse)

    monkeypatch.setattr(predictor, "add_new_mask", spy_add)
    monkeypatch.setattr(predictor, "propagate_in_video", spy_propagate)
    items = list(sam2_mask_propagation(predictor, stack[:5], mask,
                                       plane, 4, planes_each_way=each_way))
    assert [(p[0], p[1]) for p in prompts] == [(plane, 4)]
    np.testing.assert_array_equal(prompts[0][2], mask)
    assert runs == [(plane, each_way, False), (plane, each_way, True)]
    masks = [item for item in items if isinstance(item, ObjectMask)]
    assert [(m.object_id, m.slice_index) for m in masks] == [(4, (p,)) for p in order]
    assert all(m.mask.shape == (ROWS, COLS) and m.mask.dtype == bool for m in masks)
    with pytest.raises(ValueError, match="no mask"):
        next(sam2_mask_propagation(predictor, stack[:3], np.zeros((ROWS, COLS), bool), 1, 4))
