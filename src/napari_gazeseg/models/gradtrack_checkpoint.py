"""GradTrack checkpoints and what inference needs of training, without the training loop.

:class:`TrainConfig` (the hyper-parameters stored in every checkpoint),
:func:`read_checkpoint` (checks a ``model.pt`` before any network is built:
format, network plan, tensor shapes against the network built on torch's
``meta`` device, finiteness, threshold; one sentence for anything else),
:func:`state_digest` / :func:`digest_matches` (the content digest checkpoints
carry) and the bfloat16 autocast training, validation and prediction share.

Inference (:mod:`~napari_gazeseg.models.gradtrack_predict`, the Segment widget,
``gazeseg segment``) imports this module, not
:mod:`~napari_gazeseg.models.gradtrack_train`, so it loads no training loop,
data loader or distributed code of ours; ``gradtrack_train`` re-exports these
names.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from .gradtrack import GradTrack
from .gradtrack_methods import METHODS
from .unet import UNetConfig

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "GradTrackCheckpoint",
    "TrainConfig",
    "digest_matches",
    "read_checkpoint",
    "state_digest",
]

#: ``format`` entry of every checkpoint this module writes.
CHECKPOINT_FORMAT = "napari-gazeseg/gradtrack"
CHECKPOINT_VERSION = 1


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (stored in every checkpoint).

    Network: ``size`` (square input side, pixels), ``base_channels``,
    ``max_channels``, ``n_stages``. Supervision maps: ``beta`` and ``tau`` of
    the track maps (pixels at ``size``), ``pseudo_threshold`` of GradTrack's
    under-activation pseudo-mask, ``gazemedseg_thresholds``, ``vam_sigma``
    (Gaussian sigma of the visual attention map in pixels of the original
    image; ``None``: GazeMedSeg's 70 px on 768 px scaled to the image), ``crf``
    (a :data:`~napari_gazeseg.gaze.crf.CRF_SETTINGS` name). ``ta_blocks``: the
    decoder blocks with Track Attention (``None``: the paper's 2 and 4 for
    ``gradtrack``, none otherwise; ``()``: none, an ablation). ``track_ratios``: the
    truncation ratios of the track maps supervising P^2, P^4 and the output (the
    paper's 0.5, 0.75, 1.0; see :mod:`~napari_gazeseg.models.gaze_supervision`). ``init_checkpoint``:
    a ``model.pt`` whose weights the run starts from (fine-tuning; the network
    plan must match).
    """

    method: str = "gradtrack"
    size: int = 224
    epochs: int = 100
    batch_size: int = 8
    lr: float = 0.01
    momentum: float = 0.99
    nesterov: bool = True
    weight_decay: float = 3e-5
    poly_exponent: float = 0.9
    lambda_track: float = 0.5
    lambda_vam: float = 0.5
    base_channels: int = 32
    max_channels: int = 512
    n_stages: int = 7
    beta: float = 10.0
    tau: float = 0.25
    pseudo_threshold: float = 0.7
    gazemedseg_thresholds: tuple[float, ...] = (0.5, 0.3)
    vam_sigma: float | None = None
    crf: str = "gazemedseg"
    ta_blocks: tuple[int, ...] | None = None
    track_ratios: tuple[float, ...] = (0.5, 0.75, 1.0)
    init_checkpoint: str | None = None
    seed: int = 0
    device: str = "auto"
    mixed_precision: bool = True
    augmentation: bool = True
    val_fraction: float = 0.2
    num_workers: int = 0
    progress: bool = True
    half_precision_weights: bool = False

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}.")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch size must be at least 1.")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError("the validation fraction must lie in [0, 1).")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"the learning rate must be a positive number, got {self.lr}; pass e.g. --lr 0.01.")
        for name in ("momentum", "weight_decay", "poly_exponent", "lambda_track", "lambda_vam", "beta", "tau",
                     "pseudo_threshold"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value}.")
        self.gazemedseg_thresholds = tuple(float(t) for t in self.gazemedseg_thresholds)
        if self.ta_blocks is not None:
            self.ta_blocks = tuple(int(b) for b in self.ta_blocks)
        self.track_ratios = tuple(float(r) for r in self.track_ratios)
        if len(self.track_ratios) != 3 or any(not 0 < r <= 1 for r in self.track_ratios):
            raise ValueError(f"track_ratios must be three ratios in (0, 1] (P^2, P^4, output), got {self.track_ratios}.")
        from ..gaze.crf import CRF_SETTINGS

        if self.crf not in CRF_SETTINGS:
            raise ValueError(f"unknown CRF setting {self.crf!r}; choose one of {', '.join(CRF_SETTINGS)}.")

    def unet_config(self) -> UNetConfig:
        return UNetConfig(
            size=self.size,
            n_stages=self.n_stages,
            base_channels=self.base_channels,
            max_channels=self.max_channels,
        )

    def to_dict(self) -> dict:
        data = asdict(self)
        data["gazemedseg_thresholds"] = list(self.gazemedseg_thresholds)
        if self.ta_blocks is not None:
            data["ta_blocks"] = list(self.ta_blocks)
        data["track_ratios"] = list(self.track_ratios)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast on CUDA when ``enabled`` (training, validation, prediction); off on CPU."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")


