"""Training loop for GradTrack and its baselines: one process, or DDP under torchrun.

``fit(train_samples, config, out_dir, val_samples=None)`` trains on prepared
samples (:class:`~napari_gazeseg.models.gradtrack_data.SampleSet`);
``train_from_folder`` first turns a dataset folder into samples (cached maps).

Optimisation follows the paper and nnU-Net: SGD with Nesterov momentum 0.99
(nnU-Net's value; the paper only says "SGD", pass ``momentum=0.9`` for classic
SGD), weight decay 3e-5, batch 8, initial learning rate 0.01 decayed per epoch
as ``lr_e = lr * (1 - e / epochs) ** 0.9``, 100 epochs, images 224 x 224.

Files written to ``out_dir`` (by rank 0 only):

* ``last.pt``: everything needed to resume (model, optimiser, epoch) after each
  epoch, replaced atomically;
* ``model.pt``: the inference checkpoint for
  :class:`~napari_gazeseg.models.gradtrack_predict.GradTrackPredictor`, after
  each epoch;
* ``metrics.jsonl``: one JSON object per epoch (``epoch``, ``lr``, ``loss`` and
  its terms averaged over the epoch and all processes, ``seconds``; when the
  validation images have masks ``val_dice`` at 0.5 and the best decision
  threshold ``val_threshold`` with its ``val_dice_at_threshold``).

Decision threshold: GradTrack's final output is trained towards the whole gaze
track band (eq. 3 with ``G^100%``) as well as the pseudo-mask, so its
foreground probability is not calibrated at 0.5 (it tends to over-segment).
When validation masks exist, the threshold with the best validation Dice is
stored in ``model.pt`` (``"threshold"``) and used by the predictor; without
masks it is 0.5. Only these few masks, never used in the loss, pick it.

Determinism: for a given seed, the initial weights, the shuffling and the
augmentation of epoch ``e`` depend only on ``(seed, e)``, so a resumed run
continues as the uninterrupted run would have (bitwise on CPU).

Distributed: when ``WORLD_SIZE > 1`` (``torchrun --nproc_per_node N -m
napari_gazeseg.cli train ...``) each process trains on its shard of every
epoch through a ``DistributedSampler`` with ``DistributedDataParallel``
(backend ``nccl`` on GPUs, ``gloo`` on CPUs); ``batch_size`` is per process.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from .devices import resolve_device
from .gradtrack import DEFAULT_TA_BLOCKS, GradTrack
from .gradtrack_data import GazeSegDataset, SampleSet
from .gradtrack_losses import METHODS, method_loss
from .unet import UNetConfig

__all__ = [
    "TrainConfig",
    "FitResult",
    "CHECKPOINT_FORMAT",
    "fit",
    "train_from_folder",
    "build_model",
    "resolve_device",
    "predict_logits",
    "dice_scores",
    "evaluate_dice",
    "save_checkpoint",
    "split_indices",
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
    ``gradtrack``, none otherwise; ``()``: none, an ablation). ``init_checkpoint``:
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
        self.gazemedseg_thresholds = tuple(float(t) for t in self.gazemedseg_thresholds)
        if self.ta_blocks is not None:
            self.ta_blocks = tuple(int(b) for b in self.ta_blocks)
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
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def build_model(config: TrainConfig) -> GradTrack:
    """GradTrack with TA on blocks 2 and 4 (or ``config.ta_blocks``) for ``gradtrack``,
    the plain U-Net otherwise."""
    if config.ta_blocks is not None:
        blocks = config.ta_blocks
    else:
        blocks = DEFAULT_TA_BLOCKS if config.method == "gradtrack" else ()
    return GradTrack(config.unet_config(), track_attention_blocks=blocks)


def _autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast on CUDA when ``enabled`` (training, validation, prediction); off on CPU."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")


@torch.no_grad()
def predict_logits(
    model: GradTrack, images: torch.Tensor, device: torch.device, mixed_precision: bool = True, batch_size: int = 8
) -> torch.Tensor:
    """Segmentation logits ``(N, 2, S, S)`` float32 on the CPU for prepared images."""
    was_training = model.training
    model.eval()
    chunks = []
    for start in range(0, images.shape[0], batch_size):
        batch = images[start : start + batch_size].to(device)
        with _autocast(device, mixed_precision):
            outputs = model(batch)
        chunks.append(outputs[max(outputs)].float().cpu())
    model.train(was_training)
    return torch.cat(chunks) if chunks else torch.empty(0, 2, *images.shape[-2:])


def dice_scores(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image Dice of boolean ``(N, H, W)`` masks; 1 where both are empty."""
    predicted, target = predicted.bool().flatten(1), target.bool().flatten(1)
    intersection = (predicted & target).sum(1).float()
    total = predicted.sum(1).float() + target.sum(1).float()
    return torch.where(total > 0, 2 * intersection / total.clamp_min(1), torch.ones_like(total))


#: Foreground-probability thresholds tried on the validation split.
THRESHOLD_GRID = tuple(round(0.05 * k, 2) for k in range(6, 20))


