"""Tobii Studio data exports built from the documented columns, mapped to image pixels."""

from __future__ import annotations

import numpy as np
import pytest
from fuzz_edits import export_times, fuzz_settings, read_or_none, replace_bytes
from hypothesis import given
from hypothesis import strategies as st

from napari_gazeseg.gaze.fixations import detect_fixations_ivt
from napari_gazeseg.gaze.formats import GazeFormatError, detect_format, read_gaze, read_gaze_all
from napari_gazeseg.gaze.recording import Fixations

FUZZ = fuzz_settings(30)

# Tobii Studio 3.x export columns (a selection, in Studio's order)
COLUMNS = [
    "ExportDate", "StudioVersionRec", "StudioProjectName", "StudioTestName", "ParticipantName",
    "RecordingName", "RecordingDate", "RecordingDuration", "RecordingResolution",
    "FixationFilter", "MediaName", "MediaPosX (ADCSpx)", "MediaPosY (ADCSpx)", "MediaWidth",
    "MediaHeight", "RecordingTimestamp", "LocalTimeStamp", "EyeTrackerTimestamp",
    "StudioEventIndex", "StudioEvent", "StudioEventData", "FixationIndex", "SaccadeIndex",
    "GazeEventType", "GazeEventDuration", "FixationPointX (MCSpx)", "FixationPointY (MCSpx)",
    "GazePointIndex", "GazePointLeftX (ADCSpx)", "GazePointLeftY (ADCSpx)",
    "GazePointRightX (ADCSpx)", "GazePointRightY (ADCSpx)", "GazePointX (ADCSpx)",
    "GazePointY (ADCSpx)", "GazePointX (MCSpx)", "GazePointY (MCSpx)",
    "GazePointLeftX (ADCSmm)", "GazePointLeftY (ADCSmm)", "DistanceLeft", "DistanceRight",
    "PupilLeft", "PupilRight", "ValidityLeft", "ValidityRight", "",
]
# A 640 x 480 image at its own size, top-left corner at (640, 300) of a 1920 x 1080 screen.
IMAGE = {"MediaName": "slide.png", "MediaPosX (ADCSpx)": 640, "MediaPosY (ADCSpx)": 300,
         "MediaWidth": 640, "MediaHeight": 480}
OTHER = {"MediaName": "other.jpg", "MediaPosX (ADCSpx)": 0, "MediaPosY (ADCSpx)": 0,
         "MediaWidth": 1920, "MediaHeight": 1080}
MM_PER_PX = 509.76 / 1920


def gaze(index, time_ms, media, row_col, codes=(0, 0), kind="Fixation", fixation=None,
         duration=None, fixation_index=None):
    """A sample row looking at image pixel (row, col) of ``media`` (None: no gaze)."""
    row = {"ParticipantName": "P1", "RecordingName": "Rec 01", "RecordingResolution": "1920 x 1080",
           "FixationFilter": "I-VT filter", "RecordingTimestamp": time_ms,
           "GazePointIndex": index, "ValidityLeft": codes[0], "ValidityRight": codes[1],
           "GazeEventType": kind, "GazeEventDuration": duration or "",
           "FixationIndex": fixation_index or "", "DistanceLeft": 640.0, "DistanceRight": 660.0}
    if media is not None:
        row.update(media)
    if row_col is not None:
        x = row_col[1] + 0.5 + (media or IMAGE)["MediaPosX (ADCSpx)"]
        y = row_col[0] + 0.5 + (media or IMAGE)["MediaPosY (ADCSpx)"]
        row.update({"GazePointX (ADCSpx)": x, "GazePointY (ADCSpx)": y,
                    "GazePointLeftX (ADCSpx)": x, "GazePointLeftY (ADCSpx)": y,
                    "GazePointLeftX (ADCSmm)": x * MM_PER_PX, "GazePointLeftY (ADCSmm)": y * MM_PER_PX})
        if media is not None:
            row.update({"GazePointX (MCSpx)": row_col[1] + 0.5, "GazePointY (MCSpx)": row_col[0] + 0.5})
    if fixation is not None:
        row.update({"FixationPointX (MCSpx)": fixation[1] + 0.5,
                    "FixationPointY (MCSpx)": fixation[0] + 0.5})
    return row


def event(time_ms, name, data, media=None):
    row = {"ParticipantName": "P1", "RecordingName": "Rec 01", "RecordingTimestamp": time_ms,
           "StudioEvent": name, "StudioEventData": data, "StudioEventIndex": 1}
    if media is not None:
        row.update(media)
    return row


def export(path, rows, columns=COLUMNS, decimal=","):
    """Studio's way: UTF-8 with BOM, CRLF, tabs, (here) decimal commas, empty trailing column."""
    lines = ["\t".join(columns)]
    for row in rows:
        fields = []
        for name in columns:
            value = row.get(name, "")
            text = repr(float(value)) if isinstance(value, float) else str(value)
            fields.append(text.replace(".", decimal) if isinstance(value, float) else text)
        lines.append("\t".join(fields))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8-sig"))
    return path