def state_digest(payload) -> str:
    """SHA-256 over a checkpoint's content (tensors' dtype, shape and bytes; other values' repr).

    Stored as ``"digest"`` in checkpoints written here, so bytes damaged inside
    tensor data (which torch reads without complaint) are noticed on loading.
    """
    sha = hashlib.sha256()

    def visit(value) -> None:
        if isinstance(value, torch.Tensor):
            flat = value.detach().cpu().contiguous().reshape(-1)
            sha.update(f"T{flat.dtype}{tuple(value.shape)}".encode())
            sha.update(flat.view(torch.uint8).numpy().tobytes())
        elif isinstance(value, dict):
            sha.update(b"{")
            for key in sorted(value, key=repr):
                if key != "digest":
                    sha.update(repr(key).encode())
                    visit(value[key])
            sha.update(b"}")
        elif isinstance(value, (list, tuple)):
            sha.update(b"[")
            for item in value:
                visit(item)
            sha.update(b"]")
        else:
            sha.update(repr(value).encode())

    visit(payload)
    return sha.hexdigest()


def digest_matches(payload: dict) -> bool:
    """True when ``payload`` has no ``"digest"`` (older files) or its digest is right."""
    stored = payload.get("digest")
    return stored is None or stored == state_digest(payload)


#: Bounds on a checkpoint's network plan: far above any useful 2D U-Net, far below what
#: would exhaust memory (they keep a damaged or hostile file from asking for gigabytes).
_PLAN_LIMITS = {"size": (4, 2048), "n_stages": (2, 10), "base_channels": (1, 512), "max_channels": (1, 2048)}


@dataclass
class GradTrackCheckpoint:
    """A checked GradTrack checkpoint (see :func:`read_checkpoint`); weights float32 on the CPU."""

    unet: UNetConfig
    track_attention_blocks: tuple[int, ...]
    train_config: TrainConfig
    state_dict: dict[str, torch.Tensor]
    threshold: float
    epoch: int
    metrics: dict
    optimizer: dict | None = None


class _Invalid(Exception):
    """Why a checkpoint is refused (becomes the reason in one sentence)."""


