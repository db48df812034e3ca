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
"""

from __future__ import annotations

from .idt import detect_fixations_idt
from .ivt import detect_fixations_ivt, ivt_velocity

__all__ = ["detect_fixations_idt", "detect_fixations_ivt", "ivt_velocity"]
