"""Pupil Labs and Gazepoint exports: their documented layouts written here, fuzzing."""

from __future__ import annotations

import warnings

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

FUZZ = fuzz_settings(30)

# -- Pupil Labs ------------------------------------------------------------------

# Pupil Player's raw data exporter: gaze_positions.csv (norm_pos origin bottom-left).
PUPIL_WORLD = """\
gaze_timestamp,world_index,confidence,norm_pos_x,norm_pos_y,base_data,gaze_point_3d_x,gaze_point_3d_y,gaze_point_3d_z
342005.9718215,0,1.0,0.5,0.5,342005.969916-0 342005.973727-1,-24.6,-30.8,268.4
342005.9758145,0,0.95,0.25,0.75,342005.977902-0 342005.973727-1,-24.6,-30.9,268.7
342005.9797805,1,0.3,0.26,0.74,342005.977902-0 342005.981659-1,-24.2,-30.2,266.4
342005.983919,1,0.99,1.2,0.5,342005.986179-0 342005.981659-1,-24.2,-30.1,267.3
"""
# The surface tracker's gaze_positions_on_surface_<name>.csv, surface size set to 800 x 600.
PUPIL_SURFACE = """\
world_timestamp,world_index,gaze_timestamp,x_norm,y_norm,x_scaled,y_scaled,on_surf,confidence
5.5,0,5.501,0.5,0.5,400.0,300.0,True,0.98
5.5,0,5.505,0.1,0.9,80.0,540.0,True,0.97
5.533,1,5.509,1.3,0.5,1040.0,300.0,False,0.99
5.533,1,5.513,0.52,0.48,416.0,288.0,True,0.2
"""


def test_pupil_world_gaze_lies_on_the_world_video_frames(tmp_path):
    path = tmp_path / "gaze_positions.csv"
    path.write_text(PUPIL_WORLD)
    assert detect_format(path) == "pupil-labs"
    with pytest.warns(GazeFormatWarning, match="frame size is not in the export.*720 x 1280"):
        recording = read_gaze(path)
    np.testing.assert_allclose(recording.t, [0.0, 0.003993, 0.007959, 0.0120975], atol=1e-9)
    # (frame, row, col) with y up: norm (0.5, 0.5) is the frame centre
    np.testing.assert_allclose(recording.coords[0], [0.0, 359.5, 639.5])
    np.testing.assert_allclose(recording.coords[1], [0.0, 0.25 * 720 - 0.5, 0.25 * 1280 - 0.5])
    assert recording.valid.tolist() == [True, True, False, False]  # low confidence; off the frame
    assert recording.meta["image"] == {"name": "world", "shape": [2, 720, 1280], "shape_assumed": True}
    given_frame = read_gaze(path, image_shape=(1080, 1088))
    np.testing.assert_allclose(given_frame.coords[0], [0.0, 539.5, 543.5])


