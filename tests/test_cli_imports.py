"""`gazeseg --help` and light sub-commands start without importing torch or napari."""

from __future__ import annotations

import subprocess
import sys


def test_building_the_cli_imports_no_torch_or_napari():
    code = (
        "import sys, napari_gazeseg.cli as c; c.build_parser(); "
        "heavy = sorted(m for m in ('torch', 'napari', 'segment_anything') if m in sys.modules); "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
