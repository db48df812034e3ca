"""Tobii Pro Lab data exports built from the documented headers, mapped to image pixels."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz_edits import export_times, fuzz_settings, garbage_edits, read_or_none, valid_edits
from napari_gazeseg.gaze.formats import GazeFormatError, detect_format, read_gaze, read_gaze_all
from napari_gazeseg.gaze.recording import Fixations, GazeRecording

FUZZ = fuzz_settings(30)

#: Column names of the current export (units in brackets) and of the older one.
CURRENT = {
    "time": "Recording timestamp [ms]",
    "sensor": "Sensor",
    "participant": "Participant name",
    "recording": "Recording name",
    "res_w": "Recording resolution width [px]",
    "res_h": "Recording resolution height [px]",
    "event": "Event",
    "gx": "Gaze point X [DACS px]",
    "gy": "Gaze point Y [DACS px]",
    "vl": "Validity left",
    "vr": "Validity right",
    "type": "Eye movement type",
    "duration": "Gaze event duration [ms]",
    "index": "Eye movement type index",
    "fx": "Fixation point X [DACS px]",
    "fy": "Fixation point Y [DACS px]",
    "stimulus": "Presented Stimulus name",
    "media": "Presented Media name",
    "pw": "Presented Media width [px]",
    "ph": "Presented Media height [px]",
    "px": "Presented Media position X [DACS px]",
    "py": "Presented Media position Y [DACS px]",
    "ow": "Original Media width [px]",
    "oh": "Original Media height [px]",
}
OLDER = {
    "time": "Recording timestamp",
    "participant": "Participant name",
    "recording": "Recording name",
    "res_w": "Recording resolution width",
    "res_h": "Recording resolution height",
    "event": "Event",
    "gx": "Gaze point X",
    "gy": "Gaze point Y",
    "vl": "Validity left",
    "vr": "Validity right",
    "type": "Eye movement type",
    "duration": "Gaze event duration",
    "index": "Eye movement type index",
    "fx": "Fixation point X",
    "fy": "Fixation point Y",
    "stimulus": "Presented Stimulus name",
    "media": "Presented Media name",
    "pw": "Presented Media width",
    "ph": "Presented Media height",
    "px": "Presented Media position X (DACSpx)",
    "py": "Presented Media position Y (DACSpx)",
    "ow": "Original Media width",
    "oh": "Original Media height",
}

# A 400 x 300 (width x height) image drawn twice as large at (560, 240) on a 1920 x 1080 screen.
SCREEN = {"res_w": 1920, "res_h": 1080}
CELLS = {
    "stimulus": "cells",
    "media": "cells.png",
    "pw": 800,
    "ph": 600,
    "px": 560,
    "py": 240,
    "ow": 400,
    "oh": 300,
}
# A 100 x 50 image drawn at its own size at (10, 20).
POLYP = {
    "stimulus": "polyp",
    "media": "polyp.jpg",
    "pw": 100,
    "ph": 50,
    "px": 10,
    "py": 20,
    "ow": 100,
    "oh": 50,
}


def on_screen(media: dict, row: float, col: float) -> tuple[float, float]:
    """DACS px of image pixel coordinate (row, col) (pixel centres at integers)."""
    scale_x, scale_y = media["pw"] / media["ow"], media["ph"] / media["oh"]
    return media["px"] + (col + 0.5) * scale_x, media["py"] + (row + 0.5) * scale_y


def sample(
    time_ms,
    media=None,
    at=None,
    valid=("Valid", "Valid"),
    kind="Fixation",
    index=1,
    fixation=None,
    **extra,
):
    row = {
        "time": time_ms,
        "sensor": "Eye Tracker",
        "participant": "P01",
        "recording": "Recording1",
        **SCREEN,
    }
    row.update({"vl": valid[0], "vr": valid[1], "type": kind, "index": index, "duration": 250})
    if media is not None:
        row.update(media)
    if at is not None:
        row["gx"], row["gy"] = at
    if fixation is not None:
        row["fx"], row["fy"] = fixation
    row.update(extra)
    return row


def export(path, rows, names=CURRENT, decimal=".", encoding="utf-8"):
    """Write rows (dicts keyed like CURRENT) as a Pro Lab TSV with the given headers."""
    keys = list(names)
    lines = ["\t".join(names[key] for key in keys)]
    for row in rows:
        fields = []
        for key in keys:
            value = row.get(key, "")
            text = repr(float(value)) if isinstance(value, float) else str(value)
            fields.append(
                text.replace(".", ",") if decimal == "," and isinstance(value, float) else text
            )
        lines.append("\t".join(fields))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


TARGETS = [(0.0, 0.0), (10.0, 20.0), (150.25, 399.0), (299.0, 0.0), (-0.5, -0.5), (120.0, 200.75)]


def cells_rows(targets=TARGETS, start_ms=1000.0, step_ms=1000 / 120):
    return [
        sample(start_ms + i * step_ms, CELLS, on_screen(CELLS, *rc)) for i, rc in enumerate(targets)
    ]


@pytest.mark.parametrize("names", [CURRENT, OLDER], ids=["current", "older"])
@pytest.mark.parametrize("decimal", [".", ","])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_gaze_lands_on_the_right_image_pixels(tmp_path, names, decimal, encoding):
    path = export(tmp_path / "export.tsv", cells_rows(), names, decimal, encoding)
    assert detect_format(path) == "tobii-pro-lab"
    recording = read_gaze(path)
    assert isinstance(recording, GazeRecording) and len(recording) == len(TARGETS)
    np.testing.assert_allclose(recording.coords, TARGETS, atol=1e-9)
    assert recording.valid.all()
    np.testing.assert_allclose(recording.t, np.arange(len(TARGETS)) / 120, atol=1e-12)
    expected_screen = np.array([on_screen(CELLS, *rc) for rc in TARGETS]) / [1920, 1080]
    np.testing.assert_allclose(recording.screen, expected_screen, atol=1e-12)
    meta = recording.meta
    assert meta["source"] == "tobii-pro-lab" and meta["participant"] == "P01"
    assert meta["image"] == {"name": "cells.png", "shape": [300, 400]}
    assert meta["sampling_rate_hz"] == 120.0 and meta["stimulus_onset_s"] == 1.0
    assert meta["recording"] == "Recording1" and meta["recording_resolution_px"] == [1920, 1080]
    assert "screen" not in meta  # screen size in mm is unknown: no partial ScreenGeometry


# How real presentations place an image: aspect kept with letterbox or pillarbox bars,
# stretched to fill the screen (x and y scales differ), shrunk, or drawn at its own size.
PLACEMENTS = {
    # 1000 x 400 panorama fitted to the width of 1920 x 1080: bars above and below
    "letterboxed": {"pw": 1920, "ph": 768, "px": 0, "py": 156, "ow": 1000, "oh": 400},
    # 300 x 600 portrait fitted to the height: bars left and right
    "pillarboxed": {"pw": 540, "ph": 1080, "px": 690, "py": 0, "ow": 300, "oh": 600},
    # 400 x 300 stretched over the whole screen: x scale 4.8, y scale 3.6
    "stretched": {"pw": 1920, "ph": 1080, "px": 0, "py": 0, "ow": 400, "oh": 300},
    # 4000 x 3000 photograph shrunk to 1440 x 1080
    "shrunk": {"pw": 1440, "ph": 1080, "px": 240, "py": 0, "ow": 4000, "oh": 3000},
    # 640 x 480 squeezed anisotropically into a 500 x 500 box off the screen's corner
    "squeezed": {"pw": 500, "ph": 500, "px": 123, "py": 457, "ow": 640, "oh": 480},
}


def placement_targets(media):
    """Image (row, col) targets: the four corner pixels' outer corners and inner points."""
    h, w = media["oh"], media["ow"]
    return [(-0.5, -0.5), (h - 0.51, w - 0.51), (-0.5, w - 0.51), (h - 0.51, -0.5), (h / 3, w / 5), (0.7 * h, 0.6 * w)]


