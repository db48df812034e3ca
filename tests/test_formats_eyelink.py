"""EyeLink ASC files: the manual's layout written here, real files checked against pymovements, fuzzing."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from fuzz_edits import fuzz_settings, maybe_replace_bytes, read_or_none, write_and_read
from hypothesis import given
from hypothesis import strategies as st

from napari_gazeseg.gaze.formats import (
    GazeFormatError,
    GazeFormatWarning,
    detect_format,
    read_gaze,
    read_gaze_all,
)
from napari_gazeseg.gaze.recording import Fixations, GazeRecording

DATA = Path(__file__).parent / "data" / "pymovements"
FUZZ = fuzz_settings(25)

# The layout of the EyeLink manual's "ASC file format" chapter: preamble, messages,
# a monocular 500 Hz block (blink with missing samples, a fixation, a saccade),
# then a binocular 1000 Hz block.
ASC = """\
** CONVERTED FROM D:\\data\\s01.edf using edfapi 4.2 on Mon Jan  1 10:00:00 2024
** DATE: Mon Jan  1 09:00:00 2024
** TYPE: EDF_FILE BINARY EVENT SAMPLE TAGGED
** VERSION: EYELINK II 1
**

MSG\t1000 DISPLAY_COORDS 0 0 1279 1023
MSG\t1000 RETRACE_INTERVAL  16.666
MSG\t1990 TRIALID 7
START\t2000 \tLEFT\tSAMPLES\tEVENTS
PRESCALER\t1
VPRESCALER\t1
PUPIL\tAREA
EVENTS\tGAZE\tLEFT\tRATE\t 500.00\tTRACKING\tCR\tFILTER\t2
SAMPLES\tGAZE\tLEFT\tRATE\t 500.00\tTRACKING\tCR\tFILTER\t2
MSG\t2000 -3 SYNCTIME
SFIX L   2000
2000\t  640.0\t  512.0\t  900.0\t...
2002\t  641.0\t  511.0\t  901.0\t...
2004\t  639.5\t  512.5\t  899.0\t...
EFIX L   2000\t2004\t6\t  640.2\t  511.8\t    900
SSACC L  2006
2006\t  800.0\t  300.0\t  880.0\t...
ESACC L  2006\t2006\t2\t  640.2\t  511.8\t  800.0\t  300.0\t   3.10\t    250
SBLINK L 2008
2008\t   .\t   .\t    0.0\t...
2010\t  812.0\t  301.0\t  0.0\tC..
EBLINK L 2008\t2010\t4
2012\t 1400.0\t  300.0\t  880.0\t...
MSG\t2013 image shown
END\t2014 \tSAMPLES\tEVENTS\tRES\t  37.17\t  37.75
MSG\t2990 TRIALID 8
START\t3000 \tLEFT\tRIGHT\tSAMPLES\tEVENTS
SAMPLES\tGAZE\tLEFT\tRIGHT\tRATE\t1000.00\tTRACKING\tCR\tFILTER\t2
3000\t 100.0\t 200.0\t 500.0\t 104.0\t 206.0\t 510.0\t.....
3001\t   .\t   .\t   0.0\t 110.0\t 210.0\t 500.0\t.....
EFIX R   3000\t3001\t2\t  107.0\t  208.0\t    505
EFIX L   3000\t3000\t1\t  100.0\t  200.0\t    500
END\t3002 \tSAMPLES\tEVENTS
"""


def write(tmp_path, text=ASC, name="s01.asc"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_the_manuals_layout(tmp_path):
    path = write(tmp_path)
    assert detect_format(path) == "eyelink-asc"
    contents = read_gaze_all(path)
    assert list(contents) == ["trial 7", "trial 8"]
    first = contents["trial 7"]
    assert isinstance(first, GazeRecording) and len(first) == 7
    np.testing.assert_allclose(first.t, [0.0, 0.002, 0.004, 0.006, 0.008, 0.010, 0.012])
    # (row, col) = (y, x) on the 1024 x 1280 screen; blink samples and the one off-screen invalid
    assert first.valid.tolist() == [True, True, True, True, False, False, False]
    np.testing.assert_array_equal(first.coords[0], [512.0, 640.0])
    np.testing.assert_allclose(first.screen[0], [640.5 / 1280, 512.5 / 1024])
    assert first.image_shape == (1024, 1280)
    assert first.meta["sampling_rate_hz"] == 500.0
    assert first.meta["screen_resolution_px"] == [1280, 1024] and "screen" not in first.meta
    assert first.meta["eye"] == "left" and first.meta["trial"] == "7"
    assert first.meta["messages"] == [[0.0, "SYNCTIME"], [0.013, "image shown"]]
    assert first.meta["tracker_start_ms"] == 2000.0
    assert (first.meta["n_saccades"], first.meta["n_blinks"]) == (1, 1)
    # binocular: the mean of both eyes where both were tracked, else the tracked one
    second = contents["trial 8"]
    np.testing.assert_array_equal(second.coords, [[203.0, 102.0], [210.0, 110.0]])
    assert second.meta["eye"] == "both" and second.meta["sampling_rate_hz"] == 1000.0


def test_fixations_come_from_efix(tmp_path):
    path = write(tmp_path)
    fixations = read_gaze_all(path, what="fixations")
    first = fixations["trial 7"]
    assert isinstance(first, Fixations) and len(first) == 1
    np.testing.assert_allclose(first.start, [0.0])
    np.testing.assert_allclose(first.duration, [0.006])
    np.testing.assert_allclose(first.coords, [[511.8, 640.2]])
    # binocular blocks give the left eye's fixations
    second = fixations["trial 8"]
    assert second.meta["detector"]["eye"] == "left"
    np.testing.assert_allclose(second.coords, [[200.0, 100.0]])


def test_without_display_coords_the_screen_is_given_or_unknown(tmp_path):
    text = ASC.replace("MSG\t1000 DISPLAY_COORDS 0 0 1279 1023\n", "")
    path = write(tmp_path, text)
    with pytest.warns(GazeFormatWarning, match="no DISPLAY_COORDS message"):
        recording = read_gaze(path, stimulus="trial 7")
    assert recording.image_shape is None and recording.valid.sum() == 5  # 1400 px is no longer off
    given = read_gaze(path, stimulus="trial 7", image_shape=(1080, 1920))
    assert given.image_shape == (1080, 1920) and given.valid.sum() == 5


def test_mostly_off_screen_gaze_is_warned(tmp_path):
    text = ASC.replace("DISPLAY_COORDS 0 0 1279 1023", "DISPLAY_COORDS 0 0 199 99")
    with pytest.warns(GazeFormatWarning, match=r"of the gaze lies off the 200 x 100 px image"):
        read_gaze_all(write(tmp_path, text))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("SAMPLES\tGAZE\tLEFT\tRATE", "SAMPLES\tHREF\tLEFT\tRATE", "line 15: the samples are HREF positions"),
        ("2002\t  641.0\t  511.0\t  901.0\t...", "2002\t  641.0", "line 19: a sample has 2 fields"),
        ("2004\t  639.5", "2004\t  6x9.5", r"line 20: '6x9.5' is not a number \(gaze position\)"),
        ("EFIX L   2000\t2004", "EFIX X   2000\t2004", "line 21: EFIX lacks its eye or times"),
        ("DISPLAY_COORDS 0 0 1279 1023", "DISPLAY_COORDS 0 0 -5 1023", "line 7: DISPLAY_COORDS does not give"),
    ],
)
def test_malformed_lines_are_named(tmp_path, old, new, message):
    assert old in ASC
    with pytest.raises(GazeFormatError, match=message):
        read_gaze_all(write(tmp_path, ASC.replace(old, new, 1)), format="eyelink-asc")


def test_the_fast_and_the_line_by_line_sample_parsers_agree(tmp_path):
    fast = read_gaze_all(write(tmp_path, ASC, "fast.asc"))
    # one line with an extra field (an INPUT column) sends the block line by line
    mixed = ASC.replace("2002\t  641.0\t  511.0\t  901.0\t...", "2002\t  641.0\t  511.0\t  901.0\t  127.0\t...")
    slow = read_gaze_all(write(tmp_path, mixed, "slow.asc"))
    for key in fast:
        assert slow[key].equals(fast[key])


def test_a_samples_line_before_its_start_line_counts(tmp_path):
    # some ASC files carry SAMPLES/EVENTS just before START
    moved = ASC.replace(
        "START\t3000 \tLEFT\tRIGHT\tSAMPLES\tEVENTS\nSAMPLES\tGAZE\tLEFT\tRIGHT\tRATE\t1000.00\tTRACKING\tCR\tFILTER\t2\n",
        "SAMPLES\tGAZE\tLEFT\tRIGHT\tRATE\t1000.00\tTRACKING\tCR\tFILTER\t2\nSTART\t3000 \tLEFT\tRIGHT\tSAMPLES\tEVENTS\n",
    )
    assert moved != ASC
    assert read_gaze(write(tmp_path, moved), stimulus="trial 8").meta["sampling_rate_hz"] == 1000.0


def test_a_file_without_blocks_is_refused(tmp_path):
    path = write(tmp_path, "** CONVERTED FROM x.edf\nMSG\t1 hello\n")
    with pytest.raises(GazeFormatError, match="no recording block"):
        read_gaze_all(path)


# -- real files (pymovements' test files, MIT) against pymovements' parser -------


@pytest.mark.slow  # importing pymovements (polars) takes ~20 s on a loaded 2-core machine
@pytest.mark.parametrize(
    ("name", "n_samples", "rate", "shape", "n_fixations"),
    [
        ("eyelink_binocular_example.asc", 368, 1000.0, (1081, 1921), 2),
        ("eyelink_monocular_no_dummy_example.asc", 297, 500.0, (1080, 1920), 2),
    ],
)
def test_real_files_agree_with_pymovements(name, n_samples, rate, shape, n_fixations):
    pm = pytest.importorskip("pymovements")
    path = DATA / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = pm.gaze.from_asc(path, events=True)
    (ours,) = read_gaze_all(path).values()
    (fixations,) = read_gaze_all(path, what="fixations").values()
    assert len(ours) == theirs.samples.height == n_samples
    assert ours.meta["sampling_rate_hz"] == rate and ours.image_shape == shape
    assert theirs.experiment.screen.width_px == shape[1]
    times = theirs.samples["time"].to_numpy().astype(float)
    np.testing.assert_allclose(ours.t, (times - times[0]) / 1000.0)
    pixel = np.array(theirs.samples["pixel"].to_list(), dtype=float)  # x, y per eye
    x = np.nanmean(pixel[:, 0::2], axis=1) if pixel.shape[1] == 4 else pixel[:, 0]
    y = np.nanmean(pixel[:, 1::2], axis=1) if pixel.shape[1] == 4 else pixel[:, 1]
    tracked = ours.valid
    np.testing.assert_allclose(ours.coords[tracked], np.column_stack([y, x])[tracked])
    events = theirs.events.frame
    theirs_fix = events.filter((events["name"] == "fixation_eyelink") & (events["eye"] == "left"))
    assert len(fixations) == theirs_fix.height == n_fixations
    onsets = theirs_fix["onset"].to_numpy().astype(float)
    np.testing.assert_allclose(fixations.start, (onsets - times[0]) / 1000.0)


# -- fuzzing -----------------------------------------------------------------


@st.composite
def asc_files(draw):
    lines = ["** CONVERTED FROM fuzz.edf using edfapi", "**", "MSG\t10 DISPLAY_COORDS 0 0 639 479"]
    expected = []
    t = 100
    for block in range(draw(st.integers(1, 3))):
        binocular = draw(st.booleans())
        eyes = "LEFT\tRIGHT" if binocular else "LEFT"
        lines += [f"MSG\t{t} TRIALID {block}", f"START\t{t} \t{eyes}\tSAMPLES\tEVENTS",
                  f"SAMPLES\tGAZE\t{eyes}\tRATE\t1000.00\tTRACKING\tCR\tFILTER\t2"]
        n = draw(st.integers(0, 25))
        for _ in range(n):
            values = [
                "." if draw(st.integers(0, 5)) == 0 else f"{draw(st.floats(-100, 800)):.1f}"
                for _ in range(6 if binocular else 3)
            ]
            lines.append(f"{t}\t" + "\t".join(values) + "\t...")
            if draw(st.integers(0, 8)) == 0:
                lines.append(f"MSG\t{t} note {t}")
            t += 1
        if n and draw(st.booleans()):
            lines.append(f"EFIX L   {t - n}\t{t - 1}\t{n}\t  320.0\t  240.0\t    500")
        lines.append(f"END\t{t} \tSAMPLES\tEVENTS")
        expected.append(n)
        t += 50
    return "\n".join(lines) + "\n", expected


_ASC_READ: list[int] = []


@FUZZ
@given(generated=asc_files(), data=st.data())
def test_fuzz_every_sample_line_is_one_sample(tmp_path, generated, data):
    text, expected = generated
    content, mutate = maybe_replace_bytes(data, text.encode(), b"\t\n .9-xE\xff")
    contents = write_and_read(tmp_path / "fuzz.asc", content, format="eyelink-asc")
    if contents is None:  # refused with a GazeFormatError
        assert mutate
        return
    # independent count: lines starting with a digit inside START .. END
    inside, counts = False, []
    for line in content.decode().split("\n"):
        if line.startswith("START"):
            inside = True
            counts.append(0)
        elif line.startswith("END"):
            inside = False
        elif inside and line[:1].isdigit():
            counts[-1] += 1
    assert [len(r) for r in contents.values()] == counts
    if not mutate:
        assert counts == expected
        _ASC_READ.append(sum(expected))


def test_fuzz_asc_ran_the_reading_branch():
    if not _ASC_READ:
        test_fuzz_every_sample_line_is_one_sample()
    assert len(_ASC_READ) >= 6


@fuzz_settings(40)
@given(content=st.binary(max_size=400), prefix=st.sampled_from([b"", b"** CONVERTED FROM x.edf\n", ASC.encode()[:300]]))
def test_fuzz_random_bytes_raise_only_gaze_format_errors(tmp_path, content, prefix):
    path = tmp_path / "random.asc"
    path.write_bytes(prefix + content)
    read_or_none(path, format="eyelink-asc")


# -- Data Viewer sample reports --------------------------------------------------

# Data Viewer's Sample Report (tab-separated, "." missing), two sessions, binocular columns.
SAMPLE_REPORT = """\
RECORDING_SESSION_LABEL\tTRIAL_INDEX\tTIMESTAMP\tLEFT_GAZE_X\tLEFT_GAZE_Y\tRIGHT_GAZE_X\tRIGHT_GAZE_Y\tSAMPLE_MESSAGE
s01\t1\t2154556\t138.1\t132.8\t140.1\t134.8\t.
s01\t1\t2154558\t.\t.\t139.0\t131.0\tTRIALID 1
s01\t1\t2154560\t.\t.\t.\t.\t.
s01\t2\t2339227\t673.2\t523.8\t675.2\t521.8\t.
s02\t1\t100\t2000.0\t50.0\t2000.0\t50.0\t.
"""


def test_data_viewer_sample_report_one_recording_per_session_and_trial(tmp_path):
    path = tmp_path / "samples.txt"
    path.write_text(SAMPLE_REPORT)
    assert detect_format(path) == "eyelink-samples"  # was refused: no format matched
    with pytest.warns(GazeFormatWarning, match="names no screen size"):
        contents = read_gaze_all(path)
    assert list(contents) == ["s01/trial 1", "s01/trial 2", "s02/trial 1"]
    trial = contents["s01/trial 1"]
    np.testing.assert_allclose(trial.t, [0.0, 0.002, 0.004])
    np.testing.assert_allclose(trial.coords[:2], [[133.8, 139.1], [131.0, 139.0]])  # eyes averaged
    assert trial.valid.tolist() == [True, True, False]
    assert trial.meta["sampling_rate_hz"] == 500.0 and trial.meta["tracker_start_ms"] == 2154556.0
    on_screen = read_gaze_all(path, image_shape=(1080, 1920))
    assert on_screen["s02/trial 1"].valid.tolist() == [False]  # x = 2000 is off a 1920 px screen
    assert on_screen["s01/trial 2"].image_shape == (1080, 1920)


_REPORTS_READ: list[int] = []


@FUZZ
@given(data=st.data())
def test_fuzz_sample_reports_keep_every_row(tmp_path, data):
    lines = SAMPLE_REPORT.splitlines()
    rows = [data.draw(st.sampled_from(lines[1:])) for _ in range(data.draw(st.integers(1, 12)))]
    content = ("\n".join([lines[0], *rows]) + "\n").encode()
    content, mutate = maybe_replace_bytes(data, content, b"\t\n.9-x\xff", start=len(lines[0]) + 1)
    contents = write_and_read(tmp_path / "report.txt", content, format="eyelink-samples")
    if contents is None:  # refused with a GazeFormatError
        assert mutate
        return
    body = [line for line in content.decode().split("\n")[1:] if line.strip()]
    assert sum(len(r) for r in contents.values()) == len(body)
    if not mutate:
        _REPORTS_READ.append(len(body))


def test_fuzz_sample_reports_ran_the_reading_branch():
    if not _REPORTS_READ:
        test_fuzz_sample_reports_keep_every_row()
    assert len(_REPORTS_READ) >= 6
