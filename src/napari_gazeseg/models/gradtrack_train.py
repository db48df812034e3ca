"""Training loop for GradTrack and its baselines: one process, or DDP under torchrun.

``fit(train_samples, config, out_dir, val_samples=None)`` trains on prepared
samples (:class:`~napari_gazeseg.models.gradtrack_data.SampleSet`);
``train_from_folder`` first turns a dataset folder into samples (cached maps).

Optimisation follows the paper and nnU-Net: SGD with Nesterov momentum 0.99
(nnU-Net's value; the paper only says "SGD", pass ``momentum=0.9`` for classic
SGD), weight decay 3e-5, batch 8, initial learning rate 0.01 decayed per epoch
as ``lr_e = lr * (1 - e / epochs) ** 0.9``, 100 epochs, images 224 x 224.

Files written to ``out_dir`` (by rank 0 only):

* ``metrics.jsonl``: one JSON object per epoch (``epoch``, ``lr``, ``loss`` and
  its terms averaged over the epoch and all processes, ``seconds``; when the
  validation images have masks ``val_dice`` at 0.5 and the best decision
  threshold ``val_threshold`` with its ``val_dice_at_threshold``), each line
  appended with one ``write`` so it is there whole or not at all;
* ``model.pt``: the inference checkpoint for
  :class:`~napari_gazeseg.models.gradtrack_predict.GradTrackPredictor`, after
  each epoch;
* ``last.pt``: everything needed to resume (model, optimiser, epoch) after each
  epoch. Written last: it is the commit point of an epoch, so a run stopped
  anywhere (Ctrl-C, kill) resumes from the last epoch whose three files are
  complete, and the metrics lines of a repeated epoch are dropped on resume.

Every checkpoint is written to a temporary file and renamed (never half
written under its own name). An epoch whose loss or weights are not finite
(too high a learning rate) stops the run with :class:`TrainingDivergedError`
before anything of that epoch is saved, so the last good epoch stays.
Checkpoints are read through :func:`read_checkpoint`, which checks format,
network plan, tensor shapes (against the network built on torch's ``meta``
device, which allocates nothing), finiteness and the threshold before any
network is built, and raises one sentence for anything else.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from ._atomic import save_atomic
from .devices import resolve_device
from .gradtrack import DEFAULT_TA_BLOCKS, GradTrack
from .gradtrack_checkpoint import (  # re-exported: they were defined here
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    GradTrackCheckpoint,
    TrainConfig,
    _autocast,
    digest_matches,
    read_checkpoint,
    state_digest,
)
from .gradtrack_data import GazeSegDataset, SampleSet
from .gradtrack_losses import method_loss

__all__ = [
    "TrainConfig",
    "FitResult",
    "GradTrackCheckpoint",
    "TrainingDivergedError",
    "read_checkpoint",
    "state_digest",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "digest_matches",
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

def build_model(config: TrainConfig) -> GradTrack:
    """GradTrack with TA on blocks 2 and 4 (or ``config.ta_blocks``) for ``gradtrack``,
    the plain U-Net otherwise."""
    if config.ta_blocks is not None:
        blocks = config.ta_blocks
    else:
        blocks = DEFAULT_TA_BLOCKS if config.method == "gradtrack" else ()
    return GradTrack(config.unet_config(), track_attention_blocks=blocks)


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
    payload["digest"] = state_digest(payload)
    save_atomic(payload, Path(path))


@dataclass
class FitResult:
    """What :func:`fit` returns."""

    model: GradTrack
    metrics: dict


class TrainingDivergedError(FloatingPointError, ValueError):
    """The loss or the weights became infinite or NaN; nothing of that epoch was saved."""


def append_metrics_line(path: Path, metrics: dict) -> None:
    """Append one JSON line with a single ``os.write``: whole or not at all, never torn by Ctrl-C."""
    data = (json.dumps(metrics) + "\n").encode("utf-8")
    handle = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(handle, data)
        while written < len(data):  # regular files take it in one go; be safe anyway
            written += os.write(handle, data[written:])
    finally:
        os.close(handle)


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
        if not resume:  # a fresh run: an older run's last.pt must not be resumed into it
            last_path.unlink(missing_ok=True)
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
        # the same on every rank: losses are all-reduced, DDP keeps the weights in step
        if not all(math.isfinite(value) for value in averages.values()) or not _weights_finite(model):
            kept = (
                f"{out_dir} keeps epoch {epoch}" if epoch > 0 else "nothing was saved"
            )
            raise TrainingDivergedError(
                f"training diverged in epoch {epoch + 1} (the loss or the weights became infinite or NaN) "
                f"and stopped; {kept}: lower the learning rate (--lr) and start again."
            )
        metrics = {"epoch": epoch + 1, "lr": lr, **averages}
        if group.is_main:
            if has_val_masks:
                metrics.update(evaluate_dice(_unwrap(model), val_samples, device, config.mixed_precision))
            metrics["seconds"] = time.perf_counter() - started
            # metrics, model.pt, then last.pt: last.pt commits the epoch (see the module doc)
            append_metrics_line(metrics_path, metrics)
            save_checkpoint(out_dir / "model.pt", model, config, epoch + 1, metrics)
            save_checkpoint(last_path, model, config, epoch + 1, metrics, optimizer)
            if on_epoch_end is not None:
                on_epoch_end(metrics)
        group.barrier()
    return FitResult(_unwrap(model).eval(), metrics)


def _weights_finite(model) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in _unwrap(model).parameters())


def _restore(path: Path, model, optimizer, config: TrainConfig, device: torch.device) -> int:
    contents = read_checkpoint(path, resume=True)
    saved = contents.train_config
    for key in ("method", "size", "base_channels", "max_channels", "n_stages"):
        if getattr(saved, key) != getattr(config, key):
            raise ValueError(
                f"{path} was trained with {key}={getattr(saved, key)!r}, not {getattr(config, key)!r}; "
                "use the same settings to resume or pick another output folder."
            )
    if contents.track_attention_blocks != tuple(_unwrap(model).track_attention_blocks):
        raise ValueError(f"{path} holds another network than --method {config.method} trains; pick another --out.")
    try:
        model.load_state_dict(contents.state_dict)
        optimizer.load_state_dict(contents.optimizer)
    except Exception as err:  # noqa: BLE001  shapes or optimiser state of a damaged or foreign file
        raise ValueError(
            f"{path} cannot be resumed from ({type(err).__name__}); it is damaged or from another run: "
            "start again with --overwrite or pick another --out."
        ) from None
    return contents.epoch


def _truncate_metrics(path: Path, keep_epochs: int) -> None:
    """Keep the log lines of the epochs a resumed run does not repeat (atomically)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            epoch = json.loads(line).get("epoch", 0)
        except (ValueError, AttributeError):  # a torn or foreign line: not a finished epoch
            continue
        if isinstance(epoch, int) and epoch <= keep_epochs:
            kept.append(line)
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


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
