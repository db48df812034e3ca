"""EyeLink ASC files (``edf2asc`` text of an SR Research EDF): samples, events, messages.

A linear parser of ours (one pass over the lines; pymovements' ASC reader
needs polars and an ``Experiment`` and keeps neither the blocks nor the
messages this module needs). What each line holds, as the EyeLink manual's
"ASC file format" chapter describes it:

``** ...``               preamble (date, tracker version), kept in ``meta["preamble"]``
``MSG <t> [<offset>] <text>``  a message at tracker time ``t`` (ms); ``DISPLAY_COORDS
                         left top right bottom`` gives the screen in pixels (``GAZE_COORDS``
                         when it is missing), ``TRIALID <id>`` names the trial
``START <t> LEFT RIGHT SAMPLES EVENTS`` / ``END <t> ...``  a recording block
``SAMPLES GAZE LEFT RATE 1000.00 ...``  the eyes and the sampling rate of the block
``<t> <x> <y> <pupil> ...``  a monocular sample; binocular: ``<t> <xl> <yl> <pl> <xr>
                         <yr> <pr> ...``; ``.`` for a missing value; velocity,
                         resolution, input and flag fields that follow are ignored
``EFIX <eye> <start> <end> <dur> <x> <y> <pupil>``  a fixation (times in ms)
``ESACC <eye> <start> <end> <dur> <sx> <sy> <ex> <ey> <ampl> <pv>``  a saccade
``EBLINK <eye> <start> <end> <dur>``  a blink
other lines (``SFIX``, ``INPUT``, calibration text, ...) are skipped.

**Entries**: one per recording block (``START`` .. ``END``), keyed ``"trial ID"``
by the last ``TRIALID`` before or inside it, else ``"block N"``; repeated keys get
``" #2"``, ``" #3"``.

**Mapping**: the screen is the image. ``DISPLAY_COORDS 0 0 1919 1079`` gives a
1080 x 1920 image; a sample ``(x, y)`` in screen pixels (pixel centres at
integers, as EyeLink reports them) is ``(row, col) = (y - top, x - left)``; the
normalised screen position is ``((x - left + 0.5) / width, (y - top + 0.5) /
height)``. Binocular samples average the eyes where both were tracked, else
take the tracked one. Samples inside an ``EBLINK`` of their eye, without a
position, or off the screen are invalid. Without ``DISPLAY_COORDS``/
``GAZE_COORDS`` the screen is ``image_shape`` when given, else of unknown size
(warned). ``HREF`` samples (head-referenced angles) are refused.

``meta["screen_resolution_px"]`` is ``[width, height]`` (``meta["screen"]``, the
full geometry I-VT uses in degrees, is left to the user: ASC files hold no mm).

**Time**: seconds from the block's first sample; ``meta["tracker_start_ms"]``
holds the tracker time of that sample, ``meta["messages"]`` the block's
messages as ``[t_s, text]`` (at most 10 000), ``meta["sampling_rate_hz"]`` the
``RATE`` of the ``SAMPLES`` line.

**Fixations** (``what="fixations"``): the block's ``EFIX`` events of the left
eye (the right when only it was recorded), starting at ``start`` and lasting
``dur`` ms as EyeLink reports them, placed as samples are.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np

from ..recording import Fixations, GazeRecording
from ._errors import format_error, quoted
from ._infer import warn, warn_off_image
from ._table import parse_fast
from ._text import read_text

__all__ = ["looks_like_asc", "read_eyelink_asc"]

_MAX_MESSAGES = 10000


def looks_like_asc(first_line: str) -> bool:
    """True for the first line of an ``edf2asc`` file."""
    line = first_line.lstrip("\ufeff")
    return line.startswith("** CONVERTED FROM") or (
        line.startswith("**") and "EDF" in line.upper()
    )


class _Block:
    def __init__(self, number: int, start_line: int, eyes: list[str], trial: str | None):
        self.number = number
        self.line = start_line
        self.eyes = eyes
        self.trial = trial
        self.rate = None
        self.kind = "GAZE"
        self.sample_text: list[str] = []
        self.sample_line: list[int] = []
        self.t = np.empty(0)
        self.xy = np.empty((0, 2 * len(eyes)))
        self.messages: list[tuple[float, str]] = []
        self.fixations: dict[str, list[tuple[float, ...]]] = {"L": [], "R": []}
        self.blinks: dict[str, list[tuple[float, float]]] = {"L": [], "R": []}
        self.saccades = 0


def _float(token: str, path, line: int, what: str) -> float:
    if token == ".":
        return math.nan
    try:
        if "_" in token:
            raise ValueError(token)  # Python reads "1_0" as 10; no tracker writes it
        value = float(token)
    except ValueError:
        raise format_error(path, f"{quoted(token)} is not a number ({what})", "fix or delete that line", line) from None
    if math.isinf(value):
        raise format_error(path, f"{what} is infinite", "fix or delete that line", line)
    return value


def _parse(text: str, path) -> tuple[list[_Block], dict]:
    blocks: list[_Block] = []
    block: _Block | None = None
    trial: str | None = None
    file_meta: dict = {"preamble": [], "display_coords": None, "gaze_coords": None}
    pending = None  # a SAMPLES line seen before its START
    for number, line in enumerate(text.split("\n"), start=1):
        if not line:
            continue
        first = line[0]
        if first.isdigit():
            if block is not None:  # else a stray sample outside START .. END
                block.sample_text.append(line)
                block.sample_line.append(number)
            continue
        tokens = line.split()
        if not tokens:
            continue
        keyword = tokens[0]
        if keyword.startswith("**"):
            if len(file_meta["preamble"]) < 50:
                file_meta["preamble"].append(line[2:].strip())
        elif keyword == "MSG":
            parts = line.split(None, 2)
            if len(parts) < 2:
                continue
            t = _float(parts[1], path, number, "message time")
            message = parts[2].strip() if len(parts) > 2 else ""
            words = message.split()
            if words and _is_number(words[0]) and len(words) > 1:
                words = words[1:]  # "MSG <t> <offset> <text>"
                message = " ".join(words)
            if words and words[0] in ("DISPLAY_COORDS", "GAZE_COORDS") and len(words) >= 5:
                key = "display_coords" if words[0] == "DISPLAY_COORDS" else "gaze_coords"
                coords = [_float(w, path, number, words[0]) for w in words[1:5]]
                if any(math.isnan(v) for v in coords) or coords[2] <= coords[0] or coords[3] <= coords[1]:
                    raise format_error(
                        path,
                        f"{words[0]} does not give left < right and top < bottom",
                        "fix that line",
                        number,
                    )
                if file_meta[key] is None:
                    file_meta[key] = coords
            if words and words[0] == "TRIALID":
                trial = " ".join(words[1:]) or "?"
                if block is not None and block.trial is None:
                    block.trial = trial
            if block is not None and len(block.messages) < _MAX_MESSAGES:
                block.messages.append((t, message))
        elif keyword == "START":
            eyes = [e[0] for e in tokens[2:] if e in ("LEFT", "RIGHT")]
            if not eyes:
                raise format_error(path, "START names no eye (LEFT or RIGHT)", "fix that line", number)
            block = _Block(len(blocks) + 1, number, eyes, trial)
            blocks.append(block)
            if pending is not None:
                _samples_line(block, *pending[:1], path, pending[1])
                pending = None
        elif keyword == "END":
            block, trial, pending = None, None, None
        elif keyword == "SAMPLES":
            if block is None:
                pending = (tokens, number)  # some converters write it just before START
            else:
                _samples_line(block, tokens, path, number)
        elif keyword in ("EFIX", "ESACC", "EBLINK") and block is not None:
            _event(block, keyword, tokens, path, number)
    for block in blocks:
        _samples_of(block, path)
    return blocks, file_meta


def _samples_fast(block: _Block, picks: list[int], need: int) -> np.ndarray | None:
    """The picked columns of a block's samples by pandas' C parser; None when it balks.

    Used only when every line has the same number of fields (so none is short);
    anything else goes line by line.
    """
    try:
        import pandas
    except ImportError:  # pragma: no cover - pandas comes with napari
        return None
    width = len(block.sample_text[0].split())
    if width < need:
        return None
    body = "\n".join(block.sample_text) + "\n"
    if len(body.split()) != width * len(block.sample_text):
        return None  # some line has another field count
    try:
        frame = pandas.read_csv(
            io.StringIO(body), sep=r"\s+", header=None, names=list(range(width)), usecols=picks,
            dtype=np.float64, keep_default_na=False, na_values=["."], engine="c",
        )
    except (ValueError, pandas.errors.ParserError):  # a field that is no number
        return None
    values = frame.to_numpy(dtype=np.float64)
    if values.shape != (len(block.sample_text), len(picks)):
        return None
    if np.isinf(values).any() or np.isnan(values[:, 0]).any():
        return None
    return values


def _samples_of(block: _Block, path) -> None:
    """Parse a block's sample lines at once (C parsers), else line by line naming the first bad one."""
    n_values = 6 if len(block.eyes) == 2 else 3
    need = n_values + 1
    picks = [0, 1, 2, 4, 5] if n_values == 6 else [0, 1, 2]
    if block.sample_text:
        values = _samples_fast(block, picks, need)
        if values is not None:
            block.t, block.xy = values[:, 0], values[:, 1:]
            block.sample_text, block.sample_line = [], []
            return
    fields = []
    for line, number in zip(block.sample_text, block.sample_line):
        parts = line.split(None, need)
        if len(parts) < need:
            raise format_error(
                path,
                f"a sample has {len(parts)} fields where a {'binocular' if n_values == 6 else 'monocular'} "
                f"one has at least {need}",
                "fix or delete that line",
                number,
            )
        fields.append(parts[:need])
    body = "".join(  # a lone "." is a missing value: an empty field
        "\t".join("" if parts[i] == "." else parts[i] for i in picks) + "\n" for parts in fields
    )
    values = parse_fast(body, len(picks), "\t") if fields else np.empty((0, len(picks)))
    if values is None or np.isinf(values).any() or np.isnan(values[:, 0]).any():
        for parts, number in zip(fields, block.sample_line):  # name the first bad line
            t = _float(parts[0], path, number, "sample time")
            if math.isnan(t):
                raise format_error(path, "a sample has no time", "fix or delete that line", number)
            for index in picks[1:]:
                _float(parts[index], path, number, "gaze position")
        raise format_error(path, "a sample is not a number", "fix or delete that line")
    block.t, block.xy = values[:, 0], values[:, 1:]
    block.sample_text, block.sample_line = [], []


