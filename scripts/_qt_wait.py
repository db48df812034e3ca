"""Waiting in the docs' screenshot scripts (run as ``python scripts/NAME.py``, so this folder
is on ``sys.path``): run Qt's event loop until a widget's work is done."""

from __future__ import annotations

from qtpy.QtWidgets import QApplication


def run_until(signal, start) -> None:
    """Call ``start()``, then process Qt events until ``signal`` is emitted."""
    done = []
    signal.connect(lambda *args: done.append(True))
    start()
    app = QApplication.instance()
    while not done:
        app.processEvents()
