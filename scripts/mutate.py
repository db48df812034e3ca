#!/usr/bin/env python
"""Plant one-line bugs in a copy of the repository and say which tests catch them.

Each mutation replaces one exact piece of source text (found exactly once in its
file) and runs only the tests that cover that code. A mutation is *caught* when
those tests fail, and *survives* when they pass: then the suite would not notice
that bug. The live checkout is never touched: the working tree (committed or
not, without .git and virtual environments) is copied to a temporary folder, and
the copy's ``src`` is put first on ``PYTHONPATH`` (checked before any test runs).

    .venv/bin/python scripts/mutate.py            # every mutation below
    .venv/bin/python scripts/mutate.py --only ivt-threshold --only paint-overwrite
    .venv/bin/python scripts/mutate.py --list     # names only
    .venv/bin/python scripts/mutate.py --source HEAD   # the last commit, not the work in progress

Before the mutations, the tests of every selected mutation run once unmutated and
must pass (``--no-baseline`` skips that); a failing baseline makes every verdict
meaningless, so the script stops. Exit status: 0 when every mutation was caught,
1 when one survived, 2 for a broken baseline or a mutation that no longer applies.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = "src/napari_gazeseg"


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str | tuple[str, ...]  # relative to the repository root; the first holding ``old``
    old: str
    new: str
    tests: tuple[str, ...]  # pytest node ids or files, relative to the repository root
    note: str = ""


#: The four bugs an audit planted that the suite missed (issue 17), then their families.
MUTATIONS = (
    Mutation(
        "ivt-threshold",
        f"{PKG}/gaze/ivt.py",
        "fixation_sample = speed < threshold",
        "fixation_sample = speed <= threshold",
        ("tests/test_fixations_ivt.py",),
        "I-VT: a sample exactly at the velocity threshold counts as fixation",
    ),
    Mutation(
        "prolab-x-scale-for-y",
        f"{PKG}/gaze/formats/tobii_prolab.py",
        "* self.original[axis]\n                        / self.presented[axis]",
        "* self.original[0]\n                        / self.presented[0]",
        ("tests/test_formats_tobii.py",),
        "Tobii Pro Lab: the x scale of the presented media used for both axes",
    ),
    Mutation(
        "mapping-screen-origin",
        f"{PKG}/tracking/mapping.py",
        "return self.screen_origin + np.asarray(display, float) * self.screen_size - self.canvas_origin",
        "return np.asarray(display, float) * self.screen_size - self.canvas_origin",
        ("tests/test_tracking_mapping.py",),
        "screen -> image mapping ignores the tracked screen's origin",
    ),
    Mutation(
        "paint-overwrite",
        (f"{PKG}/segmentation.py", f"{PKG}/models/mask_labels.py"),
        "writable = mask if overwrite else mask & ((labels == 0) | (labels == label_id))",
        "writable = mask & ((labels == 0) | (labels == label_id))",
        ("tests/test_paint_mask.py",),
        "paint_mask ignores its overwrite flag",
    ),
    # -- the families: every user-set threshold at its boundary -------------------------
    Mutation(
        "ivt-min-duration",
        f"{PKG}/gaze/ivt.py",
        "long_enough = duration >= min_duration - _TIME_TOLERANCE",
        "long_enough = duration > min_duration + _TIME_TOLERANCE",
        ("tests/test_fixations_ivt.py",),
        "I-VT: a fixation lasting exactly min_duration is dropped",
    ),
    Mutation(
        "ivt-merge-gap",
        f"{PKG}/gaze/ivt.py",
        "& (gap <= max_gap + _TIME_TOLERANCE)",
        "& (gap < max_gap - _TIME_TOLERANCE)",
        ("tests/test_fixations_ivt.py",),
        "I-VT: fixations exactly merge_max_gap apart are not merged",
    ),
    Mutation(
        "ivt-merge-angle",
        f"{PKG}/gaze/ivt.py",
        "& (distance(position[:-1], position[1:]) <= max_distance)",
        "& (distance(position[:-1], position[1:]) < max_distance)",
        ("tests/test_fixations_ivt.py",),
        "I-VT: fixations exactly merge_max_angle apart are not merged",
    ),
    Mutation(
        "ivt-gap-fill",
        f"{PKG}/gaze/ivt.py",
        "short = t[after] - t[before] - period <= max_gap + _TIME_TOLERANCE",
        "short = t[after] - t[before] - period < max_gap - _TIME_TOLERANCE",
        ("tests/test_fixations_ivt.py",),
        "I-VT: a gap of exactly gap_fill_max is not filled",
    ),
    Mutation(
        "idt-first-window",
        f"{PKG}/gaze/idt.py",
        "_first_window_dispersion(xy_filled, window_last, fits) <= threshold]",
        "_first_window_dispersion(xy_filled, window_last, fits) < threshold]",
        ("tests/test_fixations_idt.py",),
        "I-DT: a first window exactly at the dispersion threshold is refused",
    ),
    Mutation(
        "idt-grow",
        f"{PKG}/gaze/idt.py",
        "over = np.flatnonzero((highs - lows).sum(axis=1) > threshold)",
        "over = np.flatnonzero((highs - lows).sum(axis=1) >= threshold)",
        ("tests/test_fixations_idt.py",),
        "I-DT: a window stops growing at a dispersion exactly at the threshold",
    ),
    Mutation(
        "idt-min-duration",
        f"{PKG}/gaze/idt.py",
        "rec.t + (min_duration - period - _TIME_TOLERANCE)",
        "rec.t + (min_duration - _TIME_TOLERANCE)",
        ("tests/test_fixations_idt.py",),
        "I-DT: windows one sample longer than min_duration",
    ),
    # -- placement of presented media ----------------------------------------------------
    Mutation(
        "prolab-y-offset-from-x",
        f"{PKG}/gaze/formats/tobii_prolab.py",
        "(dacs[axis] - self.position[axis])",
        "(dacs[axis] - self.position[0])",
        ("tests/test_formats_tobii.py",),
        "Tobii Pro Lab: the media's x position subtracted on both axes",
    ),
    Mutation(
        "gazemedseg-width-for-height",
        f"{PKG}/gaze/formats/gazemedseg.py",
        "coords = np.column_stack([y * height - 0.5, x * width - 0.5])",
        "coords = np.column_stack([y * width - 0.5, x * width - 0.5])",
        ("tests/test_formats_gazemedseg.py",),
        "GazeMedSeg: IMAGE_WIDTH scales both axes",
    ),
    # -- screens away from the desktop's origin ------------------------------------------
    Mutation(
        "mapping-inverse-screen-origin",
        f"{PKG}/tracking/mapping.py",
        "return (canvas_xy + self.canvas_origin - self.screen_origin) / self.screen_size",
        "return (canvas_xy + self.canvas_origin) / self.screen_size",
        ("tests/test_tracking_mapping.py",),
        "image -> screen (replay) ignores the screen's origin",
    ),
    Mutation(
        "cursor-screen-origin",
        f"{PKG}/tracking/mouse.py",
        "display = (np.asarray(points, dtype=float) - self._origin) / self._size",
        "display = np.asarray(points, dtype=float) / self._size",
        ("tests/test_tracking_mapping.py",),
        "cursor source ignores its monitor's origin",
    ),
    # -- the painting policy ---------------------------------------------------------------
    Mutation(
        "paint-stale-pixels",
        (f"{PKG}/segmentation.py", f"{PKG}/models/mask_labels.py"),
        "labels[(labels == label_id) & ~mask] = 0",
        "labels[(labels == label_id) & ~mask] = label_id",
        ("tests/test_paint_mask.py",),
        "paint_mask leaves the object's old pixels outside the new mask",
    ),
    Mutation(
        "paint-overwrite-always",
        (f"{PKG}/segmentation.py", f"{PKG}/models/mask_labels.py"),
        "writable = mask if overwrite else mask & ((labels == 0) | (labels == label_id))",
        "writable = mask",
        ("tests/test_paint_mask.py",),
        "paint_mask overwrites other objects without being asked",
    ),
)

_IGNORE = shutil.ignore_patterns(
    ".git", ".venv*", "__pycache__", "*.egg-info", ".pytest_cache", ".hypothesis", "demo-output"
)


def _copy_tree(destination: Path, source: str) -> None:
    if source == "worktree":
        shutil.copytree(ROOT, destination, ignore=_IGNORE, symlinks=True)
        return
    destination.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", source], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive.stdout, check=True)


def _target(copy: Path, m: Mutation) -> tuple[Path | None, int]:
    """The file of ``m`` holding its text, and how often the text occurs there."""
    for name in (m.file,) if isinstance(m.file, str) else m.file:
        path = copy / name
        count = path.read_text(encoding="utf-8").count(m.old) if path.exists() else 0
        if count:
            return path, count
    return None, 0


def _environment(copy: Path) -> dict:
    env = dict(os.environ)
    paths = [str(copy / "src"), str(copy / "tests")]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.setdefault("QT_QPA_PLATFORM", "xcb")
    return env


def _pytest_command(python: str, tests, deselect=()) -> list[str]:
    command = [python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:randomly", *tests]
    command += [f"--deselect={node}" for node in deselect]
    if not os.environ.get("DISPLAY") and shutil.which("xvfb-run"):
        command = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", *command]
    return command


def _run_tests(python: str, copy: Path, tests, timeout: float, deselect=()) -> tuple[int, str, float]:
    start = time.perf_counter()
    try:
        done = subprocess.run(
            _pytest_command(python, tests, deselect),
            cwd=copy,
            env=_environment(copy),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as err:
        code, output = 124, f"timed out after {timeout:.0f} s\n{err.stdout or ''}"
    return code, output, time.perf_counter() - start


def _first_failure(output: str) -> str:
    match = re.search(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", output, re.MULTILINE)
    return match.group(1) if match else "(no test named: see the output)"


def _check_imports_copy(python: str, copy: Path) -> None:
    done = subprocess.run(
        [python, "-c", "import napari_gazeseg, sys; sys.stdout.write(napari_gazeseg.__file__)"],
        cwd=copy,
        env=_environment(copy),
        capture_output=True,
        text=True,
        check=True,
    )
    if not Path(done.stdout).resolve().is_relative_to(copy.resolve()):
        sys.exit(f"mutate: the tests would import {done.stdout}, not the copy in {copy}; stopping.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", metavar="NAME", help="run this mutation (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    parser.add_argument("--python", default=sys.executable, help="interpreter with the test deps")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per test run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    parser.add_argument(
        "--deselect", action="append", default=[], metavar="NODEID",
        help="leave out a test already failing for another reason (repeatable; said in the report)",
    )
    parser.add_argument(
        "--source",
        default="worktree",
        help="'worktree' (default: the files as they are, committed or not) or a commit such as HEAD",
    )
    args = parser.parse_args(argv)

    if args.list:
        for m in MUTATIONS:
            print(f"{m.name:32s} {m.note}")
        return 0
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    unknown = set(args.only or ()) - {m.name for m in MUTATIONS}
    if unknown:
        parser.error(f"unknown mutation(s): {', '.join(sorted(unknown))}; see --list")

    work = Path(tempfile.mkdtemp(prefix="gazeseg-mutate-"))
    copy = work / "repo"
    try:
        _copy_tree(copy, args.source)
        _check_imports_copy(args.python, copy)
        for m in chosen:  # every mutation must still apply, before anything runs
            path, count = _target(copy, m)
            if count != 1:
                print(f"mutate: {m.name}: the text to replace occurs {count} times in {m.file}; update it.")
                return 2
        if not args.no_baseline:
            tests = sorted({t for m in chosen for t in m.tests})
            code, output, seconds = _run_tests(args.python, copy, tests, args.timeout, args.deselect)
            print(f"baseline (unmutated) {' '.join(tests)}: {'pass' if code == 0 else 'FAIL'} ({seconds:.0f} s)")
            if code != 0:
                print(output[-3000:])
                return 2
        survived = 0
        for node in args.deselect:
            print(f"left out (--deselect): {node}")
        print(f"{'mutation':32s} {'verdict':9s} {'seconds':>7s}  first failing test")
        for m in chosen:
            path, _ = _target(copy, m)
            original = path.read_text(encoding="utf-8")
            path.write_text(original.replace(m.old, m.new), encoding="utf-8")
            try:
                code, output, seconds = _run_tests(args.python, copy, m.tests, args.timeout, args.deselect)
            finally:
                path.write_text(original, encoding="utf-8")
            if code == 0:
                survived += 1
                verdict, detail = "SURVIVED", f"{' '.join(m.tests)} pass: {m.note}"
            else:
                verdict = "caught" if code == 1 else f"caught*{code}"  # * : errored, not failed
                detail = _first_failure(output)
            print(f"{m.name:32s} {verdict:9s} {seconds:7.0f}  {detail}", flush=True)
        print(f"{len(chosen) - survived} of {len(chosen)} mutations caught")
        return 1 if survived else 0
    finally:
        if args.keep:
            print(f"copy kept in {copy}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