def _samples_line(block: _Block, tokens: list[str], path, number: int) -> None:
    """``SAMPLES GAZE LEFT RIGHT RATE 1000.00 ...``: the kind, the eyes and the rate of a block."""
    block.kind = tokens[1] if len(tokens) > 1 else "GAZE"
    block.line = number
    eyes = [e[0] for e in tokens[2:] if e in ("LEFT", "RIGHT")]
    if eyes:
        block.eyes = eyes
    if "RATE" in tokens and tokens.index("RATE") + 1 < len(tokens):
        rate = _float(tokens[tokens.index("RATE") + 1], path, number, "RATE")
        block.rate = rate if rate > 0 else None


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _event(block: _Block, keyword: str, tokens: list[str], path, number: int) -> None:
    needed = {"EFIX": 7, "ESACC": 4, "EBLINK": 5}[keyword]
    if len(tokens) < needed or tokens[1] not in ("L", "R"):
        raise format_error(
            path, f"{keyword} lacks its eye or times", "fix or delete that line", number
        )
    eye = tokens[1]
    if keyword == "ESACC":
        block.saccades += 1
        return
    start, end = (_float(tokens[i], path, number, f"{keyword} time") for i in (2, 3))
    if keyword == "EBLINK":
        block.blinks[eye].append((start, end))
        return
    duration, x, y = (_float(tokens[i], path, number, "EFIX field") for i in (4, 5, 6))
    if math.isnan(start) or math.isnan(duration) or duration < 0:
        raise format_error(path, "EFIX lacks a start or duration", "fix or delete that line", number)
    block.fixations[eye].append((start, duration, x, y))


