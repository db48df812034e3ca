"""Fixations of the object being looked at, grown as samples arrive.

The contract: after every :meth:`LiveFixations.add`, :meth:`LiveFixations.fixations`
is what the batch detector gives for all samples of the session received so
far (start, duration and object id equal; positions equal up to float rounding
of the one fixation still open), while the work per call is bounded by the new
samples, not by the length of the session or of the fixation being made.

How, for the I-VT filter (:func:`napari_gazeseg.gaze.fixations.detect_fixations_ivt`,
the default, with any of its parameters but ``eyes``):

* **samples**: every stage of the filter (gap fill, noise filter, velocity
  window, thresholding) looks at most ``gap_fill_max`` seconds plus a few
  samples around a sample. Each call reruns the stages over a window of the new
  samples plus that much context on each side; the classification of samples
  no future sample can change is *final* and kept, the rest is provisional
  (computed as if the recording ended now, as the batch detector does);
* **runs and groups**: runs of fixation samples become run records (first and
  last sample, mean signal position, sums of on-image coordinates) when they
  end; merging and the minimum duration act on records; a fixation is
  committed once the next run shows it cannot merge any more. The open run
  keeps running sums, so a five-minute stare costs the same per call as a
  short one. Committed fixations are computed with the batch detector's own
  arithmetic (:func:`~napari_gazeseg.gaze._detection.span_sums`,
  :func:`~napari_gazeseg.gaze.ivt.merge_adjacent`), so they are equal.

Detectors are :class:`~napari_gazeseg.gaze.fixations.FixationDetector` objects (an
I-VT one runs incrementally with its parameters). Any other detector (an I-DT
``FixationDetector``, any callable ``GazeRecording -> Fixations``) is
rerun over the samples since the end of the last fixation that can no longer
change, as before. A callable says it is I-VT by an ``ivt_parameters`` mapping
(keyword arguments of ``detect_fixations_ivt``) on itself or, for a bound
method, on its object, as a ``FixationDetector`` does; see :func:`ivt_parameters_of`.
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from napari_gazeseg.gaze.recording import Fixations, GazeRecording

__all__ = ["LiveFixations", "StreamingIVT", "ivt_parameters_of"]

_TIME_TOLERANCE = 1e-6  # as gaze.ivt


def _default_detector(recording: GazeRecording) -> Fixations:
    from napari_gazeseg.gaze.fixations import FixationDetector

    return FixationDetector().detect(recording)


def ivt_parameters_of(detector) -> dict | None:
    """Keyword arguments of ``detect_fixations_ivt`` when ``detector`` is the I-VT
    filter (``{}`` for None, the default), else None."""
    if detector is None or detector is _default_detector:
        return {}
    for owner in (detector, getattr(detector, "__self__", None)):
        params = getattr(owner, "ivt_parameters", None)
        if params is not None:
            return dict(params)
    return None


class _Grow:
    """A growable array along axis 0 (amortised O(1) append)."""

    def __init__(self, dtype, width: int | None = None) -> None:
        shape = (64,) if width is None else (64, width)
        self._data = np.empty(shape, dtype=dtype)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.n + len(values)
        if need > len(self._data):
            bigger = np.empty((max(need, 2 * len(self._data)), *self._data.shape[1:]), self._data.dtype)
            bigger[: self.n] = self._data[: self.n]
            self._data = bigger
        self._data[self.n : need] = values
        self.n = need

    @property
    def view(self) -> np.ndarray:
        return self._data[: self.n]


class _Run:
    """A run of fixation samples: index span, signal position, on-image coordinate sums."""

    __slots__ = ("first", "last", "position", "sums", "count")

    def __init__(self, first, last, position, sums, count):
        self.first, self.last, self.position, self.sums, self.count = first, last, position, sums, count


class StreamingIVT:
    """The I-VT filter over a growing session, with bounded work per :meth:`add`.

    Parameters
    ----------
    params : dict
        Keyword arguments of ``detect_fixations_ivt`` (``eyes`` is not supported).
    first : GazeRecording
        The first samples; its ``meta`` (with ``sampling_rate_hz``) is the session's.
    """

    def __init__(self, params: dict, first: GazeRecording) -> None:
        from napari_gazeseg.gaze._detection import gaze_signal
        from napari_gazeseg.gaze.fixations import FixationDetector
        from napari_gazeseg.gaze.ivt import _half_window

        if params.get("eyes") is not None:
            raise ValueError("live fixations take no per-eye samples (eyes=...).")
        # validated, with I-VT's defaults for the parameters not given
        detector = FixationDetector("ivt", **{k: v for k, v in params.items() if k != "eyes"})
        self.params = detector.params
        self.meta = dict(first.meta)
        rate = self.meta.get("sampling_rate_hz")
        if not rate:
            raise ValueError("live I-VT needs meta['sampling_rate_hz'].")
        self.rate = float(rate)
        self.period = 1.0 / self.rate
        self.ndim = first.ndim
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            # the detector's own meta (parameters, units) and the signal's kind
            self._detector_meta = dict(detector.detect(first).meta["detector"])
            signal = gaze_signal(first, self.params["px_per_degree"], "live fixations")
        self._unit, self._geometry, self._px_per_degree = signal.unit, signal.geometry, signal.px_per_degree
        self._half = _half_window(self.params["velocity_window"], self.rate)
        noise = self.params["noise_reduction"]
        self._noise_half = int(self.params["noise_window"]) // 2 if noise is not None else 0
        gap = self.params["gap_fill_max"]
        self._reach_s = (0.0 if gap is None else float(gap)) + self.period + 1e-3
        self._margin = self._half + self._noise_half + 2
        # samples
        self._t = _Grow(np.float64)
        self._coords = _Grow(np.float64, self.ndim)
        self._valid = _Grow(bool)
        self._ids = _Grow(np.int64)
        self._xy = _Grow(np.float64, 2)  # the signal before gap fill
        self._breaks = _Grow(bool)
        self._last_usable = -1
        self._slice = None  # leading coordinates of the last on-image sample (nD)
        # final classification
        self._final = 0
        self._fix = _Grow(bool)
        self._smooth = _Grow(np.float64, 2)
        self._open: _Run | None = None  # the run touching the final frontier
        self._open_sums = None  # running sums of the open run (signal, coordinates, on-image count)
        self._group: list[_Run] = []  # closed runs of the fixation that may still merge
        self._committed = {"start": [], "duration": [], "coords": [], "object_id": []}
        self._off_image = 0
        self._provisional: list[_Run] = []
        #: Samples the last :meth:`add` ran the filter stages over (bounded by the new ones).
        self.last_window = 0
        self.add(first)

    # -- input ---------------------------------------------------------------------
    def add(self, samples: GazeRecording) -> None:
        """Append the next samples (time continues) and update the classification."""
        n = len(samples)
        if n == 0:
            return
        start = self._t.n
        self._t.extend(samples.t)
        self._coords.extend(samples.coords)
        self._valid.extend(samples.valid)
        self._ids.extend(samples.object_id)
        if self._unit == "deg":
            screen = samples.screen if samples.screen is not None else np.full((n, 2), np.nan)
            self._xy.extend(self._geometry.normalised_to_tangent(screen))
        else:
            self._xy.extend(samples.coords[:, -2:])
        self._breaks.extend(self._new_breaks(samples, start))
        usable = np.flatnonzero(np.isfinite(self._xy.view[start:]).all(axis=1))
        if usable.size:
            self._last_usable = start + int(usable[-1])
        self._update()

    def _new_breaks(self, samples: GazeRecording, start: int) -> np.ndarray:
        """Session starts among the new samples, as ``session_breaks`` over the whole session."""
        from napari_gazeseg.gaze._detection import MAX_PAUSE

        n = len(samples)
        t = self._t.view[max(start - 1, 0) :]
        ids = self._ids.view[max(start - 1, 0) :]
        breaks = np.zeros(n, dtype=bool)
        if start > 0:
            breaks |= (np.diff(t) > MAX_PAUSE + self.period) | (ids[1:] != ids[:-1])
        else:
            breaks[1:] = (np.diff(t) > MAX_PAUSE + self.period) | (ids[1:] != ids[:-1])
        if self.ndim > 2:
            leading = samples.coords[:, :-2]
            on_image = np.flatnonzero(samples.valid)
            if on_image.size:
                index = np.full(n, -1, dtype=np.int64)
                index[on_image] = on_image
                index = np.maximum.accumulate(index)
                previous = self._slice if self._slice is not None else leading[on_image[0]]
                slices = np.where((index < 0)[:, None], previous, leading[np.maximum(index, 0)])
                changed = np.zeros(n, dtype=bool)
                changed[1:] = (slices[1:] != slices[:-1]).any(axis=1)
                if self._slice is not None and start > 0:
                    changed[0] = bool((slices[0] != self._slice).any())
                breaks |= changed
                self._slice = leading[on_image[-1]].copy()
        return breaks

    # -- stages over a bounded window ---------------------------------------------------
    def _classify(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Fixation flags and noise-reduced signal of samples ``lo..hi-1``, with the
        samples before ``lo`` as context and ``hi`` taken as the end of the data."""
        from napari_gazeseg.gaze._detection import GazeSignal
        from napari_gazeseg.gaze.ivt import fill_gaps, reduce_noise, window_velocity

        t_all = self._t.view
        context = max(lo - self._margin, 0)
        reach = int(np.searchsorted(t_all[:hi], t_all[context] - self._reach_s, side="left"))
        begin = max(min(context, reach), 0)
        self.last_window = hi - begin
        t = t_all[begin:hi]
        breaks = self._breaks.view[begin:hi].copy()
        breaks[0] = False
        xy = self._xy.view[begin:hi].copy()
        p = self.params
        if p["gap_fill_max"] is not None:
            fill_gaps(t, xy, breaks, p["gap_fill_max"], self.period, inplace=True)
        signal = GazeSignal(xy, breaks, self._unit, self._geometry, self._px_per_degree)
        smooth = xy
        if p["noise_reduction"] is not None:
            smooth = reduce_noise(xy, breaks, int(p["noise_window"]), p["noise_reduction"])
        speed = window_velocity(t, signal, smooth, self._half)
        with np.errstate(invalid="ignore"):
            fixation = speed < signal.degrees_to_unit(p["velocity_threshold"])
        return fixation[lo - begin :], smooth[lo - begin :]

    def _update(self) -> None:
        n = self._t.n
        t = self._t.view
        if self.params["gap_fill_max"] is None:
            settled = n
        else:  # a lost sample's fill is known once a usable one follows or the gap is too long
            settled = max(self._last_usable + 1, int(np.searchsorted(t, t[-1] - self._reach_s, side="left")))
        final_end = max(self._final, settled - self._margin)
        fixation, smooth = self._classify(self._final, n)
        cut = final_end - self._final
        if cut > 0:
            self._fix.extend(fixation[:cut])
            self._smooth.extend(smooth[:cut])
            self._assemble(self._final, final_end)
            self._final = final_end
        self._provisional = self._provisional_runs(fixation[cut:], smooth[cut:])

    # -- runs and groups -------------------------------------------------------------------
    def _exact_run(self, first: int, last: int, smooth: np.ndarray | None = None) -> _Run:
        """A finished run, with the batch detector's arithmetic (span sums, on-image sums).
        ``smooth``: its noise-reduced signal when not final yet."""
        from napari_gazeseg.gaze._detection import span_sums

        one = np.array([0]), np.array([last - first])
        if smooth is None:
            smooth = self._smooth.view[first : last + 1]
        position = span_sums(smooth, *one)[0] / (last - first + 1)
        coords = self._coords.view[first : last + 1]
        sums = span_sums(coords, *one)[0]
        count = last - first + 1
        if np.isnan(sums[0]):  # off-image samples in the run: sum the on-image ones alone
            on_image = self._valid.view[first : last + 1]
            group = np.zeros(int(on_image.sum()), dtype=np.int64)
            count = int(on_image.sum())
            sums = np.array(
                [np.bincount(group, coords[on_image, d], minlength=1)[0] for d in range(self.ndim)]
            )
        return _Run(first, last, position, sums, count)

    def _assemble(self, lo: int, hi: int) -> None:
        """Turn the newly final samples ``lo..hi-1`` into runs; close and commit what ended."""
        fix = self._fix.view
        breaks = self._breaks.view
        flags = fix[lo:hi]
        if not flags.any() and self._open is None:
            return
        joined = np.empty_like(flags)  # sample i continues the run of sample i - 1
        joined[0] = bool(lo > 0 and fix[lo - 1] and flags[0] and not breaks[lo])
        joined[1:] = flags[1:] & flags[:-1] & ~breaks[lo + 1 : hi]
        ends_mask = np.zeros_like(flags)  # the last final sample's run may still go on
        ends_mask[:-1] = flags[:-1] & ~joined[1:]
        starts = (np.flatnonzero(flags & ~joined) + lo).tolist()
        ends = (np.flatnonzero(ends_mask) + lo).tolist()
        if self._open is not None:
            if not joined[0]:
                self._close_run(self._open.first, lo - 1)
                self._open = None
            elif ends:
                self._close_run(self._open.first, ends.pop(0))
                self._open = None
            else:
                self._add_open_sums(lo, hi)
        for k, first in enumerate(starts):
            if k < len(ends):
                self._close_run(first, ends[k])
            else:
                self._open = _Run(first, hi - 1, None, None, 0)
                self._open_sums = None
                self._add_open_sums(first, hi)

    def _add_open_sums(self, lo: int, hi: int) -> None:
        lo = max(lo, self._open.first)
        smooth = self._smooth.view[lo:hi]
        coords = self._coords.view[lo:hi]
        valid = self._valid.view[lo:hi]
        add = (smooth.sum(axis=0), np.where(valid[:, None], coords, 0.0).sum(axis=0), int(valid.sum()))
        if self._open_sums is None:
            self._open_sums = add
        else:
            self._open_sums = tuple(a + b for a, b in zip(self._open_sums, add))
        self._open.last = hi - 1

    def _close_run(self, first: int, last: int) -> None:
        run = self._exact_run(first, last)
        if self._group and not self._merges(self._group[-1], run):
            self._commit(self._group)
            self._group = []
        self._group.append(run)

    def _merges(self, a: _Run, b: _Run) -> bool:
        from napari_gazeseg.gaze._detection import GazeSignal
        from napari_gazeseg.gaze.ivt import merge_adjacent

        p = self.params
        if p["merge_max_gap"] is None:
            return False
        t = self._t.view
        if t[b.first] - t[a.last] - self.period > p["merge_max_gap"] + _TIME_TOLERANCE:
            return False  # too far apart in time (checked first: no break scan over a long pause)
        breaks = np.zeros(b.first - a.last + 1, dtype=bool)
        breaks[1:] = self._breaks.view[a.last + 1 : b.first + 1]
        signal = GazeSignal(np.zeros((0, 2)), breaks, self._unit, self._geometry, self._px_per_degree)
        local_t = t[a.last : b.first + 1]
        gap = b.first - a.last
        groups = merge_adjacent(  # only first[1] and last[0] are read
            local_t,
            np.array([0, gap]),
            np.array([0, gap]),
            np.vstack([a.position, b.position]),
            breaks,
            signal.distance,
            p["merge_max_gap"],
            signal.degrees_to_unit(p["merge_max_angle"]),
            self.period,
        )
        return groups.size == 1

    def _group_fixation(self, runs: list[_Run]) -> tuple | None:
        """(start, duration, coords, object id) of a group of runs, or None when dropped;
        ``"off"`` when it has no on-image sample."""
        t = self._t.view
        first, last = runs[0].first, runs[-1].last
        duration = t[last] - t[first] + self.period
        minimum = self.params["min_duration"]
        if minimum is not None and duration < minimum - _TIME_TOLERANCE:
            return None
        count = sum(run.count for run in runs)
        if count == 0:
            return "off"
        sums = np.add.reduceat(np.vstack([run.sums for run in runs]), [0], axis=0)[0]
        return float(t[first]), float(duration), sums / count, int(self._ids.view[first])

    def _commit(self, runs: list[_Run]) -> None:
        made = self._group_fixation(runs)
        if made is None:
            return
        if made == "off":
            self._off_image += 1
            return
        for key, value in zip(("start", "duration", "coords", "object_id"), made):
            self._committed[key].append(value)

    def _provisional_runs(self, fixation: np.ndarray, smooth: np.ndarray) -> list[_Run]:
        """Runs over the provisional samples (from the final frontier to the newest),
        the open run extended by them; as if the data ended at the newest sample."""
        lo = self._final
        breaks = self._breaks.view[lo:]
        coords = self._coords.view[lo:]
        valid = self._valid.view[lo:]
        runs: list[_Run] = []
        open_run = self._open
        flags = fixation
        joined = np.zeros(flags.size, dtype=bool)
        joined[1:] = flags[1:] & flags[:-1] & ~breaks[1:]
        continues = open_run is not None and flags.size > 0 and flags[0] and not breaks[0]
        if open_run is not None and not continues:
            runs.append(self._open_as_run(0, 0, smooth, coords, valid))
        starts = np.flatnonzero(flags & ~joined)
        ends = np.flatnonzero(flags & ~np.concatenate([joined[1:], [False]]))
        if continues:
            end = int(ends[0])
            runs.append(self._open_as_run(0, end + 1, smooth, coords, valid))
            starts, ends = starts[starts > end], ends[1:]
        for first, last in zip(starts.tolist(), ends.tolist()):
            runs.append(self._exact_run(lo + first, lo + last, smooth[first : last + 1]))
        return runs

    def _open_as_run(self, a: int, b: int, smooth, coords, valid) -> _Run:
        """The open run, extended by provisional samples ``a..b-1`` (running sums)."""
        position_sum, sums, count = self._open_sums
        count_all = self._open.last - self._open.first + 1
        part = slice(a, b)
        position_sum = position_sum + smooth[part].sum(axis=0)
        sums = sums + np.where(valid[part][:, None], coords[part], 0.0).sum(axis=0)
        count = count + int(valid[part].sum())
        last = self._open.last + (b - a)
        return _Run(self._open.first, last, position_sum / (count_all + b - a), sums, count)

    # -- output ------------------------------------------------------------------------
    def fixations(self) -> Fixations:
        """Everything so far: committed fixations, then those still open (provisional)."""
        committed = {key: list(values) for key, values in self._committed.items()}
        off_image = self._off_image
        group = list(self._group)
        pending: list[list[_Run]] = []
        for run in self._provisional:
            if group and not self._merges(group[-1], run):
                pending.append(group)
                group = []
            group.append(run)
        if group:
            pending.append(group)
        for runs in pending:
            made = self._group_fixation(runs)
            if made == "off":
                off_image += 1
            elif made is not None:
                for key, value in zip(("start", "duration", "coords", "object_id"), made):
                    committed[key].append(value)
        meta = dict(self.meta)
        meta["detector"] = {**self._detector_meta, "off_image": off_image}
        m = len(committed["start"])
        return Fixations(
            start=np.asarray(committed["start"], dtype=np.float64),
            duration=np.asarray(committed["duration"], dtype=np.float64),
            coords=np.asarray(committed["coords"], dtype=np.float64).reshape(m, self.ndim),
            object_id=np.asarray(committed["object_id"], dtype=np.int64),
            meta=meta,
        )


