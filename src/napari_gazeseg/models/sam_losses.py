"""Losses for fine-tuning SAM on gaze prompts (SAM meets Gaze: IoU + Dice + 20 x Focal).

All functions take mask *logits* and binary targets of the same shape ``(N, rows,
cols)`` and return a scalar averaged over the ``N`` masks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["FOCAL_WEIGHT", "dice_loss", "focal_loss", "mask_iou", "sam_loss"]

#: Weight of the focal term (SAM and SAM meets Gaze: 20 focal : 1 dice).
FOCAL_WEIGHT = 20.0


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Soft Dice loss on sigmoid probabilities, smoothed by ``eps`` pixels."""
    prob = torch.sigmoid(logits).flatten(1)
    target = target.flatten(1).float()
    overlap = (prob * target).sum(1)
    return (1 - (2 * overlap + eps) / (prob.sum(1) + target.sum(1) + eps)).mean()


def focal_loss(
    logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Sigmoid focal loss (Lin et al. 2017) averaged over pixels, as SAM trains with."""
    target = target.float()
    prob = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = prob * target + (1 - prob) * (1 - target)
    weight = alpha * target + (1 - alpha) * (1 - target)
    return (weight * ce * (1 - p_t) ** gamma).flatten(1).mean(1).mean()


def mask_iou(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(N,)`` IoU of the thresholded masks (logit > 0) with the targets; 1 when both are empty."""
    predicted = (logits > 0).flatten(1)
    target = target.flatten(1).bool()
    intersection = (predicted & target).sum(1).float()
    union = (predicted | target).sum(1).float()
    return torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(union))


def sam_loss(
    logits: torch.Tensor, iou_prediction: torch.Tensor, target: torch.Tensor
) -> dict[str, torch.Tensor]:
    """``{"loss", "dice", "focal", "iou_mse", "iou"}``: loss = IoU-prediction MSE + Dice + 20 x focal.

    ``iou_prediction (N,)`` is SAM's predicted quality, regressed on the true IoU of
    its own thresholded mask (no gradient through the IoU).
    """
    dice = dice_loss(logits, target)
    focal = focal_loss(logits, target)
    iou = mask_iou(logits.detach(), target)
    iou_mse = F.mse_loss(iou_prediction.reshape(-1), iou)
    return {
        "loss": iou_mse + dice + FOCAL_WEIGHT * focal,
        "dice": dice.detach(),
        "focal": focal.detach(),
        "iou_mse": iou_mse.detach(),
        "iou": iou.mean(),
    }
