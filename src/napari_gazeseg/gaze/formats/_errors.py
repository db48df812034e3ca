"""The one exception every gaze-file reader raises for a file it cannot read."""

from __future__ import annotations

from os import PathLike

__all__ = ["GazeFormatError", "format_error", "quoted"]


class GazeFormatError(ValueError):
    """A gaze file that cannot be read.

    The message is one sentence: the file, the line (1-based, counting the header)
    when one is to blame, what is wrong and what to do about it.
    """


def format_error(
    path: str | PathLike, problem: str, remedy: str, line: int | None = None
) -> GazeFormatError:
    """Build the :class:`GazeFormatError` for ``problem`` in ``path`` (at ``line``)."""
    where = f"{path}" if line is None else f"{path}, line {line}"
    return GazeFormatError(f"{where}: {problem}; {remedy}.")


def quoted(text: str) -> str:
    """``text`` as a message quotes it: ``repr``, cut to 30 characters with "..." when longer."""
    return repr(text if len(text) <= 30 else text[:27] + "...")
