"""The ``gazeseg`` sub-commands, one module each, and the parser pieces they share.

:mod:`napari_gazeseg.cli` imports a command's module to call its
``add_parser(subparsers)``; that function starts with :func:`command_parser` and
adds the arguments several commands have (``--model-type``, ``--checkpoint``,
``--cache-dir``, ``--device``, ``--quiet``) with :func:`add_shared`, so that they
keep one spelling, default and help. This package imports only the standard library.
"""

from __future__ import annotations

import argparse

#: Arguments several commands share: flag -> ``add_argument`` keywords. A command
#: gives its own help where the default one would be wrong for it.
SHARED: dict[str, dict] = {
    "--model-type": {"default": "vit_b", "help": "SAM model: vit_b, vit_l or vit_h"},
    "--checkpoint": {"default": None},
    "--cache-dir": {"default": None},
    "--device": {"default": "auto", "help": "auto, cpu, cuda or cuda:N"},
    "--quiet": {"action": "store_true", "help": "no progress bar"},
}


def command_parser(subparsers, name: str, help: str, description: str) -> argparse.ArgumentParser:
    """The parser of sub-command ``name``. ``description`` may be the module's docstring:
    ``--help`` shows its first paragraph, without reST's double backquotes."""
    description = description.split("\n\n")[0].replace("``", "")
    return subparsers.add_parser(name, help=help, description=description)


def add_shared(parser: argparse.ArgumentParser, *flags: str, **helps: str) -> None:
    """Add the :data:`SHARED` arguments ``flags`` to ``parser`` in this order; ``helps``
    replaces a help by the argument's name (``cache_dir="..."`` for ``--cache-dir``)."""
    for flag in flags:
        keywords = dict(SHARED[flag])
        name = flag.lstrip("-").replace("-", "_")
        if name in helps:
            keywords["help"] = helps[name]
        parser.add_argument(flag, **keywords)