def test_older_pupil_exports_name_their_columns_differently(tmp_path):
    path = tmp_path / "gaze_positions.csv"
    path.write_text(PUPIL_WORLD.replace("gaze_timestamp,world_index", "timestamp,index"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GazeFormatWarning)
        assert len(read_gaze(path, format="pupil-labs")) == 4


def test_pupil_surface_is_the_image(tmp_path):
    path = tmp_path / "gaze_positions_on_surface_Screen 1_1520443576.721629.csv"
    path.write_text(PUPIL_SURFACE)
    assert detect_format(path) == "pupil-labs"
    contents = read_gaze_all(path)
    assert list(contents) == ["Screen 1"]
    recording = contents["Screen 1"]
    assert recording.image_shape == (600, 800)
    np.testing.assert_allclose(recording.coords[:2], [[299.5, 399.5], [59.5, 79.5]])
    assert recording.valid.tolist() == [True, True, False, False]  # off the surface; low confidence
    np.testing.assert_allclose(recording.t, [0.0, 0.004, 0.008, 0.012], atol=1e-12)


def test_a_surface_without_size_is_placed_on_a_nominal_image_with_a_warning(tmp_path):
    path = tmp_path / "gaze_positions_on_surface_unnamed.csv"
    text = PUPIL_SURFACE.replace("400.0,300.0", "0.5,0.5").replace("80.0,540.0", "0.1,0.9")
    text = text.replace("1040.0,300.0", "1.3,0.5").replace("416.0,288.0", "0.52,0.48")
    path.write_text(text)
    with pytest.warns(GazeFormatWarning, match="surface has no size set in Pupil Player"):
        recording = read_gaze(path)
    assert recording.image_shape == (1000, 1000) and recording.meta["image"]["shape_assumed"]
    placed = read_gaze(path, image_shape=(300, 400))
    np.testing.assert_allclose(placed.coords[0], [149.5, 199.5])


# -- Gazepoint ---------------------------------------------------------------------

# Gazepoint Analysis all_gaze.csv (Open Gaze API names; TIME restarts per medium;
# FPOG fractions of the screen, top-left origin; a trailing comma on every line).
GAZEPOINT = """\
MEDIA_ID,MEDIA_NAME,CNT,TIME(2024/01/01 10:00:00.000),TIMETICK(f=10000000),FPOGX,FPOGY,FPOGS,FPOGD,FPOGID,FPOGV,BPOGX,BPOGY,BPOGV,USER,
0,cells.png,1,0.00000,100000,0.50000,0.50000,0.00000,0.00000,1,1,0.50000,0.50000,1,,
0,cells.png,2,0.01667,100167,0.50100,0.50000,0.00000,0.01667,1,1,0.50200,0.49900,1,,
0,cells.png,3,0.03333,100333,0.50100,0.50000,0.00000,0.03333,1,1,0.60000,0.40000,1,,
0,cells.png,4,0.05000,100500,0.60000,0.40000,0.05000,0.00000,2,0,0.70000,0.30000,1,,
0,cells.png,5,0.06667,100667,0.70000,0.30000,0.06667,0.01667,2,1,0.70100,0.30100,1,,
1,tissue.png,6,0.00000,200000,0.20000,0.80000,0.00000,0.00000,3,1,0.20000,0.80000,0,,
1,tissue.png,7,0.01667,200167,0.20000,0.80000,0.00000,0.01667,3,1,0.20100,0.80100,1,,
"""


def test_gazepoint_all_gaze_per_medium_on_the_screen(tmp_path):
    path = tmp_path / "User 0_all_gaze.csv"
    path.write_text(GAZEPOINT)
    assert detect_format(path) == "gazepoint"
    with pytest.warns(GazeFormatWarning, match="name no screen size"):
        nominal = read_gaze_all(path)
    assert nominal["cells.png"].meta["image"]["shape_assumed"]
    contents = read_gaze_all(path, image_shape=(1080, 1920))
    assert list(contents) == ["cells.png", "tissue.png"]
    cells = contents["cells.png"]
    np.testing.assert_allclose(cells.t, [0.0, 0.01667, 0.03333, 0.05, 0.06667])
    # the best point of gaze, every tracked sample
    np.testing.assert_allclose(cells.coords[0], [0.5 * 1080 - 0.5, 0.5 * 1920 - 0.5])
    np.testing.assert_allclose(cells.coords[2], [0.4 * 1080 - 0.5, 0.6 * 1920 - 0.5])
    assert cells.valid.all() and contents["tissue.png"].valid.tolist() == [False, True]
    assert cells.meta["point_of_gaze"] == "BPOG" and cells.image_shape == (1080, 1920)


def test_gazepoint_fixations_from_all_gaze_and_from_a_fixations_file(tmp_path):
    path = tmp_path / "User 0_all_gaze.csv"
    path.write_text(GAZEPOINT)
    fixations = read_gaze_all(path, what="fixations", image_shape=(1080, 1920))
    cells = fixations["cells.png"]
    np.testing.assert_allclose(cells.start, [0.0, 0.06667])
    np.testing.assert_allclose(cells.duration, [0.03333, 0.01667])
    np.testing.assert_allclose(cells.coords[0], [0.5 * 1080 - 0.5, 0.501 * 1920 - 0.5])
    # a fixations file: one row per fixation, read whole
    lines = GAZEPOINT.splitlines()
    fix_path = tmp_path / "User 0_fixations.csv"
    fix_path.write_text("\n".join([lines[0], lines[3], lines[5], lines[7]]) + "\n")
    from_file = read_gaze_all(fix_path, image_shape=(1080, 1920))
    np.testing.assert_allclose(from_file["cells.png"].start, cells.start)
    np.testing.assert_allclose(from_file["cells.png"].duration, cells.duration)


def test_a_reduced_gazepoint_export_without_media_or_fpogs(tmp_path):
    # TIME, TIMETICK, FPOGX, FPOGY, FPOGD, FPOGV only, as users often export it
    path = tmp_path / "User 1_all_gaze.csv"
    path.write_text(
        "TIME,TIMETICK,FPOGX,FPOGY,FPOGD,FPOGV,\n"
        "0.00000,381660265251,0.35817,0.04925,0.00000,1,\n"
        "0.01416,381660295771,0.35764,0.04593,0.01416,1,\n"
        "0.03467,381660339158,0.35759,0.04131,0.03467,1,\n"
        "0.04346,381660358134,0.34529,0.07534,0.03467,0,\n"
        "0.05322,381661451001,0.20210,0.86121,0.00976,1,\n"
    )
    recording = read_gaze(path, image_shape=(100, 100))
    assert recording.valid.tolist() == [True, True, True, False, True]  # FPOGV 0 in the saccade
    fixations = read_gaze(path, what="fixations", image_shape=(100, 100))
    np.testing.assert_allclose(fixations.start, [0.0, 0.05322 - 0.00976])
    np.testing.assert_allclose(fixations.duration, [0.03467, 0.00976])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("TIME,FPOGX,FPOGY\n0,0.5,x\n", r"line 2: 'x' in column 'FPOGY' is not a number"),
        ("TIME,FPOGX,FPOGY\n0,0.5,0.5,1\n", "line 2: 4 fields where the header names 3"),
        ("TIME,FPOGX,FPOGY\n,0.5,0.5\n", "line 2: a TIME is missing"),
    ],
)
def test_malformed_gazepoint_lines_are_named(tmp_path, text, message):
    path = tmp_path / "g_all_gaze.csv"
    path.write_text(text)
    with pytest.raises(GazeFormatError, match=message):
        read_gaze_all(path, image_shape=(10, 10))


