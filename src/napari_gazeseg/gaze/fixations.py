"""Fixation detection: the Tobii I-VT filter and I-DT.

* :func:`detect_fixations_ivt` (:mod:`napari_gazeseg.gaze.ivt`): velocity
  threshold with Tobii's gap fill-in, eye selection, noise reduction, velocity
  window, merging of adjacent fixations and discarding of short ones.
* :func:`detect_fixations_idt` (:mod:`napari_gazeseg.gaze.idt`): dispersion
  threshold (Salvucci and Goldberg 2000).

Both classify in degrees of visual angle when the recording has screen
coordinates and ``meta["screen"]``, and in image pixels otherwise (with a warning
and ``meta["detector"]["units"] == "px"``). Fixations never span two object
sessions, two slices or a pause of more than 75 ms in the timestamps; see
:mod:`napari_gazeseg.gaze._detection`.

:class:`FixationDetector` is the one configuration of a detector that the CLI,
the reader, the sample data, the recorder, live fixations, GradTrack's
supervision and the widgets pass around: a method name of :data:`DETECTORS`
(``"ivt"``, ``"idt"``; as pymovements' ``EventDetectionLibrary``) and its
keyword arguments, whose defaults are read from the detector function's
signature (the only place they are written). ``FixationDetector.from_meta``
reads the ``meta["detector"]`` a detection wrote back into a detector.
Display names ("I-VT", "I-DT") belong to the widgets, not here.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from functools import cache
from types import MappingProxyType
from typing import Any

from .idt import detect_fixations_idt
from .ivt import detect_fixations_ivt, ivt_velocity
from .recording import Fixations, GazeRecording

__all__ = [
    "DETECTORS",
    "FixationDetector",
    "detect_fixations_idt",
    "detect_fixations_ivt",
    "detector_defaults",
    "ivt_velocity",
]

#: Fixation detectors by name: ``GazeRecording -> Fixations`` functions whose
#: keyword parameters (all but the recording and per-eye data) configure them.
DETECTORS: dict[str, Callable[..., Fixations]] = {
    "ivt": detect_fixations_ivt,
    "idt": detect_fixations_idt,
}

# Parameters that are data, not configuration.
_DATA_PARAMETERS = ("eyes",)


def _method(method: str) -> str:
    if method not in DETECTORS:
        raise ValueError(
            f"fixation detector {method!r} is unknown; choose one of {', '.join(DETECTORS)}."
        )
    return method


@cache
def _parameters_of(function: Callable[..., Fixations]) -> Mapping[str, inspect.Parameter]:
    parameters = list(inspect.signature(function).parameters.values())[1:]  # after the recording
    return MappingProxyType({p.name: p for p in parameters if p.name not in _DATA_PARAMETERS})


def _signature_parameters(method: str) -> Mapping[str, inspect.Parameter]:
    return _parameters_of(DETECTORS[_method(method)])


def detector_defaults(method: str = "ivt") -> dict[str, Any]:
    """The configurable parameters of a detector of :data:`DETECTORS` and their defaults."""
    return {name: p.default for name, p in _signature_parameters(method).items()}


def _checked_value(method: str, parameter: inspect.Parameter, value: Any) -> Any:
    """``value`` in the type of the parameter's default (floats as float), or a ValueError."""
    default, annotation = parameter.default, str(parameter.annotation)
    if value is None:
        if default is None or "None" in annotation:
            return None
    elif isinstance(default, str) or "str" in annotation:
        if isinstance(value, str):
            return value
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        if isinstance(default, int) and not isinstance(default, bool) and "float" not in annotation:
            if float(value).is_integer():
                return int(value)
        else:
            return float(value)
    raise ValueError(
        f"{value!r} is not a valid {parameter.name} for the {method} fixation detector "
        f"(default {default!r})."
    )