def read_checkpoint(path: str | os.PathLike, resume: bool = False) -> GradTrackCheckpoint:
    """Read and check a GradTrack checkpoint before any network is built.

    Checks: a readable ``weights_only`` file in our ``format``; a network plan
    within :data:`_PLAN_LIMITS` (3 input channels, 2 classes, strides 1 or 2);
    Track Attention blocks the plan has; the state dict's names and shapes equal
    those of the network the plan describes (built on the ``meta`` device, so
    checking allocates nothing: memory is then bounded by the file's own
    tensors); every weight finite; the threshold a number in (0, 1); with
    ``resume`` an optimiser state and epoch. Raises ``FileNotFoundError`` or
    ``ValueError`` with one sentence naming the file.
    """
    path = Path(path)
    advice = (
        "start again with --overwrite or pick another --out"
        if resume
        else "pass a model.pt written by `gazeseg train`"
    )
    if not path.exists():
        raise FileNotFoundError(
            f"no GradTrack checkpoint at {path}; train one with `gazeseg train` or pass its path."
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001  torch raises many types for foreign or corrupt files
        raise ValueError(
            f"{path} could not be read as a GradTrack checkpoint ({type(err).__name__}); "
            f"the file is damaged, incomplete or not a checkpoint: {advice}."
        ) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a GradTrack checkpoint; {advice}.")
    try:
        if not digest_matches(checkpoint):
            raise _Invalid("its content does not match its digest: the file was damaged")
        contents = _checked(checkpoint, resume)
    except _Invalid as err:
        raise ValueError(f"{path} is not a usable GradTrack checkpoint ({err}); {advice}.") from None
    except Exception as err:  # noqa: BLE001  any other malformed entry
        raise ValueError(
            f"{path} is not a usable GradTrack checkpoint (malformed entry: {type(err).__name__}); {advice}."
        ) from None
    return contents


def _checked(checkpoint: dict, resume: bool) -> GradTrackCheckpoint:
    unet_data = checkpoint["unet"]
    if not isinstance(unet_data, dict):
        raise _Invalid("no network plan")
    for name, (low, high) in _PLAN_LIMITS.items():
        value = unet_data.get(name, getattr(UNetConfig, name))
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise _Invalid(f"{name}={value!r} lies outside {low}..{high}")
    if unet_data.get("in_channels", 3) != 3 or unet_data.get("num_classes", 2) != 2:
        raise _Invalid("the network must take RGB images and give 2 classes")
    unet = UNetConfig.from_dict(unet_data)
    if any(stride not in (1, 2) for stride in unet.strides) or unet.size % unet.divisor:
        raise _Invalid(f"strides {list(unet.strides)} do not fit size {unet.size}")
    blocks = tuple(int(b) for b in checkpoint["track_attention_blocks"])
    threshold = checkpoint.get("threshold", 0.5)
    if not isinstance(threshold, (int, float)) or not 0.0 < float(threshold) < 1.0:
        raise _Invalid(f"threshold {threshold!r} is not a number in (0, 1)")
    state = checkpoint["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise _Invalid("no weights")
    with torch.device("meta"):
        expected = GradTrack(unet, track_attention_blocks=blocks).state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        name = (missing or unexpected)[0]
        raise _Invalid(f"{len(missing)} weights missing and {len(unexpected)} unexpected, e.g. {name}")
    for name, tensor in expected.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise _Invalid(f"{name} has shape {tuple(state[name].shape)}, the plan needs {tuple(tensor.shape)}")
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    bad = next((k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())), None)
    if bad is not None:
        raise _Invalid(f"weight {bad} holds NaN or infinite values")
    optimizer = checkpoint.get("optimizer")
    if resume and not isinstance(optimizer, dict):
        raise _Invalid("no optimiser state to resume from")
    epoch = checkpoint.get("epoch", 0)
    if not isinstance(epoch, int) or epoch < 0:
        raise _Invalid(f"epoch {epoch!r} is not a count")
    return GradTrackCheckpoint(
        unet=unet,
        track_attention_blocks=blocks,
        train_config=TrainConfig.from_dict(checkpoint["train_config"]),
        state_dict=state,
        threshold=float(threshold),
        epoch=epoch,
        metrics=dict(checkpoint.get("metrics") or {}),
        optimizer=optimizer,
    )
