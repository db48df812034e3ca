"""A combo box listing the viewer's layers that pass a test, kept in sync with the viewer."""

from __future__ import annotations

from typing import Callable

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QComboBox, QWidget


class LayerComboBox(QComboBox):
    """The viewer's layers that ``accepts(layer)``, top layer first.

    Follows layers being added, removed, reordered and renamed, keeps the chosen
    layer selected while it exists, and emits :attr:`layer_changed` with the
    chosen layer (or None) whenever that choice changes.
    """

    layer_changed = Signal(object)

    def __init__(self, viewer, accepts: Callable[[object], bool], placeholder: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._viewer = viewer
        self._accepts = accepts
        self._placeholder = placeholder
        self._layers: list = []
        self._current = None
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(12)
        self.currentIndexChanged.connect(self._on_index_changed)
        events = viewer.layers.events
        for event in (events.inserted, events.removed, events.reordered):
            event.connect(self.reset_choices)
        self.reset_choices()

    def current_layer(self):
        """The chosen layer, or None when no layer qualifies."""
        return self._current

    def set_current_layer(self, layer) -> None:
        """Choose ``layer`` (it must be listed)."""
        self.setCurrentIndex(self._layers.index(layer))

    def reset_choices(self, event=None) -> None:
        """Re-read the viewer's layers; keep the current choice when it is still there."""
        for layer in self._viewer.layers:
            layer.events.name.connect(self.reset_choices)  # napari ignores repeat connections
        layers = [layer for layer in reversed(self._viewer.layers) if self._accepts(layer)]
        keep = self._current if self._current in layers else (layers[0] if layers else None)
        self.blockSignals(True)
        self.clear()
        self._layers = layers
        if layers:
            self.addItems([layer.name for layer in layers])
            self.setCurrentIndex(layers.index(keep))
        else:
            self.addItem(self._placeholder)
        self.setEnabled(bool(layers))
        self.blockSignals(False)
        self._set_current(keep)

    def _on_index_changed(self, index: int) -> None:
        self._set_current(self._layers[index] if 0 <= index < len(self._layers) else None)

    def _set_current(self, layer) -> None:
        if layer is not self._current:
            self._current = layer
            self.layer_changed.emit(layer)