class LiveFixations:
    """Fixations of one object session, as the batch detector would give them so far.

    Parameters
    ----------
    object_id : int
    detector : FixationDetector or callable(GazeRecording) -> Fixations, optional
        Default: ``FixationDetector()``, I-VT with its defaults. An I-VT detector (see
        :func:`ivt_parameters_of`) runs incrementally (:class:`StreamingIVT`);
        any other is rerun over the samples since its last settled fixation.
    settle_s : float
        For other detectors: a fixation ending more than this many seconds
        before the newest sample can no longer grow and is committed.
    """

    def __init__(
        self,
        object_id: int,
        detector: Callable[[GazeRecording], Fixations] | None = None,
        settle_s: float = 0.3,
    ) -> None:
        self.object_id = int(object_id)
        self._params = ivt_parameters_of(detector)
        self._detect = detector or _default_detector
        self._settle_s = float(settle_s)
        self._stream: StreamingIVT | None = None
        self._pending: list[GazeRecording] = []
        self._committed: list[Fixations] = []
        self._open = None  # Fixations of the tail (not committed), or None
        self._fixations: Fixations | None = None
        self._signature: tuple = (0,)
        self._ndim = 2

    def add(self, samples: GazeRecording) -> bool:
        """Add this object's new samples; True when the fixations changed."""
        mine = samples.object_id == self.object_id
        if not mine.all():
            samples = samples.select(mine)
        if len(samples) == 0:
            return False
        self._ndim = samples.ndim
        if self._params is not None and samples.meta.get("sampling_rate_hz"):
            if self._stream is None:
                self._stream = StreamingIVT(self._params, samples)
            else:
                self._stream.add(samples)
            self._fixations = self._stream.fixations()
        else:
            self._add_by_redetection(samples)
        signature = self._current_signature()
        changed = signature != self._signature
        self._signature = signature
        return changed

    def fixations(self) -> Fixations:
        """The fixations so far, in time order (the last may still grow)."""
        if self._stream is not None:
            return self._fixations
        parts = list(self._committed)
        if self._open is not None:
            parts.append(self._open)
        if not parts:
            return Fixations(np.zeros(0), np.zeros(0), np.zeros((0, self._ndim)), np.zeros(0, np.int64))
        return Fixations.concatenate(parts)

    def _add_by_redetection(self, samples: GazeRecording) -> None:
        self._pending.append(samples)
        tail = GazeRecording.concatenate(self._pending)
        self._pending = [tail]
        if int(tail.valid.sum()) < 2:
            return
        found = self._detect(tail).for_object(self.object_id)
        newest = float(tail.t[-1])
        settled = found.end < newest - self._settle_s
        if settled.any():
            done = found.select(settled)
            self._committed.append(done)
            self._pending = [tail.select(tail.t >= float(done.end.max()))]
        self._open = found.select(~settled) if (~settled).any() else None

    def _current_signature(self) -> tuple:
        fixations = self.fixations()
        if len(fixations) == 0:
            return (0,)
        return (len(fixations), float(fixations.start[-1]), float(fixations.duration[-1]))