# -- fuzzing -----------------------------------------------------------------------

_READ: dict[str, int] = {"pupil": 0, "gazepoint": 0}


@st.composite
def rows(draw, kind):
    n = draw(st.integers(1, 25))
    lines = []
    t = 100.0
    for i in range(n):
        t += draw(st.floats(0.001, 0.02))
        x, y = draw(st.floats(-0.2, 1.2)), draw(st.floats(-0.2, 1.2))
        c = draw(st.floats(0, 1))
        if kind == "pupil":
            lines.append(f"{t!r},{i // 3},{c!r},{x!r},{y!r},{t!r}-0,1.0,2.0,3.0")
        else:
            lines.append(f"{t - 100.0!r},{i},{x!r},{y!r},{c!r},{int(c > 0.3)},")
    return lines


HEADERS = {
    "pupil": "gaze_timestamp,world_index,confidence,norm_pos_x,norm_pos_y,base_data,gaze_point_3d_x,gaze_point_3d_y,gaze_point_3d_z",
    "gazepoint": "TIME,TIMETICK,FPOGX,FPOGY,FPOGD,FPOGV,",
    # Pupil Cloud enrichments: the random-bytes fuzz below reads these headers too
    "cloud reference image": "section id,recording id,timestamp [ns],gaze detected in reference image,"
    "gaze position in reference image x [px],gaze position in reference image y [px],fixation id,blink id",
    "cloud marker mapper": "section id,recording id,timestamp [ns],gaze detected on surface,"
    "gaze position on surface x [normalized],gaze position on surface y [normalized],fixation id,blink id",
    "neon scene camera": "section id,recording id,timestamp [ns],gaze x [px],gaze y [px],worn,fixation id,blink id",
    "cloud fixations": "section id,recording id,fixation id,start timestamp [ns],end timestamp [ns],duration [ms],"
    "fixation detected in reference image,fixation x [px],fixation y [px]",
}