@pytest.mark.parametrize("names", [CURRENT, OLDER], ids=["current", "older"])
@pytest.mark.parametrize("placement", sorted(PLACEMENTS))
def test_gaze_lands_on_the_right_pixels_however_the_media_is_placed(tmp_path, placement, names):
    media = {"stimulus": placement, "media": f"{placement}.png", **PLACEMENTS[placement]}
    targets = placement_targets(media)
    rows = [sample(1000 + 10 * i, media, on_screen(media, *rc)) for i, rc in enumerate(targets)]
    # Just past the bottom and right edges (the y and x extents differ when scales differ).
    rows.append(sample(1100, media, on_screen(media, media["oh"] - 0.5 + 1e-3, 1.0)))
    rows.append(sample(1110, media, on_screen(media, 1.0, media["ow"] - 0.5 + 1e-3)))
    recording = read_gaze(export(tmp_path / "placed.tsv", rows, names))
    assert recording.valid.tolist() == [True] * len(targets) + [False, False]
    np.testing.assert_allclose(recording.coords[: len(targets)], targets, atol=1e-9)
    assert recording.meta["image"]["shape"] == [media["oh"], media["ow"]]


@pytest.mark.parametrize("placement", sorted(PLACEMENTS))
def test_pro_lab_fixations_land_on_the_right_pixels_however_the_media_is_placed(tmp_path, placement):
    media = {"stimulus": placement, **PLACEMENTS[placement]}
    targets = placement_targets(media)[4:]
    rows = []
    for k, target in enumerate(targets):
        point = on_screen(media, *target)
        rows += [
            sample(1000 + 100 * k + 10 * i, media, point, index=k + 1, fixation=point, duration=30)
            for i in range(3)
        ]
    fixations = read_gaze(export(tmp_path / "placed.tsv", rows), what="fixations")
    np.testing.assert_allclose(fixations.coords, targets, atol=1e-9)


def test_gaze_off_the_media_and_lost_eyes_stay_as_invalid_samples(tmp_path):
    right_edge = (CELLS["px"] + CELLS["pw"], 400.0)  # the first screen pixel right of the media
    rows = cells_rows([(5.0, 5.0)]) + [
        sample(1010, CELLS, right_edge),
        sample(1020, CELLS, (100.0, 100.0)),  # on the screen, above-left of the media
        sample(1030, CELLS, on_screen(CELLS, 5, 5), valid=("Invalid", "Invalid")),
        sample(1040, CELLS, on_screen(CELLS, 5, 5), valid=("Invalid", "Valid")),
        sample(1050, CELLS, None, valid=("Invalid", "Invalid"), kind="EyesNotFound"),
    ]
    recording = read_gaze(export(tmp_path / "off.tsv", rows))
    assert recording.valid.tolist() == [True, False, False, False, True, False]
    assert np.isnan(recording.coords[~recording.valid]).all()
    np.testing.assert_allclose(recording.screen[1], [1360 / 1920, 400 / 1080])  # screen kept
    assert np.isnan(recording.screen[-1]).all()


def test_event_rows_and_other_sensors_are_skipped(tmp_path):
    rows = cells_rows()[:3]
    rows.insert(1, {"time": 1001, "event": "ImageStimulusStart", "sensor": "", "stimulus": "cells"})
    rows.insert(2, {"time": 1002, "sensor": "Mouse", "stimulus": "cells", "gx": 5, "gy": 5})
    recording = read_gaze(export(tmp_path / "events.tsv", rows))
    assert len(recording) == 3
    # without a Sensor column, a row with only an event is still no sample
    rows = cells_rows()[:3]
    rows.insert(1, {"time": 1001, "event": "ImageStimulusStart", "stimulus": "cells"})
    assert len(read_gaze(export(tmp_path / "older.tsv", rows, OLDER))) == 3


