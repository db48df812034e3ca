"""npe2 reader: any gaze file napari-gazeseg reads, opened as gaze layers.

npe2 semantics, as napari applies them:

* :func:`get_reader` looks only at the file's name, sidecar and header line
  (the first 64 KiB: :func:`~napari_gazeseg.gaze.formats.detect_format`). It
  returns None for files that are no gaze file (a ``.tsv``, ``.txt`` or
  ``.csv`` table of something else; a ``.json`` that is not a native sidecar),
  so napari tries its other readers. ``NAME.gaze.tsv`` files, files with a
  native sidecar and the sidecar ``NAME.gaze.json`` itself (which opens its
  recording) are always taken;
* the function it returns reads the whole file and builds every layer. In
  napari's running window (a drop, File > Open) it does so off the UI thread,
  returns napari's "no layers to add" sentinel ``[(None,)]`` at once and adds
  the layers itself, one per turn of the event loop
  (:func:`open_in_background`): a long recording no longer freezes the window.
  Outside a running event loop (scripts, tests) it returns the layers. It
  raises nothing but the formats' :class:`~napari_gazeseg.gaze.formats.GazeFormatError`,
  one sentence naming the file (or its sidecar), the line and what to do: for a
  broken file, and for one whose contents cannot be shown (an image size in the
  meta that is no size, a screen geometry fixations cannot use). napari wraps
  reader errors in its own "Tried to read ... with plugin ..." message, so the
  sentence is first shown as an error notification of its own, then raised.

Layers per recording (per stimulus for files holding several): the heatmap
(hidden; only when the recording names its image size; at a bounded
resolution, see :func:`~napari_gazeseg._napari.layers.heatmap_grid`), the gaze
samples, the scanpath and the fixations (Tobii I-VT with its defaults;
fixation-only files give their own fixations; a recording too short to have a
sampling rate gets no fixations).

A recording of a file holding several that cannot be shown is left out, its
sentence shown as a warning, and the others open.

Files holding many recordings (a GazeMedSeg CSV of 1000 images): at most
:data:`READER_MAX_RECORDINGS` are opened. In napari's window a dialog lists them
all, the first ones chosen; without one, the first ones open and a warning
names how many were left out and how to open them (:func:`gaze_file_layers`
with ``stimuli=``, or the Gaze layers widget).
"""

from __future__ import annotations

import math
import os
import re
from typing import Callable, Mapping, Sequence

from ..gaze.recording import Fixations, GazeRecording
from .layers import LayerDataTuple, create_layers, gaze_layers

__all__ = [
    "READER_MAX_RECORDINGS",
    "get_reader",
    "gaze_file_contents",
    "gaze_file_layers",
    "open_in_background",
    "gaze_file_names",
    "pick_recordings",
    "read_gaze_layers",
]

#: Most recordings (stimuli, images) one drop opens; the rest are offered in a dialog.
READER_MAX_RECORDINGS = 12

_SIDECAR_SNIFF_BYTES = 4096
_OURS = re.compile(rb'"format"\s*:\s*"napari-gazeseg gaze"')


def _paths(path: str | Sequence[str]) -> list[str]:
    return [os.fspath(path)] if isinstance(path, (str, os.PathLike)) else [os.fspath(p) for p in path]


def _is_native_sidecar(path: str) -> bool:
    """Whether the JSON at ``path`` says it is a native sidecar (its first 4 KiB)."""
    try:
        with open(path, "rb") as file:
            return bool(_OURS.search(file.read(_SIDECAR_SNIFF_BYTES)))
    except OSError:
        return False


def _is_gaze_file(path: str) -> bool:
    """True for native files (by name, sidecar or the sidecar itself) and files whose header a format knows."""
    from ..gaze.formats import GazeFormatError, detect_format
    from ..gaze.formats.native import sidecar_path

    if not os.path.isfile(path):
        return False
    lower = path.lower()
    if lower.endswith(".gaze.tsv"):
        return True  # ours even when broken: reading it says what is wrong
    if lower.endswith(".json"):
        samples = path[: -len(".json")] + ".tsv"
        return os.path.isfile(samples) and _is_native_sidecar(path)
    if _is_native_sidecar(os.fspath(sidecar_path(path))):
        return True
    try:
        detect_format(path)
    except (GazeFormatError, OSError):
        return False
    return True