def _screen(file_meta: dict, image_shape, path):
    """``(left, top, height, width)`` of the screen, or None when unknown."""
    coords = file_meta["display_coords"] or file_meta["gaze_coords"]
    if coords is not None:
        left, top, right, bottom = coords
        return left, top, int(round(bottom - top + 1)), int(round(right - left + 1))
    if image_shape is not None:
        return 0.0, 0.0, int(image_shape[-2]), int(image_shape[-1])
    warn(
        path,
        "the file has no DISPLAY_COORDS message, so the screen size is unknown; positions are "
        "kept in screen pixels; pass image_shape=(height, width) to give it",
    )
    return None


def read_eyelink_asc(
    path: str | Path, what: str = "samples", image_shape: tuple[int, int] | None = None
) -> dict[str, GazeRecording | Fixations]:
    """Read an EyeLink ASC file: ``{block key: GazeRecording}`` (or ``Fixations``).

    See the module docstring. Raises :class:`GazeFormatError`.
    """
    text = read_text(path)
    blocks, file_meta = _parse(text, path)
    if not blocks:
        raise format_error(
            path,
            "the file holds no recording block (START .. END)",
            "convert the EDF with edf2asc, samples and events included",
        )
    for block in blocks:
        if block.kind != "GAZE":
            raise format_error(
                path,
                f"the samples are {block.kind} positions, not screen gaze",
                "convert the EDF again with edf2asc -sg (gaze samples)",
                block.line,
            )
    screen = _screen(file_meta, image_shape, path)
    result: dict = {}
    placed = []
    for block in blocks:
        key = f"trial {block.trial}" if block.trial is not None else f"block {block.number}"
        base, copy = key, 2
        while key in result:
            key, copy = f"{base} #{copy}", copy + 1
        if what == "samples":
            entry, finite = _samples(block, key, screen, file_meta)
            placed.append(finite)
        else:
            entry = _fixations(block, key, screen, file_meta)
        result[key] = entry
    if screen is not None and what == "samples" and placed:
        shape = screen[2:]
        all_placed = np.concatenate(placed)
        share = warn_off_image(path, all_placed, shape)
        if share is not None:
            for entry in result.values():
                entry.meta["off_screen_share_in_file"] = round(share, 6)
    return result