def evaluate_dice(
    model: GradTrack, samples: SampleSet, device: torch.device, mixed_precision: bool = True
) -> dict[str, float]:
    """Validation Dice (0..1) against the ``mask`` targets, at the training size.

    ``val_dice``: mean Dice of the mask ``P_fg > 0.5`` (the argmax);
    ``val_threshold`` / ``val_dice_at_threshold``: the threshold of
    :data:`THRESHOLD_GRID` (or 0.5) with the best mean Dice, and that Dice.
    """
    logits = predict_logits(model, samples.images, device, mixed_precision)
    foreground = torch.softmax(logits, dim=1)[:, 1]
    target = samples.targets[:, samples.channel("mask")] > 0.5
    scores = {t: float(dice_scores(foreground > t, target).mean()) for t in (0.5, *THRESHOLD_GRID)}
    best = max(scores, key=lambda t: (scores[t], -abs(t - 0.5)))
    return {"val_dice": scores[0.5], "val_threshold": best, "val_dice_at_threshold": scores[best]}


def _unwrap(model) -> GradTrack:
    return model.module if isinstance(model, DistributedDataParallel) else model


def save_checkpoint(
    path: Path,
    model: GradTrack,
    config: TrainConfig,
    epoch: int,
    metrics: dict | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> None:
    """Write a checkpoint atomically (temporary file, then rename)."""
    state = {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()}
    if config.half_precision_weights and optimizer is None:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "unet": _unwrap(model).config.to_dict(),
        "track_attention_blocks": list(_unwrap(model).track_attention_blocks),
        "train_config": config.to_dict(),
        "epoch": epoch,
        "metrics": metrics or {},
        "threshold": float((metrics or {}).get("val_threshold", 0.5)),
        "state_dict": state,
    }
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    torch.save(payload, temporary)
    os.replace(temporary, path)


@dataclass
class FitResult:
    """What :func:`fit` returns."""

    model: GradTrack
    metrics: dict


class _Distributed:
    """Process-group bookkeeping; a no-op for single-process runs."""

    def __init__(self, device_name: str):
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.started_here = False
        if self.world_size > 1 and not dist.is_initialized():
            use_cuda = resolve_device(device_name).type == "cuda"
            if use_cuda:
                torch.cuda.set_device(self.local_rank)
            dist.init_process_group(backend="nccl" if use_cuda else "gloo")
            self.started_here = True
        if dist.is_initialized():
            self.world_size, self.rank = dist.get_world_size(), dist.get_rank()
        self.enabled = self.world_size > 1

    def device(self, device_name: str) -> torch.device:
        device = resolve_device(device_name)
        if self.enabled and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def mean(self, values: dict[str, float], count: int) -> dict[str, float]:
        """Sample-weighted mean over processes of per-process means."""
        names = sorted(values)
        totals = torch.tensor([values[n] * count for n in names] + [float(count)], dtype=torch.float64)
        if self.enabled:
            dist.all_reduce(totals)
        return {n: float(totals[i] / totals[-1].clamp_min(1)) for i, n in enumerate(names)}

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.started_here:
            dist.destroy_process_group()


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 100_003 + epoch


def fit(
    train_samples: SampleSet,
    config: TrainConfig,
    out_dir: str | os.PathLike,
    val_samples: SampleSet | None = None,
    resume: bool = False,
    on_epoch_end: Callable[[dict], None] | None = None,
) -> FitResult:
    """Train and write checkpoints and metrics to ``out_dir``.

    Returns the trained network (unwrapped from DDP, on the training device,
    in eval mode) and the last epoch's metrics (empty when a resumed run had
    no epochs left).

    ``resume=True`` continues from ``out_dir/last.pt`` when it exists (with the
    same method and network) and finishes the remaining epochs.
    ``on_epoch_end`` receives each epoch's metrics (rank 0 only).
    """
    if len(train_samples) == 0:
        raise ValueError("there are no training images; add images with gaze to the dataset folder.")
    out_dir = Path(out_dir)
    group = _Distributed(config.device)
    try:
        return _fit(train_samples, config, out_dir, val_samples, resume, on_epoch_end, group)
    finally:
        group.close()


