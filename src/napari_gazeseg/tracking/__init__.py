"""Live gaze: sources (Tobii, cursor, replay), screen -> image mapping, the recorder.

Import the submodules you need; this package imports none of them, so the Tobii
adapter (:mod:`.tobii`) loads with numpy alone. Qt is needed by :mod:`.mouse`,
:mod:`.recorder` and :mod:`.calibration_dialog`; napari by :mod:`.mapping`'s
snapshot function and the recorder.
"""