def test_several_stimuli_give_one_recording_each(tmp_path):
    rows = [sample(0, None, (5, 5), stimulus="")]  # before any stimulus: not kept
    rows += cells_rows(TARGETS[:3], start_ms=100)
    rows += [sample(200 + i * 10, POLYP, on_screen(POLYP, 10 + i, 20)) for i in range(4)]
    rows += cells_rows(TARGETS[3:], start_ms=300)  # cells shown again
    path = export(tmp_path / "two.tsv", rows)
    contents = read_gaze_all(path)
    assert list(contents) == ["cells", "polyp"]
    cells, polyp = contents["cells"], contents["polyp"]
    np.testing.assert_allclose(cells.coords, TARGETS, atol=1e-9)
    np.testing.assert_allclose(polyp.coords, [[10 + i, 20] for i in range(4)], atol=1e-9)
    assert polyp.meta["image"] == {"name": "polyp.jpg", "shape": [50, 100]}
    assert polyp.meta["stimulus_onset_s"] == 0.2 and polyp.t[0] == 0.0
    with pytest.raises(
        GazeFormatError, match=r"several stimuli \('cells', 'polyp'\); pass stimulus="
    ):
        read_gaze(path)
    assert read_gaze(path, stimulus="polyp").equals(polyp)
    with pytest.raises(GazeFormatError, match="no gaze for stimulus 'organ'"):
        read_gaze(path, stimulus="organ")


def test_sampling_rate_from_whole_millisecond_timestamps(tmp_path):
    """Pro Lab's default [ms] timestamps are whole numbers: at 1200 Hz most steps are 1 ms, some 0."""
    times = np.floor(np.arange(600) / 1.2)
    rows = [sample(float(ms), CELLS, on_screen(CELLS, 5, 5)) for ms in times]
    rows += [sample(float(ms) + 1000, CELLS, on_screen(CELLS, 5, 5)) for ms in times]  # after a gap
    rate = read_gaze(export(tmp_path / "ms.tsv", rows)).meta["sampling_rate_hz"]
    assert rate == pytest.approx(1200.0, rel=1e-3)  # the median step (1 ms) would say 1000 Hz


def test_several_recordings_are_keyed_by_recording_and_stimulus(tmp_path):
    rows = cells_rows(TARGETS[:2]) + [
        dict(row, recording="Recording2", participant="P02") for row in cells_rows(TARGETS[2:])
    ]
    contents = read_gaze_all(export(tmp_path / "both.tsv", rows))
    assert list(contents) == ["Recording1/cells", "Recording2/cells"]
    assert contents["Recording2/cells"].meta["recording"] == "Recording2"


def test_microsecond_timestamps_and_media_coordinates(tmp_path):
    names = {
        "time": "Recording timestamp [μs]",
        "sensor": "Sensor",
        "stimulus": "Presented Stimulus name",
        "ow": "Original Media width [px]",
        "oh": "Original Media height [px]",
        "gx": "Gaze point X [MCS norm]",
        "gy": "Gaze point Y [MCS norm]",
    }
    rows = [
        {
            "time": 5_000_000 + 1000 * i,
            "sensor": "Eye Tracker",
            "stimulus": "cells",
            "ow": 400,
            "oh": 300,
            "gx": (c + 0.5) / 400,
            "gy": (r + 0.5) / 300,
        }
        for i, (r, c) in enumerate(TARGETS)
    ]
    recording = read_gaze(export(tmp_path / "us.tsv", rows, names))
    np.testing.assert_allclose(recording.coords, TARGETS, atol=1e-9)
    assert recording.meta["sampling_rate_hz"] == 1000.0 and recording.screen is None


def test_pro_lab_fixations(tmp_path):
    first, second = (20.0, 30.0), (200.0, 350.0)

    def fixation(start_ms, n, place, index, duration):
        """``n`` samples 10 ms apart on ``place`` (image pixels), all in fixation ``index``."""
        screen = on_screen(CELLS, *place)
        return [
            sample(start_ms + 10 * i, CELLS, screen, index=index, fixation=screen, duration=duration)
            for i in range(n)
        ]

    rows = fixation(1000, 5, first, index=1, duration=50)
    rows.append(sample(1050, CELLS, (1000, 600), kind="Saccade", index=1, duration=20))
    rows.append(
        sample(1060, CELLS, (1800, 50), index=2, fixation=(1800, 50), duration=30)
    )  # off the media
    rows += fixation(1070, 3, second, index=3, duration=30)
    path = export(tmp_path / "fix.tsv", rows)
    fixations = read_gaze(path, what="fixations")
    assert isinstance(fixations, Fixations) and len(fixations) == 2
    np.testing.assert_allclose(fixations.coords, [first, second], atol=1e-9)
    np.testing.assert_allclose(fixations.start, [0.0, 0.07], atol=1e-12)
    np.testing.assert_allclose(fixations.duration, [0.05, 0.03])
    assert fixations.meta["fixations_off_media"] == 1
    assert fixations.meta["detector"]["name"] == "Tobii Pro Lab"
    assert fixations.meta["image"]["shape"] == [300, 400]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda rows: rows[2].update(time="soon"),
            r"line 4: 'soon' in column 'Recording timestamp \[ms\]' is not a number",
        ),
        (
            lambda rows: rows[2].update(time=""),
            r"line 4: an eye-tracker sample has no Recording timestamp",
        ),
        (lambda rows: rows[3].update(time=900.0), r"line 5: Recording timestamp goes backwards"),
        (
            lambda rows: rows[1].update(vl="Maybe"),
            r"line 3: 'Maybe' in column 'Validity left' is neither Valid nor Invalid",
        ),
    ],
)
def test_malformed_exports_name_the_line(tmp_path, mutate, message):
    rows = cells_rows()
    mutate(rows)
    with pytest.raises(GazeFormatError, match=message):
        read_gaze(export(tmp_path / "bad.tsv", rows))


