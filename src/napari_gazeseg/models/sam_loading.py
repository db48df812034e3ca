"""Find, check and load SAM checkpoints, and fine-tuned gaze overlays on top of them.

Where a base checkpoint is looked for, first hit wins:

1. the ``checkpoint`` argument (a file);
2. ``$GAZESEG_SAM_CHECKPOINT`` (a file; used only when its model type fits);
3. ``$GAZESEG_SAM_DIR/<official file name>``;
4. the user cache folder ``<cache>/napari-gazeseg/sam/<official file name>``, where
   ``<cache>`` is ``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux, ``~/Library/Caches``
   on macOS and ``%LOCALAPPDATA%`` on Windows (see :func:`sam_cache_dir`).

Model types are built by a registry of builders (:func:`register_sam_builder`).
``vit_b``, ``vit_l`` and ``vit_h`` are segment-anything's own; tests register small
models (e.g. ``vit_tiny``) and go through exactly the same loading and checks.

A *fine-tuned gaze checkpoint* (written by ``gazeseg train-sam``) holds only the
prompt encoder and mask decoder; :func:`load_sam` puts it on top of the base model.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from segment_anything import sam_model_registry
from segment_anything.modeling import Sam

from ._atomic import save_atomic
from .devices import resolve_device

__all__ = [
    "FINETUNED_FORMAT",
    "OFFICIAL_CHECKPOINTS",
    "LoadedSam",
    "SamCheckpointError",
    "checkpoint_digest",
    "find_checkpoint",
    "load_finetuned",
    "load_sam",
    "model_types",
    "register_sam_builder",
    "resolve_device",
    "sam_cache_dir",
    "save_finetuned",
    "base_state",
]

_DOWNLOAD_ROOT = "https://dl.fbaipublicfiles.com/segment_anything/"

#: Official file name and download address of each model type's checkpoint.
OFFICIAL_CHECKPOINTS: dict[str, tuple[str, str]] = {
    "vit_b": ("sam_vit_b_01ec64.pth", _DOWNLOAD_ROOT + "sam_vit_b_01ec64.pth"),
    "vit_l": ("sam_vit_l_0b3195.pth", _DOWNLOAD_ROOT + "sam_vit_l_0b3195.pth"),
    "vit_h": ("sam_vit_h_4b8939.pth", _DOWNLOAD_ROOT + "sam_vit_h_4b8939.pth"),
}

#: ``format`` tag of fine-tuned gaze checkpoints (prompt encoder + mask decoder).
FINETUNED_FORMAT = "napari-gazeseg/sam-finetuned/1"

_BUILDERS: dict[str, Callable[[], Sam]] = {
    name: (lambda builder=sam_model_registry[name]: builder(checkpoint=None))
    for name in OFFICIAL_CHECKPOINTS
}
_FILE_NAMES: dict[str, str] = {name: entry[0] for name, entry in OFFICIAL_CHECKPOINTS.items()}
# image-encoder width -> official model type, to name the type a foreign checkpoint fits
_ENCODER_WIDTHS = {768: "vit_b", 1024: "vit_l", 1280: "vit_h"}


class SamCheckpointError(ValueError):
    """A SAM checkpoint is missing, unreadable or made for another model."""


@dataclass(frozen=True)
class LoadedSam:
    """A SAM model in eval mode with where it came from.

    ``model_key`` names the image encoder's weights (model type and checkpoint
    digest): embeddings computed with one key stay valid for every fine-tuned
    overlay on it, since overlays never touch the image encoder.
    """

    model: Sam
    model_type: str
    checkpoint: Path
    finetuned: Path | None
    finetuned_meta: dict[str, Any]

    @property
    def model_key(self) -> str:
        return f"{self.model_type}-{checkpoint_digest(self.checkpoint)}"


def register_sam_builder(model_type: str, builder: Callable[[], Sam], file_name: str) -> None:
    """Make ``model_type`` loadable: ``builder()`` returns an untrained :class:`Sam`.

    ``file_name`` is the checkpoint's name looked for in ``$GAZESEG_SAM_DIR`` and
    the cache folder. Re-registering a name replaces it.
    """
    _BUILDERS[model_type] = builder
    _FILE_NAMES[model_type] = file_name


def model_types() -> list[str]:
    """Model types that can be loaded, official ones first."""
    return list(_BUILDERS)


def sam_cache_dir() -> Path:
    """The user cache folder for SAM checkpoints: ``<user cache>/napari-gazeseg/sam``.

    The model registry downloads into the same folder (:func:`registry.models_dir`).
    """
    from .registry import models_dir

    return models_dir()


def _fetch_hint(model_type: str) -> str:
    if model_type in OFFICIAL_CHECKPOINTS:
        name, url = OFFICIAL_CHECKPOINTS[model_type]
        return f"download {name} from {url} into {sam_cache_dir()} or pass its path"
    return f"put {_FILE_NAMES[model_type]} into {sam_cache_dir()} or pass its path"


def _check_model_type(model_type: str) -> None:
    if model_type not in _BUILDERS:
        raise SamCheckpointError(
            f"unknown SAM model type {model_type!r}; choose one of {', '.join(_BUILDERS)}."
        )


def find_checkpoint(model_type: str = "vit_b", checkpoint: str | os.PathLike | None = None) -> Path:
    """Path of the base checkpoint for ``model_type`` (search order in the module doc).

    Raises :class:`SamCheckpointError` naming the file to fetch when none is found.
    """
    _check_model_type(model_type)
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise SamCheckpointError(
                f"SAM checkpoint {path} does not exist; {_fetch_hint(model_type)}."
            )
        return path
    file_name = _FILE_NAMES[model_type]
    from_env = os.environ.get("GAZESEG_SAM_CHECKPOINT")
    if from_env and Path(from_env).expanduser().is_file():
        path = Path(from_env).expanduser()
        if path.name == file_name or _guess_model_type(path) in (model_type, None):
            return path  # skipped only when it is recognisably another official model type
    candidates = []
    if os.environ.get("GAZESEG_SAM_DIR"):
        candidates.append(Path(os.environ["GAZESEG_SAM_DIR"]).expanduser() / file_name)
    candidates.append(sam_cache_dir() / file_name)
    for path in candidates:
        if path.is_file():
            return path
    raise SamCheckpointError(
        f"no SAM {model_type} checkpoint ({file_name}) was found; {_fetch_hint(model_type)} "
        "(or set GAZESEG_SAM_CHECKPOINT / GAZESEG_SAM_DIR)."
    )


_DIGESTS: dict[tuple[str, int, int], str] = {}
_DIGEST_SAMPLE = 1 << 20


def checkpoint_digest(path: str | os.PathLike) -> str:
    """A 16-hex-digit fingerprint of a checkpoint file, cached per (path, size, mtime).

    SHA-256 over the size and three 1 MiB samples (start, middle, end): enough to
    tell checkpoints apart for cache keys in milliseconds even for the 2.5 GB
    vit_h file; it is not an integrity check.
    """
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        sha = hashlib.sha256(str(stat.st_size).encode())
        with open(path, "rb") as handle:
            for offset in (
                0,
                max(0, stat.st_size // 2 - _DIGEST_SAMPLE // 2),
                max(0, stat.st_size - _DIGEST_SAMPLE),
            ):
                handle.seek(offset)
                sha.update(handle.read(_DIGEST_SAMPLE))
        _DIGESTS[key] = sha.hexdigest()[:16]
    return _DIGESTS[key]


def _read_state(path: Path, what: str) -> dict:
    """``torch.load(weights_only=True)``; a failure is one sentence of our own.

    Torch's own message is never repeated: it spans several sentences and, for
    files holding Python objects, advises loading with ``weights_only=False``,
    which would run whatever code the file carries. That is never the way.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only" not in str(err).lower():  # a damaged pickle, not a refused object
            raise SamCheckpointError(
                f"{path.name} could not be read as a {what} (UnpicklingError); "
                "the file may be incomplete: fetch it again."
            ) from None
        raise SamCheckpointError(
            f"{path.name} could not be read as a {what}: it holds Python objects besides weights, "
            "which are never loaded (they could run code); use the official checkpoint file."
        ) from None
    except Exception as err:  # noqa: BLE001  torch raises many types for foreign or corrupt files
        raise SamCheckpointError(
            f"{path.name} could not be read as a {what} ({type(err).__name__}); "
            "the file may be incomplete: fetch it again."
        ) from None
    if not isinstance(state, dict):
        raise SamCheckpointError(f"{path.name} holds no state dict, so it is not a {what}.")
    return state


