"""GradTrack's training methods by name, without importing torch (for the CLI's choices).

``gradtrack`` (eq. 5), the paper's gaze baselines ``vam``, ``vam_crf`` and
``gazemedseg``, and the fully supervised ceiling ``supervised``; the losses live
in :mod:`napari_gazeseg.models.gradtrack_losses`.
"""

METHODS = ("gradtrack", "vam", "vam_crf", "gazemedseg", "supervised")