def _fit(train_samples, config, out_dir, val_samples, resume, on_epoch_end, group) -> FitResult:
    device = group.device(config.device)
    if group.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    model = build_model(config).to(device)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov and config.momentum > 0,
        weight_decay=config.weight_decay,
    )
    start_epoch = 0
    last_path, metrics_path = out_dir / "last.pt", out_dir / "metrics.jsonl"
    if resume and last_path.exists():
        start_epoch = _restore(last_path, model, optimizer, config, device)
    elif config.init_checkpoint is not None:
        model.load_state_dict(read_checkpoint(config.init_checkpoint).state_dict)
    if group.is_main:
        _truncate_metrics(metrics_path, start_epoch)
    if group.enabled:
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    dataset = GazeSegDataset(train_samples, augmentation=config.augmentation)
    sampler = DistributedSampler(dataset, shuffle=True, seed=config.seed, drop_last=False) if group.enabled else None
    has_val_masks = val_samples is not None and len(val_samples) > 0 and "mask" in val_samples.target_names
    names = train_samples.target_names
    metrics: dict = {}
    for epoch in range(start_epoch, config.epochs):
        started = time.perf_counter()
        lr = config.lr * (1.0 - epoch / config.epochs) ** config.poly_exponent
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr
        generator = torch.Generator().manual_seed(_epoch_seed(config.seed, epoch))
        torch.manual_seed(_epoch_seed(config.seed, epoch) + group.rank)
        if sampler is not None:
            sampler.set_epoch(epoch)
        loader = DataLoader(
            dataset,
            batch_size=config.batch_size,
            shuffle=sampler is None,
            sampler=sampler,
            generator=generator,
            num_workers=config.num_workers,
            pin_memory=device.type == "cuda",
            drop_last=False,
        )
        model.train()
        sums: dict = {}
        seen = 0
        batches = _progress(loader, group.is_main and config.progress, f"epoch {epoch + 1}/{config.epochs}")
        for images, targets in batches:
            images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
            named = {name: targets[:, i] for i, name in enumerate(names)}
            with _autocast(device, config.mixed_precision):
                outputs = model(images)
            loss, terms = method_loss(
                config.method, outputs, named, lambda_track=config.lambda_track, lambda_vam=config.lambda_vam
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            count = images.shape[0]
            seen += count
            for name, value in {"loss": loss.detach(), **terms}.items():
                sums[name] = sums.get(name, 0.0) + value.float() * count
        # one device-to-host transfer per epoch: the GPU never waits for logging
        averages = group.mean({k: float(v) / max(seen, 1) for k, v in sums.items()}, seen)
        if not all(math.isfinite(value) for value in averages.values()):  # the same on every rank
            raise FloatingPointError(
                f"the loss became infinite or NaN in epoch {epoch + 1}; lower the learning rate (--lr)."
            )
        metrics = {"epoch": epoch + 1, "lr": lr, **averages}
        if group.is_main:
            if has_val_masks:
                metrics.update(evaluate_dice(_unwrap(model), val_samples, device, config.mixed_precision))
            metrics["seconds"] = time.perf_counter() - started
            save_checkpoint(last_path, model, config, epoch + 1, metrics, optimizer)
            save_checkpoint(out_dir / "model.pt", model, config, epoch + 1, metrics)
            with open(metrics_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(metrics) + "\n")
            if on_epoch_end is not None:
                on_epoch_end(metrics)
        group.barrier()
    return FitResult(_unwrap(model).eval(), metrics)


def _restore(path: Path, model, optimizer, config: TrainConfig, device: torch.device) -> int:
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    saved = checkpoint.get("train_config", {})
    for key in ("method", "size", "base_channels", "max_channels", "n_stages"):
        if saved.get(key) != getattr(config, key):
            raise ValueError(
                f"{path} was trained with {key}={saved.get(key)!r}, not {getattr(config, key)!r}; "
                "use the same settings to resume or pick another output folder."
            )
    model.load_state_dict(checkpoint["state_dict"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    return int(checkpoint["epoch"])


def _truncate_metrics(path: Path, keep_epochs: int) -> None:
    """Keep the log lines of the epochs a resumed run does not repeat."""
    if not path.exists():
        return
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line).get("epoch", 0) <= keep_epochs]
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def _progress(iterable, enabled: bool, description: str):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=description, leave=False, unit="batch")


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``range(n)`` into training and validation indices."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction)) if n > 1 else 0
    n_val = min(n_val, n - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def train_from_folder(
    folder: str | os.PathLike,
    config: TrainConfig,
    out_dir: str | os.PathLike,
    cache_dir: str | os.PathLike | None = None,
    resume: bool = False,
    on_epoch_end: Callable[[dict], None] | None = None,
) -> FitResult:
    """Prepare a dataset folder's samples (cached) and :func:`fit` on them.

    Images with masks are split into training and validation sets by
    ``config.val_fraction`` (seeded); images without masks are always used for
    training (except for ``method="supervised"``). Masks never enter the loss
    except for ``method="supervised"``.
    """
    from .gaze_supervision import SupervisionParams, load_folder_samples

    params = SupervisionParams.from_train_config(config)
    world_rank = int(os.environ.get("RANK", "0"))
    samples = load_folder_samples(folder, params, cache_dir, progress=config.progress and world_rank == 0)
    if config.method == "supervised" and "mask" not in samples.target_names:
        raise ValueError("the supervised method needs masks/ in the dataset folder; add masks or pick a gaze method.")
    if "mask" in samples.target_names:
        # images without a mask carry -1 in the mask channel
        known = (samples.targets[:, samples.channel("mask")].flatten(1).amin(1) >= 0).numpy()
        labelled, unlabelled = np.flatnonzero(known), np.flatnonzero(~known)
        train_idx, val_idx = split_indices(len(labelled), config.val_fraction, config.seed)
        train_ids = labelled[train_idx]
        if config.method != "supervised":
            train_ids = np.sort(np.concatenate([train_ids, unlabelled]))
        train, val = samples.subset(train_ids), samples.subset(labelled[val_idx])
    else:
        train, val = samples, None
    return fit(train, config, out_dir, val, resume=resume, on_epoch_end=on_epoch_end)
