"""Fault injection while recording: what the plugin promises about a user's data.

* ``kill -9`` of a recording process at random moments (1200 Hz fake Tobii): at
  most 250 ms of samples lost, never a torn or spliced file;
* disk full, a read-only folder, permission lost, the folder removed: the user
  is told in one sentence naming the file, and the file reads back.

Real faults where this machine allows them (a tiny tmpfs for a full disk and a
read-only mount need root; a read-only folder needs a non-root user), and the
same faults injected at the writer's own file descriptor everywhere.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from fakes import tobii_research as fake_tr
from napari_gazeseg.gaze.formats import read_gaze
from napari_gazeseg.tracking.mapping import ViewTransform
from napari_gazeseg.tracking.recorder import GazeRecorder
from napari_gazeseg.tracking.tobii import TobiiSource

TESTS = Path(__file__).parent
RATE_HZ = 1200.0
STEP_US = 1e6 / RATE_HZ


def view() -> ViewTransform:
    """A 1000 x 500 px screen showing a 100 x 200 image at 5 px per pixel."""
    return ViewTransform(
        screen_origin=np.zeros(2), screen_size=np.array([1000.0, 500.0]),
        canvas_origin=np.zeros(2), canvas_size=np.array([1000.0, 500.0]),
        center=np.array([49.5, 99.5]), zoom=5.0, flip=np.ones(2), world_point=np.zeros(2),
        displayed=np.array([0, 1]), world_to_data=np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
        data_shape=np.array([100.0, 200.0]),
    )


def read_whole(path: Path):
    """The recording at ``path``, which must read back without a torn line."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a torn last line would warn
        return read_gaze(path)


def assert_consecutive(recording) -> None:
    """Every sample once, in order: consecutive samples exactly one period apart."""
    steps_us = np.round(np.diff(recording.t) * 1e6)
    assert np.all(np.abs(steps_us - STEP_US) <= 1.0), "a gap, a repeat or a splice in the file"


# -- kill -9 at random moments -----------------------------------------------------------
# One process imports everything once, then forks a fresh recording process per
# trial (no threads exist at the fork); the test kills each with SIGKILL.
FORK_SERVER = textwrap.dedent(
    """
    import os, signal, sys, time
    sys.path.insert(0, {tests!r})
    from fakes import tobii_research as fake_tr
    from napari_gazeseg.tracking.recorder import GazeRecorder
    from napari_gazeseg.tracking.tobii import TobiiSource
    from test_recording_faults import view

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps killed children
    for line in sys.stdin:
        if os.fork() == 0:
            tracker = fake_tr.EyeTracker(frequency={rate})
            source = TobiiSource(tracker=tracker, sdk_module=fake_tr)
            recorder = GazeRecorder(source, line.strip(), view(), meta={{"trial": line.strip()}})
            recorder.start()
            while not tracker.samples_sent:  # the tracker's first sample: from now on data flow
                time.sleep(0.001)
            started = time.monotonic() - (source.now_us() - recorder.start_us) / 1e6
            print(os.getpid(), repr(started), flush=True)
            time.sleep(600)
            os._exit(0)
    """
)


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.005)
    raise AssertionError(f"process {pid} still runs after SIGKILL")


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_at_most_250_ms_and_never_tears_the_file(tmp_path):
    trials = 20
    rng = np.random.default_rng(2026)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS.parent / "src"), str(TESTS)]),
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    server = subprocess.Popen(
        [sys.executable, "-c", FORK_SERVER.format(tests=str(TESTS), rate=RATE_HZ)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )
    lost_s = []
    try:
        for trial in range(trials):
            path = tmp_path / f"trial{trial:02d}.gaze.tsv"
            server.stdin.write(f"{path}\n")
            server.stdin.flush()
            pid, started = server.stdout.readline().split()
            pid, started = int(pid), float(started)
            time.sleep(rng.uniform(0.0, 0.8))  # a random moment, from right after the start on
            killed_at = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid)
            recording = read_whole(path)
            assert recording.meta["trial"] == str(path)  # its own file, whole sidecar
            assert len(recording) > 0
            lost_s.append(killed_at - started - (recording.t[-1] + 1 / RATE_HZ))
            assert_consecutive(recording)
    finally:
        server.stdin.close()
        server.kill()
        server.wait()
    print(f"kill -9 x {trials} at {RATE_HZ:g} Hz: lost {1000 * np.median(lost_s):.0f} ms median, "
          f"{1000 * np.max(lost_s):.0f} ms at most")
    assert max(lost_s) <= 0.250, f"lost up to {max(lost_s):.3f} s of samples"


