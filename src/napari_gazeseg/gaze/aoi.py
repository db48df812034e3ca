"""Areas of interest (AOIs) and the gaze metrics eye-tracking researchers publish.

numpy/scipy only. An :class:`AOISet` is built from a label image (every non-zero
label is an AOI; nD label images give per-plane AOIs of a stack) or from
polygons (napari Shapes: polygons, rectangles, ellipses as vertex lists; they may
overlap). :func:`aoi_metrics` computes, for one recording, one row per AOI with
Tobii Pro Lab's metric set; :func:`metrics_table` does so for several recordings
(and per object session) and adds the share of recordings that fixated each AOI;
:func:`transition_matrix` counts gaze transitions between AOIs.

Definitions (Tobii Pro Lab User Manual, "Metrics"; an *interval* is the stretch
of time the metrics cover: the whole recording, or one object session; times are
seconds from the interval's start)

* **Hit.** A fixation hits an AOI when its centre lies on the AOI (the label
  pixel under it, or inside the polygon); with ``radius_px > 0`` also when the
  AOI lies within that distance of the centre (for label images: the nearest
  AOI within the radius). A gaze sample hits an AOI when its point lies on it.
  Coordinates are napari data coordinates; pixel centres sit at integers, so
  pixel ``(r, c)`` covers ``[r - 0.5, r + 0.5) x [c - 0.5, c + 0.5)``.
* ``Time_to_first_fixation``: start of the first fixation hitting the AOI,
  minus the interval start. NaN when the AOI was never fixated.
* ``Duration_of_first_fixation``: duration of that fixation.
* ``Total_duration_of_fixations`` (dwell on fixations): sum of the durations of
  the fixations hitting the AOI. ``Average_duration_of_fixations``: its mean.
* ``Number_of_fixations``: the count of fixations hitting the AOI.
* **Visit**: from the start of a fixation hitting the AOI to the end of the last
  fixation of the uninterrupted run of fixations hitting it (no fixation
  outside the AOI in between; saccades and blinks inside the run belong to the
  visit). ``Number_of_visits``, ``Total_duration_of_visits``,
  ``Average_duration_of_visits``, ``Duration_of_first_visit``.
* ``Time_to_first_visit``: start of the first visit minus the interval start.
  With Pro Lab's fixation-based visits it equals ``Time_to_first_fixation``;
  both are given because both are published.
* ``Number_of_revisits``: visits after the first, ``max(visits - 1, 0)``.
* ``Proportion_of_time_on_AOI``: the share of the interval during which the raw
  gaze sample lies on the AOI, each valid sample weighted by the time to the
  next sample (capped at twice the median sample interval, so track loss does
  not count). Needs the raw recording; NaN without it.
* ``Percentage_fixated`` (:func:`metrics_table`): the percentage of recordings
  (participants) in the table with at least one fixation on the AOI.
* **Transitions**: consecutive fixations ``i -> i+1`` whose AOIs differ; index 0
  of the matrix is "on no AOI". Where polygons overlap, a fixation counts for the
  topmost AOI (the last one given, as napari draws Shapes).

Everything is vectorised: one label lookup (or one point-in-polygon test per
polygon) for all fixations, then ``bincount`` per AOI; no Python loop over
fixations or samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from .recording import Fixations, GazeRecording

__all__ = [
    "AOISet",
    "AOIHits",
    "METRIC_NAMES",
    "aoi_metrics",
    "metrics_table",
    "transition_matrix",
    "radius_deg_to_image_px",
]

#: Metric columns, in the order tables show them (Tobii Pro Lab's names).
METRIC_NAMES: tuple[str, ...] = (
    "Time_to_first_fixation",
    "Duration_of_first_fixation",
    "Total_duration_of_fixations",
    "Average_duration_of_fixations",
    "Number_of_fixations",
    "Time_to_first_visit",
    "Duration_of_first_visit",
    "Total_duration_of_visits",
    "Average_duration_of_visits",
    "Number_of_visits",
    "Number_of_revisits",
    "Proportion_of_time_on_AOI",
)


@dataclass(frozen=True)
class AOIHits:
    """Which points hit which AOIs: parallel arrays, sorted by ``(aoi, point)``.

    ``point[k]`` is an index into the points tested, ``aoi[k]`` an index into
    :attr:`AOISet.ids` (not the label value).
    """

    point: np.ndarray
    aoi: np.ndarray

    def topmost(self, n_points: int) -> np.ndarray:
        """Per point, the index + 1 of the topmost AOI hit, 0 where none."""
        out = np.zeros(n_points, dtype=np.int64)
        np.maximum.at(out, self.point, self.aoi + 1)
        return out


@dataclass(frozen=True)
class AOISet:
    """A set of AOIs with ids and names, from a label image or polygons.

    Build it with :meth:`from_labels` or :meth:`from_polygons`.
    """

    ids: np.ndarray
    names: tuple[str, ...]
    labels: np.ndarray | None = None
    polygons: tuple[np.ndarray, ...] = ()
    polygon_planes: tuple[tuple[int, ...] | None, ...] = ()
    _nearest: dict = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.ids.size)

    # -- construction ---------------------------------------------------------------

    @classmethod
    def from_labels(
        cls, labels: np.ndarray, names: Mapping[int, str] | None = None
    ) -> AOISet:
        """Every non-zero label of an integer image (2D, or nD for a stack) is an AOI.

        ``names`` maps label values to names (default ``"AOI <label>"``).
        """
        labels = np.asarray(labels)
        if labels.ndim < 2:
            raise ValueError(f"an AOI label image needs 2 or more dimensions, got {labels.ndim}.")
        if not np.issubdtype(labels.dtype, np.integer):
            if labels.dtype == bool:
                labels = labels.astype(np.uint8)
            else:
                raise ValueError(
                    f"an AOI label image must hold integer labels, got dtype {labels.dtype}."
                )
        if labels.size and labels.min() < 0:
            raise ValueError("an AOI label image must not hold negative labels.")
        ids = np.unique(labels)
        ids = ids[ids != 0].astype(np.int64)
        names = dict(names or {})
        return cls(
            ids=ids,
            names=tuple(str(names.get(int(i), f"AOI {int(i)}")) for i in ids),
            labels=labels,
        )

    @classmethod
    def from_polygons(
        cls,
        polygons: Sequence[np.ndarray],
        ids: Sequence[int] | None = None,
        names: Sequence[str] | None = None,
    ) -> AOISet:
        """AOIs from polygons of ``(M, D)`` vertices in data coordinates.

        The last two columns are ``(row, col)``; leading columns, when present,
        fix the plane of a stack the polygon lies on (as napari Shapes vertices of
        an nD layer do); a polygon with only 2 columns applies to every plane.
        Rectangles and ellipses are polygons of their corner or outline vertices.
        """
        polys, planes = [], []
        for k, poly in enumerate(polygons):
            poly = np.asarray(poly, dtype=np.float64)
            if poly.ndim != 2 or poly.shape[1] < 2 or poly.shape[0] < 3:
                raise ValueError(
                    f"AOI polygon {k} needs at least 3 vertices of 2 or more coordinates, "
                    f"got shape {poly.shape}."
                )
            if not np.isfinite(poly).all():
                raise ValueError(f"AOI polygon {k} has non-finite vertices.")
            lead = poly[:, :-2]
            if lead.shape[1] and not (lead == lead[0]).all():
                raise ValueError(
                    f"AOI polygon {k} is not on one plane; draw AOIs on a single plane."
                )
            planes.append(tuple(int(round(v)) for v in lead[0]) if lead.shape[1] else None)
            polys.append(poly[:, -2:].copy())
        n = len(polys)
        ids_arr = np.arange(1, n + 1, dtype=np.int64) if ids is None else np.asarray(ids, np.int64)
        if ids_arr.shape != (n,):
            raise ValueError(f"got {ids_arr.size} AOI ids for {n} polygons.")
        if names is None:
            names = [f"AOI {int(i)}" for i in ids_arr]
        if len(names) != n:
            raise ValueError(f"got {len(names)} AOI names for {n} polygons.")
        return cls(
            ids=ids_arr,
            names=tuple(str(s) for s in names),
            polygons=tuple(polys),
            polygon_planes=tuple(planes),
        )

    # -- hits -------------------------------------------------------------------------

    def hits(self, coords: np.ndarray, radius_px: float = 0.0) -> AOIHits:
        """Which of the ``(N, D)`` points hit which AOI (NaN points hit nothing)."""
        coords = np.asarray(coords, dtype=np.float64)
        if coords.ndim != 2 or coords.shape[1] < 2:
            raise ValueError(f"points must have shape (N, D>=2), got {coords.shape}.")
        if not radius_px >= 0:
            raise ValueError(f"the hit radius must be >= 0 pixels, got {radius_px}.")
        if self.labels is not None:
            return self._label_hits(coords, float(radius_px))
        return self._polygon_hits(coords, float(radius_px))

    def point_aoi(self, coords: np.ndarray, radius_px: float = 0.0) -> np.ndarray:
        """Per ``(N, D)`` point, the index + 1 of the (topmost) AOI it hits, 0 where none."""
        coords = np.asarray(coords, dtype=np.float64)
        if self.labels is None:
            return self.hits(coords, radius_px=radius_px).topmost(coords.shape[0])
        if coords.ndim != 2 or coords.shape[1] < 2:
            raise ValueError(f"points must have shape (N, D>=2), got {coords.shape}.")
        labels = self.labels
        nd = labels.ndim
        if coords.shape[1] < nd:
            raise ValueError(
                f"the gaze has {coords.shape[1]} coordinates but the AOI labels have {nd} "
                "dimensions; take the AOIs of the plane the gaze was recorded on."
            )
        n = coords.shape[0]
        flat = np.zeros(n, dtype=np.int64)
        ok = np.ones(n, dtype=bool)
        for axis in range(nd):
            # Pixel centres at integers: pixel r covers [r - 0.5, r + 0.5), so the pixel is
            # floor(x + 0.5); on [0, size) truncation is that floor. NaN fails both tests.
            v = coords[:, coords.shape[1] - nd + axis] + 0.5
            ok &= v >= 0
            ok &= v < labels.shape[axis]
            v[~ok] = 0
            flat *= labels.shape[axis]
            flat += v.astype(np.int64)
        flat[~ok] = 0
        out = self._index_image().ravel()[flat]
        out[~ok] = 0
        if radius_px > 0:
            miss = np.flatnonzero(ok & (out == 0))
            if miss.size:
                dist, nearest = self._nearest_label()
                close = dist.ravel()[flat[miss]] <= radius_px
                near_flat = np.ravel_multi_index(
                    tuple(axis_idx.ravel()[flat[miss[close]]] for axis_idx in nearest),
                    labels.shape,
                )
                out[miss[close]] = self._index_image().ravel()[near_flat]
        return out

    def _index_image(self) -> np.ndarray:
        """The label image as AOI index + 1 (0 = no AOI), made once."""
        if "index" not in self._nearest:
            labels = self.labels
            top = int(self.ids.max()) if self.ids.size else 0
            if top < 2**24:
                lut = np.zeros(top + 1, dtype=np.int64)
                lut[self.ids] = np.arange(1, self.ids.size + 1)
                index = lut[labels]
            else:
                index = np.where(labels != 0, np.searchsorted(self.ids, labels) + 1, 0)
            self._nearest["index"] = index
        return self._nearest["index"]

    def _label_hits(self, coords: np.ndarray, radius: float) -> AOIHits:
        per_point = self.point_aoi(coords, radius_px=radius)
        point = np.flatnonzero(per_point)
        aoi = per_point[point] - 1
        order = np.argsort(aoi, kind="stable")  # points stay ascending within an AOI
        return AOIHits(point=point[order], aoi=aoi[order])

    def _nearest_label(self):
        if "edt" not in self._nearest:
            from scipy import ndimage

            dist, nearest = ndimage.distance_transform_edt(
                self.labels == 0, return_indices=True
            )
            self._nearest["edt"] = (dist, nearest)
        return self._nearest["edt"]

    def _polygon_hits(self, coords: np.ndarray, radius: float) -> AOIHits:
        from matplotlib.path import Path

        points, aois = [], []
        rc = coords[:, -2:]
        finite = np.isfinite(rc).all(axis=1)
        for k, (poly, plane) in enumerate(zip(self.polygons, self.polygon_planes)):
            cand = finite.copy()
            if plane is not None:
                lead = coords[:, :-2]
                if lead.shape[1] >= len(plane):
                    on_plane = np.floor(lead[:, -len(plane):] + 0.5) == np.array(plane)
                    cand &= on_plane.all(axis=1)
                # gaze with fewer leading axes than the polygon: the plane cannot
                # be told, so the polygon applies (2D gaze over a stack's plane).
            lo, hi = poly.min(axis=0) - radius, poly.max(axis=0) + radius
            cand &= (rc >= lo).all(axis=1) & (rc <= hi).all(axis=1)
            sel = np.flatnonzero(cand)
            if sel.size == 0:
                continue
            # (row, col) vertices -> (x, y) = (col, row) for matplotlib.
            path = Path(poly[:, ::-1], closed=False)
            inside = path.contains_points(rc[sel][:, ::-1], radius=0.0)
            if radius > 0:
                inside |= _distance_to_polyline(rc[sel], poly) <= radius
            points.append(sel[inside])
            aois.append(np.full(int(inside.sum()), k, dtype=np.int64))
        if not points:
            empty = np.zeros(0, dtype=np.int64)
            return AOIHits(point=empty, aoi=empty.copy())
        point, aoi = np.concatenate(points), np.concatenate(aois)
        order = np.lexsort((point, aoi))
        return AOIHits(point=point[order], aoi=aoi[order])


def _distance_to_polyline(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Distance of ``(N, 2)`` points to the closed polygon outline ``(M, 2)``."""
    a = poly
    b = np.roll(poly, -1, axis=0)
    ab = b - a  # (M, 2)
    denom = np.maximum((ab**2).sum(axis=1), 1e-12)
    ap = points[:, None, :] - a[None, :, :]  # (N, M, 2)
    t = np.clip((ap * ab[None]).sum(axis=2) / denom[None], 0.0, 1.0)
    closest = a[None] + t[..., None] * ab[None]
    return np.sqrt(((points[:, None, :] - closest) ** 2).sum(axis=2)).min(axis=1)