def test_exports_missing_what_is_needed(tmp_path):
    names = {key: CURRENT[key] for key in ("time", "sensor", "gx", "gy", "stimulus")}
    with pytest.raises(GazeFormatError, match="Presented Media position"):
        read_gaze(export(tmp_path / "nomedia.tsv", cells_rows(), names), format="tobii-pro-lab")
    names = {key: CURRENT[key] for key in CURRENT if key != "time"}
    with pytest.raises(GazeFormatError, match="no 'Recording timestamp' column"):
        read_gaze(export(tmp_path / "notime.tsv", cells_rows(), names), format="tobii-pro-lab")
    names = {key: CURRENT[key] for key in CURRENT if key != "type"}
    with pytest.raises(GazeFormatError, match="no 'Eye movement type' column"):
        read_gaze(export(tmp_path / "notype.tsv", cells_rows(), names), what="fixations")


# -- fuzzing -----------------------------------------------------------------

pixel = st.floats(-20, 420, allow_nan=False)


@st.composite
def exports(draw):
    rows = []
    for time in draw(export_times()):
        row, col = draw(pixel), draw(pixel)
        valid = draw(
            st.sampled_from([("Valid", "Valid"), ("Invalid", "Valid"), ("Invalid", "Invalid")])
        )
        rows.append(sample(float(time), CELLS, on_screen(CELLS, row, col), valid=valid))
    names = draw(st.sampled_from([CURRENT, OLDER]))
    return rows, names


@FUZZ
@given(built=exports(), decimal=st.sampled_from([".", ","]))
def test_fuzz_every_sample_row_becomes_one_sample(tmp_path, built, decimal):
    rows, names = built
    recording = read_gaze(export(tmp_path / "fuzz.tsv", rows, names, decimal))
    assert len(recording) == len(rows)
    inside = [0 <= (r["gx"] - 560) / 2 < 400 and 0 <= (r["gy"] - 240) / 2 < 300 for r in rows]
    eyes = [r["vl"] == "Valid" or r["vr"] == "Valid" for r in rows]
    assert recording.valid.tolist() == [a and b for a, b in zip(inside, eyes)]


@FUZZ
@given(built=exports(), data=st.data())
def test_fuzz_valid_edits_keep_every_sample(tmp_path, branches, built, data):
    """Sample lines deleted or repeated, digits of gaze points changed, CRLF line ends:
    every line is one sample, valid exactly when its gaze point is on the media."""
    branches.need(**{"every sample read": FUZZ.max_examples})
    rows, names = built
    path = export(tmp_path / "edited.tsv", rows, names)
    keys = list(names)
    gaze = [keys.index("gx"), keys.index("gy")]
    text, lines = valid_edits(
        data.draw, path.read_text(), "\t", gaze, keep_order=[keys.index("time")]
    )
    path.write_bytes(text.encode())
    recording = read_gaze(path)
    assert len(recording) == lines
    fields = [line.split("\t") for line in text.splitlines()[1:]]
    gx, gy = (np.array([float(f[c]) for f in fields]) for c in gaze)
    inside = (0 <= (gx - 560) / 2) & ((gx - 560) / 2 < 400) & (0 <= (gy - 240) / 2) & ((gy - 240) / 2 < 300)
    eyes = np.array([f[keys.index("vl")] == "Valid" or f[keys.index("vr")] == "Valid" for f in fields])
    assert recording.valid.tolist() == (inside & eyes).tolist()
    np.testing.assert_allclose(recording.coords[recording.valid], np.column_stack([(gy - 240) / 2 - 0.5, (gx - 560) / 2 - 0.5])[recording.valid], atol=1e-9)
    branches["every sample read"] += 1