TARGETS = [(0.0, 0.0), (10.0, 20.0), (479.0, 639.0), (-0.5, -0.5), (240.25, 320.75)]


def slide_rows(start_ms=1000.0, step_ms=1000 / 60):
    return [gaze(i + 1, round(start_ms + i * step_ms, 3), IMAGE, rc) for i, rc in enumerate(TARGETS)]


@pytest.mark.parametrize("decimal", [",", "."])
def test_studio_gaze_lands_on_the_right_image_pixels(tmp_path, decimal):
    rows = [gaze(0, 900.0, None, (100.0, 100.0))]  # before any media: not kept
    rows += [event(999.0, "ImageStart", "slide.png", IMAGE)]
    rows += slide_rows()
    rows += [event(1100.0, "ImageEnd", "slide.png", IMAGE)]
    path = export(tmp_path / "Rec 01.tsv", rows, decimal=decimal)
    assert detect_format(path) == "tobii-studio"
    recording = read_gaze(path)
    assert len(recording) == len(TARGETS) and recording.valid.all()
    np.testing.assert_allclose(recording.coords, TARGETS, atol=1e-9)
    np.testing.assert_allclose(recording.t, np.arange(len(TARGETS)) / 60, atol=1e-6)
    meta = recording.meta
    assert meta["source"] == "tobii-studio" and meta["participant"] == "P1"
    assert meta["image"] == {"name": "slide.png", "shape": [480, 640]}
    assert meta["sampling_rate_hz"] == pytest.approx(60.0, rel=1e-3)
    assert meta["recording_resolution_px"] == [1920, 1080]
    expected = np.array([(c + 0.5 + 640, r + 0.5 + 300) for r, c in TARGETS]) / [1920, 1080]
    np.testing.assert_allclose(recording.screen, expected, atol=1e-12)
    assert meta["screen"]["width_mm"] == pytest.approx(509.76)
    assert meta["screen"]["distance_mm"] == pytest.approx(650.0)


@pytest.mark.parametrize(
    ("codes", "valid"),
    [((0, 0), True), ((0, 4), True), ((4, 1), True), ((2, 2), False), ((3, 4), False), ((4, 4), False)],
)
def test_validity_codes(tmp_path, codes, valid):
    rows = slide_rows()[:2] + [gaze(9, 1040.0, IMAGE, (5.0, 5.0), codes=codes)]
    recording = read_gaze(export(tmp_path / "codes.tsv", rows))
    assert recording.valid.tolist() == [True, True, valid]
    assert np.isnan(recording.coords[~recording.valid]).all()


def test_gaze_off_the_media_is_an_invalid_sample(tmp_path):
    rows = slide_rows()[:1] + [
        gaze(2, 1020.0, IMAGE, (480.0, 5.0)),  # one pixel below the image
        gaze(3, 1030.0, IMAGE, (5.0, -1.0)),  # left of it
    ]
    assert read_gaze(export(tmp_path / "off.tsv", rows)).valid.tolist() == [True, False, False]


def test_without_media_coordinates_the_screen_gaze_is_placed_with_a_warning(tmp_path):
    columns = [name for name in COLUMNS if "(MCSpx)" not in name]
    path = export(tmp_path / "adcs.tsv", slide_rows(), columns)
    with pytest.warns(UserWarning, match="shown at its own size"):
        recording = read_gaze(path)
    np.testing.assert_allclose(recording.coords, TARGETS, atol=1e-9)


def test_several_media_and_recordings(tmp_path):
    rows = slide_rows()
    rows += [gaze(10 + i, 2000.0 + 10 * i, OTHER, (100.0 + i, 200.0)) for i in range(3)]
    rows += [dict(row, RecordingName="Rec 02") for row in slide_rows(start_ms=50.0)]
    contents = read_gaze_all(export(tmp_path / "all.tsv", rows))
    assert list(contents) == ["Rec 01/slide.png", "Rec 01/other.jpg", "Rec 02/slide.png"]
    np.testing.assert_allclose(contents["Rec 01/other.jpg"].coords, [[100 + i, 200] for i in range(3)])


def test_studio_fixations(tmp_path):
    first, second = (20.0, 30.0), (400.0, 600.0)
    rows = [gaze(1 + i, 1000.0 + 10 * i, IMAGE, first, kind="Fixation", fixation=first,
                 duration=50, fixation_index=1) for i in range(5)]
    rows += [gaze(6, 1050.0, IMAGE, (200.0, 300.0), kind="Saccade", duration=20)]
    rows += [gaze(7 + i, 1060.0 + 10 * i, IMAGE, second, kind="Fixation", fixation=second,
                  duration=30, fixation_index=2) for i in range(3)]
    fixations = read_gaze(export(tmp_path / "fix.tsv", rows), what="fixations")
    assert isinstance(fixations, Fixations) and len(fixations) == 2
    np.testing.assert_allclose(fixations.coords, [first, second], atol=1e-9)
    np.testing.assert_allclose(fixations.start, [0.0, 0.06])
    np.testing.assert_allclose(fixations.duration, [0.05, 0.03])
    assert fixations.meta["detector"] == {"name": "Tobii Studio", "filter": "I-VT filter"}


