"""Edits of gaze files for the readers' fuzz tests, in two kinds.

* **Valid by construction** (:func:`valid_edits`): edits a file of a format may
  undergo and stay valid (a data line deleted or repeated, a digit inside a
  number changed, CRLF line ends). A reader must read every data line of the
  result as one row: the strong assertion always runs.
* **Garbage** (:func:`garbage_edits`): bytes replaced, deleted or inserted
  anywhere. A reader must refuse the file with ``GazeFormatError`` or read it
  with its row count kept; :class:`Branches` counts which happened so that a test
  can assert that both branches ran often enough to mean something.

Also the pieces every reader's fuzz test shares: :func:`fuzz_settings`,
:func:`replace_bytes` and :func:`maybe_replace_bytes` (the older, replace-only
garbage), :func:`read_or_none` and :func:`write_and_read` (a read that may only
fail with ``GazeFormatError``).
"""

from __future__ import annotations

import csv
import io
import warnings
from collections import Counter

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from napari_gazeseg.gaze.formats import GazeFormatError, read_gaze_all


def fuzz_settings(max_examples: int) -> settings:
    """The readers' fuzz settings: ``max_examples`` reproducible examples, no deadline,
    one ``tmp_path`` shared by the examples of a test."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


def read_or_none(path, read=read_gaze_all, **kwargs):
    """``read(path, **kwargs)`` with the readers' warnings silenced, or ``None`` when the
    reader refuses the file with ``GazeFormatError``; any other exception propagates."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return read(path, **kwargs)
    except GazeFormatError:
        return None


def write_and_read(path, content: bytes, read=read_gaze_all, **kwargs):
    """``content`` written to ``path``, then :func:`read_or_none`."""
    path.write_bytes(content)
    return read_or_none(path, read=read, **kwargs)


class Branches(Counter):
    """How many examples ended in each branch of a fuzz property.

    The ``branches`` fixture (``tests/conftest.py``) gives a test one for all its
    examples and, after the last, checks what the test said it needs (:meth:`need`).
    """

    needed: dict[str, int]

    def need(self, **minimum: int) -> None:
        """Each named branch must run at least this often over the test's examples."""
        self.needed = minimum

    def at_least(self, **minimum: int) -> None:
        print(f"fuzz branches: {dict(self)}")  # shown with pytest -s
        short = {name: self[name] for name, least in minimum.items() if self[name] < least}
        assert not short, f"fuzz branches ran too rarely: {dict(self)} (need {minimum})"

    def read_edited(self, path, content: bytes, read=read_gaze_all, **kwargs):
        """``content`` written to ``path`` and read with :func:`read_or_none`; a refusal
        (``None``) counts as the branch ``refused``."""
        result = write_and_read(path, content, read=read, **kwargs)
        if result is None:
            self["refused"] += 1
        return result


def _split(text: str, delimiter: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text), delimiter=delimiter))


def _join(rows: list[list[str]], delimiter: str, newline: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=newline).writerows(rows)
    return out.getvalue()


def _digit_positions(field: str) -> list[int]:
    """Digits of a number's mantissa, but not its first character (no leading 0 made,
    no sign or exponent touched, so the field stays a finite number)."""
    mantissa, _, exponent = field.lower().partition("e")
    if exponent and abs(int(exponent)) > 300:
        return []  # a changed digit could overflow to inf or underflow
    return [i for i, c in enumerate(mantissa) if c.isdigit() and i > 0]


def valid_edits(draw, text: str, delimiter: str, number_columns, keep_order=()) -> tuple[str, int]:
    """``(edited text, data lines)``: ``text`` (a header line and data lines) after
    1 to 4 edits that keep it valid. ``number_columns`` are the column indices whose
    digits may change; ``keep_order`` columns must not decrease down the file (their
    digits are left alone; deleting or repeating a line keeps their order)."""
    rows = _split(text, delimiter)
    header, data = rows[0], rows[1:]
    editable = [c for c in number_columns if c not in set(keep_order)]
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["digit", "digit", "delete", "repeat"]))
        if not data:
            break
        line = draw(st.integers(0, len(data) - 1))
        if kind == "delete" and len(data) > 1:
            del data[line]
        elif kind == "repeat":
            data.insert(line, list(data[line]))
        elif editable:
            column = draw(st.sampled_from(editable))
            field = data[line][column]
            positions = _digit_positions(field)
            if positions:
                at = draw(st.sampled_from(positions))
                digit = draw(st.sampled_from("0123456789"))
                data[line][column] = field[:at] + digit + field[at + 1 :]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return _join([header, *data], delimiter, newline), len(data)


def garbage_edits(data, content: bytes, alphabet: bytes, max_edits: int = 3) -> bytes:
    """``content`` after 1 to ``max_edits`` bytes replaced, deleted or inserted at random."""
    content = bytearray(content)
    for _ in range(data.draw(st.integers(1, max_edits))):
        if not content:
            break
        position = data.draw(st.integers(0, len(content) - 1))
        action = data.draw(st.sampled_from(["replace", "delete", "insert"]))
        byte = data.draw(st.sampled_from(list(alphabet)))
        if action == "replace":
            content[position] = byte
        elif action == "delete":
            del content[position]
        else:
            content.insert(position, byte)
    return bytes(content)


def replace_bytes(data, content: bytes, alphabet: bytes, start: int = 0) -> bytes:
    """``content`` after 1 to 3 of its bytes at or after ``start`` replaced by bytes of
    ``alphabet`` (the line structure may change, the length does not)."""
    content = bytearray(content)
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(start, len(content) - 1))
        content[position] = data.draw(st.sampled_from(list(alphabet)))
    return bytes(content)


def maybe_replace_bytes(data, content: bytes, alphabet: bytes, start: int = 0) -> tuple[bytes, bool]:
    """``(content, damaged)``: in about half the examples :func:`replace_bytes`, in the
    others ``content`` untouched (a reader must read those)."""
    damaged = data.draw(st.booleans())
    return (replace_bytes(data, content, alphabet, start) if damaged else content), damaged


@st.composite
def export_times(draw, most: int = 25):
    """Times (ms) of 1 to ``most`` rows of an eye tracker's export: from 0 up in steps of
    0 to 50 ms (equal times included)."""
    n = draw(st.integers(1, most))
    steps = draw(st.lists(st.floats(0, 50, allow_nan=False), min_size=n, max_size=n))
    return np.cumsum(steps)