def get_reader(path: str | Sequence[str]) -> Callable[..., list[LayerDataTuple]] | None:
    """The reader for ``path`` when every file is a gaze file, else None."""
    paths = _paths(path)
    if not paths or not all(_is_gaze_file(p) for p in paths):
        return None
    return read_gaze_layers


# -- checking what a file holds before building layers --------------------------------
def _where(path: str, item) -> str:
    """The file a recording's meta came from: the native sidecar, else the file."""
    from ..gaze.formats.native import sidecar_path

    sidecar = sidecar_path(path) if not path.lower().endswith(".json") else path
    if isinstance(item.meta, Mapping) and os.path.isfile(sidecar) and _is_native_sidecar(os.fspath(sidecar)):
        return os.fspath(sidecar)
    return path


def _whole(value) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value == int(value)
        and value >= 1
    )


def _check_meta(path: str, name: str, item: GazeRecording | Fixations) -> None:
    """Raise our sentence for meta the layers cannot use: an image size that is no size, a bad rate."""
    from ..gaze.formats._errors import format_error

    meta = item.meta
    image = meta.get("image")
    where = _where(path, item)
    if image is not None and not isinstance(image, Mapping):
        raise format_error(
            where, f"the meta 'image' of {name!r} is {type(image).__name__}, not an object", "fix or remove it"
        )
    shape = image.get("shape") if isinstance(image, Mapping) else None
    if shape is not None and not (
        isinstance(shape, (list, tuple)) and (len(shape) == 0 or len(shape) >= item.ndim)
        and all(_whole(s) for s in shape)
    ):
        shown = repr(shape) if len(repr(shape)) <= 40 else repr(shape)[:37] + "..."
        raise format_error(
            where,
            f"the image size {shown} of {name!r} is not a list of {item.ndim} or more positive whole numbers",
            "fix meta 'image' 'shape' (rows, columns) or remove it",
        )
    rate = meta.get("sampling_rate_hz")
    if rate and not (isinstance(rate, (int, float)) and not isinstance(rate, bool) and 0 < rate < math.inf):
        raise format_error(
            where,
            f"the sampling rate {rate!r} of {name!r} is not a positive number of hertz",
            "fix meta 'sampling_rate_hz' or remove it",
        )


#: Farthest a gaze position may lie from the image (pixels): float64 still places it to
#: a pixel there; napari cannot draw paths much farther out (1e100 overflows its thumbnails).
FARTHEST_DRAWABLE_PX = 2.0**52


def _check_coordinates(path: str, name: str, item: GazeRecording | Fixations) -> None:
    """Raise our sentence for positions too far out to be gaze on any image."""
    import numpy as np

    from ..gaze.formats._errors import format_error

    coords = item.coords  # NaN where a sample is invalid: nanmin/nanmax copy nothing
    if coords.size == 0 or np.isnan(coords).all():
        return
    farthest = max(abs(float(np.nanmin(coords))), abs(float(np.nanmax(coords))))
    if farthest > FARTHEST_DRAWABLE_PX:
        what = "a fixation" if isinstance(item, Fixations) else "a gaze sample"
        raise format_error(
            path,
            f"{what} of {name!r} lies {farthest:.3g} pixels out, beyond any image napari can draw",
            "check whether the file's coordinates are pixels or normalised, and export it again",
        )


def _fixations_of(path: str, name: str, recording: GazeRecording, detector=None) -> Fixations:
    """The fixations ``detector`` finds (default: Tobii I-VT with its defaults); none
    for a recording too short to have a sampling rate."""
    import numpy as np

    from ..gaze.fixations import FixationDetector
    from ..gaze.formats._errors import format_error

    try:
        recording.sampling_rate_hz
    except ValueError:  # one sample, or all at one time, and no rate in the meta
        return Fixations(start=[], duration=[], coords=np.empty((0, recording.ndim)), meta=recording.meta)
    try:
        return (detector or FixationDetector()).detect(recording)
    except ValueError as err:  # the meta's screen geometry, validated by the detector
        raise format_error(
            _where(path, recording),
            f"the fixations of {name!r} cannot be detected ({str(err).rstrip('.').replace('; ', ', ')})",
            "fix the recording's meta",
        ) from None