def test_ivt_on_a_studio_export_runs_in_degrees(tmp_path):
    rows, k = [], 0
    for target in [(100.0, 100.0), (100.0, 500.0), (400.0, 500.0)]:
        for _ in range(30):
            rows.append(gaze(k, 1000.0 + k * 1000 / 60, IMAGE, target))
            k += 1
    fixations = detect_fixations_ivt(read_gaze(export(tmp_path / "ivt.tsv", rows)))
    assert fixations.meta["detector"]["units"] == "deg" and len(fixations) == 3


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda rows: rows[2].update(RecordingTimestamp="later"), r"line 4: 'later' in column 'RecordingTimestamp'"),
        (lambda rows: rows[2].update(RecordingTimestamp=""), r"line 4: a gaze sample has no RecordingTimestamp"),
        (lambda rows: rows[3].update(RecordingTimestamp=10.0), r"line 5: Recording timestamp goes backwards"),
        (lambda rows: rows[1].update(ValidityLeft="good"), r"line 3: 'good' in column 'ValidityLeft' is not a number"),
    ],
)
def test_malformed_exports_name_the_line(tmp_path, mutate, message):
    rows = slide_rows()
    mutate(rows)
    with pytest.raises(GazeFormatError, match=message):
        read_gaze(export(tmp_path / "bad.tsv", rows))


def test_exports_missing_what_is_needed(tmp_path):
    columns = [name for name in COLUMNS if name != "MediaName"]
    with pytest.raises(GazeFormatError, match="no 'MediaName' column"):
        read_gaze(export(tmp_path / "nomedia.tsv", slide_rows(), columns))
    columns = [name for name in COLUMNS if "GazeEventType" not in name]
    with pytest.raises(GazeFormatError, match="no 'GazeEventType' column"):
        read_gaze(export(tmp_path / "notype.tsv", slide_rows(), columns), what="fixations")


# -- fuzzing -----------------------------------------------------------------

pixel = st.floats(-20, 660, allow_nan=False)


@st.composite
def exports(draw):
    rows, events = [], 0
    for i, time in enumerate(draw(export_times())):
        if draw(st.booleans()) and draw(st.booleans()):
            rows.append(event(float(time), "ImageStart", "slide.png", IMAGE))
            events += 1
        codes = draw(st.tuples(st.integers(0, 4), st.integers(0, 4)))
        rows.append(gaze(i + 1, float(time), IMAGE, (draw(pixel), draw(pixel)), codes=codes))
    return rows, events


@FUZZ
@given(built=exports())
def test_fuzz_every_sample_row_becomes_one_sample(tmp_path, built):
    rows, events = built
    recording = read_gaze(export(tmp_path / "fuzz.tsv", rows))
    samples = [row for row in rows if "GazePointIndex" in row]
    assert len(recording) == len(rows) - events == len(samples)
    inside = [0 <= r["GazePointX (MCSpx)"] < 640 and 0 <= r["GazePointY (MCSpx)"] < 480 for r in samples]
    eyes = [min(r["ValidityLeft"], r["ValidityRight"]) <= 1 for r in samples]
    assert recording.valid.tolist() == [a and b for a, b in zip(inside, eyes)]


@FUZZ
@given(built=exports(), data=st.data())
def test_fuzz_mutated_exports_fail_cleanly_or_keep_their_row_count(tmp_path, branches, built, data):
    branches.need(read=1, refused=1)
    path = export(tmp_path / "mutated.tsv", built[0])
    content = path.read_bytes()
    body = content.index(b"\n") + 1  # the header's own damage is fuzzed below
    content = replace_bytes(data, content, b"\t\n x9.,-\xff", start=body)
    contents = branches.read_edited(path, content, format="tobii-studio")
    if contents is None:  # refused with a GazeFormatError (counted)
        return
    text = content.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    header = [name.strip() for name in lines[0].split("\t")]
    body = [line.split("\t") for line in lines[1:] if line.strip()]
    count = sum(len(recording) for recording in contents.values())
    if header == COLUMNS:
        index, media = header.index("GazePointIndex"), header.index("MediaName")
        expected = sum(bool(row[index].strip()) and bool(row[media].strip()) for row in body)
        assert count == expected  # the strong check
        branches["read"] += 1
    else:
        assert count <= len(body)


@FUZZ
@given(content=st.binary(max_size=400),
       prefix=st.sampled_from([b"", "\t".join(COLUMNS).encode() + b"\r\n"]))
def test_fuzz_random_bytes_raise_only_gaze_format_errors(tmp_path, content, prefix):
    path = tmp_path / "random.tsv"
    path.write_bytes(prefix + content)
    for what in ("samples", "fixations"):
        read_or_none(path, format="tobii-studio", what=what)
