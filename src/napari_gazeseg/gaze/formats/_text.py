"""Reading a gaze file's bytes as text: UTF-8 (with or without BOM) or UTF-16, plain or gzip.

A file that starts with the gzip magic bytes (``1f 8b``; BIDS ``*_physio.tsv.gz``,
or any export compressed with gzip) is decompressed first, whatever its name.
"""

from __future__ import annotations

import codecs
import gzip
import zlib
from pathlib import Path

from ._errors import format_error

__all__ = ["GZIP_MAGIC", "csv_rows", "is_gzip", "read_bytes", "read_text", "decode_text", "text_encoding"]

#: The first two bytes of every gzip stream.
GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: str | Path) -> bool:
    """True when the file at ``path`` starts with the gzip magic bytes."""
    with open(path, "rb") as file:
        return file.read(2) == GZIP_MAGIC


def read_bytes(path: str | Path, limit: int | None = None) -> bytes:
    """The bytes of ``path`` (at most ``limit``), decompressed when the file is gzip.

    A damaged or truncated gzip stream raises :class:`GazeFormatError`.
    """
    path = Path(path)
    if not is_gzip(path):
        with open(path, "rb") as file:
            return file.read() if limit is None else file.read(limit)
    try:
        with gzip.open(path, "rb") as file:
            return file.read() if limit is None else file.read(limit)
    except (OSError, EOFError, zlib.error) as err:
        raise format_error(
            path,
            f"the gzip-compressed data is damaged or cut short ({err})",
            "compress the export again with gzip, or pass it uncompressed",
        ) from None


def text_encoding(data: bytes) -> str:
    """``"utf-8-sig"``, ``"utf-16"`` (BOM), ``"utf-16-le"``/``"-be"`` (no BOM) or ``"utf-8"``.

    UTF-16 without a byte-order mark is recognised by the zero bytes its first
    two (ASCII) characters carry.
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if len(data) >= 4 and data[1:4:2] == b"\x00\x00" and 0 not in data[0:4:2]:
        return "utf-16-le"
    if len(data) >= 4 and data[0:4:2] == b"\x00\x00" and 0 not in data[1:4:2]:
        return "utf-16-be"
    return "utf-8"


def decode_text(data: bytes, path: str | Path) -> str:
    """Decode ``data`` (read from ``path``) as UTF-8 or UTF-16, BOM removed.

    Tobii Pro Lab on Windows can write UTF-16 with or without a BOM, other tools
    UTF-8 with or without one. Line ends are normalised to ``\\n``.
    """
    encoding = text_encoding(data)
    if encoding == "utf-8-sig":
        encoding, data = "utf-8", data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1 if encoding == "utf-8" else None
        raise format_error(
            path,
            f"the file is not valid {encoding.upper()} text",
            "export it again as UTF-8 or UTF-16 text",
            line,
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise format_error(
            path, "the file holds NUL characters (binary data)", "pass a text gaze file", line
        )
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def read_text(path: str | Path) -> str:
    """The text of the file at ``path``, gzip or not (see :func:`decode_text`)."""
    return decode_text(read_bytes(path), path)


def csv_rows(reader, width: int, path: str | Path):
    """``(line number, fields)`` of every row of a ``csv.reader`` but blank ones; a row
    with other than ``width`` fields (the header's count) is refused, naming its line."""
    for fields in reader:
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        if len(fields) != width:
            raise format_error(
                path, f"{len(fields)} fields where the header names {width}", "fix or delete that line",
                reader.line_num,
            )
        yield reader.line_num, fields