def gaze_file_contents(path: str) -> dict:
    """Every recording (or fixation report) of a gaze file by name
    (:func:`~napari_gazeseg.gaze.formats.read_gaze_all`); a file holding none is
    refused with its :class:`GazeFormatError` sentence."""
    from ..gaze.formats import read_gaze_all
    from ..gaze.formats._errors import format_error

    contents = read_gaze_all(path)
    if not contents:
        raise format_error(path, "the file holds no gaze for any stimulus", "export the recording with its gaze data")
    return contents


def gaze_file_names(path: str) -> list[str]:
    """The names (stimuli, images) of the recordings in a gaze file, in file order."""
    from ..gaze.formats import read_gaze_all

    return list(read_gaze_all(path))


def gaze_file_layers(
    path: str,
    *,
    image_shape: Sequence[int] | None = None,
    scale: Sequence[float] | None = None,
    translate: Sequence[float] | None = None,
    affine=None,
    stimuli: Sequence[str] | None = None,
    contents: Mapping[str, GazeRecording | Fixations] | None = None,
    own_fixations: bool = False,
    detector=None,
) -> list[LayerDataTuple]:
    """The layers of every recording (or fixation report) in one gaze file.

    ``image_shape`` (default: each recording's ``meta["image"]["shape"]``) sizes
    the heatmap and the points; ``scale``, ``translate`` and ``affine`` place the
    layers over an image layer (``placement_of(image)``). Layer names start with the stimulus name.
    ``stimuli`` picks the recordings to open by name (default: all);
    ``contents`` passes what :func:`~napari_gazeseg.gaze.formats.read_gaze_all`
    already read from ``path``. ``own_fixations``: for a Tobii Pro Lab export,
    also one Points layer ``NAME Pro Lab fixations`` per recording, the fixations
    Pro Lab classified itself (its own group, apart from our detected ones).
    ``detector``: the :class:`~napari_gazeseg.gaze.fixations.FixationDetector` that
    finds the recordings' fixations (default: Tobii I-VT with its defaults).
    Raises only :class:`GazeFormatError`.
    """
    from ..gaze.formats import read_gaze_all
    from ..gaze.formats._errors import format_error

    path = os.fspath(path)
    if contents is None:
        contents = read_gaze_all(path)
    if stimuli is not None:
        unknown = [name for name in stimuli if name not in contents]
        if unknown:
            raise format_error(
                path, f"there is no recording named {unknown[0]!r}", "pick one of the file's names"
            )
        contents = {name: contents[name] for name in stimuli}
    theirs = _pro_lab_fixations(path) if own_fixations else {}
    layers: list[LayerDataTuple] = []
    for name, item in contents.items():
        _check_meta(path, name, item)
        _check_coordinates(path, name, item)
        if isinstance(item, Fixations):
            recording, fixations = None, item
        else:
            recording, fixations = item, _fixations_of(path, name, item, detector)
        layers.extend(
            gaze_layers(
                recording,
                fixations,
                image_shape=image_shape,
                name=name,
                scale=scale,
                translate=translate,
                affine=affine,
            )
        )
        if recording is not None and len(theirs.get(name, ())):
            _check_coordinates(path, name, theirs[name])
            layers.append(_pro_lab_layer(theirs[name], name, image_shape, scale, translate, affine))
    return layers


def _pro_lab_fixations(path: str) -> Mapping[str, Fixations]:
    """Pro Lab's own fixations by stimulus; {} for other formats or an export without them."""
    from ..gaze.formats import GazeFormatError, detect_format, read_gaze_all

    try:
        if detect_format(path) != "tobii-pro-lab":
            return {}
        found = read_gaze_all(path, what="fixations")
    except GazeFormatError:  # no 'Eye movement type' column: Pro Lab classified nothing
        return {}
    return {name: item for name, item in found.items() if isinstance(item, Fixations)}


def _pro_lab_layer(fixations: Fixations, name: str, image_shape, scale, translate, affine=None) -> LayerDataTuple:
    """``NAME Pro Lab fixations``: a fixations Points layer in a group of its own."""
    from .layers import GAZESEG, fixations_layer

    data, kwargs, layer_type = fixations_layer(
        fixations,
        name=f"{name} Pro Lab",
        image_shape=image_shape or fixations.image_shape,
        scale=scale,
        translate=translate,
        affine=affine,
    )
    kwargs["metadata"][GAZESEG]["classified_by"] = "Tobii Pro Lab"
    return data, kwargs, layer_type


