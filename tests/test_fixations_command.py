"""``gazeseg fixations``: gaze files in, the detector's fixations out as a GazeMedSeg CSV."""

from __future__ import annotations

import numpy as np
import pytest

from napari_gazeseg.cli import main
from napari_gazeseg.gaze.fixations import detect_fixations_idt, detect_fixations_ivt
from napari_gazeseg.gaze.formats import write_gaze
from napari_gazeseg.gaze.formats.gazemedseg import read_gazemedseg_csv, write_gazemedseg_csv
from napari_gazeseg.gaze.recording import GazeRecording
from napari_gazeseg.gaze.simulate import simulate_observer


@pytest.fixture(scope="module")
def scenes():
    return [simulate_observer("cells", shape=(128, 160), n_objects=2, seed=seed) for seed in (0, 1)]


@pytest.fixture
def gaze_files(tmp_path, scenes):
    paths = []
    for scene in scenes:
        path = tmp_path / f"{scene.name}.gaze.tsv"
        write_gaze(scene.recording, path)
        paths.append(path)
    return paths


def assert_same_fixations(read, expected):
    assert len(read) == len(expected)
    np.testing.assert_allclose(read.start, expected.start, atol=1e-12)
    np.testing.assert_allclose(read.duration, expected.duration, atol=1e-12)
    np.testing.assert_allclose(read.coords, expected.coords, atol=1e-9)


@pytest.mark.parametrize(
    ("options", "detect"),
    [
        ([], detect_fixations_ivt),
        (
            [
                "--velocity-threshold",
                "45",
                "--no-merge",
                "--noise",
                "none",
                "--min-duration",
                "0.1",
            ],
            lambda rec: detect_fixations_ivt(
                rec, 45.0, noise_reduction=None, merge_max_gap=None, min_duration=0.1
            ),
        ),
        (
            ["--method", "idt", "--dispersion-threshold", "0.8"],
            lambda rec: detect_fixations_idt(rec, 0.8, 0.1),
        ),
    ],
    ids=["ivt defaults", "ivt options", "idt"],
)
def test_writes_what_the_detector_finds(tmp_path, gaze_files, scenes, capsys, options, detect):
    out = tmp_path / "fixations.csv"
    assert main(["fixations", *map(str, gaze_files), "-o", str(out), *options]) == 0
    written = read_gazemedseg_csv(out)
    assert list(written) == [scene.name for scene in scenes]
    for scene in scenes:
        assert_same_fixations(written[scene.name], detect(scene.recording))
    assert (
        f"wrote {sum(len(f) for f in written.values())} fixations of 2 images"
        in capsys.readouterr().out
    )


def test_image_shape_for_files_without_it(tmp_path, scenes):
    rec = scenes[0].recording
    bare = GazeRecording(
        rec.t,
        rec.coords,
        rec.valid,
        rec.screen,
        rec.object_id,
        {"sampling_rate_hz": 120.0, "screen": rec.meta["screen"]},
    )
    path = tmp_path / "bare.gaze.tsv"
    write_gaze(bare, path)
    out = tmp_path / "fixations.csv"
    assert main(["fixations", str(path), "-o", str(out)]) == 2
    assert main(["fixations", str(path), "-o", str(out), "--image-shape", "128", "160"]) == 0
    assert read_gazemedseg_csv(out)["bare"].image_shape == (128, 160)


def test_user_errors_give_one_sentence(tmp_path, gaze_files, scenes, capsys):
    out = tmp_path / "fixations.csv"
    out.write_text("keep me")
    assert main(["fixations", str(gaze_files[0]), "-o", str(out)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert out.read_text() == "keep me"

    assert (
        main(["fixations", str(tmp_path / "missing.gaze.tsv"), "-o", str(tmp_path / "a.csv")]) == 2
    )
    assert "does not exist" in capsys.readouterr().err

    assert (
        main(["fixations", str(gaze_files[0]), str(gaze_files[0]), "-o", str(tmp_path / "b.csv")])
        == 2
    )
    assert "pass each image's gaze once" in capsys.readouterr().err

    fixation_csv = tmp_path / "already.csv"
    write_gazemedseg_csv({scenes[0].name: scenes[0].fixations}, fixation_csv)
    assert main(["fixations", str(fixation_csv), "-o", str(tmp_path / "c.csv")]) == 2
    assert "holds fixations, not gaze samples" in capsys.readouterr().err


@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink", "sidecar"])
def test_the_output_is_never_one_of_the_inputs_even_with_overwrite(tmp_path, gaze_files, capsys, spelling):
    source = gaze_files[0]
    sidecar = source.with_name(source.name[: -len(".tsv")] + ".json")
    before = {path: path.read_bytes() for path in (source, sidecar)}
    if spelling == "same":
        out = source
    elif spelling == "dotted":
        (tmp_path / "sub").mkdir()
        out = tmp_path / "sub" / ".." / source.name
    elif spelling == "symlink":
        out = tmp_path / "link.csv"
        out.symlink_to(source)
    else:
        out = sidecar
    assert main(["fixations", *map(str, gaze_files), "-o", str(out), "--overwrite"]) == 2
    err = capsys.readouterr().err.strip()
    assert "is one of the gaze files being read" in err and "\n" not in err
    for path, data in before.items():
        assert path.read_bytes() == data


def test_overwrite_replaces_the_csv_whole_and_a_failed_write_keeps_the_old_one(
    tmp_path, gaze_files, monkeypatch
):
    from napari_gazeseg.gaze import formats

    out = tmp_path / "fixations.csv"
    out.write_text("old CSV")

    def failing_write(by_image, path):
        with open(path, "w") as handle:
            handle.write("IMAGE,half")
        raise KeyboardInterrupt

    monkeypatch.setattr(formats, "write_gazemedseg_csv", failing_write)
    try:
        assert main(["fixations", *map(str, gaze_files), "-o", str(out), "--overwrite"]) == 130
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped from gazeseg as a traceback")
    assert out.read_text() == "old CSV" and [p.name for p in tmp_path.glob("*fixations*")] == [out.name]
    monkeypatch.undo()
    assert main(["fixations", *map(str, gaze_files), "-o", str(out), "--overwrite"]) == 0
    assert len(read_gazemedseg_csv(out)) == 2