@pytest.mark.parametrize("kind", ["pupil", "gazepoint"])  # each kind its own examples
@FUZZ
@given(data=st.data())
def test_fuzz_every_row_is_one_sample_or_a_clean_error(tmp_path, kind, data):
    lines = data.draw(rows(kind))
    content = (HEADERS[kind] + "\n" + "\n".join(lines) + "\n").encode()
    content, mutate = maybe_replace_bytes(data, content, b',\n"x9.-\xff', start=len(HEADERS[kind]) + 1)
    path = tmp_path / ("gaze_positions.csv" if kind == "pupil" else "u_all_gaze.csv")
    recording = write_and_read(path, content, read=read_gaze, image_shape=(100, 200))
    if recording is None:  # refused with a GazeFormatError
        assert mutate
        return
    body = [line for line in content.decode().split("\n")[1:] if line.strip()]
    assert len(recording) == len(body)  # never a silently wrong row count
    if not mutate:
        _READ[kind] += 1


def test_fuzz_ran_the_reading_branch_of_both(tmp_path):
    for kind in ("pupil", "gazepoint"):
        if not _READ[kind]:
            test_fuzz_every_row_is_one_sample_or_a_clean_error(tmp_path, kind)
    assert _READ["pupil"] >= 5 and _READ["gazepoint"] >= 5


@FUZZ
@given(content=st.binary(max_size=300), header=st.sampled_from(list(HEADERS.values())))
def test_fuzz_random_bytes_raise_only_gaze_format_errors(tmp_path, content, header):
    path = tmp_path / "random.csv"
    path.write_bytes(header.encode() + b"\n" + content)
    read_or_none(path)


# -- Pupil Cloud (Neon, Invisible) enrichment exports ---------------------------------
# Reference Image Mapper gaze.csv, as Pupil Cloud's export documentation lays it out:
# two recordings (sections), positions in reference-image pixels, empty when not mapped.
CLOUD_REFERENCE_IMAGE = """\
section id,recording id,timestamp [ns],gaze detected in reference image,gaze position in reference image x [px],gaze position in reference image y [px],fixation id,blink id
aaaa1111-0000,rec-one-0000,1700000000000000000,true,100.5,40.5,1,
aaaa1111-0000,rec-one-0000,1700000000005000000,true,101.5,41.5,1,
aaaa1111-0000,rec-one-0000,1700000000010000000,false,,,,1
aaaa1111-0000,rec-one-0000,1700000000015000000,true,900.0,50.0,,
bbbb2222-0000,rec-two-0000,1700000123000000000,true,10.5,20.5,1,
bbbb2222-0000,rec-two-0000,1700000123005000001,true,11.5,21.5,1,
"""
CLOUD_SECTIONS = """\
section id,recording id,recording name,wearer id,wearer name,section start time [ns],section end time [ns],start event name,end event name
aaaa1111-0000,rec-one-0000,reader 1,w1,Ana,1700000000000000000,1700000001000000000,recording.begin,recording.end
bbbb2222-0000,rec-two-0000,reader 2,w2,Ben,1700000123000000000,1700000124000000000,recording.begin,recording.end
"""
# Marker Mapper gaze.csv: surface coordinates, (0, 0) top left, (1, 1) bottom right.
CLOUD_MARKER_MAPPER = """\
section id,recording id,timestamp [ns],gaze detected on surface,gaze position on surface x [normalized],gaze position on surface y [normalized],fixation id,blink id
cccc3333-0000,rec-three-000,1700000000000000000,true,0.5,0.25,1,
cccc3333-0000,rec-three-000,1700000000005000000,true,0.1,0.9,1,
cccc3333-0000,rec-three-000,1700000000010000000,false,1.3,0.5,,
"""


