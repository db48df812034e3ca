"""Recording from an LSL outlet at 1200 Hz: samples lost, recorder CPU and UI lateness.

Run under a display (``xvfb-run -a .venv/bin/python benchmarks/bench_lsl.py``;
``--seconds 60`` is the reference run, shorter for a quick look). A real
napari viewer shows a 512 x 512 image. The outlet runs in a separate process
(as a tracker's LSL app does), pushing 1200 Hz gaze that wanders over four
places of the image (300 ms each) in real time, one time stamp per sample, only
while a condition is measured. For each condition, for ``--seconds``:

* ``idle``: the viewer alone;
* ``LSL inlet``: the LSL source pulling into a no-op callback (the inlet's own
  cost: liblsl, chunk conversion, channel mapping);
* ``LSL recorder``: LSL source -> recorder -> writer thread (native file, fsync
  every 0.2 s) -> UI drain at 40 Hz with a view snapshot per tick, signals and
  live fixations; no layers;
* ``LSL record``: the same plus the live gaze tail, fixations and heatmap layers;
* ``Tobii stand-in recorder``: the recorder over the stand-in Tobii SDK at
  1200 Hz (``tests/fakes``), the figure ``bench_recording.py`` reports, for a
  ratio in the same run.

Measured: CPU % of this process (process time / wall time; 100 % = one core;
the outlet's process is not counted), the lateness of a 10 ms UI timer
(median, 95th percentile, max, ms), and for every recording condition the
samples pushed and written: lost = pushed - written (every sample pushed
while the recorder ran must be in the file).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_recording import bench_recorder, bench_viewer, hide, measure  # noqa: E402

RATE = 1200.0

OUTLET = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import pylsl
    pylsl.set_config_content("[multicast]\\nResolveScope = machine\\n[ports]\\nIPv6 = disable\\n")
    name, rate = sys.argv[1], float(sys.argv[2])
    places = np.array([float(v) for v in sys.argv[3].split(",")]).reshape(-1, 2)
    info = pylsl.StreamInfo(name, "Gaze", 2, rate, "float32", name + "-sid")
    channels = info.desc().append_child("channels")
    for label in ("x", "y"):
        c = channels.append_child("channel")
        c.append_child_value("label", label)
        c.append_child_value("unit", "normalized")
    outlet = pylsl.StreamOutlet(info)
    rng = np.random.default_rng(0)
    print("ready", flush=True)
    for line in sys.stdin:  # "push SECONDS": push in real time, then say how many
        seconds = float(line.split()[1])
        n = int(round(seconds * rate))
        first = pylsl.local_clock()
        stamps = first + np.arange(n) / rate
        which = (np.arange(n) / rate / 0.3).astype(int) % len(places)
        values = (places[which] + rng.normal(0, 0.001, (n, 2))).astype(np.float32)
        sent = 0
        while sent < n:
            due = min(n, int((pylsl.local_clock() - first) * rate) + 1)
            if due > sent:
                outlet.push_chunk(values[sent:due], stamps[sent:due].tolist())
                sent = due
            time.sleep(0.002)
        print(f"pushed {sent}", flush=True)
    """
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each condition (default 60)")
    args = parser.parse_args()

    import pylsl

    pylsl.set_config_content("[multicast]\nResolveScope = machine\n[ports]\nIPv6 = disable\n")
    from fakes import tobii_research as fake_tr
    from napari_gazeseg.tracking.lsl import LslSource
    from napari_gazeseg.tracking.tobii import TobiiSource

    viewer, image, app, places, meta = bench_viewer()

    name = f"bench-{uuid.uuid4().hex[:8]}"
    outlet = subprocess.Popen(
        [sys.executable, "-c", OUTLET, name, str(RATE), ",".join(f"{v:.6f}" for v in places.ravel())],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert outlet.stdout.readline().strip() == "ready"

    def pushing(condition):
        """Measure ``condition`` while the outlet pushes for the whole of it; returns (result, pushed)."""
        outlet.stdin.write(f"push {args.seconds}\n")
        outlet.stdin.flush()
        result = measure(app, args.seconds)
        pushed = int(outlet.stdout.readline().split()[1])  # waits for the last sample to be out
        measure(app, 0.3)  # the last chunks reach the inlet and the writer
        return result, pushed

    results = {"idle": measure(app, args.seconds)}

    received = []
    source = LslSource(name, timeout_s=5.0)
    source.start(lambda batch: received.append(len(batch)), lambda text: None)
    results["LSL inlet"], pushed = pushing("LSL inlet")
    source.stop()
    results["LSL inlet"]["lost"] = pushed - sum(received)

    for condition, live_layers in (("LSL recorder", False), ("LSL record", True)):
        with tempfile.TemporaryDirectory() as folder:
            source = LslSource(name, timeout_s=5.0)
            recorder, live = bench_recorder(source, folder, viewer, image, meta, live_layers)
            print(f"{condition} ...", file=sys.stderr, flush=True)
            recorder.start()
            recorder.start_object()
            results[condition], pushed = pushing(condition)
            recorder.stop()
            results[condition]["lost"] = pushed - recorder.samples_written
            results[condition]["pushed"] = pushed
            if live is not None:
                hide(live)
    outlet.stdin.close()
    outlet.wait(timeout=30)

    tracker = fake_tr.EyeTracker(frequency=RATE, noise_sd=0.001)
    with tempfile.TemporaryDirectory() as folder:
        source = TobiiSource(tracker=tracker, sdk_module=fake_tr)
        recorder, _ = bench_recorder(source, folder, viewer, image, meta, live_layers=False)
        sent_before = tracker.samples_sent
        recorder.start()
        recorder.start_object()
        results["Tobii stand-in recorder"] = measure(app, args.seconds)
        recorder.stop()
        results["Tobii stand-in recorder"]["lost"] = tracker.samples_sent - sent_before - recorder.samples_written

    print(f"{'condition (1200 Hz)':<26}{'CPU %':>7}{'late median ms':>16}{'p95 ms':>9}{'max ms':>9}{'lost':>7}")
    for condition, r in results.items():
        lost = "" if "lost" not in r else str(r["lost"])
        print(f"{condition:<26}{r['cpu']:>7.1f}{r['median']:>16.2f}{r['p95']:>9.2f}{r['max']:>9.2f}{lost:>7}")
    idle, inlet = results["idle"], results["LSL inlet"]
    alone, record, tobii = results["LSL recorder"], results["LSL record"], results["Tobii stand-in recorder"]
    print(
        f"LSL at {RATE:.0f} Hz for {args.seconds:g} s: {results['LSL recorder']['pushed']} and "
        f"{results['LSL record']['pushed']} samples pushed, {alone['lost']} and {record['lost']} lost; "
        f"recorder CPU above the inlet {alone['cpu'] - inlet['cpu']:.1f} % of a core "
        f"(with live layers {record['cpu'] - inlet['cpu']:.1f} %); inlet itself {inlet['cpu'] - idle['cpu']:.1f} %; "
        f"UI lateness p95 / idle: recorder {alone['p95'] / max(idle['p95'], 1e-3):.2f}x, "
        f"with live layers {record['p95'] / max(idle['p95'], 1e-3):.2f}x; "
        f"LSL recorder CPU / Tobii stand-in recorder CPU {alone['cpu'] / max(tobii['cpu'], 1e-3):.2f}x"
    )
    viewer.close()


if __name__ == "__main__":
    main()
