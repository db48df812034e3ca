"""``gazeseg``: the plugin's capabilities without a GUI, for batches and servers.

Each sub-command lives in its own module under :mod:`napari_gazeseg.commands`
and exposes ``add_parser(subparsers)``, which registers its arguments and sets
``func(args) -> int`` as the parser default.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("simulate", "fixations", "segment", "train", "train_sam")


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


if __name__ == "__main__":
    sys.exit(main())
