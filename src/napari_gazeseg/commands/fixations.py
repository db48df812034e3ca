"""``gazeseg fixations``: detect fixations in gaze files and write a GazeMedSeg CSV.

Examples::

    gazeseg fixations data/gaze/*.gaze.tsv -o fixations.csv
    gazeseg fixations export.tsv --method idt --dispersion-threshold 1.0 -o fixations.csv
    gazeseg fixations samples.csv --image-shape 512 512 --px-per-degree 30 -o fixations.csv

Every recording in every file (a Tobii Pro Lab export holds one per stimulus)
becomes the fixations of one IMAGE in the CSV. Thresholds are in degrees of
visual angle; recordings without screen geometry are classified in image pixels
(converted at ``--px-per-degree``), with a warning.

The CSV is never one of the input files (or a native file's sidecar), even with
``--overwrite``, and it is written to a temporary file renamed into place, so an
existing CSV is replaced whole or not at all.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


class _DetectorDefaultsHelp(argparse.HelpFormatter):
    """Fills ``{ivt[name]}`` / ``{idt[name]}`` in the help with the detectors' own defaults.

    The defaults are read from the detector signatures
    (:func:`~napari_gazeseg.gaze.fixations.detector_defaults`) only when the help
    is shown, so building the CLI does not import the detectors.
    """

    def _get_help_string(self, action):
        text = super()._get_help_string(action)
        if "{" not in (text or ""):
            return text
        from napari_gazeseg.gaze.fixations import detector_defaults

        return text.format(ivt=detector_defaults("ivt"), idt=detector_defaults("idt"))


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "fixations",
        formatter_class=_DetectorDefaultsHelp,
        help="detect fixations (Tobii I-VT or I-DT) and write a GazeMedSeg fixation CSV",
        description=(
            "Read gaze samples in any supported format, detect fixations with the Tobii I-VT "
            "filter (default) or I-DT, and write them as one GazeMedSeg fixation CSV "
            "(IMAGE, CURRENT_FIX_X/Y normalised to the image, start and duration in ms)."
        ),
    )
    parser.add_argument(
        "gaze",
        type=Path,
        nargs="+",
        metavar="GAZE",
        help="gaze files (native .gaze.tsv, Tobii Pro Lab TSV, CSV)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, required=True, metavar="CSV", help="the fixation CSV to write"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace CSV when it exists")
    parser.add_argument("--format", default=None, help="gaze file format (detected when left out)")
    parser.add_argument(
        "--method", choices=("ivt", "idt"), default="ivt", help="detector (default ivt)"
    )
    parser.add_argument(
        "--min-duration",
        type=float,
        default=None,
        metavar="S",
        help="shortest fixation in seconds (default {ivt[min_duration]} for ivt, {idt[min_duration]} for idt)",
    )
    parser.add_argument(
        "--px-per-degree",
        type=float,
        default=None,
        metavar="PX",
        help="image pixels per degree, for recordings without screen geometry",
    )
    parser.add_argument(
        "--image-shape",
        type=int,
        nargs=2,
        default=None,
        metavar=("ROWS", "COLS"),
        help="image size, for gaze files that do not record it",
    )
    ivt = parser.add_argument_group("I-VT (Tobii I-VT fixation filter)")
    ivt.add_argument(
        "--velocity-threshold",
        type=float,
        default=None,
        metavar="DEG_S",
        help="deg/s (default {ivt[velocity_threshold]})",
    )
    ivt.add_argument(
        "--velocity-window",
        type=float,
        default=None,
        metavar="S",
        help="seconds (default {ivt[velocity_window]})",
    )
    ivt.add_argument(
        "--gap-fill-max",
        type=float,
        default=None,
        metavar="S",
        help="longest gap interpolated (default {ivt[gap_fill_max]})",
    )
    ivt.add_argument("--no-gap-fill", action="store_true", help="turn gap fill-in off")
    ivt.add_argument(
        "--noise",
        choices=("median", "mean", "none"),
        default=None,
        help="{ivt[noise_window]}-sample filter (default {ivt[noise_reduction]})",
    )
    ivt.add_argument(
        "--merge-max-gap",
        type=float,
        default=None,
        metavar="S",
        help="seconds (default {ivt[merge_max_gap]})",
    )
    ivt.add_argument(
        "--merge-max-angle",
        type=float,
        default=None,
        metavar="DEG",
        help="degrees (default {ivt[merge_max_angle]})",
    )
    ivt.add_argument(
        "--no-merge", action="store_true", help="turn merging of adjacent fixations off"
    )
    idt = parser.add_argument_group("I-DT (dispersion threshold)")
    idt.add_argument(
        "--dispersion-threshold",
        type=float,
        default=None,
        metavar="DEG",
        help="largest (max x - min x) + (max y - min y), degrees (default {idt[dispersion_threshold]})",
    )
    parser.set_defaults(func=run)
    return parser


def _detector(args: argparse.Namespace):
    """The :class:`~napari_gazeseg.gaze.fixations.FixationDetector` the options ask for;
    options left out keep the detector's defaults."""
    from napari_gazeseg.gaze.fixations import FixationDetector

    given = {"px_per_degree": args.px_per_degree, "min_duration": args.min_duration}
    if args.method == "idt":
        given["dispersion_threshold"] = args.dispersion_threshold
    else:
        given.update(
            velocity_threshold=args.velocity_threshold,
            gap_fill_max=args.gap_fill_max,
            noise_reduction=args.noise,
            velocity_window=args.velocity_window,
            merge_max_gap=args.merge_max_gap,
            merge_max_angle=args.merge_max_angle,
        )
    params = {name: value for name, value in given.items() if value is not None}
    if args.method == "ivt":
        if args.no_gap_fill:
            params["gap_fill_max"] = None
        if args.no_merge:
            params["merge_max_gap"] = None
        if params.get("noise_reduction") == "none":
            params["noise_reduction"] = None
        if params.get("min_duration") == 0:
            params["min_duration"] = None  # keep all
    return FixationDetector(args.method, **params)


