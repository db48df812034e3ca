"""``gazeseg``: the plugin's capabilities without a GUI, for batches and servers.

Each sub-command lives in its own module under :mod:`napari_gazeseg.commands`
and exposes ``add_parser(subparsers)``, which registers its arguments and sets
``func(args) -> int`` as the parser default.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("simulate", "fixations", "segment", "train", "train_sam", "metrics", "record", "annotate", "models", "propagate", "embed")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gazeseg", description="Turn where a person looks into segmentations."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"napari_gazeseg.commands.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError) as err:
        print(f"gazeseg {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: one line, no traceback; commands say what was kept
        note = getattr(args, "interrupted", None)
        print(f"gazeseg {args.command}: interrupted{'; ' + note(args) if note else '.'}", file=sys.stderr)
        return 130
    except OSError as err:  # the disk or the file system refused (a file where a folder goes, ...)
        if err.filename is None:
            raise
        print(f"gazeseg {args.command}: {_os_error_sentence(err)}", file=sys.stderr)
        return 2


def _os_error_sentence(err: OSError) -> str:
    name = err.filename
    if isinstance(err, NotADirectoryError):
        return f"{name}: a file is in the way where a folder is needed; pass another path."
    if isinstance(err, IsADirectoryError):
        return f"{name} is a folder; pass a file path."
    if isinstance(err, PermissionError):
        return f"{name} cannot be written (permission denied); pick a place you can write to."
    return f"{name}: {err.strerror}."


if __name__ == "__main__":
    sys.exit(main())