@FUZZ
@given(built=exports(), data=st.data())
def test_fuzz_garbage_is_refused_or_keeps_its_row_count(tmp_path, branches, built, data):
    """Bytes changed anywhere: a GazeFormatError, or one sample per eye-tracker line."""
    branches.need(refused=FUZZ.max_examples // 2)
    rows, names = built
    path = export(tmp_path / "mutated.tsv", rows, names)
    content = garbage_edits(data, path.read_bytes(), b"\t\n x9.,-\xff")
    contents = branches.read_edited(path, content, format="tobii-pro-lab")
    if contents is None:  # refused with a GazeFormatError (counted)
        return
    lines = content.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    header = [name.strip() for name in lines[0].split("\t")]
    rows_read = [line.split("\t") for line in lines[1:] if line.strip()]
    count = sum(len(recording) for recording in contents.values())
    if "Sensor" in header and "Presented Stimulus name" in header:
        sensor, stimulus = header.index("Sensor"), header.index("Presented Stimulus name")
        expected = sum(
            row[sensor].strip() == "Eye Tracker" and bool(row[stimulus].strip())
            for row in rows_read
        )
        assert count == expected
        branches["row count checked"] += 1
    else:
        assert count <= len(rows_read)
        branches["read"] += 1


@FUZZ
@given(
    content=st.binary(max_size=400),
    prefix=st.sampled_from([b"", "\t".join(CURRENT.values()).encode() + b"\n"]),
)
def test_fuzz_random_bytes_raise_only_gaze_format_errors(tmp_path, content, prefix):
    path = tmp_path / "random.tsv"
    path.write_bytes(prefix + content)
    for what in ("samples", "fixations"):
        read_or_none(path, format="tobii-pro-lab", what=what)


# -- hostile header fields: parsing stays linear (issue 10, item 11) -----------


@pytest.mark.timeout(60)  # the quadratic header regex took hours on such fields
@pytest.mark.parametrize(
    "field",
    ["[" * 200_000, " " * 200_000 + "x", "(" * 200_000, "[ " * 100_000 + "]", "a (" * 70_000],
    ids=["brackets", "spaces", "parentheses", "bracket-pairs", "words"],
)
def test_a_200_kb_header_field_is_read_in_linear_time(tmp_path, field):
    names = dict(CURRENT, hostile=field)
    recording = read_gaze(export(tmp_path / "hostile.tsv", cells_rows(), names))
    np.testing.assert_allclose(recording.coords, TARGETS, atol=1e-9)


@pytest.mark.parametrize(
    ("field", "name", "unit"),
    [
        ("Gaze point X [DACS px]", "Gaze point X", "DACS px"),
        ("Presented Media position X (DACSpx)", "Presented Media position X", "DACSpx"),
        ("Mapped fixation X [01-walk]", "Mapped fixation X", "01-walk"),
        ("Recording timestamp", "Recording timestamp", None),
        ("AOI hit [a [b]", "AOI hit", "a [b"),
        ("Odd ] name [ms]", "Odd ] name", "ms"),
        ("Eye (left) position", "Eye (left) position", None),
        ("Nothing []", "Nothing", ""),
    ],
)
def test_header_fields_split_into_name_and_unit(field, name, unit):
    from napari_gazeseg.gaze.formats.tobii_prolab import split_header

    assert split_header(field) == (name, unit)


QUADRATIC_HEADER = r"^(?P<name>.*?)\s*(?:\[(?P<bracketed>[^\]]*)\]|\((?P<parenthesised>[^)]*)\))?$"


@FUZZ
@given(st.text(alphabet="ab [](). ", max_size=24).map(str.strip))
def test_fuzz_header_split_agrees_with_the_former_regex_on_short_fields(field):
    """The linear split means what the former (quadratic) regex meant."""
    import re

    from napari_gazeseg.gaze.formats.tobii_prolab import split_header

    match = re.match(QUADRATIC_HEADER, field)
    unit = match.group("bracketed")
    unit = match.group("parenthesised") if unit is None else unit
    assert split_header(field) == (match.group("name").strip(), unit)


# -- re-saved as comma / semicolon CSV (issue 12, item 1) ----------------------


def resave(path, separator, decimal="."):
    """An export re-saved by a spreadsheet: csv quoting, another separator and decimal mark."""
    import csv
    import io

    lines = path.read_text(encoding="utf-8").splitlines()
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator, lineterminator="\r\n")
    for number, line in enumerate(lines):
        fields = line.split("\t")
        if decimal == "," and number:
            fields = [f.replace(".", ",") if f.replace(".", "").replace("-", "").isdigit() else f
                      for f in fields]
        writer.writerow(fields)
    target = path.with_suffix(".csv")
    target.write_text(out.getvalue(), encoding="utf-8")
    return target


@pytest.mark.parametrize(("separator", "decimal"), [(",", "."), (";", ","), (";", ".")])
def test_exports_re_saved_as_comma_or_semicolon_csv(tmp_path, separator, decimal):
    media = dict(CELLS, stimulus="cells, stained", media="cells; stained.png")  # quoted fields
    rows = [sample(1000 + i * 1000 / 120, media, on_screen(media, *rc)) for i, rc in enumerate(TARGETS)]
    path = resave(export(tmp_path / "export.tsv", rows), separator, decimal)
    assert detect_format(path) == "tobii-pro-lab"
    recording = read_gaze(path)
    np.testing.assert_allclose(recording.coords, TARGETS, atol=1e-9)
    assert recording.meta["image"] == {"name": "cells; stained.png", "shape": [300, 400]}
    assert recording.meta["stimulus"] == "cells, stained"
    np.testing.assert_allclose(recording.t, np.arange(len(TARGETS)) / 120, atol=1e-12)


def test_a_re_saved_csv_with_a_bad_line_is_refused_naming_it(tmp_path):
    path = resave(export(tmp_path / "export.tsv", cells_rows()), ",")
    lines = path.read_text().splitlines()
    lines[3] = lines[3] + ",extra"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(GazeFormatError, match=r"line 4: 25 fields where the header names 24"):
        read_gaze(path)


# -- Recording timestamp without a unit (issue 12, item 2) ---------------------

TRACKER_TIME = {**OLDER, "tracker": "Eyetracker timestamp"}


@pytest.mark.parametrize("rate_hz", [60.0, 120.0, 600.0, 1200.0])
@pytest.mark.parametrize("with_tracker_clock", [True, False], ids=["tracker-clock", "rate"])
def test_unitless_microsecond_timestamps_are_recognised_and_said(
    tmp_path, rate_hz, with_tracker_clock
):
    """Pro Lab 1.x wrote µs without a unit: read as ms, 6.7 s of 120 Hz became 6675 s at 0.1 Hz."""
    n = 40
    step_us = 1e6 / rate_hz
    rows = [
        sample(round(5_000_000 + i * step_us), CELLS, on_screen(CELLS, 5, 5),
               tracker=round(123_456_789 + i * step_us))
        for i in range(n)
    ]
    names = TRACKER_TIME if with_tracker_clock else OLDER
    with pytest.warns(UserWarning, match="no unit; read as microseconds"):
        recording = read_gaze(export(tmp_path / "us.tsv", rows, names))
    assert recording.meta["sampling_rate_hz"] == pytest.approx(rate_hz, rel=2e-3)
    assert recording.t[-1] == pytest.approx((n - 1) / rate_hz, abs=1e-5)
    assert recording.meta["timestamp_unit"] == "us"
    assert recording.meta["stimulus_onset_s"] == pytest.approx(5.0)
    expected = "Eyetracker timestamp" if with_tracker_clock else "sampling rate"
    assert recording.meta["timestamp_unit_from"] == expected