class FixationDetector:
    """A fixation detector of :data:`DETECTORS` and its parameters; immutable, hashable.

    ``FixationDetector()`` is the Tobii I-VT filter with its defaults;
    ``FixationDetector("idt", dispersion_threshold=1.5)`` is I-DT with one
    parameter changed. Parameters not given take the defaults of the detector
    function's signature; an unknown method or parameter, or a value of the
    wrong kind, raises a ValueError. Parameters read as attributes
    (``detector.velocity_threshold``); :attr:`params` holds them all.
    Calling the detector (or :meth:`detect`) runs it on a recording.
    """

    __slots__ = ("_method", "_params")

    def __init__(self, method: str = "ivt", **params: Any) -> None:
        method = _method(str(method))
        parameters = _signature_parameters(method)
        unknown = sorted(set(params) - set(parameters))
        if unknown:
            raise ValueError(
                f"{', '.join(map(repr, unknown))} is not a parameter of the {method} fixation "
                f"detector; it takes {', '.join(parameters)}."
            )
        values = {name: p.default for name, p in parameters.items()}
        for name, value in params.items():
            values[name] = _checked_value(method, parameters[name], value)
        object.__setattr__(self, "_method", method)
        object.__setattr__(self, "_params", values)

    # -- reading -------------------------------------------------------------------
    @property
    def method(self) -> str:
        """The name of the detector in :data:`DETECTORS`."""
        return self._method

    @property
    def params(self) -> dict[str, Any]:
        """Every keyword argument the detector function is called with (a copy)."""
        return dict(self._params)

    @property
    def ivt_parameters(self) -> dict[str, Any] | None:
        """``detect_fixations_ivt`` keyword arguments when this is I-VT, else None
        (live fixations run I-VT incrementally: ``tracking.live_fixations``)."""
        return self.params if self._method == "ivt" else None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._params[name]
        except KeyError:
            raise AttributeError(
                f"the {self._method} fixation detector has no parameter {name!r}"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a FixationDetector is immutable; use replace(...) for another one")

    def replace(self, **params: Any) -> FixationDetector:
        """The same method with some parameters changed."""
        return FixationDetector(self._method, **{**self._params, **params})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FixationDetector):
            return NotImplemented
        return self._method == other._method and self._params == other._params

    def __hash__(self) -> int:
        return hash((self._method, tuple(sorted(self._params.items()))))

    def __repr__(self) -> str:
        changed = {
            name: value
            for name, value in self._params.items()
            if value != detector_defaults(self._method)[name]
        }
        args = "".join(f", {name}={value!r}" for name, value in changed.items())
        return f"FixationDetector({self._method!r}{args})"

    def __reduce__(self):
        return (_rebuild, (self._method, self._params))

    # -- running -------------------------------------------------------------------
    def detect(self, recording: GazeRecording) -> Fixations:
        """The fixations of ``recording`` (``meta["detector"]`` says how they were found)."""
        return DETECTORS[self._method](recording, **self._params)

    __call__ = detect

    # -- meta ----------------------------------------------------------------------
    def to_meta(self) -> dict[str, Any]:
        """``{"name": method, **params}``, as the detectors write ``meta["detector"]``."""
        return {"name": self._method, **self._params}

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> FixationDetector:
        """The detector that wrote ``meta`` (a fixations ``meta["detector"]``).

        Keys that are not parameters (``units``, ``off_image``, thresholds
        converted to pixels) are what the run found and are ignored; so is
        ``eye_selection`` when the recording held no per-eye samples
        (``"as recorded"``). Fixations found in image pixels (no screen
        geometry) record the ``px_per_degree`` used, default or not, so the
        detector read back finds the same fixations. A name outside
        :data:`DETECTORS` (fixations from a tracker's own filter, e.g.
        ``"Tobii Pro Lab"``) raises a ValueError.
        """
        if not isinstance(meta, Mapping) or "name" not in meta:
            raise ValueError(
                f"{meta!r} does not name a fixation detector; expected a fixations "
                "meta['detector'] with a 'name'."
            )
        method = _method(str(meta["name"]))
        parameters = _signature_parameters(method)
        params = {name: meta[name] for name in parameters if name in meta}
        if "eye_selection" in params and params["eye_selection"] not in _eye_selections():
            del params["eye_selection"]
        return cls(method, **params)


def _rebuild(method: str, params: dict) -> FixationDetector:
    return FixationDetector(method, **params)


def _eye_selections() -> tuple[str, ...]:
    from .ivt import EYE_SELECTIONS

    return EYE_SELECTIONS