def radius_deg_to_image_px(meta: Mapping, degrees: float) -> float:
    """A hit radius in degrees of visual angle as image pixels, from a recording's meta.

    Needs the screen geometry (``meta["screen"]``) and the image placement on the
    screen (``meta["display"]``, screen pixels per image pixel).
    """
    from ._display import ImagePlacement
    from .geometry import ScreenGeometry

    geometry = ScreenGeometry.from_meta(dict(meta))
    if geometry is None or "display" not in meta:
        raise ValueError(
            "the recording does not say how the image was shown on the screen "
            "(meta 'screen' and 'display'); give the hit radius in image pixels instead."
        )
    placement = ImagePlacement.from_meta(dict(meta))
    return float(geometry.deg_to_px(degrees)) / placement.scale


# -- metrics ---------------------------------------------------------------------------


def _sorted_fixations(fixations: Fixations) -> Fixations:
    order = np.argsort(fixations.start, kind="stable")
    if (order == np.arange(order.size)).all():
        return fixations
    return fixations.select(order)


def aoi_metrics(
    fixations: Fixations,
    aois: AOISet,
    *,
    recording: GazeRecording | None = None,
    interval: tuple[float, float] | None = None,
    radius_px: float = 0.0,
) -> dict[str, np.ndarray]:
    """Tobii Pro Lab's AOI metrics for one recording: ``{metric: (K,) array}``.

    ``interval`` is ``(start, stop)`` in seconds (default: the recording's
    samples, else the fixations' span); only fixations starting inside it count,
    and times are measured from its start. See the module docstring for the
    definitions. Counts are integers, times seconds, NaN where undefined.
    """
    k = len(aois)
    fixations = _sorted_fixations(fixations)
    if interval is None:
        if recording is not None and len(recording):
            interval = (float(np.nanmin(recording.t)), float(np.nanmax(recording.t)))
        elif len(fixations):
            interval = (float(fixations.start.min()), float(fixations.end.max()))
        else:
            interval = (0.0, 0.0)
    t0, t1 = float(interval[0]), float(interval[1])
    if not t1 >= t0:
        raise ValueError(f"the metrics interval must not end before it starts, got {interval}.")
    keep = (fixations.start >= t0) & (fixations.start <= t1)
    start = fixations.start[keep]
    duration = fixations.duration[keep]
    hits = aois.hits(fixations.coords[keep], radius_px=radius_px)

    out: dict[str, np.ndarray] = {}
    n_fix = np.bincount(hits.aoi, minlength=k)
    total = np.bincount(hits.aoi, weights=duration[hits.point], minlength=k)
    out["Number_of_fixations"] = n_fix.astype(np.int64)
    out["Total_duration_of_fixations"] = total
    with np.errstate(invalid="ignore", divide="ignore"):
        out["Average_duration_of_fixations"] = np.where(n_fix > 0, total / n_fix, np.nan)

    ttff = np.full(k, np.nan)
    first_dur = np.full(k, np.nan)
    if hits.aoi.size:
        uniq, first = np.unique(hits.aoi, return_index=True)
        first_fix = hits.point[first]
        ttff[uniq] = start[first_fix] - t0
        first_dur[uniq] = duration[first_fix]
    out["Time_to_first_fixation"] = ttff
    out["Duration_of_first_fixation"] = first_dur

    # Visits: runs of consecutive fixation indices hitting the same AOI.
    n_visits = np.zeros(k, dtype=np.int64)
    total_visit = np.zeros(k)
    first_visit_start = np.full(k, np.nan)
    first_visit_dur = np.full(k, np.nan)
    if hits.aoi.size:
        new = np.ones(hits.aoi.size, dtype=bool)
        new[1:] = (hits.aoi[1:] != hits.aoi[:-1]) | (hits.point[1:] != hits.point[:-1] + 1)
        visit_start_pos = np.flatnonzero(new)
        visit_end_pos = np.append(visit_start_pos[1:] - 1, hits.aoi.size - 1)
        end = start + duration
        v_aoi = hits.aoi[visit_start_pos]
        v_start = start[hits.point[visit_start_pos]]
        v_dur = end[hits.point[visit_end_pos]] - v_start
        n_visits = np.bincount(v_aoi, minlength=k).astype(np.int64)
        total_visit = np.bincount(v_aoi, weights=v_dur, minlength=k)
        uniq, first = np.unique(v_aoi, return_index=True)
        first_visit_start[uniq] = v_start[first] - t0
        first_visit_dur[uniq] = v_dur[first]
    out["Time_to_first_visit"] = first_visit_start
    out["Duration_of_first_visit"] = first_visit_dur
    out["Total_duration_of_visits"] = total_visit
    with np.errstate(invalid="ignore", divide="ignore"):
        out["Average_duration_of_visits"] = np.where(
            n_visits > 0, total_visit / np.maximum(n_visits, 1), np.nan
        )
    out["Number_of_visits"] = n_visits
    out["Number_of_revisits"] = np.maximum(n_visits - 1, 0)

    out["Proportion_of_time_on_AOI"] = (
        _time_on_aoi(recording, aois, t0, t1) if recording is not None else np.full(k, np.nan)
    )
    return {name: out[name] for name in METRIC_NAMES}