@pytest.mark.parametrize("with_tracker_clock", [True, False], ids=["tracker-clock", "rate"])
def test_unitless_millisecond_timestamps_stay_milliseconds(tmp_path, with_tracker_clock):
    rows = [
        sample(1000 + round(i * 1000 / 120, 3), CELLS, on_screen(CELLS, 5, 5),
               tracker=round(123_456_789 + i * 1e6 / 120))
        for i in range(30)
    ]
    names = TRACKER_TIME if with_tracker_clock else OLDER
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        recording = read_gaze(export(tmp_path / "ms.tsv", rows, names))
    assert recording.meta["sampling_rate_hz"] == pytest.approx(120.0, rel=1e-3)
    assert recording.meta["timestamp_unit"] == "ms"


def test_timestamps_whose_unit_cannot_be_told_are_read_as_ms_with_a_warning(tmp_path):
    # steps of 100 000: 0.01 Hz in ms, 10 Hz in µs: neither is an eye tracker's rate
    rows = [sample(1000 + 100_000 * i, CELLS, on_screen(CELLS, 5, 5)) for i in range(3)]
    with pytest.warns(UserWarning, match="fit no eye-tracker rate; read as milliseconds"):
        recording = read_gaze(export(tmp_path / "odd.tsv", rows, OLDER))
    assert recording.meta["timestamp_unit_from"] == "assumed"


def test_a_unit_in_the_header_is_never_second_guessed(tmp_path):
    rows = [sample(5000 * i, CELLS, on_screen(CELLS, 5, 5)) for i in range(5)]  # [ms], 0.2 Hz
    recording = read_gaze(export(tmp_path / "header.tsv", rows))
    assert recording.t[-1] == 20.0 and recording.meta["timestamp_unit_from"] == "header"


# -- fixations cut by a stimulus boundary (issue 12, item 5) -------------------


def test_a_fixation_cut_by_a_stimulus_boundary_ends_with_it(tmp_path):
    """Pro Lab gives both halves the whole fixation's duration, so they overlapped the next."""
    point_a, point_b = on_screen(CELLS, 20, 30), on_screen(POLYP, 10, 20)
    rows = []
    # cells: fixation 1 (50 ms reported), then fixation 2 that goes on into polyp (300 ms)
    rows += [sample(1000 + 10 * i, CELLS, point_a, index=1, fixation=point_a, duration=50)
             for i in range(5)]
    rows += [sample(1050 + 10 * i, CELLS, point_a, index=2, fixation=point_a, duration=300)
             for i in range(10)]
    # polyp starts at 1150 ms in the middle of fixation 2, which lasts to 1350 ms
    rows += [sample(1150 + 10 * i, POLYP, point_b, index=2, fixation=point_b, duration=300)
             for i in range(20)]
    rows += [sample(1350 + 10 * i, POLYP, point_b, index=3, fixation=point_b, duration=40)
             for i in range(4)]
    contents = read_gaze_all(export(tmp_path / "cut.tsv", rows), what="fixations")
    cells, polyp = contents["cells"], contents["polyp"]
    np.testing.assert_allclose(cells.start, [0.0, 0.05])
    np.testing.assert_allclose(cells.duration, [0.05, 0.10])  # to the end of cells, not 300 ms
    np.testing.assert_allclose(polyp.start, [0.0, 0.2])
    np.testing.assert_allclose(polyp.duration, [0.2, 0.04])  # from polyp's start: no overlap
    assert cells.meta["fixations_cut_by_stimulus"] == 1
    assert polyp.meta["fixations_cut_by_stimulus"] == 2  # and its last one ends the export
    for fixations in (cells, polyp):
        assert (fixations.start[1:] >= fixations.end[:-1] - 1e-12).all()


