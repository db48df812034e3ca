"""Fuzz the napari reader path: read a gaze file, build its layers, make napari layers of them.

Hypothesis writes small files of every format the reader takes (native with a
sidecar holding any meta, Tobii Pro Lab exports, GazeMedSeg reports, plain
tables) from pools of awkward values: NaN, infinities, 1e300, zero and
negative image sizes, one-sample stimuli, equal times, sizes given as text.
For each file napari's reader contribution would take (``get_reader`` is not
None), the reader function and napari's layer classes (``Layer.create`` of every
``LayerDataTuple``) must either build every layer or raise our one-sentence
``GazeFormatError``; nothing else. The counts of files tried, refused in our
sentence and opened are printed (``pytest -s``), and enough of them must open,
so that the strong branch is exercised and the test cannot pass by refusing all.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from conftest import TOBII_PRO_LAB_COLUMNS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_gazeseg._napari.reader import get_reader, read_gaze_layers
from napari_gazeseg.gaze.formats import GazeFormatError, write_gaze
from napari_gazeseg.gaze.recording import GazeRecording

#: Files per run (about 0.15 s each on one core); GAZESEG_FUZZ_EXAMPLES runs more.
EXAMPLES = int(os.environ.get("GAZESEG_FUZZ_EXAMPLES", "120"))

AWKWARD = [0.0, -0.0, 0.5, 1.0, -1.0, 63.4, 1e-300, 1e300, -1e300, 1e15, 2.0**53, math.nan]
ORDINARY = st.floats(0, 1000, allow_nan=False)
#: Mostly ordinary numbers (so that many files open), a quarter awkward ones.
NUMBER = st.one_of(ORDINARY, ORDINARY, ORDINARY, st.sampled_from(AWKWARD + [math.inf, -math.inf]))
TEXT_NUMBER = NUMBER.map(lambda v: "" if math.isnan(v) else repr(v))
SHAPES = st.sampled_from(
    [None, [], [64, 80], [64, 80], [480, 640], [2, 64, 80], [64, 80], [1, 1], [10**9, 10**9], [3, 64, 80], [64, 80, 3], "64x80", [0, 5],
     [-64, 80], [64.0, 80.0], [64.5, 80], [1e300, 5], [True, 80], [64], 7, {"rows": 64}]
)
RATES = st.sampled_from([None, None, 120.0, 1200, 0, 120.0, 1e-300, 1e300, -60, "fast", True, [120]])
SCREENS = st.sampled_from(
    [None, None, None,
     {"width_px": 1920, "height_px": 1080, "width_mm": 527, "height_mm": 296, "distance_mm": 650},
     {"width_px": 1920}, {"width_px": "a", "height_px": 1080, "width_mm": 527, "height_mm": 296,
     "distance_mm": 650}, {"width_px": 0, "height_px": 0, "width_mm": 0, "height_mm": 0,
     "distance_mm": 0}, {"width_px": -1, "height_px": 1e300, "width_mm": 1, "height_mm": 1,
     "distance_mm": -650}, "big"]
)
NAMES = st.sampled_from([None, "", "cells.png", 5, "a/b\tc", "ü" * 3])


def _text_file(name: str, lines: list[str]):
    """What a file strategy draws: a function writing ``lines`` as ``name`` into a folder
    and returning the path the reader is given."""

    def write(folder: Path) -> Path:
        path = folder / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write


@st.composite
def native_files(draw):
    n = draw(st.integers(0, 7))
    ndim = draw(st.sampled_from([2, 2, 3]))
    steps = draw(st.lists(st.sampled_from([0.0, 1 / 120, 0.5, 1e-9, 1e6]), min_size=n, max_size=n))
    t = np.cumsum(steps) if n else np.zeros(0)
    coords = np.array(draw(st.lists(st.lists(NUMBER, min_size=ndim, max_size=ndim), min_size=n, max_size=n)))
    coords = coords.reshape(n, ndim)
    coords[~np.isfinite(coords)] = np.nan
    valid = np.isfinite(coords).all(axis=1) & np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), bool)
    ids = draw(st.lists(st.sampled_from([0, 1, 2, 7, 2**40]), min_size=n, max_size=n))
    meta = {}
    for key, strategy in (("sampling_rate_hz", RATES), ("screen", SCREENS)):
        value = draw(strategy)
        if value is not None:
            meta[key] = value
    image = draw(st.sampled_from(["dict", "dict", "none", "list"]))
    if image == "dict":
        meta["image"] = {
            key: value for key, value in (("shape", draw(SHAPES)), ("name", draw(NAMES))) if value is not None
        }
    elif image == "list":
        meta["image"] = [64, 80]
    recording = GazeRecording(t=t, coords=coords, valid=valid, object_id=ids)
    open_the_sidecar = draw(st.booleans())

    def write(folder: Path) -> Path:
        path = folder / "fuzz.gaze.tsv"
        write_gaze(recording, path)
        sidecar = folder / "fuzz.gaze.json"
        content = json.loads(sidecar.read_text())
        content["meta"] = meta  # what a user (or another tool) may leave in a sidecar
        sidecar.write_text(json.dumps(content))
        return sidecar if open_the_sidecar else path

    return write


@st.composite
def tobii_files(draw):
    media = draw(st.lists(st.tuples(TEXT_NUMBER, TEXT_NUMBER, TEXT_NUMBER, TEXT_NUMBER), min_size=1, max_size=3))
    lines = ["\t".join(TOBII_PRO_LAB_COLUMNS)]
    time = 0.0
    for stimulus, (width, height, original_w, original_h) in enumerate(media):
        for _ in range(draw(st.integers(1, 5))):
            time += draw(st.sampled_from([0.0, 8.333, 1000.0]))
            x, y = draw(TEXT_NUMBER), draw(TEXT_NUMBER)
            validity = draw(st.sampled_from(["Valid", "Invalid", ""]))
            lines.append("\t".join([
                repr(time), draw(st.sampled_from(["Eye Tracker", "Eye Tracker", "Mouse"])), "Rec1",
                draw(TEXT_NUMBER), draw(TEXT_NUMBER), x, y, validity, validity,
                draw(st.sampled_from(["Fixation", "Saccade", "EyesNotFound", ""])),
                f"stimulus{stimulus}", f"image{stimulus}.png", width, height,
                draw(TEXT_NUMBER), draw(TEXT_NUMBER), original_w, original_h,
            ]))
    return _text_file("export.tsv", lines)


@st.composite
def gazemedseg_files(draw):
    header = "IMAGE,CURRENT_FIX_INDEX,CURRENT_FIX_X,CURRENT_FIX_Y,CURRENT_FIX_DURATION,CURRENT_FIX_PUPIL,CURRENT_FIX_START,IMAGE_HEIGHT,IMAGE_WIDTH"
    rows = [header]
    for index in range(draw(st.integers(1, 6))):
        image = draw(st.sampled_from(["a.jpg", "b.jpg", "c.jpg"]))
        size = draw(st.sampled_from([("64", "80"), ("64", "80"), ("480", "640"), ("1", "1"), ("1000000000", "1000000000"), ("0", "5"), ("2.5", "4")]))
        values = [draw(TEXT_NUMBER) or "0" for _ in range(4)]
        rows.append(",".join([image, str(index + 1), values[0], values[1], values[2], "", values[3], *size]))
    return _text_file("fixations.csv", rows)


@st.composite
def plain_files(draw):
    header = draw(st.sampled_from(["t,x,y", "time [ms],row,col", "t\tx\ty\tz", "timestamp;x;y;valid"]))
    separator = "\t" if "\t" in header else (";" if ";" in header else ",")
    n_fields = header.count(separator) + 1
    lines = [header]
    time = 0.0
    for _ in range(draw(st.integers(0, 6))):
        time += draw(st.sampled_from([0.0, 0.008, 1.0, 1e9]))
        fields = [repr(time)] + [draw(TEXT_NUMBER) for _ in range(n_fields - 1)]
        if header.endswith("valid"):
            fields[-1] = draw(st.sampled_from(["0", "1"]))
        lines.append(separator.join(fields))
    return _text_file("clicks.csv", lines)


FILES = st.one_of(native_files(), tobii_files(), gazemedseg_files(), plain_files())


def _one_sentence(message: str, path: Path) -> bool:
    return message.endswith(".") and path.stem.split(".")[0] in message and message.count("; ") >= 1


def test_reader_path_builds_napari_layers_or_raises_only_our_sentence():
    from napari.layers import Layer

    counts: Counter = Counter()
    others: list[str] = []
    reasons: Counter = Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(FILES)
    def check(write):
        folder = Path(tempfile.mkdtemp(prefix="gazeseg-fuzz-"))
        try:
            path = write(folder)
            if get_reader(str(path)) is None:
                counts["left to other readers"] += 1
                return
            counts["tried"] += 1
            kind = path.name
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    layer_data = read_gaze_layers(str(path))
                    layers = [Layer.create(*one) for one in layer_data]
            except GazeFormatError as err:
                assert _one_sentence(str(err), path), str(err)
                counts["our sentence"] += 1
                reasons[(kind, str(err).split(": ", 1)[-1][:70])] += 1
                return
            except Exception as err:  # noqa: BLE001 - what the test is about
                others.append(f"{type(err).__name__}: {err} ({path.name})")
                raise
            assert layers and all(layer.name for layer in layers)
            counts["opened"] += 1
            counts[f"opened {kind}"] += 1
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    check()
    print(f"\nreader path fuzz: {dict(counts)}")
    for (kind, reason), count in reasons.most_common(12):
        print(f"  {count:3d} {kind}: {reason}")
    assert not others
    assert counts["tried"] >= EXAMPLES // 2
    # the strong branch (layers built) and the refusals both ran many times: with the
    # default 120 files 27 open; with 1500, 220 (hypothesis then tries more edges)
    assert counts["opened"] >= max(12, EXAMPLES // 10)
    assert counts["our sentence"] >= 10
