"""Fine-tune SAM's prompt encoder and mask decoder on one gaze prompt type.

Follows *SAM meets Gaze* (sec. 3): the image encoder is frozen and its embeddings
are computed once (and cached on disk); the prompt encoder and mask decoder are
trained for one prompt type with loss IoU-prediction MSE + Dice + 20 x focal,
AdamW at 8e-4 for dense prompts and 2e-4 for points and boxes, 30 linear warm-up
steps, then x0.95 per epoch.

One optimisation step sees one image and up to ``max_objects`` of its objects,
decoded together: their fixation lists are padded to the longest with label -1
(SAM's "not a point", whose embedding ``PromptEncoder.not_a_point_embed`` is
trained too). SAM is decoded with a single output mask (``multimask_output=False``),
which is what the fine-tuned checkpoint records for inference.

Outputs in ``out``: ``model.pt`` (only the prompt encoder and mask decoder, for
:func:`~napari_gazeseg.models.sam_loading.load_sam`'s ``finetuned``), ``last.pt``
(everything needed to resume) and ``metrics.jsonl`` (one line per epoch).

Safety: settings that are not finite numbers (``--lr nan``) are refused before
any work; an epoch whose loss or weights are not finite stops the run with
:class:`~napari_gazeseg.models.gradtrack_train.TrainingDivergedError` before
anything of it is saved (``last.pt`` keeps the last good epoch); each metrics
line is written whole (one ``write``) before ``last.pt``, which commits the
epoch, and a resume drops the lines of epochs it repeats; a damaged or foreign
``last.pt`` is refused in one sentence before SAM is loaded.

Data parallel (``torchrun --nproc_per_node N -m napari_gazeseg.cli train-sam``;
gloo on CPUs, NCCL on GPUs, one GPU per ``LOCAL_RANK``): the embeddings are
computed shared out (rank ``r`` embeds every ``N``-th image into the common
cache). Every rank then walks the same steps in the same order, and each step's
objects are shared out among the ranks: rank ``r`` decodes the step's objects
``r, r + N, ...``, its loss weighted by its share of them, and the gradients are
summed across ranks before the optimiser step. As the loss is a mean over
objects, this is the single-process gradient (up to float summation order), so
N processes train the same model as one, N times faster per step when a step
holds at least N objects. Only rank 0 writes ``metrics.jsonl``, ``last.pt`` and
``model.pt``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..gaze.recording import GazeRecording
from ..segmentation import fixations_of
from ._atomic import save_atomic
from .sam_gaze import GazeSam
from .sam_losses import sam_loss
from .sam_prompts import DENSE_LOGIT_SCALE, SamPrompt, build_prompt, parse_prompt_kind

__all__ = [
    "SamFinetuneConfig",
    "TrainingImage",
    "collate_prompts",
    "finetune_sam",
    "prepare_training_images",
]

_STATE_FORMAT = "napari-gazeseg/sam-finetune-state/1"
#: Learning rates of SAM meets Gaze: new (dense) prompt types, and points/boxes.
LR_DENSE, LR_SPARSE = 8e-4, 2e-4


@dataclass
class SamFinetuneConfig:
    """Settings of one fine-tuning run (see ``gazeseg train-sam --help``)."""

    dataset: str
    out: str
    model_type: str = "vit_b"
    checkpoint: str | None = None
    prompt: str = "fixations"
    epochs: int = 55
    lr: float | None = None
    warmup_steps: int = 30
    epoch_decay: float = 0.95
    weight_decay: float = 0.0
    max_objects: int = 16
    box_margin: float = 0.0
    dense_logit_scale: float = DENSE_LOGIT_SCALE
    device: str = "auto"
    cache_dir: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(
                f"the learning rate must be a positive number, got {self.lr}; pass e.g. --lr 2e-4 or leave it out."
            )
        for name in ("epoch_decay", "weight_decay", "box_margin", "dense_logit_scale"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name.replace('_', ' ')} must be a finite number >= 0, got {value}.")
        if self.epochs < 1 or self.max_objects < 1 or self.warmup_steps < 0:
            raise ValueError("epochs and max objects must be at least 1, warm-up steps at least 0.")

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return float(self.lr)
        return LR_DENSE if parse_prompt_kind(self.prompt).dense else LR_SPARSE


@dataclass
class TrainingImage:
    """One image's embedding (by cache key) with the prompts and target masks of its objects.

    Embeddings stay in the embedding cache (on disk, a few in memory), not here, so
    large data sets do not have to fit in memory.
    """

    name: str
    embedding_key: tuple[str, str, str]
    original_size: tuple[int, int]
    input_size: tuple[int, int]
    object_ids: list[int]
    prompts: list[SamPrompt]
    targets: np.ndarray  # (n_objects, rows, cols) bool


def prepare_training_images(
    config: SamFinetuneConfig, sam: GazeSam, progress: Callable[[int, int], None] | None = None
) -> list[TrainingImage]:
    """Embed every image of the dataset folder and build each object's prompt and target.

    Objects are the label ids of ``masks/`` that also have gaze; images without a
    mask are left out. Raises ValueError when nothing is left to train on.
    """
    from ..gaze.dataset import IMAGE_SUFFIXES, iter_dataset

    images_dir = Path(config.dataset) / "images"
    total = sum(1 for p in images_dir.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    kind = parse_prompt_kind(config.prompt)
    images, skipped = [], []
    for index, item in enumerate(iter_dataset(config.dataset)):
        if progress is not None:
            progress(index, total)
        if item.mask is None:
            continue
        if item.image.ndim not in (2, 3) or (
            item.image.ndim == 3 and item.image.shape[-1] not in (3, 4)
        ):
            raise ValueError(
                f"{item.image_path.name} is not a 2D grey or RGB image; fine-tuning needs 2D images."
            )
        recording = item.gaze if isinstance(item.gaze, GazeRecording) else None
        fixations = fixations_of(item.gaze)
        key = sam.embedding_key(item.image)
        embedding = sam.embed(item.image)
        shape = embedding.original_size
        ids, prompts, targets = [], [], []
        for object_id in np.unique(item.mask[item.mask > 0]).tolist():
            try:
                prompt = build_prompt(
                    kind,
                    shape,
                    fixations=fixations.for_object(object_id),
                    recording=None if recording is None else recording.for_object(object_id),
                    box_margin=config.box_margin,
                    logit_scale=config.dense_logit_scale,
                    long_side=sam.model.image_encoder.img_size,
                )
            except ValueError as err:  # no gaze on this object
                skipped.append(f"{item.name} object {object_id}: {err}")
                continue
            ids.append(int(object_id))
            prompts.append(prompt)
            targets.append(item.mask == object_id)
        if prompts:
            images.append(
                TrainingImage(
                    item.name,
                    key,
                    embedding.original_size,
                    embedding.input_size,
                    ids,
                    prompts,
                    np.stack(targets),
                )
            )
    if progress is not None:
        progress(total, total)
    if skipped:
        warnings.warn(
            f"{len(skipped)} objects have no usable gaze and are left out, e.g. {skipped[0]}",
            stacklevel=2,
        )
    if not images:
        raise ValueError(
            f"{config.dataset} has no object with both a mask (masks/) and gaze; "
            "fine-tuning needs label masks and gaze for the same objects."
        )
    return images


def collate_prompts(prompts: list[SamPrompt], device: torch.device, pad_to: int = 0):
    """Batch prompts of one image for SAM's prompt encoder: ``(points, boxes, masks)``.

    Point lists are padded to the longest (at least ``pad_to``) with coordinates 0
    and label -1 (SAM's "not a point"). Every prompt must be of the same kind.
    """
    points = boxes = masks = None
    if prompts[0].point_coords is not None:
        longest = max(pad_to, *(len(p.point_coords) for p in prompts))
        coords = torch.zeros((len(prompts), longest, 2), dtype=torch.float, device=device)
        labels = torch.full((len(prompts), longest), -1, dtype=torch.int, device=device)
        for row, prompt in enumerate(prompts):
            n = len(prompt.point_coords)
            coords[row, :n] = torch.as_tensor(prompt.point_coords, dtype=torch.float)
            labels[row, :n] = torch.as_tensor(prompt.point_labels, dtype=torch.int)
        points = (coords, labels)
    if prompts[0].box is not None:
        boxes = torch.as_tensor(
            np.stack([p.box for p in prompts]), dtype=torch.float, device=device
        )
    if prompts[0].mask_input is not None:
        masks = torch.as_tensor(
            np.stack([p.mask_input for p in prompts]), dtype=torch.float, device=device
        )
    return points, boxes, masks


def _lr_factor(step: int, steps_per_epoch: int, warmup_steps: int, epoch_decay: float) -> float:
    warmup = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    return warmup * epoch_decay ** (step // steps_per_epoch)


def _features(sam: GazeSam, image: TrainingImage) -> torch.Tensor:
    embedding = sam.cache.get(image.embedding_key)
    if embedding is None:
        raise RuntimeError(
            f"the cached embedding of {image.name} disappeared during training; "
            "keep the cache folder and start again."
        )
    return embedding.features


def _training_step(
    sam: GazeSam, image: TrainingImage, chosen: np.ndarray, pad_to: int = 0
) -> dict[str, torch.Tensor]:
    model, device = sam.model, sam.device
    if len(chosen) == 0:  # a data-parallel rank with no object of this step: no loss, no gradient
        zero = torch.zeros((), device=device)
        return {"loss": zero.clone().requires_grad_(), "dice": zero, "focal": zero, "iou_mse": zero, "iou": zero}
    points, boxes, masks = collate_prompts([image.prompts[i] for i in chosen], device, pad_to)
    sparse, dense = model.prompt_encoder(points=points, boxes=boxes, masks=masks)
    low_res, iou_prediction = model.mask_decoder(
        image_embeddings=_features(sam, image).to(device),
        image_pe=model.prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense,
        multimask_output=False,
    )
    logits = model.postprocess_masks(low_res, image.input_size, image.original_size)
    target = torch.as_tensor(image.targets[chosen], device=device)
    return sam_loss(logits[:, 0], iou_prediction[:, 0], target)


def _state(sam: GazeSam, optimizer, scheduler, config: SamFinetuneConfig, epoch: int) -> dict:
    from .gradtrack_train import state_digest

    state = {
        "format": _STATE_FORMAT,
        "config": asdict(config),
        "epochs_done": epoch,
        "prompt_encoder": sam.model.prompt_encoder.state_dict(),
        "mask_decoder": sam.model.mask_decoder.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
    }
    state["digest"] = state_digest(state)
    return state


_RESUME_ADVICE = "start again with --overwrite or pick another --out"


def _read_resume_state(path: Path, config: SamFinetuneConfig) -> dict:
    """The saved state in ``path``, checked against ``config`` before any work is done."""
    if not path.exists():
        raise FileNotFoundError(
            f"there is nothing to resume in {path.parent} (no last.pt); start without --resume."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001  torch raises many types for damaged files
        raise ValueError(
            f"{path} could not be read to resume from ({type(err).__name__}); the file is damaged "
            f"or incomplete: {_RESUME_ADVICE}."
        ) from None
    if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
        raise ValueError(
            f"{path} is not a fine-tuning state written by `gazeseg train-sam`; {_RESUME_ADVICE}."
        )
    from .gradtrack_train import digest_matches

    if not digest_matches(state):
        raise ValueError(
            f"{path} was damaged (its content does not match its digest); {_RESUME_ADVICE}."
        )
    saved = state.get("config")
    parts = ("prompt_encoder", "mask_decoder", "optimizer", "scheduler")
    if (
        not isinstance(saved, dict)
        or not isinstance(state.get("epochs_done"), int)
        or not all(isinstance(state.get(part), dict) for part in parts)
    ):
        raise ValueError(f"{path} is an incomplete fine-tuning state; {_RESUME_ADVICE}.")
    for key in ("model_type", "prompt"):
        if saved.get(key) != getattr(config, key):
            raise ValueError(
                f"{path} was trained with {key}={saved.get(key)!r}, not {getattr(config, key)!r}; "
                f"resume with the same {key} or use another output folder."
            )
    return state


def _restore(state: dict, sam: GazeSam, optimizer, scheduler, path: Path) -> int:
    try:
        sam.model.prompt_encoder.load_state_dict(state["prompt_encoder"])
        sam.model.mask_decoder.load_state_dict(state["mask_decoder"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
    except Exception as err:  # noqa: BLE001  shapes or optimiser state of a damaged or foreign file
        raise ValueError(
            f"{path} cannot be resumed from ({type(err).__name__}); it is damaged or from another "
            f"model: {_RESUME_ADVICE}."
        ) from None
    return state["epochs_done"]


def _all_finite(values: dict, parameters) -> bool:
    return all(math.isfinite(v) for v in values.values()) and all(
        bool(torch.isfinite(p).all()) for p in parameters
    )


def finetune_sam(
    config: SamFinetuneConfig,
    resume: bool = False,
    on_step: Callable[[int, int, int, float], None] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    on_embed: Callable[[int, int], None] | None = None,
) -> Path:
    """Run (or with ``resume`` continue) a fine-tuning; returns the path of ``model.pt``.

    Callbacks: ``on_embed(done, total)`` while embeddings are computed,
    ``on_step(epoch, step, steps_per_epoch, loss)`` after each step and
    ``on_epoch(metrics)`` after each epoch (the line also written to metrics.jsonl).
    """
    if config.epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {config.epochs}.")
    out = Path(config.out)
    last_path, metrics_path = out / "last.pt", out / "metrics.jsonl"
    saved_state = _read_resume_state(last_path, config) if resume else None
    out.mkdir(parents=True, exist_ok=True)
    cache_dir = config.cache_dir or str(Path(config.dataset) / ".gazeseg-cache" / "sam")
    from .gradtrack_train import _Distributed

    group = _Distributed(config.device)
    try:
        return _finetune(config, saved_state, out, last_path, metrics_path, cache_dir, group, on_step, on_epoch, on_embed)
    finally:
        group.close()


def _sum_gradients(parameters, group) -> None:
    """Sum each gradient across the ranks (a no-op in one process).

    A parameter no rank's objects used keeps no gradient, as in one process (the
    optimiser then leaves it alone rather than stepping it on its momentum).
    """
    if not group.enabled:
        return
    import torch.distributed as dist

    parameters = list(parameters)
    device = parameters[0].device
    used = torch.tensor([p.grad is not None for p in parameters], dtype=torch.int32, device=device)
    dist.all_reduce(used)
    for parameter, count in zip(parameters, used.tolist()):
        if not count:
            continue
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
        dist.all_reduce(parameter.grad)


def _finetune(config, saved_state, out, last_path, metrics_path, cache_dir, group, on_step, on_epoch, on_embed) -> Path:
    from .embed_ahead import dataset_images, embed_images, shard
    from .gradtrack_train import TrainingDivergedError, _truncate_metrics, append_metrics_line
    from .sam_loading import save_finetuned

    sam = GazeSam(
        config.model_type,
        config.checkpoint,
        group.device(config.device),
        cache_dir=cache_dir,
        memory_cache_size=32,  # about 128 MB of vit embeddings; the rest is read from disk
    )
    if group.enabled:  # each rank embeds its share into the common cache, then all read it
        embed_images(sam, shard(dataset_images(config.dataset), group.rank, group.world_size))
        group.barrier()
    images = prepare_training_images(config, sam, on_embed if group.is_main else None)

    model = sam.model
    model.image_encoder.requires_grad_(False)
    trained = [*model.prompt_encoder.parameters(), *model.mask_decoder.parameters()]
    optimizer = torch.optim.AdamW(
        trained, lr=config.learning_rate, weight_decay=config.weight_decay
    )
    steps_per_epoch = sum(-(-len(image.prompts) // config.max_objects) for image in images)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: _lr_factor(step, steps_per_epoch, config.warmup_steps, config.epoch_decay),
    )
    first_epoch = 0
    if saved_state is not None:
        first_epoch = _restore(saved_state, sam, optimizer, scheduler, last_path)
        if group.is_main:
            _truncate_metrics(metrics_path, first_epoch)  # lines of epochs repeated now
    elif group.is_main:
        metrics_path.unlink(missing_ok=True)
        last_path.unlink(missing_ok=True)  # an older run's state must not be resumed into this one

    model.prompt_encoder.train()
    model.mask_decoder.train()
    for epoch in range(first_epoch, config.epochs):
        generator = np.random.default_rng([config.seed, epoch])
        sums = {"loss": 0.0, "dice": 0.0, "focal": 0.0, "iou_mse": 0.0, "iou": 0.0}
        step = 0
        for image_index in generator.permutation(len(images)):
            image = images[image_index]
            order = generator.permutation(len(image.prompts))
            for start in range(0, len(order), config.max_objects):
                chunk = order[start : start + config.max_objects]
                own = chunk[group.rank :: group.world_size] if group.enabled else chunk
                # "not a point" padding takes part in the decoder's attention: pad as the whole step would
                pad_to = max((len(image.prompts[i].point_coords) for i in chunk), default=0) if (
                    image.prompts[0].point_coords is not None) else 0
                losses = _training_step(sam, image, own, pad_to)
                share = len(own) / len(chunk)  # this rank's weight in the step's mean over objects
                optimizer.zero_grad(set_to_none=True)
                (losses["loss"] * share).backward()
                _sum_gradients(trained, group)
                optimizer.step()
                scheduler.step()
                values = {key: float(value.detach()) for key, value in losses.items()}
                if group.enabled:
                    values = group.mean(values, len(own))
                for key in sums:
                    sums[key] += values[key]
                step += 1
                if on_step is not None:
                    on_step(epoch, step, steps_per_epoch, values["loss"])
        metrics = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"]}
        metrics.update({key: value / steps_per_epoch for key, value in sums.items()})
        if not _all_finite(metrics, trained):
            kept = f"{last_path} keeps epoch {epoch}" if epoch > 0 else "nothing was saved"
            raise TrainingDivergedError(
                f"fine-tuning diverged in epoch {epoch + 1} (the loss or the weights became infinite "
                f"or NaN) and stopped; {kept}: lower the learning rate (--lr) and start again."
            )
        if group.is_main:
            append_metrics_line(metrics_path, metrics)
            save_atomic(_state(sam, optimizer, scheduler, config, epoch + 1), last_path, ".partial")
        group.barrier()
        if on_epoch is not None and group.is_main:
            on_epoch(metrics)
    model.eval()
    meta = {
        "prompt": parse_prompt_kind(config.prompt).name,
        "dense_logit_scale": config.dense_logit_scale,
        "box_margin": config.box_margin,
        "multimask_output": False,
        "epochs": config.epochs,
        "base_checkpoint": sam.checkpoint.name,
        "base_model_key": sam.loaded.model_key,
        "dataset": str(config.dataset),
    }
    if not group.is_main:
        group.barrier()  # rank 0 is writing model.pt
        return out / "model.pt"
    path = save_finetuned(model, out / "model.pt", config.model_type, meta)
    group.barrier()
    return path