def test_reported_durations_never_overlap_the_next_fixation(tmp_path):
    point = on_screen(CELLS, 20, 30)
    rows = [sample(1000 + 10 * i, CELLS, point, index=1 + i // 3, fixation=point, duration=500)
            for i in range(9)]
    fixations = read_gaze(export(tmp_path / "long.tsv", rows), what="fixations")
    np.testing.assert_allclose(fixations.start, [0.0, 0.03, 0.06])
    # the last one ends with the export: 3 samples, not the 500 ms reported
    np.testing.assert_allclose(fixations.duration, [0.03, 0.03, 0.03])


# -- screen geometry and Pro Lab's calibration (issue 12, item 9) ---------------

GEOMETRY = {
    **CURRENT,
    "gx_mm": "Gaze point X [DACS mm]",
    "gy_mm": "Gaze point Y [DACS mm]",
    "zl": "Eye position left Z [DACS mm]",
    "zr": "Eye position right Z [DACS mm]",
}
MM_PER_PX = (527.04 / 1920, 296.46 / 1080)


def geometry_rows(targets, rate_hz=120.0, dwell_s=0.3, saccade_s=0.05, distance=650.0):
    """Fixations on image targets (dwell) joined by linear saccades, with DACS mm and eye Z."""
    rows, time_ms = [], 1000.0
    points = [on_screen(CELLS, *rc) for rc in targets]
    path = []
    for k, point in enumerate(points):
        path += [point] * int(dwell_s * rate_hz)
        if k + 1 < len(points):
            n = int(saccade_s * rate_hz)
            path += [
                tuple(a + (b - a) * (i + 1) / (n + 1) for a, b in zip(point, points[k + 1]))
                for i in range(n)
            ]
    for i, (x, y) in enumerate(path):
        rows.append(sample(time_ms + i * 1000 / rate_hz, CELLS, (x, y),
                           gx_mm=x * MM_PER_PX[0], gy_mm=y * MM_PER_PX[1],
                           zl=distance - 3.0, zr=distance + 3.0))
    return rows


def test_pro_lab_geometry_fills_meta_screen_and_ivt_runs_in_degrees(tmp_path):
    from napari_gazeseg.gaze.fixations import detect_fixations_ivt

    # 12 degrees apart on the screen, but only ~150 image px (the image is drawn 2x)
    targets = [(150.0, 60.0), (150.0, 230.0), (40.0, 230.0)]
    recording = read_gaze(export(tmp_path / "geometry.tsv", geometry_rows(targets), GEOMETRY))
    screen = recording.meta["screen"]
    assert screen["width_px"] == 1920 and screen["height_px"] == 1080
    assert screen["width_mm"] == pytest.approx(527.04, rel=1e-9)
    assert screen["height_mm"] == pytest.approx(296.46, rel=1e-9)
    assert screen["distance_mm"] == pytest.approx(650.0)
    fixations = detect_fixations_ivt(recording)
    assert fixations.meta["detector"]["units"] == "deg"
    assert len(fixations) == len(targets)
    np.testing.assert_allclose(fixations.coords, targets, atol=1e-6)


def test_without_millimetres_there_is_no_screen_geometry(tmp_path):
    names = {key: name for key, name in GEOMETRY.items() if key not in ("zl", "zr")}
    rows = geometry_rows([(150.0, 60.0), (150.0, 230.0)])
    assert "screen" not in read_gaze(export(tmp_path / "nomm.tsv", rows, names)).meta


@pytest.mark.parametrize("name", ["Eyetracker Calibration", "Eye tracker calibration validation"])
def test_the_calibration_is_no_stimulus(tmp_path, name):
    calibration = [sample(500 + 10 * i, None, (960 + i, 540), stimulus=name) for i in range(5)]
    rows = calibration + cells_rows()
    contents = read_gaze_all(export(tmp_path / "calibrated.tsv", rows))
    assert list(contents) == ["cells"]
    assert contents["cells"].meta["calibration_samples_skipped"] == 5
    assert len(contents["cells"]) == len(TARGETS)
    with pytest.raises(GazeFormatError, match="holds only the eye-tracker calibration"):
        read_gaze(export(tmp_path / "only.tsv", calibration))


# -- Pro Lab Glasses: gaze and fixations mapped onto a snapshot (issue 12, item 4) ---

GLASSES = {
    "time": "Recording timestamp",
    "sensor": "Sensor",
    "participant": "Participant name",
    "recording": "Recording name",
    "type": "Eye movement type",
    "duration": "Gaze event duration",
    "index": "Eye movement type index",
    "mgx": "Mapped gaze point X [shelf]",
    "mgy": "Mapped gaze point Y [shelf]",
    "mtype": "Mapped eye movement type [shelf]",
    "mindex": "Mapped eye movement type index [shelf]",
    "mfx": "Mapped fixation X [shelf]",
    "mfy": "Mapped fixation Y [shelf]",
    "aoi": "AOI hit [shelf - Cereal]",
}


def glasses_rows():
    """50 Hz glasses gaze (µs timestamps, no unit) with gyroscope rows between; the wearer
    looks at the snapshot in two fixations (samples 5-14, 20-29), elsewhere in between."""
    rows = []
    for i in range(40):
        time_us = 1_051_996_474 + 20_000 * i
        rows.append({"time": time_us - 5000, "sensor": "Gyroscope", "participant": "Y1",
                     "recording": "Recording 16"})
        row = {"time": time_us, "sensor": "Eye Tracker", "participant": "Y1",
               "recording": "Recording 16", "type": "Fixation", "duration": 922, "index": 7}
        fixation = 1 if 5 <= i < 15 else 2 if 20 <= i < 30 else None
        if fixation is not None:
            x, y = (100.5 + i, 50.25) if fixation == 1 else (300.0, 200.0 + i)
            fx, fy = (110.0, 50.25) if fixation == 1 else (300.0, 224.5)
            row.update(mgx=x, mgy=y, mtype="Fixation", mindex=fixation, mfx=fx, mfy=fy, aoi=1)
        else:
            row.update(mtype="Saccade", mindex=1, aoi=0)
        rows.append(row)
    return rows


def test_glasses_gaze_mapped_onto_a_snapshot(tmp_path):
    path = export(tmp_path / "glasses.tsv", glasses_rows(), GLASSES)
    assert detect_format(path) == "tobii-pro-lab"
    with pytest.warns(UserWarning, match="microseconds"):
        recording = read_gaze(path)
    assert isinstance(recording, GazeRecording) and len(recording) == 25  # samples 5 .. 29
    assert recording.meta["image"] == {"name": "shelf"} and recording.meta["glasses"]
    assert recording.meta["sampling_rate_hz"] == 50.0
    on = recording.valid
    assert on.tolist() == [True] * 10 + [False] * 5 + [True] * 10
    np.testing.assert_allclose(recording.coords[0], [50.25 - 0.5, 105.5 - 0.5])
    np.testing.assert_allclose(recording.coords[-1], [229 - 0.5, 300 - 0.5])
    assert np.isnan(recording.coords[~on]).all()
    with pytest.warns(UserWarning):
        fixations = read_gaze(path, what="fixations")
    np.testing.assert_allclose(fixations.coords, [[49.75, 109.5], [224.0, 299.5]])
    np.testing.assert_allclose(fixations.start, [0.0, 0.3])
    np.testing.assert_allclose(fixations.duration, [0.2, 0.2])  # mapped runs, not the 922 ms


def test_glasses_export_with_only_mapped_fixations_gives_fixations(tmp_path):
    names = {key: name for key, name in GLASSES.items() if key not in ("mgx", "mgy")}
    with pytest.warns(UserWarning, match="microseconds"):
        fixations = read_gaze(export(tmp_path / "fixations.tsv", glasses_rows(), names))
    assert isinstance(fixations, Fixations) and len(fixations) == 2
    np.testing.assert_allclose(fixations.coords, [[49.75, 109.5], [224.0, 299.5]])


# -- a real export (tests/data/tobii_prolab/README.md) ----------------------------

REAL = Path(__file__).parent / "data" / "tobii_prolab" / "I-VT-rightEye Data export_excerpt.tsv"


def test_a_real_pro_lab_export_reads_as_pandas_does():
    import pandas as pd

    contents = read_gaze_all(REAL)
    assert list(contents) == ["chimsky (1)"]  # the calibration before it is no stimulus
    recording = contents["chimsky (1)"]
    frame = pd.read_csv(REAL, sep="\t", low_memory=False)
    tracker = frame[frame["Sensor"] == "Eye Tracker"]
    shown = tracker[tracker["Presented Stimulus name"] == "chimsky (1)"]
    assert recording.meta["calibration_samples_skipped"] == int(
        (tracker["Presented Stimulus name"] == "Eyetracker Calibration").sum()
    )
    width, height = shown["Original Media width [px]"], shown["Original Media height [px]"]
    u = (shown["Gaze point X [DACS px]"] - shown["Presented Media position X [DACS px]"]) * (
        width / shown["Presented Media width [px]"]
    )
    v = (shown["Gaze point Y [DACS px]"] - shown["Presented Media position Y [DACS px]"]) * (
        height / shown["Presented Media height [px]"]
    )
    eyes = (shown["Validity left"] == "Valid") | (shown["Validity right"] == "Valid")
    on = (u >= 0) & (u < width) & (v >= 0) & (v < height) & eyes
    on &= shown["Eye movement type"] != "EyesNotFound"
    assert len(recording) == len(shown) == 239
    assert recording.valid.tolist() == on.tolist()
    np.testing.assert_allclose(
        recording.coords[recording.valid], np.column_stack([v[on] - 0.5, u[on] - 0.5]), atol=1e-9
    )
    seconds = shown["Recording timestamp [ms]"].to_numpy() / 1000
    np.testing.assert_allclose(recording.t, seconds - seconds[0], atol=1e-12)
    assert recording.meta["sampling_rate_hz"] == pytest.approx(300.0, abs=0.5)
    assert recording.meta["image"] == {"name": "chimsky.png", "shape": [865, 1110]}
    fixations = read_gaze(REAL, what="fixations")
    runs = shown[shown["Eye movement type"] == "Fixation"]["Eye movement type index"]
    assert len(fixations) == runs.nunique()
    # the first began during the calibration, the last goes on past the excerpt's end
    assert fixations.meta["fixations_cut_by_stimulus"] == 2
    assert (fixations.start[1:] >= fixations.end[:-1] - 1e-9).all()
    assert fixations.end[-1] <= recording.t[-1] + 1 / 250


def test_ivt_on_a_real_pro_lab_export_runs_in_degrees_and_agrees_with_pro_lab():
    """The export gives the screen in px and mm: I-VT in degrees finds Pro Lab's fixations."""
    from napari_gazeseg.gaze.fixations import detect_fixations_ivt

    recording = read_gaze(REAL)
    screen = recording.meta["screen"]  # a 24-inch 1920 x 1080 monitor (right eye's mm columns)
    assert screen["width_mm"] == pytest.approx(528.0, abs=1.0)
    assert screen["height_mm"] == pytest.approx(297.0, abs=1.0)
    assert screen["distance_mm"] == pytest.approx(583.2, abs=1.0)
    ours = detect_fixations_ivt(recording)
    theirs = read_gaze(REAL, what="fixations")
    assert ours.meta["detector"]["units"] == "deg"
    assert len(ours) == len(theirs) == 4
    np.testing.assert_allclose(ours.start, theirs.start, atol=1.5 / 300)
    np.testing.assert_allclose(ours.duration, theirs.duration, atol=1.5 / 300)


@FUZZ
@given(built=exports(), style=st.sampled_from([(",", "."), (";", ","), (";", ".")]))
def test_fuzz_re_saved_exports_keep_every_sample(tmp_path, built, style):
    rows, names = built
    path = resave(export(tmp_path / "fuzz.tsv", rows, names), *style)
    recording = read_gaze(path)
    assert len(recording) == len(rows)
    inside = [0 <= (r["gx"] - 560) / 2 < 400 and 0 <= (r["gy"] - 240) / 2 < 300 for r in rows]
    eyes = [r["vl"] == "Valid" or r["vr"] == "Valid" for r in rows]
    assert recording.valid.tolist() == [a and b for a, b in zip(inside, eyes)]


@FUZZ
@given(
    content=st.binary(max_size=400),
    prefix=st.sampled_from([
        "\t".join(GLASSES.values()).encode() + b"\n",
        ",".join(CURRENT.values()).encode() + b"\n",
        ";".join(TRACKER_TIME.values()).encode() + b"\n",
    ]),
)
def test_fuzz_glasses_and_re_saved_headers_raise_only_gaze_format_errors(tmp_path, content, prefix):
    path = tmp_path / "random.tsv"
    path.write_bytes(prefix + content)
    for what in ("samples", "fixations"):
        read_or_none(path, format="tobii-pro-lab", what=what)


@FUZZ
@given(data=st.data())
def test_fuzz_glasses_exports_keep_every_mapped_sample(tmp_path, branches, data):
    branches.need(samples=1)
    rows = glasses_rows()
    eye_rows = [row for row in rows if row["sensor"] == "Eye Tracker"]
    for row in eye_rows:  # the wearer looks on or off the snapshot at random
        if data.draw(st.booleans()):
            row.pop("mgx", None), row.pop("mgy", None)
        elif "mgx" not in row:
            row.update(mgx=float(data.draw(st.integers(0, 999))), mgy=12.5)
    mapped = [i for i, row in enumerate(eye_rows) if "mgx" in row]
    path = export(tmp_path / "glasses.tsv", rows, GLASSES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        contents = read_gaze_all(path)
    if not mapped:
        assert not any(isinstance(v, GazeRecording) for v in contents.values())
        return
    recording = contents["shelf"]
    assert len(recording) == mapped[-1] - mapped[0] + 1  # first to last mapped sample
    assert np.flatnonzero(recording.valid).tolist() == [i - mapped[0] for i in mapped]
    branches["samples"] += 1