def _time_on_aoi(recording: GazeRecording, aois: AOISet, t0: float, t1: float) -> np.ndarray:
    k = len(aois)
    span = t1 - t0
    if len(recording) < 2 or span <= 0:
        return np.full(k, np.nan)
    t = recording.t
    inside = (t >= t0) & (t <= t1)
    dt = np.diff(t, append=t[-1])
    step = np.diff(t)
    step = step[step > 0]
    cap = 2.0 * float(np.median(step)) if step.size else 0.0
    dt = np.clip(dt, 0.0, cap)
    use = inside & recording.valid
    per_sample = aois.point_aoi(recording.coords)
    per_sample[~use] = 0
    on_time = np.bincount(per_sample, weights=dt, minlength=k + 1)[1:]
    return on_time / span


def transition_matrix(
    fixations: Fixations, aois: AOISet, *, radius_px: float = 0.0
) -> np.ndarray:
    """``(K+1, K+1)`` counts of transitions ``from -> to`` between consecutive fixations.

    Row/column 0 is "on no AOI", ``j >= 1`` is ``aois.ids[j - 1]``. Consecutive
    fixations on the same AOI are not a transition (the diagonal is 0).
    """
    k = len(aois)
    fixations = _sorted_fixations(fixations)
    seq = aois.point_aoi(fixations.coords, radius_px=radius_px)
    src, dst = seq[:-1], seq[1:]
    move = src != dst
    flat = np.bincount(src[move] * (k + 1) + dst[move], minlength=(k + 1) ** 2)
    return flat.reshape(k + 1, k + 1)