# -- faults while recording ------------------------------------------------------------------
def _start(path: Path, fallback_dir: Path | None = None):
    tracker = fake_tr.EyeTracker(frequency=RATE_HZ)
    recorder = GazeRecorder(TobiiSource(tracker=tracker, sdk_module=fake_tr), path, view(), fallback_dir=fallback_dir)
    messages, finished = [], []
    recorder.message.connect(messages.append)
    recorder.finished.connect(lambda: finished.append(True))
    recorder.start()
    return recorder, tracker, messages, finished


def _fail_writes_with(code: int, recorder, monkeypatch) -> None:
    """From now on the recording's own file descriptor fails with ``code`` (others work)."""
    real_write, real_fsync = os.write, os.fsync
    fd = recorder._writer._fd

    def write(target, data):
        if target == fd:
            raise OSError(code, os.strerror(code))
        return real_write(target, data)

    def fsync(target):
        if target == fd:
            raise OSError(code, os.strerror(code))
        return real_fsync(target)

    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.parametrize(
    ("code", "told"),
    [
        (errno.ENOSPC, "the disk is full"),
        (errno.EROFS, "the folder is read-only"),
        (errno.EACCES, "permission denied"),
        (errno.EIO, "input/output error"),
    ],
    ids=["disk-full", "read-only", "permission", "io-error"],
)
def test_a_write_fault_stops_the_recording_tells_the_user_and_keeps_the_file(code, told, tmp_path, qtbot, monkeypatch):
    path = tmp_path / "faulty.gaze.tsv"
    recorder, tracker, messages, finished = _start(path)
    qtbot.wait(300)
    _fail_writes_with(code, recorder, monkeypatch)
    qtbot.waitUntil(lambda: bool(finished), timeout=5000)
    monkeypatch.undo()
    assert not recorder.recording and len(messages) == 1
    message = messages[0]
    assert str(path) in message and told in message and "record again" in message
    assert ".part" not in message and "Errno" not in message
    recording = read_whole(path)
    assert len(recording) >= 0.2 * RATE_HZ  # what was written before the fault
    assert_consecutive(recording)


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a tmpfs (root only): ``mount(options)`` returns its folder."""
    mounted = []

    def mount(options: str) -> Path:
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("mounting a tmpfs needs root")
        folder = tmp_path / f"tmpfs{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"this machine does not let the test mount a tmpfs ({done.stderr.decode().strip()})")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_really_full_disk_stops_the_recording_and_the_file_reads_back(tmpfs, qtbot):
    folder = tmpfs("size=96k,mode=0777")
    path = folder / "full.gaze.tsv"
    recorder, tracker, messages, finished = _start(path)
    qtbot.waitUntil(lambda: bool(finished), timeout=15000)  # 96 KB last about a second
    assert len(messages) == 1 and str(path) in messages[0] and "the disk is full" in messages[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the disk may end mid-line: that line is left out
        recording = read_gaze(path)
    assert len(recording) > 0.5 * RATE_HZ
    assert_consecutive(recording)
    assert recording.meta["sampling_rate_hz"] == RATE_HZ


@pytest.fixture
def read_only_folder(tmp_path, tmpfs):
    """A folder nobody may write to: a read-only tmpfs (root) or mode 0555 (other users)."""
    if os.geteuid() == 0:
        folder = tmpfs("size=64k,ro")
    else:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
    yield folder
    if os.geteuid() != 0:
        folder.chmod(0o755)


def test_a_read_only_folder_is_refused_in_one_sentence_naming_the_file(read_only_folder):
    path = read_only_folder / "mine.gaze.tsv"
    tracker = fake_tr.EyeTracker(frequency=RATE_HZ)
    recorder = GazeRecorder(TobiiSource(tracker=tracker, sdk_module=fake_tr), path, view())
    with pytest.raises(OSError) as refused:
        recorder.start()
    message = str(refused.value)
    assert str(path) in message and ".part" not in message and "Errno" not in message
    assert "read-only" in message or "permission denied" in message
    assert not recorder.recording and tracker.samples_sent == 0 and not path.exists()


def test_the_folder_removed_mid_recording_is_told_and_the_recording_goes_on(tmp_path, qtbot):
    folder = tmp_path / "removable"
    path = folder / "scan.gaze.tsv"
    recorder, tracker, messages, finished = _start(path, fallback_dir=tmp_path / "kept")
    qtbot.wait(300)
    shutil.rmtree(folder)
    qtbot.waitUntil(lambda: bool(messages), timeout=3000)
    assert str(path) in messages[0] and str(recorder.path) in messages[0] and recorder.recording
    qtbot.wait(300)
    recorder.stop()
    assert not finished or finished == [True]
    recording = read_whole(recorder.path)
    assert len(recording) == tracker.samples_sent  # nothing lost, from the first sample on
    assert_consecutive(recording)
    assert not folder.exists()
