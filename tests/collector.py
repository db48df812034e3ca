"""A ``GazeSource`` sink for the tracking tests: it keeps every batch, message and the
thread each batch came on, and waits (bounded) for samples or a message."""

from __future__ import annotations

import threading
import time

from napari_gazeseg.tracking.source import SampleBatch


class Collector:
    @classmethod
    def of(cls, source) -> Collector:
        """A new Collector that ``source`` has been started into."""
        sink = cls()
        source.start(sink.on_batch, sink.on_message)
        return sink

    def __init__(self):
        self.batches, self.messages, self.threads = [], [], []
        self.lock = threading.Lock()

    def on_batch(self, batch):
        with self.lock:
            self.batches.append(batch)
            self.threads.append(threading.get_ident())

    def on_message(self, text):
        self.messages.append(text)

    def count(self):
        with self.lock:
            return sum(len(b) for b in self.batches)

    def wait_for(self, n, timeout=10.0):
        """Wait until ``n`` samples came (at most ``timeout`` s); the count."""
        deadline = time.monotonic() + timeout
        while self.count() < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.count()

    def wait_message(self, text, timeout=10.0):
        """Wait until a message holds ``text`` (at most ``timeout`` s); whether one did."""
        deadline = time.monotonic() + timeout
        while not any(text in m for m in self.messages) and time.monotonic() < deadline:
            time.sleep(0.01)
        return any(text in m for m in self.messages)

    def batch(self):
        """Every sample received, as one batch."""
        with self.lock:
            return SampleBatch.concatenate(list(self.batches))


def stream_then_blink(source, device, n: int = 300) -> Collector:
    """Stream ``source`` into a new Collector while the stand-in ``device`` looks at display
    point (0.25, 0.75); after ``n`` samples its eyes close for 50 ms, then the source stops."""
    device.look_at(0.25, 0.75)
    sink = Collector.of(source)
    sink.wait_for(n)
    device.close_eyes()
    time.sleep(0.05)
    source.stop()
    return sink