def _object_intervals(
    fixations: Fixations, recording: GazeRecording | None
) -> list[tuple[int, tuple[float, float]]]:
    ids = fixations.object_ids
    if recording is not None:
        ids = np.union1d(ids, recording.object_ids)
    out = []
    for oid in ids:
        in_session = recording.object_id == oid if recording is not None else None
        if in_session is not None and in_session.any():
            t = recording.t[in_session]
            out.append((int(oid), (float(t.min()), float(t.max()))))
        else:
            f = fixations.for_object(int(oid))
            if len(f):
                out.append((int(oid), (float(f.start.min()), float(f.end.max()))))
    return out


def metrics_table(
    recordings: Mapping[str, tuple[GazeRecording | None, Fixations]] | Iterable,
    aois: AOISet,
    *,
    by_object: bool = False,
    radius_px: float = 0.0,
) -> list[dict]:
    """One row per AOI x recording (x object session with ``by_object``).

    ``recordings`` maps a recording's name to ``(recording or None, fixations)``.
    Each row holds ``Recording``, ``Object`` (0 for the whole recording), ``AOI``
    (its id), ``AOI_name``, the metrics of :func:`aoi_metrics` and
    ``Percentage_fixated``: the percentage of the table's recordings (or
    recording x object sessions) that fixated the AOI at least once.
    """
    items = recordings.items() if isinstance(recordings, Mapping) else recordings
    rows: list[dict] = []
    groups: list[tuple[str, int, dict[str, np.ndarray]]] = []
    for name, (rec, fix) in items:
        if by_object:
            for oid, interval in _object_intervals(fix, rec):
                sub_rec = rec.for_object(oid) if rec is not None else None
                metrics = aoi_metrics(
                    fix.for_object(oid), aois, recording=sub_rec, interval=interval,
                    radius_px=radius_px,
                )
                groups.append((str(name), oid, metrics))
        else:
            groups.append((str(name), 0, aoi_metrics(fix, aois, recording=rec, radius_px=radius_px)))
    if not groups:
        return rows
    fixated = np.stack([g[2]["Number_of_fixations"] > 0 for g in groups])
    pct = 100.0 * fixated.mean(axis=0)
    for name, oid, metrics in groups:
        for j in range(len(aois)):
            row = {"Recording": name, "Object": oid, "AOI": int(aois.ids[j]),
                   "AOI_name": aois.names[j]}
            for key in METRIC_NAMES:
                value = metrics[key][j]
                row[key] = int(value) if metrics[key].dtype.kind == "i" else float(value)
            row["Percentage_fixated"] = float(pct[j])
            rows.append(row)
    return rows


#: Column order of :func:`metrics_table` rows (CSV header).
TABLE_COLUMNS: tuple[str, ...] = (
    ("Recording", "Object", "AOI", "AOI_name") + METRIC_NAMES + ("Percentage_fixated",)
)


def write_metrics_csv(rows: Sequence[dict], path, *, overwrite: bool = False) -> None:
    """Write :func:`metrics_table` rows as CSV (refuses to replace a file unless told).

    Keys of the rows beyond :data:`TABLE_COLUMNS` (e.g. ``Image``) come first.
    The file is written to ``PATH.part`` and renamed, so it is never half-written.
    """
    import csv
    import os
    from pathlib import Path

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{path} already exists; choose another file name or pass overwrite=True "
            "(--overwrite in the CLI)."
        )
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        extra = [k for k in (rows[0] if rows else {}) if k not in TABLE_COLUMNS]
        writer = csv.DictWriter(fh, fieldnames=extra + list(TABLE_COLUMNS))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if isinstance(v, float) and np.isnan(v) else v)
                             for k, v in row.items()})
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


__all__ += ["TABLE_COLUMNS", "write_metrics_csv"]
