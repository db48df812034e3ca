"""AOI hits and metrics on constructed recordings where every value follows from the construction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_gazeseg.gaze.aoi import (
    METRIC_NAMES,
    AOISet,
    aoi_metrics,
    metrics_table,
    radius_deg_to_image_px,
    transition_matrix,
    write_metrics_csv,
)
from napari_gazeseg.gaze.recording import Fixations, GazeRecording

SHAPE = (100, 100)
# AOI 1: rows/cols 10..29; AOI 2: rows/cols 60..79 (label values 3 and 7 to check id mapping).
AOI1, AOI2 = 3, 7


def labels_image():
    lab = np.zeros(SHAPE, dtype=np.int32)
    lab[10:30, 10:30] = AOI1
    lab[60:80, 60:80] = AOI2
    return lab


def rect(r0, r1, c0, c1):
    """Polygon of the pixel block rows r0..r1-1, cols c0..c1-1 (outer pixel edges)."""
    return np.array([[r0 - 0.5, c0 - 0.5], [r0 - 0.5, c1 - 0.5], [r1 - 0.5, c1 - 0.5],
                     [r1 - 0.5, c0 - 0.5]])


# start, duration, (row, col), which AOI (0 none)
FIXATIONS = [
    (0.5, 0.2, (50, 50), 0),
    (1.0, 0.3, (20, 20), AOI1),
    (1.4, 0.2, (15, 25), AOI1),
    (2.0, 0.4, (70, 70), AOI2),
    (2.5, 0.1, (50, 5), 0),
    (3.0, 0.5, (25, 12), AOI1),
]


def fixations(rows=FIXATIONS, object_id=None):
    return Fixations(
        start=[r[0] for r in rows], duration=[r[1] for r in rows],
        coords=[r[2] for r in rows], object_id=object_id,
    )


# metric -> (AOI1 value, AOI2 value); derived by hand from FIXATIONS with the interval at 0.
EXPECTED = {
    "Number_of_fixations": (3, 1),
    "Total_duration_of_fixations": (1.0, 0.4),
    "Average_duration_of_fixations": (1.0 / 3, 0.4),
    "Time_to_first_fixation": (1.0, 2.0),
    "Duration_of_first_fixation": (0.3, 0.4),
    # visits of AOI1: [1.0, 1.6] and [3.0, 3.5]; AOI2: [2.0, 2.4]
    "Number_of_visits": (2, 1),
    "Total_duration_of_visits": (1.1, 0.4),
    "Average_duration_of_visits": (0.55, 0.4),
    "Time_to_first_visit": (1.0, 2.0),
    "Duration_of_first_visit": (0.6, 0.4),
    "Number_of_revisits": (1, 0),
}


def aoi_sets():
    return {
        "labels": AOISet.from_labels(labels_image()),
        "polygons": AOISet.from_polygons(
            [rect(10, 30, 10, 30), rect(60, 80, 60, 80)], ids=[AOI1, AOI2]
        ),
    }


@pytest.mark.parametrize("source", ["labels", "polygons"])
@pytest.mark.parametrize("metric", sorted(EXPECTED))
def test_metric_follows_from_construction(source, metric):
    aois = aoi_sets()[source]
    assert list(aois.ids) == [AOI1, AOI2]
    got = aoi_metrics(fixations(), aois, interval=(0.0, 4.0))
    np.testing.assert_allclose(got[metric], EXPECTED[metric], rtol=1e-12, atol=1e-12)


def test_metrics_have_every_column_and_int_counts():
    got = aoi_metrics(fixations(), aoi_sets()["labels"], interval=(0.0, 4.0))
    assert tuple(got) == METRIC_NAMES
    for name in ("Number_of_fixations", "Number_of_visits", "Number_of_revisits"):
        assert got[name].dtype.kind == "i"


def test_never_fixated_aoi_gives_nan_times_and_zero_counts():
    lab = labels_image()
    lab[0:5, 90:100] = 9  # nobody looks here
    got = aoi_metrics(fixations(), AOISet.from_labels(lab), interval=(0.0, 4.0))
    j = 2  # ids sorted: 3, 7, 9
    assert got["Number_of_fixations"][j] == 0 and got["Number_of_visits"][j] == 0
    assert math.isnan(got["Time_to_first_fixation"][j])
    assert math.isnan(got["Average_duration_of_visits"][j])
    assert got["Total_duration_of_fixations"][j] == 0


def test_interval_start_shifts_times_and_drops_earlier_fixations():
    got = aoi_metrics(fixations(), aoi_sets()["labels"], interval=(1.2, 4.0))
    # f1 (1.0) falls before the interval: AOI1 starts at f2 (1.4).
    assert got["Number_of_fixations"][0] == 2
    assert got["Time_to_first_fixation"][0] == pytest.approx(0.2)
    assert got["Number_of_visits"][0] == 2


def test_unsorted_fixations_give_the_same_metrics():
    rows = [FIXATIONS[i] for i in (3, 0, 5, 1, 4, 2)]
    a = aoi_metrics(fixations(rows), aoi_sets()["labels"], interval=(0.0, 4.0))
    b = aoi_metrics(fixations(), aoi_sets()["labels"], interval=(0.0, 4.0))
    for name in METRIC_NAMES:
        np.testing.assert_array_equal(a[name], b[name])


# A pixel (r, c) covers [r-0.5, r+0.5): the edges of AOI1 are at 9.5 and 29.5.
@pytest.mark.parametrize(
    "point, hit",
    [
        ((9.5, 20.0), True),
        ((9.49, 20.0), False),
        ((29.49, 20.0), True),
        ((29.5, 20.0), False),
        ((20.0, 9.5), True),
        ((20.0, 9.4999), False),
        ((np.nan, 20.0), False),
        ((-3.0, 20.0), False),
        ((20.0, 1e9), False),
    ],
)
def test_label_hit_boundaries(point, hit):
    hits = AOISet.from_labels(labels_image()).hits(np.array([point]))
    assert (hits.point.size == 1) == hit


@pytest.mark.parametrize("radius, hit", [(5.0, False), (5.99, False), (6.0, True), (10.0, True)])
@pytest.mark.parametrize("source", ["labels", "polygons"])
def test_hit_radius(source, radius, hit):
    # (35, 20) is 6 pixels below the last row (29) of AOI1: 6 px from its pixel
    # centres (labels), 5.5 px from its outer edge (polygons).
    point = np.array([[35.0 + (0.5 if source == "polygons" else 0.0), 20.0]])
    hits = aoi_sets()[source].hits(point, radius_px=radius)
    assert (hits.point.size == 1) == hit
    if hit:
        assert hits.aoi[0] == 0


def test_overlapping_polygons_count_for_both_and_topmost_for_transitions():
    big = rect(0, 50, 0, 50)
    small = rect(10, 20, 10, 20)
    aois = AOISet.from_polygons([big, small], names=["tissue", "lesion"])
    fix = fixations([(0.0, 0.2, (15, 15), 0), (0.5, 0.2, (40, 40), 0), (1.0, 0.2, (15, 15), 0)])
    m = aoi_metrics(fix, aois)
    assert list(m["Number_of_fixations"]) == [3, 2]
    assert list(m["Number_of_visits"]) == [1, 2]
    t = transition_matrix(fix, aois)
    # topmost (lesion, index 2) then tissue (1) then lesion.
    assert t[2, 1] == 1 and t[1, 2] == 1 and t.sum() == 2


def test_transition_matrix_from_construction():
    t = transition_matrix(fixations(), aoi_sets()["labels"])
    expected = np.zeros((3, 3), dtype=int)
    expected[0, 1] = 2  # none -> AOI1 twice
    expected[1, 2] = 1
    expected[2, 0] = 1
    np.testing.assert_array_equal(t, expected)
    assert np.trace(t) == 0


def test_proportion_of_time_on_aoi_from_samples():
    n = 400  # 100 Hz, t = 0 .. 3.99
    t = np.arange(n) / 100.0
    coords = np.full((n, 2), 50.0)
    coords[:100] = (20.0, 20.0)  # 1 s on AOI1
    coords[200:250] = (70.0, 70.0)  # 0.5 s on AOI2
    valid = np.ones(n, dtype=bool)
    valid[220:230] = False  # 0.1 s of track loss over AOI2 does not count
    coords[~valid] = np.nan
    rec = GazeRecording(t=t, coords=coords, valid=valid)
    got = aoi_metrics(fixations(), aoi_sets()["labels"], recording=rec)
    span = 3.99
    np.testing.assert_allclose(got["Proportion_of_time_on_AOI"], [1.0 / span, 0.4 / span])


def test_sample_gap_is_capped():
    # 10 samples on AOI1 at 100 Hz, then a 5 s gap (track loss dropped from the file).
    t = np.concatenate([np.arange(10) / 100.0, [5.0, 5.01]])
    coords = np.array([[20.0, 20.0]] * 10 + [[50.0, 50.0]] * 2)
    rec = GazeRecording(t=t, coords=coords)
    got = aoi_metrics(fixations([]), aoi_sets()["labels"], recording=rec)
    # 9 gaps of 0.01 s plus the last on-AOI sample capped at 2 x 0.01 s.
    assert got["Proportion_of_time_on_AOI"][0] == pytest.approx(0.11 / 5.01)


def test_nd_labels_are_per_plane():
    stack = np.zeros((3,) + SHAPE, dtype=np.int32)
    stack[1, 10:30, 10:30] = 1
    aois = AOISet.from_labels(stack)
    fix = Fixations(start=[0.0, 1.0], duration=[0.2, 0.3], coords=[[0, 20, 20], [1, 20, 20]])
    m = aoi_metrics(fix, aois)
    assert m["Number_of_fixations"][0] == 1
    assert m["Time_to_first_fixation"][0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="plane the gaze was recorded on"):
        aois.hits(np.array([[20.0, 20.0]]))


def test_polygon_on_a_plane_applies_to_that_plane_only():
    poly = np.column_stack([np.full(4, 2.0), rect(10, 30, 10, 30)])
    aois = AOISet.from_polygons([poly])
    hits = aois.hits(np.array([[2, 20, 20], [1, 20, 20]], dtype=float))
    assert list(hits.point) == [0]


def test_metrics_table_per_recording_and_percentage_fixated():
    aois = aoi_sets()["labels"]
    only_aoi1 = fixations([r for r in FIXATIONS if r[3] != AOI2])
    rows = metrics_table({"reader A": (None, fixations()), "reader B": (None, only_aoi1)}, aois)
    assert len(rows) == 4
    by = {(r["Recording"], r["AOI"]): r for r in rows}
    assert by[("reader A", AOI2)]["Number_of_fixations"] == 1
    assert by[("reader B", AOI2)]["Number_of_fixations"] == 0
    assert by[("reader A", AOI2)]["Percentage_fixated"] == 50.0
    assert by[("reader B", AOI1)]["Percentage_fixated"] == 100.0
    assert by[("reader A", AOI1)]["AOI_name"] == f"AOI {AOI1}"


def test_metrics_table_by_object_session_measures_from_session_start():
    ids = [1, 1, 1, 2, 2, 2]
    fix = fixations(object_id=ids)
    t = np.arange(0, 400) / 100.0
    oid = np.where(t < 1.8, 1, 2)
    rec = GazeRecording(t=t, coords=np.full((400, 2), 50.0), object_id=oid)
    rows = metrics_table({"r": (rec, fix)}, aoi_sets()["labels"], by_object=True)
    by = {(r["Object"], r["AOI"]): r for r in rows}
    assert set(by) == {(1, AOI1), (1, AOI2), (2, AOI1), (2, AOI2)}
    # Session 2 starts at 1.8 s: AOI2 first fixated at 2.0 -> 0.2 s; AOI1 at 3.0 -> 1.2 s.
    assert by[(2, AOI2)]["Time_to_first_fixation"] == pytest.approx(0.2)
    assert by[(2, AOI1)]["Time_to_first_fixation"] == pytest.approx(1.2)
    assert by[(1, AOI1)]["Number_of_fixations"] == 2


def test_write_metrics_csv_refuses_to_overwrite(tmp_path):
    rows = metrics_table({"r": (None, fixations())}, aoi_sets()["labels"])
    out = tmp_path / "m.csv"
    write_metrics_csv(rows, out)
    text = out.read_text()
    assert text.splitlines()[0].startswith("Recording,Object,AOI,AOI_name,Time_to_first_fixation")
    assert len(text.splitlines()) == 3
    with pytest.raises(FileExistsError, match="already exists"):
        write_metrics_csv(rows, out)
    write_metrics_csv(rows[:1], out, overwrite=True)
    assert len(out.read_text().splitlines()) == 2


def test_radius_in_degrees_needs_the_screen():
    with pytest.raises(ValueError, match="image pixels instead"):
        radius_deg_to_image_px({}, 1.0)
    meta = {
        "screen": {"width_px": 1920, "height_px": 1080, "width_mm": 531.0, "height_mm": 299.0,
                   "distance_mm": 650.0},
        "display": {"origin_px": [0.0, 0.0], "scale": 2.0},
    }
    px = radius_deg_to_image_px(meta, 1.0)
    # ~ 650 mm * tan(1 deg) / (531/1920 mm per px) / 2 screen px per image px
    assert px == pytest.approx(650 * math.tan(math.radians(1)) / (531 / 1920) / 2, rel=0.01)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros(5, dtype=int), "2 or more dimensions"),
        (np.zeros((4, 4)), "integer labels"),
        (-np.ones((4, 4), dtype=int), "negative"),
    ],
)
def test_bad_label_images_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        AOISet.from_labels(bad)


# -- gazeseg metrics -----------------------------------------------------------------------


def _read_csv(path):
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_cli_metrics_on_a_dataset_equals_the_function(tmp_path):
    from napari_gazeseg.cli import main
    from napari_gazeseg.gaze.dataset import write_dataset
    from napari_gazeseg.gaze.fixations import detect_fixations_ivt
    from napari_gazeseg.gaze.simulate import simulate_observer

    scenes = [simulate_observer("cells", shape=(96, 128), n_objects=2, seed=s) for s in (0, 1)]
    write_dataset(scenes, tmp_path / "data")
    out = tmp_path / "metrics.csv"
    assert main(["metrics", str(tmp_path / "data"), "-o", str(out)]) == 0
    rows = _read_csv(out)
    assert len(rows) == sum(len(np.unique(s.labels[s.labels > 0])) for s in scenes)
    for scene in scenes:
        aois = AOISet.from_labels(scene.labels)
        expected = aoi_metrics(detect_fixations_ivt(scene.recording), aois,
                               recording=scene.recording)
        mine = [r for r in rows if r["Image"] == scene.name]
        assert [int(r["AOI"]) for r in mine] == list(aois.ids)
        got = [float(r["Total_duration_of_fixations"]) for r in mine]
        np.testing.assert_allclose(got, expected["Total_duration_of_fixations"], rtol=1e-9)
        # The simulated observer looks at every object: each AOI is fixated.
        assert all(int(r["Number_of_fixations"]) > 0 for r in mine)
    # Never overwrites without being told.
    assert main(["metrics", str(tmp_path / "data"), "-o", str(out)]) == 2
    assert main(["metrics", str(tmp_path / "data"), "-o", str(out), "--overwrite"]) == 0


def test_cli_metrics_on_gaze_files_needs_aoi(tmp_path, capsys):
    import imageio.v3 as iio

    from napari_gazeseg.cli import main
    from napari_gazeseg.gaze.formats import write_gaze
    from napari_gazeseg.gaze.simulate import simulate_observer

    scene = simulate_observer("cells", shape=(96, 128), n_objects=2, seed=3)
    gaze = tmp_path / "a.gaze.tsv"
    write_gaze(scene.recording, gaze)
    out = tmp_path / "m.csv"
    assert main(["metrics", str(gaze), "-o", str(out)]) == 2
    assert "--aoi" in capsys.readouterr().err
    iio.imwrite(tmp_path / "aoi.png", scene.labels.astype(np.uint8))
    assert main(["metrics", str(gaze), "--aoi", str(tmp_path / "aoi.png"), "-o", str(out),
                 "--by-object"]) == 0
    rows = _read_csv(out)
    assert {r["Object"] for r in rows} == {"1", "2"}


# -- Tobii Pro Lab's own AOI hits ---------------------------------------------------------------


def test_our_hits_equal_pro_labs_aoi_hit_columns(tmp_path):
    """A Pro Lab export with AOI hit columns (as Pro Lab writes them: the gaze point in the AOI
    drawn on the media); our hits of the samples read from the same export equal them."""
    from test_formats_tobii import CELLS, CURRENT, export, on_screen, sample

    from napari_gazeseg.gaze.formats import read_gaze
    from napari_gazeseg.gaze.formats.tobii_prolab import read_prolab_aoi_hits

    # Two AOIs on the 400 x 300 media (image pixels), drawn twice as large on the screen:
    # a lesion rectangle and a triangle, in image (row, col) polygon coordinates.
    lesion = rect(40, 120, 60, 200)
    triangle = np.array([[150.0, 250.0], [290.0, 250.0], [290.0, 390.0]])
    rng = np.random.default_rng(0)
    targets = np.column_stack([rng.uniform(-5, 305, 400), rng.uniform(-5, 405, 400)])
    targets[:5] = [(39.5, 100), (39.49, 100), (119.49, 59.5), (200, 300), (289.4, 389.3)]

    def inside(poly, rc):
        from matplotlib.path import Path

        return Path(poly[:, ::-1]).contains_point(rc[::-1])

    names = dict(CURRENT)
    names["aoi1"] = "AOI hit [cells - Lesion]"
    names["aoi2"] = "AOI hit [cells - Tumour bed]"
    rows = []
    for i, rc in enumerate(targets):
        row = sample(1000.0 + i * 1000 / 120, CELLS, on_screen(CELLS, *rc))
        row["aoi1"] = int(inside(lesion, rc))
        row["aoi2"] = int(inside(triangle, rc))
        rows.append(row)
    path = export(tmp_path / "export.tsv", rows, names=names)
    rec = read_gaze(path)
    theirs = read_prolab_aoi_hits(path)["cells"]
    assert set(theirs) == {"Lesion", "Tumour bed"} and theirs["Lesion"].sum() > 10
    aois = AOISet.from_polygons([lesion, triangle], names=["Lesion", "Tumour bed"])
    hits = aois.hits(rec.coords)
    for k, name in enumerate(aois.names):
        ours = np.zeros(len(rec), dtype=bool)
        ours[hits.point[hits.aoi == k]] = True
        np.testing.assert_array_equal(ours, theirs[name], err_msg=name)


def test_exports_without_aoi_columns_give_no_hits(tmp_path):
    from test_formats_tobii import cells_rows, export

    from napari_gazeseg.gaze.formats.tobii_prolab import read_prolab_aoi_hits

    path = export(tmp_path / "export.tsv", cells_rows())
    assert read_prolab_aoi_hits(path) == {"cells": {}}