def _with_image_shape(rec, shape):
    from napari_gazeseg.gaze.recording import GazeRecording

    meta = dict(rec.meta)
    meta["image"] = {**meta.get("image", {}), "shape": list(shape)}
    return GazeRecording(rec.t, rec.coords, rec.valid, rec.screen, rec.object_id, meta)


def _inputs_and_sidecars(path: Path) -> list[Path]:
    files = [path]
    if path.name.endswith(".gaze.tsv"):  # the native format's metadata lives beside it
        files.append(path.with_name(path.name[: -len(".tsv")] + ".json"))
    return files


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _check_output(output: Path, inputs: list[Path]) -> None:
    """Refuse an output that is one of the inputs (or a sidecar of one), whatever ``--overwrite`` says."""
    if output.is_dir():
        raise ValueError(f"{output} is a folder; pass the path of the CSV file to write with -o.")
    for path in inputs:
        for protected in _inputs_and_sidecars(path):
            if _same_file(output, protected):
                raise ValueError(
                    f"{output} is one of the gaze files being read ({protected.name}); "
                    "write the fixations to another file."
                )


def run(args: argparse.Namespace) -> int:
    from napari_gazeseg.gaze.formats import read_gaze_all, write_gazemedseg_csv
    from napari_gazeseg.gaze.recording import Fixations

    _check_output(args.output, args.gaze)
    if args.output.exists() and not args.overwrite:
        raise ValueError(f"{args.output} already exists; choose another file or pass --overwrite.")
    detect = _detector(args)
    by_image: dict[str, Fixations] = {}
    source_of: dict[str, Path] = {}
    for path in args.gaze:
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist; pass an existing gaze file.")
        for name, rec in read_gaze_all(path, format=args.format).items():
            if isinstance(rec, Fixations):
                # A ValueError: the CLI turns it into one line for the user.
                raise ValueError(  # noqa: TRY004
                    f"{path} holds fixations, not gaze samples; it is already a fixation file."
                )
            if name in by_image:
                raise ValueError(
                    f"image {name!r} appears in both {source_of[name]} and {path}; pass each image's gaze once."
                )
            if args.image_shape is not None:
                rec = _with_image_shape(rec, args.image_shape)
            elif rec.image_shape is None:
                raise ValueError(
                    f"{path} does not record the image size of {name!r}; pass --image-shape ROWS COLS."
                )
            fixations = detect(rec)
            by_image[name] = fixations
            source_of[name] = path
            units = fixations.meta["detector"]["units"]
            mean_ms = 1000 * float(fixations.duration.mean()) if len(fixations) else 0.0
            print(
                f"{name}: {len(fixations)} fixations, mean {mean_ms:.0f} ms ({args.method}, thresholds in {units})"
            )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    partial = args.output.with_name(f".{args.output.name}.{os.getpid()}.partial")
    try:
        write_gazemedseg_csv(by_image, partial)
        os.replace(partial, args.output)
    except BaseException:  # a failed or interrupted write leaves the old CSV as it was
        partial.unlink(missing_ok=True)
        raise
    total = sum(len(f) for f in by_image.values())
    print(f"wrote {total} fixations of {len(by_image)} images to {args.output}")
    return 0