# -- the napari reader ------------------------------------------------------------------
def pick_recordings(
    parent, path: str, names: list[str], selected: Sequence[str], limit: int = READER_MAX_RECORDINGS
) -> list[str]:
    """The names (at most ``limit``, in file order) the user picks in a modal dialog
    listing every recording of ``path``, ``selected`` ticked at first; [] on Cancel.

    The one picker of the reader and the Gaze layers widget (object name
    ``gazeseg_pick_recordings``).
    """
    from qtpy.QtWidgets import (
        QAbstractItemView,
        QDialog,
        QDialogButtonBox,
        QLabel,
        QListWidget,
        QVBoxLayout,
    )

    dialog = QDialog(parent)
    dialog.setObjectName("gazeseg_pick_recordings")
    dialog.setWindowTitle("Open gaze recordings")
    layout = QVBoxLayout(dialog)
    layout.addWidget(
        QLabel(
            f"{os.path.basename(path)} holds {len(names)} recordings (stimuli, participants or "
            f"trials). Pick the ones to open (at most {limit} at a time):"
        )
    )
    listing = QListWidget()
    listing.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
    listing.addItems(names)
    for name in list(selected)[:limit]:
        listing.item(names.index(name)).setSelected(True)
    layout.addWidget(listing)
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel
    )
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    layout.addWidget(buttons)
    try:
        if not dialog.exec():
            return []
        rows = sorted(listing.row(item) for item in listing.selectedItems())
        return [names[row] for row in rows][:limit]
    finally:
        dialog.deleteLater()


def _pick_in_a_dialog(path: str, names: list[str]) -> list[str] | None:
    """The names the user picks in a dialog over napari's window; None without a window."""
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.current_viewer()
    window = getattr(getattr(viewer, "window", None), "_qt_window", None)
    if QApplication.instance() is None or window is None:
        return None
    return pick_recordings(window, path, names, names[:READER_MAX_RECORDINGS])


def _chosen(path: str, names: list[str]) -> list[str]:
    """All names when few; else the user's pick, or the first ones and a warning."""
    if len(names) <= READER_MAX_RECORDINGS:
        return names
    picked = _pick_in_a_dialog(path, names)
    if picked is not None:
        return sorted(picked, key=names.index)
    from napari.utils.notifications import show_warning

    shown = ", ".join(repr(name) for name in names[:3])
    show_warning(
        f"{path} holds {len(names)} recordings; opened the first {READER_MAX_RECORDINGS} "
        f"({shown}, ...), so open the others by name with the Gaze layers widget or "
        "gaze_file_layers(path, stimuli=[...])."
    )
    return names[:READER_MAX_RECORDINGS]


def read_gaze_layers(path: str | Sequence[str]) -> list[LayerDataTuple]:
    """Read gaze files into layers (the function :func:`get_reader` hands to napari).

    In napari's running window (a drop, File > Open, the console) the files are
    read and their layers built off the UI thread (:func:`open_in_background`,
    with a progress bar), and napari gets its "opened, no layers to add"
    sentinel at once; the layers arrive one per turn of the event loop. Called
    outside a running event loop (a script's ``viewer.open`` before
    ``napari.run()``, tests) the layers are returned, as napari's reader
    contract has it.

    A file that cannot be read or shown raises :class:`GazeFormatError` after
    showing its sentence as an error notification (napari's own message about
    the failed reader follows it); in the background, the sentence is the one
    notification.
    """
    from ..gaze.formats import GazeFormatError
    from ._deleted_visuals_guard import guard_current_viewer

    guard_current_viewer()
    viewer = _live_viewer()
    if viewer is not None:
        open_in_background(viewer, _paths(path))
        return [(None,)]
    layers: list[LayerDataTuple] = []
    try:
        for one in _paths(path):
            contents = gaze_file_contents(one)
            layers.extend(_layers_of_each(one, contents, _chosen(one, list(contents))))
    except GazeFormatError as err:
        from napari.utils.notifications import show_error

        show_error(str(err))
        raise
    if not layers:
        return [(None,)]  # nothing picked: napari's "opened nothing", not an error
    return layers


def _live_viewer():
    """napari's current viewer when its window runs Qt's event loop on this thread, else None."""
    import napari
    from qtpy.QtCore import QCoreApplication, QThread

    app = QCoreApplication.instance()
    thread = QThread.currentThread()
    if app is None or thread is not app.thread() or thread.loopLevel() < 1:
        return None
    from ._viewer import window_open

    viewer = napari.current_viewer()
    return viewer if window_open(viewer) else None