def test_pupil_cloud_reference_image_mapper_gaze_lies_on_the_reference_image(tmp_path):
    import imageio.v3 as iio

    folder = tmp_path / "Reference_Image_Mapper_export"
    folder.mkdir()
    path = folder / "gaze.csv"
    path.write_text(CLOUD_REFERENCE_IMAGE)
    (folder / "sections.csv").write_text(CLOUD_SECTIONS)
    iio.imwrite(folder / "reference_image.png", np.zeros((120, 800, 3), np.uint8))
    assert detect_format(path) == "pupil-labs"
    with pytest.warns(GazeFormatWarning, match="lies off the 800 x 120 px image"):
        contents = read_gaze_all(path)
    assert list(contents) == ["reader 1", "reader 2"]  # sections.csv's recording names
    one, two = contents["reader 1"], contents["reader 2"]
    assert one.image_shape == (120, 800) and one.meta["image"]["name"] == "reference_image.png"
    # pixels from the image's top-left corner: (row, col) = (y - 0.5, x - 0.5)
    np.testing.assert_allclose(one.coords[:2], [[40.0, 100.0], [41.0, 101.0]])
    assert one.valid.tolist() == [True, True, False, False]  # not detected; off the image
    np.testing.assert_array_equal(one.t, [0.0, 0.005, 0.010, 0.015])
    assert one.meta["sampling_rate_hz"] == 200.0
    np.testing.assert_array_equal(two.t, [0.0, 0.005000001])  # nanoseconds kept, not float-rounded
    assert two.meta["pupil_cloud"] == {"enrichment": "reference-image-mapper", "section_id": "bbbb2222-0000",
                                       "recording_id": "rec-two-0000"}


def test_pupil_cloud_gaze_without_its_sections_or_image_is_keyed_by_recording(tmp_path):
    path = tmp_path / "gaze.csv"
    path.write_text(CLOUD_REFERENCE_IMAGE)
    contents = read_gaze_all(path)
    assert list(contents) == ["rec-one-0000", "rec-two-0000"]
    assert "image" not in contents["rec-one-0000"].meta  # size unknown: pick the image in napari
    assert contents["rec-one-0000"].valid.tolist() == [True, True, False, True]
    sized = read_gaze_all(path, image_shape=(100, 1000))["rec-one-0000"]
    assert sized.image_shape == (100, 1000) and sized.valid.tolist() == [True, True, False, True]


def test_pupil_cloud_marker_mapper_surface_is_the_image(tmp_path):
    path = tmp_path / "gaze.csv"
    path.write_text(CLOUD_MARKER_MAPPER)
    assert detect_format(path) == "pupil-labs"
    recording = read_gaze(path, image_shape=(600, 800))
    np.testing.assert_allclose(recording.coords[:2], [[0.25 * 600 - 0.5, 0.5 * 800 - 0.5], [0.9 * 600 - 0.5, 79.5]])
    assert recording.valid.tolist() == [True, True, False]
    with pytest.warns(GazeFormatWarning, match="1000 x 1000"):
        nominal = read_gaze(path)
    assert nominal.meta["image"]["shape_assumed"] is True and nominal.image_shape == (1000, 1000)


def test_napari_opens_a_pupil_cloud_export_one_recording_per_section(tmp_path):
    from napari_gazeseg._napari.reader import get_reader

    path = tmp_path / "gaze.csv"
    path.write_text(CLOUD_REFERENCE_IMAGE)
    (tmp_path / "sections.csv").write_text(CLOUD_SECTIONS)
    reader = get_reader(str(path))
    assert reader is not None
    names = [kwargs["name"] for _data, kwargs, _kind in reader(str(path))]
    # no image size known: no heatmap until the user picks the image (Gaze layers widget)
    assert names == [f"{who} {kind}" for who in ("reader 1", "reader 2") for kind in ("gaze", "scanpath", "fixations")]


# The Timeseries export of a Neon recording: gaze.csv on the scene camera, and the scene
# video's frame times in world_timestamps.csv beside it (Pupil Cloud's documented layout).
NEON_GAZE = """\
section id,recording id,timestamp [ns],gaze x [px],gaze y [px],worn,fixation id,blink id,azimuth [deg],elevation [deg]
dddd4444-0000,rec-four-0000,1700000000000000000,800.5,600.5,1.0,1,,0.1,0.2
dddd4444-0000,rec-four-0000,1700000000040000000,10.5,20.5,1.0,1,,0.1,0.2
dddd4444-0000,rec-four-0000,1700000000060000000,10.5,20.5,0.0,,,0.1,0.2
dddd4444-0000,rec-four-0000,1700000000100000000,30.5,40.5,1.0,,,0.1,0.2
dddd4444-0000,rec-four-0000,1700000000105000000,2000.0,20.5,1.0,,,0.1,0.2
"""
NEON_WORLD = """\
section id,recording id,timestamp [ns]
dddd4444-0000,rec-four-0000,1700000000010000000
dddd4444-0000,rec-four-0000,1700000000040000000
dddd4444-0000,rec-four-0000,1700000000090000000
"""


