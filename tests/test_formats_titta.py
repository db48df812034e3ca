"""Raw Tobii SDK samples saved as text (I2MC / Tobii SDK 3 and tobii-research / Titta names)."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from fuzz_edits import fuzz_settings, read_or_none, replace_bytes
from hypothesis import given
from hypothesis import strategies as st

from napari_gazeseg.gaze.formats import GazeFormatError, detect_format, read_gaze, read_gaze_all
from napari_gazeseg.gaze.formats.titta import read_titta

FUZZ = fuzz_settings(30)

# I2MC's example data (Tobii SDK 3, TX300) column order
SDK3 = (
    "Time LEyePos3dx LEyePos3dy LEyePos3dz LEyePos3dRelx LEyePos3dRely LEyePos3dRelz "
    "LGazePos2dx LGazePos2dy LGazePos3dx LGazePos3dy LGazePos3dz LPupilDm LValidity "
    "REyePos3dx REyePos3dy REyePos3dz REyePos3dRelx REyePos3dRely REyePos3dRelz "
    "RGazePos2dx RGazePos2dy RGazePos3dx RGazePos3dy RGazePos3dz RPupilDm RValidity "
    "RelTimestamp"
).split()
RESEARCH = [
    "device_time_stamp",
    "system_time_stamp",
    *(f"{eye}_{name}" for eye in ("left", "right") for name in (
        "gaze_point_on_display_area_x", "gaze_point_on_display_area_y",
        "gaze_point_in_user_coordinates_x", "gaze_point_in_user_coordinates_y",
        "gaze_point_in_user_coordinates_z", "gaze_point_validity",
        "pupil_diameter", "pupil_validity",
        "gaze_origin_in_user_coordinates_x", "gaze_origin_in_user_coordinates_y",
        "gaze_origin_in_user_coordinates_z", "gaze_origin_validity")),
]

# The display plane in the tracker's user coordinates (mm): top-left corner, edges.
CORNER = np.array([-254.88, 300.0, 80.0])
EDGE_X = np.array([509.76, 0.0, 0.0])
EDGE_Y = np.array([0.0, -269.45, 98.07])  # 286.74 mm tilted by 20 degrees
NORMAL = np.cross(EDGE_X, EDGE_Y) / np.linalg.norm(np.cross(EDGE_X, EDGE_Y))


def sample_sdk3(i, left, right, codes, eye_distance=650.0):
    """One I2MC-style line: ``left``/``right`` normalised (x, y) or None (lost, -1 and zeros)."""
    row = {"Time": 2_619_771_723 + round(i * 3333.3), "RelTimestamp": f"{i * 3.3333:.4f}"}
    for eye, point, code in (("L", left, codes[0]), ("R", right, codes[1])):
        if point is None:
            values = {f"{eye}GazePos2dx": -1.0, f"{eye}GazePos2dy": -1.0}
            for name in ("EyePos3dx", "EyePos3dy", "EyePos3dz", "GazePos3dx", "GazePos3dy",
                         "GazePos3dz"):
                values[eye + name] = 0.0
        else:
            on_plane = CORNER + point[0] * EDGE_X + point[1] * EDGE_Y
            eye_at = CORNER + 0.5 * EDGE_X + 0.5 * EDGE_Y + eye_distance * NORMAL
            values = {f"{eye}GazePos2dx": point[0], f"{eye}GazePos2dy": point[1]}
            values.update({f"{eye}GazePos3d{a}": on_plane[k] for k, a in enumerate("xyz")})
            values.update({f"{eye}EyePos3d{a}": eye_at[k] for k, a in enumerate("xyz")})
        values[f"{eye}Validity"] = code
        row.update(values)
    return row


def write(path, rows, columns, separator="\t"):
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([
            f"{row[name]:.4f}" if isinstance(row.get(name), float) else row.get(name, "")
            for name in columns
        ])
    path.write_text(out.getvalue())
    return path


def targets(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.02, 0.98, size=(n, 2))


def sdk3_rows(points):
    rows = []
    for i, (x, y) in enumerate(points):
        kind = i % 5
        if kind == 3:  # left eye lost
            rows.append(sample_sdk3(i, None, (x, y), (4, 0)))
        elif kind == 4 and i % 10 == 9:  # both lost
            rows.append(sample_sdk3(i, None, None, (4, 4)))
        elif kind == 2:  # the tracker unsure which eye: code 2, not used
            rows.append(sample_sdk3(i, (x, y), (x, y), (2, 2)))
        else:
            rows.append(sample_sdk3(i, (x, y), (x + 0.01, y - 0.01), (0, 1)))
    return rows


def expected_sdk3(points):
    screen, valid = [], []
    for i, (x, y) in enumerate(points):
        kind = i % 5
        if kind == 3:
            screen.append((x, y)), valid.append(True)
        elif (kind == 4 and i % 10 == 9) or kind == 2:
            screen.append((np.nan, np.nan)), valid.append(False)
        else:
            screen.append((x + 0.005, y - 0.005)), valid.append(True)
    return np.array(screen), np.array(valid)


def test_i2mc_sdk_samples_on_the_screen_image(tmp_path):
    points = np.round(targets(), 4)
    path = write(tmp_path / "1.txt", sdk3_rows(points), SDK3)
    assert detect_format(path) == "tobii-sdk"
    recording = read_titta(path, image_shape=(1200, 1920))
    screen, valid = expected_sdk3(points)
    assert recording.valid.tolist() == valid.tolist()
    np.testing.assert_allclose(recording.screen, screen, atol=1e-9)
    np.testing.assert_allclose(
        recording.coords, np.column_stack([screen[:, 1] * 1200 - 0.5, screen[:, 0] * 1920 - 0.5]),
        atol=1e-6,
    )
    np.testing.assert_allclose(recording.t, np.arange(len(points)) * 3.3333e-3, atol=1e-9)
    assert recording.meta["sampling_rate_hz"] == pytest.approx(300.0, rel=1e-3)
    assert recording.meta["image"] == {"name": "1", "shape": [1200, 1920]}
    geometry = recording.meta["screen"]
    assert geometry["width_mm"] == pytest.approx(509.76, abs=0.05)
    assert geometry["height_mm"] == pytest.approx(286.74, abs=0.05)
    assert geometry["distance_mm"] == pytest.approx(650.0, abs=0.5)
    assert geometry["width_px"] == 1920 and geometry["height_px"] == 1200


def test_without_a_resolution_the_screen_is_assumed_and_said(tmp_path):
    path = write(tmp_path / "2.txt", sdk3_rows(np.round(targets(10), 4)), SDK3)
    with pytest.warns(UserWarning, match=r"1920 x 1080 px screen image.*image_shape"):
        contents = read_gaze_all(path)
    assert list(contents) == ["2"]
    assert contents["2"].meta["image"]["shape"] == [1080, 1920]


@pytest.mark.parametrize("separator", ["\t", ","])
@pytest.mark.parametrize(
    ("validity", "suffix"),
    [(("1", "0"), "validity"), (("True", "False"), "validity"), (("True", "False"), "valid")],
    ids=["tobii-research", "bool", "TittaPy"],
)
def test_tobii_research_names_as_titta_saves_them(tmp_path, separator, validity, suffix):
    points = np.round(targets(30, seed=3), 6)
    good, bad = validity
    columns = [name.replace("gaze_point_validity", f"gaze_point_{suffix}") for name in RESEARCH]
    rows = []
    for i, (x, y) in enumerate(points):
        row = {"device_time_stamp": 1000 + i * 1667, "system_time_stamp": 55_000_000 + i * 1667}
        left_ok, right_ok = i % 4 != 1, i % 4 != 2 and i % 7 != 0
        for eye, ok in (("left", left_ok), ("right", right_ok)):
            row[f"{eye}_gaze_point_on_display_area_x"] = repr(float(x)) if ok else "nan"
            row[f"{eye}_gaze_point_on_display_area_y"] = repr(float(y)) if ok else "nan"
            row[f"{eye}_gaze_point_{suffix}"] = good if ok else bad
        rows.append(row)
    path = write(tmp_path / "titta.tsv", rows, columns, separator)
    assert detect_format(path) == "tobii-sdk"
    recording = read_gaze(path, image_shape=(1080, 1920)) if _takes_shape() else read_titta(
        path, image_shape=(1080, 1920))
    valid = [i % 4 != 1 or (i % 4 != 2 and i % 7 != 0) for i in range(len(points))]
    assert recording.valid.tolist() == valid
    np.testing.assert_allclose(recording.screen[valid], points[valid], atol=1e-12)
    np.testing.assert_allclose(recording.t, np.arange(len(points)) * 1667e-6, atol=1e-12)
    assert recording.meta["time_column"] == "system_time_stamp"
    assert "screen" not in recording.meta  # no 3D columns: no geometry


def _takes_shape() -> bool:
    import inspect

    return "image_shape" in inspect.signature(read_gaze).parameters


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda rows: rows[3].update(RelTimestamp=""), r"line 5: a sample has no 'RelTimestamp'"),
        (lambda rows: rows[4].update(RelTimestamp="0.5"), r"line 6: .*goes backwards"),
        (lambda rows: rows[2].update(LGazePos2dx="left"), r"line 4: 'left' in column 'LGazePos2dx'"),
    ],
)
def test_malformed_samples_name_the_line(tmp_path, mutate, message):
    rows = sdk3_rows(np.round(targets(8), 4))
    mutate(rows)
    with pytest.raises(GazeFormatError, match=message):
        read_titta(write(tmp_path / "bad.txt", rows, SDK3), image_shape=(1080, 1920))


# -- fuzzing -----------------------------------------------------------------


@st.composite
def sdk3_files(draw):
    n = draw(st.integers(1, 30))
    points = draw(st.lists(st.tuples(st.floats(-0.5, 1.5), st.floats(-0.5, 1.5)),
                           min_size=n, max_size=n))
    codes = draw(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=n, max_size=n))
    rows = [sample_sdk3(i, (round(x, 4), round(y, 4)), (round(x, 4), round(y, 4)), c)
            for i, ((x, y), c) in enumerate(zip(points, codes))]
    return rows, codes


@FUZZ
@given(built=sdk3_files())
def test_fuzz_every_line_is_one_sample_valid_by_its_codes(tmp_path, built):
    rows, codes = built
    recording = read_titta(write(tmp_path / "fuzz.txt", rows, SDK3), image_shape=(100, 200))
    assert len(recording) == len(rows)
    assert recording.valid.tolist() == [min(c) <= 1 for c in codes]


@FUZZ
@given(built=sdk3_files(), data=st.data())
def test_fuzz_mutated_files_fail_cleanly_or_keep_their_row_count(tmp_path, branches, built, data):
    branches.need(read=1, refused=1)
    path = write(tmp_path / "mutated.txt", built[0], SDK3)
    content = replace_bytes(data, path.read_bytes(), b"\t\n x9.,-\xff")
    contents = branches.read_edited(path, content, format="tobii-sdk")
    if contents is None:  # refused with a GazeFormatError (counted)
        return
    lines = content.decode("utf-8").split("\n")
    header = lines[0].split("\t")
    body = [line for line in lines[1:] if line.strip()]
    (recording,) = contents.values()
    if len(header) == len(SDK3) and all(len(line.split("\t")) == len(header) for line in body):
        assert len(recording) == len(body)  # the strong check: one sample per line
        branches["read"] += 1
    else:
        assert len(recording) <= len(body)


@FUZZ
@given(content=st.binary(max_size=300), prefix=st.sampled_from([b"", ("\t".join(SDK3) + "\n").encode()]))
def test_fuzz_random_bytes_raise_only_gaze_format_errors(tmp_path, content, prefix):
    path = tmp_path / "random.txt"
    path.write_bytes(prefix + content)
    read_or_none(path, format="tobii-sdk")
