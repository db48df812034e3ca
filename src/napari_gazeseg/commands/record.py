"""``gazeseg record``: record live gaze to a native file without napari.

For experiments run from scripts, and for tests. The file's screen columns hold
the positions as the source gives them (an LSL stream in pixels stays in
pixels; Tobii, cursor and replay give normalised display points); there is no
image, so the image coordinates are empty and every sample's ``valid`` is False
(the screen columns are NaN where the tracker had no gaze). Ctrl-C (or
``--seconds``, or the end of a replayed file) stops cleanly: every sample
received is written and the file is closed. An existing file is never replaced.

Examples::

    gazeseg record --source lsl --list
    gazeseg record --source lsl --stream "Tobii Pro Spectrum" --seconds 60 --out s01.gaze.tsv
    gazeseg record --source tobii --rate 600 --out s01.gaze.tsv
    gazeseg record --source replay --replay old.gaze.tsv --speed 4 --out copy.gaze.tsv
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from . import command_parser

SOURCES = ("lsl", "tobii", "replay", "cursor")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = command_parser(
        subparsers, "record",
        "record live gaze (LSL, Tobii, replay, cursor) to a native file, without napari",
        "Record gaze from an LSL stream, a Tobii tracker, a replayed file or the mouse cursor "
        "to OUT (native NAME.gaze.tsv + NAME.gaze.json), with screen coordinates as the source "
        "gives them. Stops after --seconds, at the end of a replayed file, or on Ctrl-C.",
    )
    parser.add_argument("--source", choices=SOURCES, required=True)
    parser.add_argument("--out", type=Path, metavar="FILE.gaze.tsv", help="file to write (never replaced)")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
    lsl = parser.add_argument_group("LSL")
    lsl.add_argument("--list", action="store_true", help="list the gaze streams LSL finds, then exit")
    lsl.add_argument("--stream", metavar="NAME", help="LSL stream name (default: the only gaze stream)")
    lsl.add_argument("--x", metavar="LABEL", help="channel with screen x (default: from the description)")
    lsl.add_argument("--y", metavar="LABEL", help="channel with screen y")
    lsl.add_argument("--units", choices=("pixels", "normalised"), help="units of x/y when the stream does not say")
    lsl.add_argument("--lsl-outlet", action="store_true",
                     help="also publish the recorded gaze and object markers as LSL streams")
    tobii = parser.add_argument_group("Tobii")
    tobii.add_argument("--backend", choices=("auto", "titta", "tobii-research"), default="auto")
    tobii.add_argument("--address", help="tracker address (default: the first found)")
    parser.add_argument("--rate", type=float, default=None,
                        help="Tobii sampling rate to set, or cursor sampling rate (default 120)")
    replay = parser.add_argument_group("replay")
    replay.add_argument("--replay", type=Path, metavar="FILE", help="gaze file to replay")
    replay.add_argument("--stimulus", help="which stimulus of a file with several")
    replay.add_argument("--speed", type=float, default=1.0, help="replay speed (default 1 = real time)")
    parser.set_defaults(func=run)
    return parser


def _say(text: str) -> None:
    print(f"gazeseg record: {text}", file=sys.stderr, flush=True)


def _check_out(path: Path | None) -> Path:
    from napari_gazeseg.gaze.formats.native import sidecar_path

    if path is None:
        raise ValueError("give the file to write with --out FILE.gaze.tsv.")
    if not path.name.endswith(".gaze.tsv"):
        raise ValueError(f"{path} is not a native gaze file name; end it in .gaze.tsv.")
    for existing in (path, sidecar_path(path)):
        if existing.exists():
            raise ValueError(f"{existing} already exists and gaze files are never replaced; choose another --out.")
    if not path.parent.is_dir():
        raise ValueError(f"the folder of {path} does not exist; create it or choose another --out.")
    return path


def _lsl_source(args):
    from napari_gazeseg.tracking.lsl import find_gaze_streams, guess_channel_map, LslSource, ChannelMap

    streams = find_gaze_streams(timeout_s=1.0 if args.stream is None else 2.0, name=args.stream,
                                types=None if args.stream else ("Gaze", "EyeTracking"))
    if args.list:
        for stream in streams:
            print(stream.describe())
        if not streams:
            _say("no gaze streams found (type Gaze or EyeTracking); start the tracker's LSL app.")
        return None
    if not streams:
        where = f"named {args.stream}" if args.stream else "of type Gaze or EyeTracking"
        raise ValueError(f"no LSL stream {where} was found; start the tracker's LSL app or check --stream.")
    if len(streams) > 1 and args.stream is None:
        names = ", ".join(s.name for s in streams)
        raise ValueError(f"several gaze streams are on the network ({names}); pick one with --stream NAME.")
    stream = streams[0]
    if bool(args.x) != bool(args.y):
        raise ValueError("give both --x and --y, or neither to take them from the stream's description.")
    mapping = guess_channel_map(stream, units=args.units, raw=True) if not (args.x or args.y) else None
    if args.x or args.y:
        labels = stream.labels
        for label in (args.x, args.y):
            if label not in labels:
                raise ValueError(f"the stream {stream.name} has no channel {label}; its channels: {', '.join(labels)}.")
        units = args.units or "normalised"
        mapping = ChannelMap((labels.index(args.x),), (labels.index(args.y),), units=units)
    return LslSource(stream, channel_map=mapping, raw=True)


def make_source(args):
    """The source the arguments ask for (None after ``--list``); SourceError or ValueError otherwise."""
    if args.source == "lsl":
        return _lsl_source(args)
    if args.source == "tobii":
        from napari_gazeseg.tracking.tobii import open_tobii_source

        return open_tobii_source(args.backend, address=args.address, frequency=args.rate)
    if args.source == "replay":
        from napari_gazeseg.tracking.replay import ReplaySource

        if args.replay is None or not args.replay.is_file():
            raise ValueError("give an existing gaze file to replay with --replay FILE.")
        return ReplaySource(args.replay, speed=args.speed, stimulus=args.stimulus)
    from qtpy.QtWidgets import QApplication

    from napari_gazeseg.tracking.mouse import CursorSource

    if QApplication.instance() is None:  # the cursor needs a display
        make_source.app = QApplication(sys.argv[:1])
    return CursorSource(rate_hz=args.rate or 120.0)


def run(args: argparse.Namespace) -> int:
    from napari_gazeseg.tracking.recorder import GazeRecorder
    from napari_gazeseg.tracking.source import SourceError

    if not args.list:
        out = _check_out(args.out)
    try:
        source = make_source(args)
    except SourceError as err:
        raise ValueError(str(err)) from None
    if source is None:  # --list
        return 0
    meta = {"recorded_by": "gazeseg record"}  # no image: screen coordinates only
    recorder = GazeRecorder(source, out, view=None, ndim=2, meta=meta)
    recorder.message.connect(_say)
    outlet = None
    if args.lsl_outlet:
        from napari_gazeseg.tracking.lsl import GazeOutlet

        outlet = GazeOutlet(recorder, name=out.name.removesuffix(".gaze.tsv"))
    interrupted = []
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
    try:
        try:
            recorder.start()
        except (SourceError, OSError) as err:
            raise ValueError(str(err)) from None
        _say(f"recording {source.name} gaze to {out}; Ctrl-C stops.")
        begin = time.monotonic()
        ended = "Ctrl-C"
        while not interrupted:
            time.sleep(0.05)
            recorder.drain()
            if not recorder.recording:  # the file could not be written: drain() said why
                return 1
            if args.seconds is not None and time.monotonic() - begin >= args.seconds:
                ended = f"{args.seconds:g} s"
                break
            if getattr(source, "finished", False):
                ended = "the end of the replayed file"
                break
        recorder.stop()
    finally:
        signal.signal(signal.SIGINT, previous)
        if outlet is not None:
            outlet.close()
    report = recorder.report()
    print(f"stopped at {ended}: {recorder.samples_written} samples ({report.summary()}) written to {out}")
    return 0