def _read_for_background(paths: list[str]) -> list[tuple[str, Mapping, list | None, list[str]]]:
    """Per file (off the UI thread): its contents, and its napari layers with the warnings
    met building them, or None for the layers when the user must pick recordings."""
    out = []
    for one in paths:
        contents = gaze_file_contents(one)
        if len(contents) > READER_MAX_RECORDINGS:
            out.append((one, contents, None, []))
        else:
            warnings: list[str] = []
            layers = _layers_of_each(one, contents, list(contents), warn=warnings.append)
            out.append((one, contents, create_layers(layers), warnings))
    return out


def _build_for_background(files: list[tuple[str, Mapping, list[str]]]) -> tuple[list, list[str]]:
    """The napari layers of each file's chosen recordings (off the UI thread), and the warnings."""
    layers: list = []
    warnings: list[str] = []
    for one, contents, chosen in files:
        layers.extend(_layers_of_each(one, contents, chosen, warn=warnings.append))
    return create_layers(layers), warnings


def open_in_background(viewer, paths: Sequence[str]) -> None:
    """Open gaze files into ``viewer`` without freezing its window.

    Reading, fixation detection and the layers' data run in a napari worker
    with a progress bar; a file holding more than :data:`READER_MAX_RECORDINGS`
    recordings asks which in the reader's dialog; the layers are then added one
    per turn of the event loop (:func:`~._viewer.add_layers_in_turns`). A file that cannot be read is its one
    sentence as an error notification; other failures too, naming the file.
    Call on the UI thread.
    """
    from napari.qt.threading import create_worker
    from napari.utils.notifications import show_error, show_warning

    from ..gaze.formats import GazeFormatError
    from ._viewer import add_layers_in_turns

    paths = [os.fspath(p) for p in paths]
    label = os.path.basename(paths[0]) + (f" and {len(paths) - 1} more" if len(paths) > 1 else "")

    def failed(err: Exception) -> None:
        if isinstance(err, GazeFormatError):
            show_error(str(err))
        else:
            show_error(f"Could not open {label}: {type(err).__name__}: {err}")

    def add(layers: list, warnings: list[str]) -> None:
        for warning in warnings:
            show_warning(warning)
        if layers:
            add_layers_in_turns(viewer, layers)

    def read(found: list) -> None:
        ready = [layer for _one, _contents, layers, _w in found if layers is not None for layer in layers]
        warnings = [w for _one, _contents, _layers, found_warnings in found for w in found_warnings]
        to_pick = [(one, contents) for one, contents, layers, _w in found if layers is None]
        if not to_pick:
            add(ready, warnings)
            return
        chosen = [(one, contents, _chosen(one, list(contents))) for one, contents in to_pick]
        worker = create_worker(
            _build_for_background, chosen, _progress={"desc": f"Building the layers of {label}"}, _ignore_errors=True
        )
        worker.returned.connect(lambda built: add(ready + built[0], warnings + built[1]))
        worker.errored.connect(failed)
        worker.start()

    worker = create_worker(
        _read_for_background, paths, _progress={"desc": f"Opening {label}"}, _ignore_errors=True
    )
    worker.returned.connect(read)
    worker.errored.connect(failed)
    worker.start()


def _layers_of_each(path: str, contents: Mapping, chosen: list[str], warn=None) -> list[LayerDataTuple]:
    """The layers of every chosen recording; one that cannot be shown is left out with
    its sentence as a warning (``warn``, default napari's), unless none can (then its
    sentence is raised)."""
    from ..gaze.formats import GazeFormatError

    layers: list[LayerDataTuple] = []
    failed: list[GazeFormatError] = []
    for name in chosen:
        try:
            layers.extend(gaze_file_layers(path, stimuli=[name], contents=contents))
        except GazeFormatError as err:
            failed.append(err)
    if failed and not layers:
        raise failed[0]
    if failed:
        if warn is None:
            from napari.utils.notifications import show_warning as warn
        for err in failed[:3]:
            warn(str(err))
        if len(failed) > 3:
            warn(f"{path}: {len(failed) - 3} more recordings could not be shown either; fix them as the warnings above say.")
    return layers