def _guess_model_type(path: Path) -> str | None:
    """The official model type whose image encoder width the checkpoint has, if readable."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001  unreadable: the type cannot be guessed
        return None
    weight = base_state(state).get("image_encoder.patch_embed.proj.weight") if isinstance(state, dict) else None
    return None if weight is None else _ENCODER_WIDTHS.get(int(weight.shape[0]))


def base_state(state: dict) -> dict:
    """The SAM state dict inside a checkpoint, whatever its layout.

    A plain state dict (segment-anything, MedSAM, micro-sam's exported models) is
    returned as it is. micro-sam's layouts with ``"model_state"`` (its training
    checkpoints, and exports with the instance-segmentation decoder) give that
    state dict with the ``sam.`` prefix of its names removed; the extra
    ``"decoder_state"`` (micro-sam's automatic instance segmentation) and
    optimiser state are ignored.
    """
    inner = state.get("model_state") if isinstance(state, dict) else None
    if not isinstance(inner, dict):
        return state
    prefix = "sam."
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in inner.items()}


def _mismatch_message(path: Path, model_type: str, state: dict, reason: str) -> str:
    weight = state.get("image_encoder.patch_embed.proj.weight")
    fits = None if weight is None else _ENCODER_WIDTHS.get(int(weight.shape[0]))
    if fits is not None and fits != model_type:
        advice = (
            f"it is a {fits} checkpoint: choose model type {fits}, or {_fetch_hint(model_type)}"
        )
    else:
        advice = _fetch_hint(model_type)
    return f"{path.name} does not fit SAM {model_type} ({reason}); {advice}."


def _check_encoder_width(path: Path, model_type: str, state: dict) -> None:
    """Refuse at once a checkpoint whose image encoder is another official model's."""
    expected = {name: width for width, name in _ENCODER_WIDTHS.items()}.get(model_type)
    weight = state.get("image_encoder.patch_embed.proj.weight")
    if expected is None or weight is None or int(weight.shape[0]) == expected:
        return
    reason = f"image_encoder.patch_embed.proj.weight has {int(weight.shape[0])} channels, expected {expected}"
    raise SamCheckpointError(_mismatch_message(path, model_type, state, reason))


def _load_strict(module: torch.nn.Module, state: dict, path: Path, model_type: str) -> None:
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong_shape = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong_shape:
        if wrong_shape:
            key = wrong_shape[0]
            reason = f"{key} has shape {tuple(state[key].shape)}, expected {tuple(own[key].shape)}"
        elif missing:
            reason = f"{len(missing)} weights missing, e.g. {missing[0]}"
        else:
            reason = f"{len(unexpected)} unexpected weights, e.g. {unexpected[0]}"
        raise SamCheckpointError(_mismatch_message(path, model_type, state, reason))
    module.load_state_dict(state)


def load_sam(
    model_type: str = "vit_b",
    checkpoint: str | os.PathLike | None = None,
    device: str | torch.device = "auto",
    finetuned: str | os.PathLike | None = None,
) -> LoadedSam:
    """Build ``model_type``, load its base checkpoint, then an optional fine-tuned overlay.

    Raises :class:`SamCheckpointError` (a ``ValueError``) with one sentence naming the
    file and what to fetch when a checkpoint is missing, unreadable or mismatched.
    """
    path = find_checkpoint(model_type, checkpoint)
    state = base_state(_read_state(path, f"SAM {model_type} checkpoint"))
    if "prompt_encoder" in state and state.get("format") == FINETUNED_FORMAT:
        raise SamCheckpointError(
            f"{path.name} is a fine-tuned gaze checkpoint, not a base SAM model; pass it as "
            f"the fine-tuned file and {_fetch_hint(model_type)} as the base."
        )
    _check_encoder_width(path, model_type, state)  # before building: vit_h takes seconds
    model = _BUILDERS[model_type]()
    _load_strict(model, state, path, model_type)
    meta: dict[str, Any] = {}
    finetuned_path = None
    if finetuned is not None:
        finetuned_path = Path(finetuned).expanduser()
        meta = load_finetuned(model, finetuned_path, model_type)
    model = model.to(resolve_device(device)).eval()
    return LoadedSam(model, model_type, path, finetuned_path, meta)


def save_finetuned(
    model: Sam, path: str | os.PathLike, model_type: str, meta: dict[str, Any]
) -> Path:
    """Write the prompt encoder and mask decoder of ``model`` (nothing else) to ``path``.

    ``meta`` (JSON-like: prompt kind, dense logit scale, epochs, ...) is stored beside
    the weights and returned by :func:`load_finetuned`. Written atomically.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FINETUNED_FORMAT,
        "model_type": model_type,
        "meta": dict(meta),
        "prompt_encoder": {
            k: v.detach().cpu() for k, v in model.prompt_encoder.state_dict().items()
        },
        "mask_decoder": {k: v.detach().cpu() for k, v in model.mask_decoder.state_dict().items()},
    }
    save_atomic(payload, path, ".partial")
    return path


def load_finetuned(model: Sam, path: str | os.PathLike, model_type: str) -> dict[str, Any]:
    """Load a fine-tuned gaze checkpoint into ``model``'s prompt encoder and mask decoder.

    Returns the checkpoint's ``meta``. Raises :class:`SamCheckpointError` when the
    file is missing, is not such a checkpoint or was trained on another model type.
    """
    path = Path(path)
    if not path.is_file():
        raise SamCheckpointError(
            f"fine-tuned SAM checkpoint {path} does not exist; pass a file written by `gazeseg train-sam`."
        )
    state = _read_state(path, "fine-tuned SAM checkpoint")
    if state.get("format") != FINETUNED_FORMAT:
        raise SamCheckpointError(
            f"{path.name} is not a fine-tuned gaze checkpoint; pass a file written by `gazeseg train-sam` "
            "(a base SAM checkpoint goes in the checkpoint field)."
        )
    if state.get("model_type") != model_type:
        raise SamCheckpointError(
            f"{path.name} was fine-tuned on SAM {state.get('model_type')}, not {model_type}; "
            f"choose model type {state.get('model_type')}."
        )
    _load_strict(model.prompt_encoder, state["prompt_encoder"], path, model_type)
    _load_strict(model.mask_decoder, state["mask_decoder"], path, model_type)
    return dict(state.get("meta", {}))