def _meta(block: _Block, key: str, screen, file_meta: dict) -> dict:
    meta = {
        "source": "eyelink-asc",
        "recording": key,
        "eye": {"L": "left", "R": "right"}[block.eyes[0]] if len(block.eyes) == 1 else "both",
        "image": {"name": key},
        "n_saccades": block.saccades,
        "n_blinks": sum(len(v) for v in block.blinks.values()),
    }
    if block.trial is not None:
        meta["trial"] = block.trial
    if block.rate:
        meta["sampling_rate_hz"] = float(block.rate)
    if screen is not None:
        meta["image"]["shape"] = [screen[2], screen[3]]
        # meta["screen"] needs the size in mm and the distance too, which ASC files do not hold
        meta["screen_resolution_px"] = [screen[3], screen[2]]
    if file_meta["preamble"]:
        meta["preamble"] = list(file_meta["preamble"])
    return meta


def _samples(block: _Block, key: str, screen, file_meta: dict) -> tuple[GazeRecording, np.ndarray]:
    t, xy = block.t, block.xy
    if len(t) > 1 and (np.diff(t) < 0).any():
        order = np.argsort(t, kind="stable")
        t, xy = t[order], xy[order]
    eyes = {}
    for index, eye in enumerate(block.eyes):
        pair = xy[:, 2 * index : 2 * index + 2].copy()
        for start, end in block.blinks.get(eye, []):
            pair[(t >= start) & (t <= end)] = np.nan
        eyes[eye] = pair
    stacked = np.stack(list(eyes.values()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice": no eye tracked
        gaze = np.nanmean(stacked, axis=0)  # both eyes where tracked, else the one tracked
    gaze[~np.isfinite(gaze).all(axis=1)] = np.nan
    t0 = float(t[0]) if len(t) else 0.0
    meta = _meta(block, key, screen, file_meta)
    meta["tracker_start_ms"] = t0
    meta["messages"] = [[(mt - t0) / 1000.0, text] for mt, text in block.messages]
    left, top = (screen[0], screen[1]) if screen is not None else (0.0, 0.0)
    coords = np.column_stack([gaze[:, 1] - top, gaze[:, 0] - left])
    valid = np.isfinite(coords).all(axis=1)
    screen_xy = None
    finite = coords[valid]
    if screen is not None:
        height, width = screen[2], screen[3]
        on = (coords[:, 0] >= -0.5) & (coords[:, 0] < height - 0.5)
        on &= (coords[:, 1] >= -0.5) & (coords[:, 1] < width - 0.5)
        screen_xy = np.column_stack([(coords[:, 1] + 0.5) / width, (coords[:, 0] + 0.5) / height])
        valid &= on
    recording = GazeRecording(
        t=(t - t0) / 1000.0, coords=coords, valid=valid, screen=screen_xy, meta=meta
    )
    return recording, finite


def _fixations(block: _Block, key: str, screen, file_meta: dict) -> Fixations:
    eye = "L" if "L" in block.eyes else "R"
    rows = [row for row in block.fixations[eye] if not (math.isnan(row[2]) or math.isnan(row[3]))]
    values = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    t0 = float(block.t[0]) if len(block.t) else (float(values[0, 0]) if len(values) else 0.0)
    left, top = (screen[0], screen[1]) if screen is not None else (0.0, 0.0)
    meta = _meta(block, key, screen, file_meta)
    meta["tracker_start_ms"] = t0
    meta["detector"] = {"name": "EyeLink online parser (EFIX)", "eye": {"L": "left", "R": "right"}[eye]}
    return Fixations(
        start=(values[:, 0] - t0) / 1000.0,
        duration=values[:, 1] / 1000.0,
        coords=np.column_stack([values[:, 3] - top, values[:, 2] - left]),
        meta=meta,
    )
