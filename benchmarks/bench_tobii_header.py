"""Pro Lab header fields are split in linear time: a hostile field costs what reading it costs.

Run: ``.venv/bin/python benchmarks/bench_tobii_header.py``.

Prints, in one run on one machine:

1. :func:`split_header` on hostile fields (brackets, spaces, parentheses) of
   50 KB and 200 KB: the ratio 200 KB / 50 KB is about 4 for a linear split
   (16 for a quadratic one);
2. the former regex (``.*?`` name, optional ``[unit]``/``(unit)``) on 2.5 KB and
   5 KB fields of spaces: a ratio about 4 (quadratic), and its time extrapolated
   to 200 KB against the linear split's;
3. reading a 1000-sample Pro Lab export with and without a 200 KB hostile header
   field: a ratio near 1.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from _common import best_time

FORMER = re.compile(
    r"^(?P<name>.*?)\s*(?:\[(?P<bracketed>[^\]]*)\]|\((?P<parenthesised>[^)]*)\))?$"
)


def _export(path: Path, extra: str | None) -> Path:
    header = [
        "Recording timestamp [ms]", "Sensor", "Presented Stimulus name", "Gaze point X [DACS px]",
        "Gaze point Y [DACS px]", "Presented Media position X [DACS px]",
        "Presented Media position Y [DACS px]", "Presented Media width [px]",
        "Presented Media height [px]", "Original Media width [px]", "Original Media height [px]",
    ]
    rows = [
        [f"{i * 8.333:.3f}", "Eye Tracker", "cells", f"{600 + i % 400}", "500", "560", "240",
         "800", "600", "400", "300"]
        for i in range(1000)
    ]
    if extra is not None:
        header.append(extra)
        rows = [row + [""] for row in rows]
    path.write_text("\n".join("\t".join(fields) for fields in [header, *rows]) + "\n")
    return path


def main() -> None:
    from napari_gazeseg.gaze.formats import read_gaze
    from napari_gazeseg.gaze.formats.tobii_prolab import split_header

    print("1. split_header on hostile fields (seconds; ratio 200 KB / 50 KB, linear ~4)")
    for name, unit in (("brackets", "["), ("spaces", " "), ("parentheses", "(")):
        small = best_time(lambda: split_header(unit * 50_000 + "x"))
        large = best_time(lambda: split_header(unit * 200_000 + "x"))
        print(f"   {name:12s} 50 KB {small:.2e}  200 KB {large:.2e}  ratio {large / small:.1f}")

    print("2. the former regex on fields of spaces (quadratic: ratio 5 KB / 2.5 KB ~4)")
    small = best_time(lambda: FORMER.match(" " * 2_500 + "x"), repeats=1)
    large = best_time(lambda: FORMER.match(" " * 5_000 + "x"), repeats=1)
    linear = best_time(lambda: split_header(" " * 200_000 + "x"))
    extrapolated = large * (200_000 / 5_000) ** 2
    print(f"   2.5 KB {small:.3f} s  5 KB {large:.3f} s  ratio {large / small:.1f}")
    print(f"   200 KB: former ~{extrapolated:.0f} s (extrapolated), linear {linear:.2e} s, "
          f"{extrapolated / linear:.0e} x")

    print("3. reading a 1000-sample export, with / without a 200 KB hostile header field")
    with tempfile.TemporaryDirectory() as folder:
        plain = _export(Path(folder) / "plain.tsv", None)
        hostile = _export(Path(folder) / "hostile.tsv", " " * 200_000 + "x")
        base = best_time(lambda: read_gaze(plain))
        worst = best_time(lambda: read_gaze(hostile))
    print(f"   plain {base:.3f} s  hostile {worst:.3f} s  ratio {worst / base:.2f}")


if __name__ == "__main__":
    main()
