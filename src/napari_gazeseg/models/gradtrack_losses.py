"""Losses of GradTrack (equations 3 and 5) and of its baselines.

Shapes: ``logits`` are ``(B, 2, h, w)`` (channel 0 background, 1 foreground);
targets are ``(B, H, W)`` maps in ``[0, 1]`` at the training resolution and are
resized to the logits' size where needed.

Averaging (the paper does not say): every pixel-wise loss is the mean over all
pixels of all images of the batch, as ``torch.nn.CrossEntropyLoss`` averages;
the ``(1 + G)`` factor of eq. (3) is a weight that is *not* normalised away, so
pixels near the end of the gaze track count up to twice. The soft Dice loss is
``1 - Dice`` of the foreground computed over the whole batch ("batch Dice", as
nnU-Net uses for 2D), with smoothing 1e-5 in numerator and denominator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "resize_map",
    "track_map_loss",
    "soft_dice_loss",
    "cross_entropy_loss",
    "dice_ce_loss",
    "gradtrack_loss",
    "DEFAULT_TRACK_SUPERVISION",
    "METHODS",
    "method_loss",
]

#: Eq. (5): which track map (truncation ratio) supervises which decoder block.
DEFAULT_TRACK_SUPERVISION = {2: 0.5, 4: 0.75, 6: 1.0}


def resize_map(target: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``(B, H, W)`` maps to ``size`` (no corner alignment)."""
    if tuple(target.shape[-2:]) == tuple(size):
        return target
    return F.interpolate(target[:, None].float(), size=size, mode="bilinear", align_corners=False)[:, 0]


def track_map_loss(logits: torch.Tensor, track_map: torch.Tensor) -> torch.Tensor:
    """Eq. (3), averaged over pixels: ``-[(1+G) 1[G>0] log P_fg + 1[G=0] log P_bg]``.

    ``track_map`` is ``G^r`` at any resolution; it is resized bilinearly to the
    logits' size first (``G_re``).
    """
    target = resize_map(track_map, tuple(logits.shape[-2:]))
    log_prob = torch.log_softmax(logits.float(), dim=1)
    inside = target > 0
    per_pixel = torch.where(inside, -(1.0 + target) * log_prob[:, 1], -log_prob[:, 0])
    return per_pixel.mean()


def cross_entropy_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pixel-mean cross-entropy against a hard or soft foreground target in [0, 1]."""
    target = resize_map(target, tuple(logits.shape[-2:]))
    log_prob = torch.log_softmax(logits.float(), dim=1)
    return -(target * log_prob[:, 1] + (1.0 - target) * log_prob[:, 0]).mean()


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1e-5) -> torch.Tensor:
    """``1 - batch soft Dice`` of the foreground probability against ``target``."""
    target = resize_map(target, tuple(logits.shape[-2:]))
    foreground = torch.softmax(logits.float(), dim=1)[:, 1]
    intersection = (foreground * target).sum()
    total = foreground.sum() + target.sum()
    return 1.0 - (2.0 * intersection + smooth) / (total + smooth)


def dice_ce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Dice + cross-entropy (``L_VAM`` of the paper; nnU-Net's default loss)."""
    return soft_dice_loss(logits, target) + cross_entropy_loss(logits, target)


def gradtrack_loss(
    outputs: dict[int, torch.Tensor],
    track_maps: dict[float, torch.Tensor],
    pseudo_mask: torch.Tensor,
    supervision: dict[int, float] | None = None,
    lambda_track: float = 0.5,
    lambda_vam: float = 0.5,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. (5): ``L(100%, 6) + l1 L(50%, 2) + l1 L(75%, 4) + l2 L_VAM``.

    Parameters
    ----------
    outputs : ``{block: logits}`` from :class:`GradTrack`; the highest block is
        the segmentation.
    track_maps : ``{ratio: (B, H, W)}`` gaze-track maps ``G^r``.
    pseudo_mask : ``(B, H, W)`` the under-activation pseudo-mask (0/1) for ``L_VAM``.
    supervision : ``{block: ratio}``; default :data:`DEFAULT_TRACK_SUPERVISION`.
        The final block's term has weight 1, the others ``lambda_track``.

    Returns the total loss and its terms (detached 0-d tensors, for logging;
    they stay on the device so that training never waits for them).
    """
    supervision = DEFAULT_TRACK_SUPERVISION if supervision is None else supervision
    final = max(outputs)
    terms: dict[str, torch.Tensor] = {}
    total = outputs[final].new_zeros((), dtype=torch.float32)
    for block, ratio in supervision.items():
        if block not in outputs:
            raise ValueError(f"the network has no output for decoder block {block}.")
        term = track_map_loss(outputs[block], track_maps[ratio])
        weight = 1.0 if block == final else lambda_track
        terms[f"track_{int(round(ratio * 100))}_block{block}"] = term
        total = total + weight * term
    vam_term = dice_ce_loss(outputs[final], pseudo_mask)
    terms["vam"] = vam_term
    total = total + lambda_vam * vam_term
    return total, {name: value.detach() for name, value in terms.items()}


#: Training methods: GradTrack, the paper's gaze baselines and the supervised ceiling.
from .gradtrack_methods import METHODS  # noqa: E402  (one place, importable without torch)


def method_loss(
    method: str,
    outputs: dict[int, torch.Tensor],
    targets: dict[str, torch.Tensor],
    lambda_track: float = 0.5,
    lambda_vam: float = 0.5,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The training loss of ``method`` given network ``outputs`` and named ``targets``.

    ``targets`` maps the names of :mod:`napari_gazeseg.models.gaze_supervision`
    to ``(B, H, W)`` tensors:

    * ``gradtrack``: eq. (5) with ``track_50/75/100`` and ``pseudo_mask``;
    * ``vam`` / ``vam_crf``: Dice + CE against the soft label ``vam_soft`` /
      ``vam_crf_soft`` (the normalised map, values below 0.5 set to background);
    * ``gazemedseg``: Dice + CE averaged over the multi-threshold pseudo-masks
      ``gazemedseg_0, gazemedseg_1, ...`` (one shared decoder; GazeMedSeg itself
      trains one expert per mask with a consistency term);
    * ``supervised``: Dice + CE against the ground-truth ``mask``.
    """
    final = outputs[max(outputs)]
    if method == "gradtrack":
        track = {0.5: targets["track_50"], 0.75: targets["track_75"], 1.0: targets["track_100"]}
        # deep supervision on the Track Attention blocks the network has (the paper's 2 and 4;
        # fewer in ablations), and G^100% on the segmentation always
        final_block = max(outputs)
        supervision = {
            (final_block if ratio == 1.0 else block): ratio
            for block, ratio in DEFAULT_TRACK_SUPERVISION.items()
            if block in outputs or ratio == 1.0
        }
        return gradtrack_loss(outputs, track, targets["pseudo_mask"], supervision, lambda_track, lambda_vam)
    if method in ("vam", "vam_crf", "supervised"):
        name = {"vam": "vam_soft", "vam_crf": "vam_crf_soft", "supervised": "mask"}[method]
        loss = dice_ce_loss(final, targets[name])
        return loss, {name: loss.detach()}
    if method == "gazemedseg":
        names = sorted(name for name in targets if name.startswith("gazemedseg_"))
        if not names:
            raise ValueError("the gazemedseg method needs multi-threshold pseudo-masks.")
        terms = {name: dice_ce_loss(final, targets[name]) for name in names}
        loss = torch.stack(list(terms.values())).mean()
        return loss, {name: value.detach() for name, value in terms.items()}
    raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}.")
