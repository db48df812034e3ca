"""GazeSam: Segment Anything prompted by gaze (Beckmann et al., *SAM meets Gaze*).

>>> sam = GazeSam("vit_b")                                  # checkpoint found as in sam_loading
>>> sam.set_image(image, contrast_limits=(0, 4095))        # once per image slice (cached)
>>> mask = sam.segment(fixations=fix)                      # bool (rows, cols)
>>> mask = sam.segment(fixations=fix, prompt="heatmap_fixations_duration")
>>> mask = sam.segment(heatmap=heatmap_layer.data)             # a ready-made dense map

Images are taken as the user sees them in napari: a 2D slice (grey, RGB(A), any
dtype) mapped through the layer's contrast limits to 8-bit RGB
(:func:`napari_gazeseg.imaging.to_uint8_rgb`), then resized exactly as
segment-anything's ``SamPredictor`` does. Decoding is the same computation as
``SamPredictor.predict_torch``, so with fixation points the masks equal the stock
predictor's on the same image and points. The image encoder may run in bfloat16
on GPUs that support it (``embed_precision="auto"``); prompt encoding and mask
decoding always run in float32, where stock ``SamPredictor.predict`` would fail
under a bf16 autocast.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from segment_anything.utils.transforms import ResizeLongestSide

from ..gaze.recording import Fixations, GazeRecording
from ..imaging import to_uint8_rgb
from .embedding_cache import EmbeddingCache, ImageEmbedding, content_hash
from .sam_loading import LoadedSam, load_sam
from .sam_prompts import (
    DENSE_LOGIT_SCALE,
    SamPrompt,
    build_prompt,
    mask_input_from_map,
    parse_prompt_kind,
)

__all__ = ["MASK_CHOICES", "GazeSam", "SamPrediction", "parse_mask_choice"]


@dataclass
class SamPrediction:
    """SAM's answer for one prompt.

    ``masks (C, rows, cols)`` bool, ``scores (C,)`` predicted IoU, ``low_res_logits
    (C, 256, 256)`` float32; ``C`` is 3 with multimask output, else 1.
    """

    masks: np.ndarray
    scores: np.ndarray
    low_res_logits: np.ndarray

    def choose(self, mask_choice: int | None = None) -> np.ndarray:
        """The mask of index ``mask_choice``, or the best-scoring one for ``None``."""
        if mask_choice is None:
            return self.masks[int(np.argmax(self.scores))]
        if not 0 <= mask_choice < len(self.masks):
            raise ValueError(
                f"mask choice {mask_choice} does not exist; SAM gave {len(self.masks)} masks (0..{len(self.masks) - 1})."
            )
        return self.masks[mask_choice]


#: What ``mask=`` may name: the best-scoring of three masks, one mask, or one of the three.
MASK_CHOICES = ("best", "single", 0, 1, 2)


def parse_mask_choice(mask: str | int | None) -> tuple[bool | None, int | None]:
    """``"best"``/None, ``"single"``, ``0``/``"0"``, ``1``, ``2`` -> ``(multimask_output, index)``.

    ``multimask_output`` None means the model's default (single mask for an
    overlay trained so, else three); ``index`` None means the best-scoring.
    """
    if mask is None or mask == "best":
        return None, None
    if mask == "single":
        return False, None
    text = str(mask).strip()
    if text in ("0", "1", "2"):
        return True, int(text)
    raise ValueError(
        f"mask choice {mask!r} is not understood; choose 'best', 'single', 0, 1 or 2."
    )


def _leading_index(slice_index: Sequence[int] | int | None) -> tuple[int, ...]:
    if slice_index is None:
        return ()
    return tuple(int(i) for i in np.atleast_1d(slice_index))


class GazeSam:
    """A SAM model with an embedding cache and gaze prompts.

    Parameters
    ----------
    model_type : str
        ``"vit_b"``, ``"vit_l"``, ``"vit_h"`` or a registered type.
    checkpoint : path or None
        Base checkpoint; ``None`` searches the environment and the cache folder.
    device : str
        ``"auto"`` (CUDA, MPS, else CPU), ``"cpu"``, ``"cuda"``, ...
    finetuned : path or None
        A fine-tuned gaze checkpoint (prompt encoder + mask decoder) put on top.
    cache_dir : path or None
        Folder for embeddings on disk; ``None`` keeps them in memory only.
    memory_cache_size : int
        Embeddings kept in memory (about 4 MB each).
    embed_precision : "auto", "float32" or "bfloat16"
        ``"auto"`` uses bfloat16 autocast for the image encoder on CUDA GPUs that
        support it and float32 elsewhere.
    """

    def __init__(
        self,
        model_type: str = "vit_b",
        checkpoint: str | os.PathLike | None = None,
        device: str = "auto",
        finetuned: str | os.PathLike | None = None,
        cache_dir: str | os.PathLike | None = None,
        memory_cache_size: int = 8,
        embed_precision: str = "auto",
    ):
        if embed_precision not in ("auto", "float32", "bfloat16"):
            raise ValueError(
                f"embed_precision must be 'auto', 'float32' or 'bfloat16', got {embed_precision!r}."
            )
        self.loaded: LoadedSam = load_sam(model_type, checkpoint, device, finetuned)
        self.model = self.loaded.model
        self.device = self.model.device
        self.transform = ResizeLongestSide(self.model.image_encoder.img_size)
        self.cache = EmbeddingCache(cache_dir, memory_cache_size)
        self.embed_precision = embed_precision
        self.dense_logit_scale = float(
            self.loaded.finetuned_meta.get("dense_logit_scale", DENSE_LOGIT_SCALE)
        )
        self.embedding: ImageEmbedding | None = None

    # -- image side ---------------------------------------------------------------
    @property
    def uses_bfloat16(self) -> bool:
        """Whether the image encoder runs under a bfloat16 autocast."""
        if self.embed_precision == "bfloat16":
            return True
        return (
            self.embed_precision == "auto"
            and self.device.type == "cuda"
            and torch.cuda.is_bf16_supported()
        )

    def prepare_image(
        self, image: np.ndarray, contrast_limits: tuple[float, float] | None = None
    ) -> np.ndarray:
        """A 2D slice as SAM sees it: ``(rows, cols, 3)`` uint8 through the contrast limits."""
        return to_uint8_rgb(image, contrast_limits)

    @torch.no_grad()
    def _encode(self, rgb: np.ndarray) -> ImageEmbedding:
        resized = self.transform.apply_image(rgb)
        tensor = torch.as_tensor(resized, device=self.device).permute(2, 0, 1).contiguous()[None]
        preprocessed = self.model.preprocess(tensor)
        if self.uses_bfloat16:
            with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16):
                features = self.model.image_encoder(preprocessed)
        else:
            features = self.model.image_encoder(preprocessed)
        return ImageEmbedding(features.float(), tuple(rgb.shape[:2]), tuple(resized.shape[:2]))

    def embedding_key(
        self,
        image: np.ndarray,
        contrast_limits: tuple[float, float] | None = None,
        slice_index: Sequence[int] | int | None = None,
    ) -> tuple[str, str, str]:
        """The cache key of a slice's embedding: model, slice and what SAM sees."""
        return self._key_and_rgb(image, contrast_limits, slice_index)[0]

    def _key_and_rgb(self, image, contrast_limits, slice_index):
        rgb = self.prepare_image(image, contrast_limits)
        key = self.cache.key(self.loaded.model_key, _leading_index(slice_index), content_hash(rgb))
        return key, rgb

    def embed(
        self,
        image: np.ndarray,
        contrast_limits: tuple[float, float] | None = None,
        slice_index: Sequence[int] | int | None = None,
    ) -> ImageEmbedding:
        """The embedding of one 2D slice, from the cache or computed (and then cached).

        ``image`` is the 2D slice itself; ``slice_index`` its leading indices in the nD
        image (part of the cache key; ``None`` for 2D images).
        """
        key, rgb = self._key_and_rgb(image, contrast_limits, slice_index)
        embedding = self.cache.get(key)
        if embedding is None:
            embedding = self._encode(rgb)
            self.cache.put(key, embedding)
        return embedding

    def set_image(
        self,
        image: np.ndarray,
        contrast_limits: tuple[float, float] | None = None,
        slice_index: Sequence[int] | int | None = None,
    ) -> ImageEmbedding:
        """Make one 2D slice the image that :meth:`predict` and :meth:`segment` work on."""
        self.embedding = self.embed(image, contrast_limits, slice_index).to(self.device)
        return self.embedding

    # -- prompt side --------------------------------------------------------------
    def _require_image(self) -> ImageEmbedding:
        if self.embedding is None:
            raise RuntimeError("no image is set; call set_image(image) before segmenting.")
        return self.embedding

    @torch.no_grad()
    def predict(self, prompt: SamPrompt, multimask_output: bool = True) -> SamPrediction:
        """Decode one prompt (already in SAM's input frame) on the current image, in float32."""
        embedding = self._require_image()
        if prompt.is_empty:
            raise ValueError("the prompt is empty; give fixations, a box or a dense gaze map.")
        device = self.device
        points = None
        if prompt.point_coords is not None:
            points = (
                torch.as_tensor(prompt.point_coords, dtype=torch.float, device=device)[None],
                torch.as_tensor(prompt.point_labels, dtype=torch.int, device=device)[None],
            )
        boxes = (
            None
            if prompt.box is None
            else torch.as_tensor(prompt.box, dtype=torch.float, device=device)[None]
        )
        masks_in = (
            None
            if prompt.mask_input is None
            else torch.as_tensor(prompt.mask_input, dtype=torch.float, device=device)[None]
        )
        with torch.autocast(device_type=device.type, enabled=False):
            sparse, dense = self.model.prompt_encoder(points=points, boxes=boxes, masks=masks_in)
            low_res, scores = self.model.mask_decoder(
                image_embeddings=embedding.features.float(),
                image_pe=self.model.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=multimask_output,
            )
            logits = self.model.postprocess_masks(
                low_res, embedding.input_size, embedding.original_size
            )
        return SamPrediction(
            masks=(logits[0] > self.model.mask_threshold).cpu().numpy(),
            scores=scores[0].float().cpu().numpy(),
            low_res_logits=low_res[0].float().cpu().numpy(),
        )

    def prompt_for(
        self,
        prompt: str | None = "fixations",
        fixations: Fixations | np.ndarray | None = None,
        recording: GazeRecording | None = None,
        box_margin: float = 0.0,
        heatmap: np.ndarray | None = None,
    ) -> SamPrompt:
        """SAM prompts for the current image from one object's gaze on this slice.

        ``fixations`` may be :class:`Fixations` or a ``(K, 2)`` array of ``(row, col)``
        points. nD gaze is restricted to the current slice by the caller
        (``fixations.on_slice(index)``); only the last two columns are used here.
        ``heatmap`` is a ready-made dense map of the slice's shape (e.g. a heatmap
        layer's data), used as the dense prompt; ``prompt=None`` then gives SAM
        the heatmap alone.
        """
        embedding = self._require_image()
        if heatmap is not None:
            heatmap = np.asarray(heatmap)
            if heatmap.shape != embedding.original_size:
                raise ValueError(
                    f"the heatmap has shape {heatmap.shape} but the image slice is "
                    f"{embedding.original_size}; pass the heatmap of this slice."
                )
        if prompt is None:
            if heatmap is None:
                raise ValueError("give a prompt kind, or a heatmap to prompt SAM with.")
            return SamPrompt(mask_input=self._mask_input(heatmap))
        if fixations is not None and not isinstance(fixations, Fixations):
            coords = np.asarray(fixations, dtype=np.float64).reshape(-1, 2)
            fixations = Fixations(
                start=np.arange(len(coords), dtype=np.float64),
                duration=np.ones(len(coords)),
                coords=coords,
            )
        kind = parse_prompt_kind(prompt)
        if heatmap is not None and kind.dense is not None:
            raise ValueError(
                f"prompt {kind.name!r} already has a dense part; pass a heatmap only with sparse prompts."
            )
        request = build_prompt(
            kind,
            embedding.original_size,
            fixations=fixations,
            recording=recording,
            box_margin=box_margin,
            logit_scale=self.dense_logit_scale,
            long_side=self.model.image_encoder.img_size,
        )
        if heatmap is not None:
            request.mask_input = self._mask_input(heatmap)
        return request

    def _mask_input(self, heatmap: np.ndarray) -> np.ndarray:
        return mask_input_from_map(
            heatmap, self.model.image_encoder.img_size, self.dense_logit_scale
        )

    @property
    def default_prompt(self) -> str:
        """The prompt a fine-tuned overlay was trained on, else ``"fixations"``."""
        return str(self.loaded.finetuned_meta.get("prompt", "fixations"))

    @property
    def default_multimask(self) -> bool:
        """Multimask output as the overlay was trained (single mask), else True."""
        return bool(self.loaded.finetuned_meta.get("multimask_output", True))

    def segment(
        self,
        fixations: Fixations | np.ndarray | None = None,
        recording: GazeRecording | None = None,
        prompt: str | None = None,
        multimask_output: bool | None = None,
        mask_choice: int | None = None,
        box_margin: float = 0.0,
        heatmap: np.ndarray | None = None,
        *,
        mask: str | int | None = None,
        clicks: tuple | None = None,
    ) -> np.ndarray:
        """One object's mask on the current image: ``(rows, cols)`` bool.

        ``prompt`` names the gaze prompts (:func:`~napari_gazeseg.models.sam_prompts.parse_prompt_kind`):
        ``"fixations"`` (foreground points), ``"fixations+box"``, a dense kind such
        as ``"heatmap_fixations"``, or combinations; ``None`` is :attr:`default_prompt`
        (or, with a ``heatmap`` given, the heatmap plus any fixations as points).
        With multimask output (``None``: :attr:`default_multimask`) the best-scoring
        of SAM's three masks is returned, or the one ``mask_choice`` names.
        ``mask`` (:data:`MASK_CHOICES`, see :func:`parse_mask_choice`) names both at
        once and, when given, replaces ``multimask_output`` and ``mask_choice``.
        ``clicks`` is ``(positive, negative)`` or ``(positive, negative, box)``: the
        annotator's correction clicks, ``(K, 2)`` ``(row, col)`` each or None, added to
        the gaze prompt, and a rectangle's ``(row, col)`` corners (or None) that
        replaces the gaze box (:func:`~napari_gazeseg.models.sam_prompts.add_clicks`).
        """
        if mask is not None:
            multimask_output, mask_choice = parse_mask_choice(mask)
        if prompt is None:
            if heatmap is None:
                prompt = self.default_prompt
            elif fixations is not None:
                prompt = "fixations"
        multimask = self.default_multimask if multimask_output is None else multimask_output
        request = self.prompt_for(prompt, fixations, recording, box_margin, heatmap)
        if clicks is not None:
            from .sam_prompts import add_clicks

            request = add_clicks(
                request, *clicks, original_size=self._require_image().original_size,
                long_side=self.model.image_encoder.img_size,
            )
        return self.predict(request, multimask).choose(mask_choice if multimask else None)

    def segment_from_mask(
        self,
        mask: np.ndarray,
        *,
        box: bool = True,
        center: bool = True,
        dense: bool = True,
        box_extension: float = 0.0,
    ) -> np.ndarray:
        """The current image's mask of the object whose mask on a neighbouring plane is ``mask``.

        Prompts: :func:`~napari_gazeseg.models.sam_prompts.prompt_from_mask` (box,
        centre point, the mask as dense input); one mask (no multimask output), as
        micro-sam's ``segment_from_mask`` projects a mask to the next slice.
        """
        original_size = self._require_image().original_size
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != tuple(original_size):
            raise ValueError(
                f"the mask has shape {mask.shape} but the image plane is {tuple(original_size)}."
            )
        from .sam_prompts import prompt_from_mask

        request = prompt_from_mask(
            mask, box=box, center=center, dense=dense, box_extension=box_extension,
            long_side=self.model.image_encoder.img_size, logit_scale=self.dense_logit_scale,
        )
        return self.predict(request, multimask_output=False).choose(None)

    @property
    def checkpoint(self) -> Path:
        return self.loaded.checkpoint

    def __repr__(self) -> str:
        extra = f", finetuned={self.loaded.finetuned.name}" if self.loaded.finetuned else ""
        return f"GazeSam({self.loaded.model_type}, {self.checkpoint.name}{extra}, device={self.device})"