def test_pupil_neon_scene_gaze_lies_on_the_scene_video_frames(tmp_path):
    path = tmp_path / "gaze.csv"
    path.write_text(NEON_GAZE)
    (tmp_path / "world_timestamps.csv").write_text(NEON_WORLD)
    assert detect_format(path) == "pupil-labs"
    with pytest.warns(GazeFormatWarning, match="1200 x 1600"):
        recording = read_gaze(path)
    # (frame, y - 0.5, x - 0.5), the frame the last one shown at or before the sample
    assert recording.valid.tolist() == [False, True, False, True, False]  # before the video; not worn; off
    np.testing.assert_allclose(recording.coords[[1, 3]], [[1.0, 20.0, 10.0], [2.0, 40.0, 30.0]])
    assert recording.meta["image"] == {"name": "scene video", "shape": [3, 1200, 1600], "shape_assumed": True}
    np.testing.assert_array_equal(recording.t, [0.0, 0.04, 0.06, 0.1, 0.105])
    invisible = read_gaze(path, image_shape=(1080, 1088))
    assert invisible.image_shape == (3, 1080, 1088)


def test_pupil_neon_scene_gaze_without_its_frame_times_is_one_sentence(tmp_path):
    path = tmp_path / "gaze.csv"
    path.write_text(NEON_GAZE)
    with pytest.raises(GazeFormatError, match="world_timestamps.csv is not beside it"):
        read_gaze(path)
    (tmp_path / "world_timestamps.csv").write_text(NEON_WORLD.replace("dddd4444", "eeee5555"))
    with pytest.raises(GazeFormatError, match="no scene frame of section 'dddd4444-0000'"):
        read_gaze(path)


# The Reference Image Mapper's fixations.csv beside its gaze.csv (Pupil Cloud's layout).
CLOUD_RIM_FIXATIONS = """\
section id,recording id,fixation id,start timestamp [ns],end timestamp [ns],duration [ms],fixation detected in reference image,fixation x [px],fixation y [px]
aaaa1111-0000,rec-one-0000,1,1700000000000000000,1700000000250000000,250,true,100.5,40.5
aaaa1111-0000,rec-one-0000,2,1700000000300000000,1700000000500000000,200,false,,
aaaa1111-0000,rec-one-0000,3,1700000000600000000,1700000000900000000,300,true,300.5,80.5
"""


def test_pupil_cloud_fixations_are_pupils_own_on_the_gazes_clock(tmp_path):
    fixations_path = tmp_path / "fixations.csv"
    fixations_path.write_text(CLOUD_RIM_FIXATIONS)
    (tmp_path / "gaze.csv").write_text(CLOUD_REFERENCE_IMAGE)
    (tmp_path / "sections.csv").write_text(CLOUD_SECTIONS)
    assert detect_format(fixations_path) == "pupil-labs"
    for what in ("samples", "fixations"):  # a fixation-only file, as GazeMedSeg's
        fixations = read_gaze_all(fixations_path, what=what)["reader 1"]
        np.testing.assert_allclose(fixations.coords, [[40.0, 100.0], [80.0, 300.0]])  # not mapped: left out
        np.testing.assert_allclose(fixations.start, [0.0, 0.6])  # seconds from the section's first gaze sample
        np.testing.assert_allclose(fixations.duration, [0.25, 0.3])
        assert fixations.meta["fixations_off_image"] == 1
    with pytest.raises(GazeFormatError, match="holds gaze samples, not fixations"):
        read_gaze_all(tmp_path / "gaze.csv", what="fixations")
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "fixations.csv").write_text(CLOUD_RIM_FIXATIONS)
    own_clock = read_gaze_all(alone / "fixations.csv")["rec-one-0000"]
    np.testing.assert_allclose(own_clock.start, [0.0, 0.6])  # no gaze.csv: from the first fixation
    assert own_clock.meta["pupil_cloud"]["clock"] == "first fixation"
    from napari_gazeseg._napari.reader import get_reader

    names = [kwargs["name"] for _data, kwargs, _kind in get_reader(str(fixations_path))(str(fixations_path))]
    assert names == ["reader 1 scanpath", "reader 1 fixations"]  # no size known: no heatmap
