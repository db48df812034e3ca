"""The checkpoints napari-gazeseg knows by name: where to get them, how to check them, what they are for.

>>> from napari_gazeseg.models import registry
>>> [entry.name for entry in registry.entries()]            # doctest: +SKIP
>>> path = registry.download("sam_vit_b", progress=print)   # doctest: +SKIP
>>> registry.checkpoint_path("medsam_vit_b")                 # doctest: +SKIP  (offline: no network)

Each :class:`ModelEntry` names a public checkpoint: family (SAM, MedSAM,
micro-sam, SAM 2), the architecture our loaders build, the file name, the
download address(es), its SHA-256 (or, where none is published, another
published hash, or only its size, which the entry then says), the licence, the
images it is meant for and the preprocessing it expects.

Downloads (:func:`download`) go through ``pooch.retrieve`` with a resuming
downloader of our own: bytes arrive in ``<cache>/<file>.part`` (never under the
final name), an interrupted transfer continues from there with an HTTP
``Range`` request (automatically ``retries`` times, and again on the next
call), and only a complete file whose hash (or size) is right is moved into
place; a wrong checksum deletes the download. Errors are one sentence
(:class:`ModelDownloadError`). Nothing touches the network at import or unless
:func:`download` is called; offline machines use files already in the cache,
in ``$GAZESEG_SAM_DIR``, or any local path (:func:`checkpoint_path`).

Files live in the user cache folder the SAM loader already searches
(:func:`models_dir`, ``<user cache>/napari-gazeseg/sam``), so a downloaded
official SAM checkpoint is found by ``load_sam("vit_b")`` with no path.

More entries come from a JSON file named by ``$GAZESEG_MODEL_REGISTRY`` (a list
of objects with :class:`ModelEntry`'s fields; same names replace built-in
entries); see ``docs/models.md``.

This module imports neither torch nor napari.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

__all__ = [
    "BUILTIN_ENTRIES",
    "ModelDownloadError",
    "ModelEntry",
    "VerifyResult",
    "checkpoint_path",
    "download",
    "entries",
    "entry",
    "is_downloaded",
    "models_dir",
    "size_text",
    "user_cache_dir",
    "verify",
]

#: ``progress(done_bytes, total_bytes_or_None)``; raising from it cancels (the partial file is kept).
Progress = Callable[[int, "int | None"], None]

FAMILIES = ("SAM", "MedSAM", "micro-sam", "SAM 2")
#: Preprocessing kinds: ``sam`` (SamPredictor: longest side 1024, ImageNet mean/std, pad),
#: ``medsam`` (MedSAM_Inference.py: resize to 1024 x 1024 bicubic, min-max to [0, 1]),
#: ``sam2`` (SAM 2: resize to 1024 x 1024, ImageNet mean/std).
PREPROCESSING = ("sam", "medsam", "sam2")
#: Checkpoint layouts: a plain state dict (``sam``), micro-sam's export (``micro-sam``:
#: a state dict, or ``{"model_state": {"sam.<name>": ...}}`` from training, optional
#: ``decoder_state``), SAM 2's ``{"model": state dict}`` (``sam2``).
LAYOUTS = ("sam", "micro-sam", "sam2")


class ModelDownloadError(RuntimeError):
    """A download, check or lookup failed; the message is one sentence saying what to do."""


@dataclass(frozen=True)
class ModelEntry:
    """One downloadable checkpoint (see the module doc).

    ``sha256`` is ``None`` when no SHA-256 is published; then ``other_hash``
    (``"md5:..."`` / ``"xxh128:..."``, as pooch spells them) is checked if given,
    else only ``size`` (bytes). ``hash_note`` says where the hash comes from or
    that it is unknown. ``urls`` are tried in order. ``config_overrides`` (SAM 2
    entries) change the configuration the architecture names, in hydra syntax
    (``"++model.image_size=512"``), for checkpoints of a modified model.
    """

    name: str
    family: str
    architecture: str
    file_name: str
    urls: tuple[str, ...]
    sha256: str | None
    size: int | None
    licence: str
    images: str
    preprocessing: str = "sam"
    layout: str = "sam"
    other_hash: str | None = None
    hash_note: str = ""
    notes: str = ""
    config_overrides: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "urls", tuple(self.urls))
        overrides = self.config_overrides
        object.__setattr__(
            self, "config_overrides", (overrides,) if isinstance(overrides, str) else tuple(overrides)
        )
        if self.family not in FAMILIES:
            raise ValueError(f"model {self.name!r}: family {self.family!r} is not one of {', '.join(FAMILIES)}.")
        if self.preprocessing not in PREPROCESSING or self.layout not in LAYOUTS:
            raise ValueError(f"model {self.name!r}: unknown preprocessing or layout.")
        if self.sha256 is not None and (len(self.sha256) != 64 or set(self.sha256) - set("0123456789abcdef")):
            raise ValueError(f"model {self.name!r}: sha256 must be 64 lower-case hex digits.")
        if not self.urls or Path(self.file_name).name != self.file_name:
            raise ValueError(f"model {self.name!r} needs a download address and a plain file name.")

    @property
    def known_hash(self) -> str | None:
        """The hash pooch checks: ``sha256:...``, else ``other_hash``, else None (size only)."""
        return f"sha256:{self.sha256}" if self.sha256 else self.other_hash

    @property
    def check(self) -> str:
        """How a file is checked, in words (for lists and messages)."""
        if self.sha256:
            return "SHA-256"
        if self.other_hash:
            return f"{self.other_hash.split(':')[0].upper()} (no SHA-256 published)"
        return "size only (no hash published)"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["urls"] = list(self.urls)
        data["config_overrides"] = list(self.config_overrides)
        return data


_SAM = "https://dl.fbaipublicfiles.com/segment_anything/"
_SAM2 = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"
_SAM2_HF = "https://huggingface.co/facebook/"
_BIOIMAGEIO = "https://uk1s3.embassy.ebi.ac.uk/public-datasets/bioimage.io/"
_NATURAL = "natural photographs; a general start for any image, weak on grey-level medical and microscopy images"
_SAM2_RECORDED = "SHA-256 as recorded by a user of the official file (not published by Meta)"


def _sam(architecture: str, file_name: str, sha256: str, size: int) -> ModelEntry:
    """One of Meta's SAM checkpoints (SHA-256 published with them)."""
    return ModelEntry(
        f"sam_{architecture}", "SAM", architecture, file_name, (_SAM + file_name,), sha256, size,
        "Apache-2.0", _NATURAL,
    )


def _micro_sam(kind: str, bioimageio_id: str, xxh128: str, images: str, notes: str) -> ModelEntry:
    """One of micro-sam's ViT-B models v1.2, from BioImage.IO (``bioimageio_id``); micro-sam
    publishes an xxh128 hash, no SHA-256."""
    return ModelEntry(
        f"micro_sam_vit_b_{kind}", "micro-sam", "vit_b", f"micro_sam_vit_b_{kind}.pt",
        (_BIOIMAGEIO + f"{bioimageio_id}/1.2/files/vit_b.pt",),
        None, None, f"see its BioImage.IO page ({bioimageio_id}); micro-sam itself is MIT", images,
        layout="micro-sam", other_hash=f"xxh128:{xxh128}",
        hash_note="no SHA-256 published; xxh128 from micro-sam 1.8.14's registry (micro_sam/util.py; needs xxhash)",
        notes=notes,
    )


def _sam2(hiera: str, sha256: str | None, size: int, hash_note: str) -> ModelEntry:
    """One of Meta's SAM 2.1 checkpoints (``hiera``: tiny, small, base_plus or large),
    from Meta's server, else from Hugging Face."""
    file_name = f"sam2.1_hiera_{hiera}.pt"
    mirror = f"{_SAM2_HF}sam2.1-hiera-{hiera.replace('_', '-')}/resolve/main/{file_name}"
    return ModelEntry(
        f"sam2.1_hiera_{hiera}", "SAM 2", f"hiera_{hiera}", file_name, (_SAM2 + file_name, mirror),
        sha256, size, "Apache-2.0", "video and 3D stacks (propagation through planes); natural images",
        preprocessing="sam2", layout="sam2", hash_note=hash_note,
    )


#: The built-in entries. Sizes and hashes as published by the projects or recorded by
#: independent users of the same files (sources in docs/models.md); never guessed.
BUILTIN_ENTRIES: tuple[ModelEntry, ...] = (
    _sam("vit_b", "sam_vit_b_01ec64.pth", "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912", 375_042_383),
    _sam("vit_l", "sam_vit_l_0b3195.pth", "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622", 1_249_524_607),
    _sam("vit_h", "sam_vit_h_4b8939.pth", "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e", 2_564_550_879),
    ModelEntry(
        "medsam_vit_b", "MedSAM", "vit_b", "medsam_vit_b.pth",
        ("https://zenodo.org/records/10689643/files/medsam_vit_b.pth",),
        None, 375_049_145, "Apache-2.0 (MedSAM repository; see the Zenodo record 10689643 for the weights)",
        "radiology (CT, MRI, X-ray), ultrasound, endoscopy, dermoscopy, fundus, pathology: "
        "one object per box prompt",
        preprocessing="medsam", other_hash="md5:3bb6db55bd0c9ca30b61248bca72f8d6",
        hash_note="no SHA-256 published; MD5 as published with MedSAM's download scripts",
        notes="SAM ViT-B fine-tuned on 1.5 M medical image-mask pairs; expects box prompts",
    ),
    _micro_sam(
        "lm", "diplomatic-bug", "fe9252a29f3f4ea53c15a06de471e186",
        "light microscopy: cells and nuclei in fluorescence, phase contrast, brightfield",
        "micro-sam's generalist LM model v1.2; its extra instance decoder is separate and not used",
    ),
    _micro_sam(
        "em_organelles", "noisy-ox", "f3bf2ed83d691456bae2c3f9a05fb438",
        "electron microscopy: mitochondria, nuclei and other round organelles",
        "micro-sam's EM organelles model v1.2",
    ),
    _sam2("tiny", "7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69", 156_008_466, _SAM2_RECORDED),
    _sam2("small", "6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38", 184_416_285, _SAM2_RECORDED),
    _sam2("base_plus", None, 323_606_802, "no hash known to us: size only"),
    _sam2("large", None, 898_083_611, "no hash known to us: size only"),
)


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME`` or ``~/.cache`` (Linux), ``~/Library/Caches`` (macOS), ``%LOCALAPPDATA%`` (Windows)."""
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def models_dir() -> Path:
    """Where downloads go: ``<user cache>/napari-gazeseg/sam`` (the SAM loader's cache folder)."""
    return user_cache_dir() / "napari-gazeseg" / "sam"


def _extra_entries() -> list[ModelEntry]:
    path = os.environ.get("GAZESEG_MODEL_REGISTRY")
    if not path:
        return []
    try:
        items = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
        known = {f.name for f in fields(ModelEntry)}
        return [ModelEntry(**{k: v for k, v in item.items() if k in known}) for item in items]
    except (OSError, ValueError, TypeError) as err:
        raise ModelDownloadError(
            f"the model list {path} ($GAZESEG_MODEL_REGISTRY) cannot be used ({err}); fix it or unset the variable."
        ) from None


def entries() -> list[ModelEntry]:
    """Built-in entries, then those of ``$GAZESEG_MODEL_REGISTRY`` (replacing same names)."""
    by_name = {e.name: e for e in BUILTIN_ENTRIES}
    by_name.update({e.name: e for e in _extra_entries()})
    return list(by_name.values())


def entry(name: str) -> ModelEntry:
    """The entry called ``name``; one sentence listing the names when there is none."""
    for candidate in entries():
        if candidate.name == name:
            return candidate
    raise ModelDownloadError(
        f"no model is called {name!r}; choose one of {', '.join(e.name for e in entries())} "
        "(`gazeseg models list`)."
    )


def _as_entry(model: str | ModelEntry) -> ModelEntry:
    return model if isinstance(model, ModelEntry) else entry(model)


def _local_candidates(item: ModelEntry, folder: Path | None) -> list[Path]:
    candidates = [(folder or models_dir()) / item.file_name]
    if folder is None and os.environ.get("GAZESEG_SAM_DIR"):
        candidates.append(Path(os.environ["GAZESEG_SAM_DIR"]).expanduser() / item.file_name)
    return candidates


def is_downloaded(model: str | ModelEntry, folder: str | os.PathLike | None = None) -> bool:
    """True when the file is present with the right size (cheap: no hashing)."""
    item = _as_entry(model)
    for path in _local_candidates(item, None if folder is None else Path(folder)):
        if path.is_file() and (item.size is None or path.stat().st_size == item.size):
            return True
    return False


def checkpoint_path(model: str | ModelEntry | os.PathLike, folder: str | os.PathLike | None = None) -> Path:
    """The local file of a model, without any network access.

    ``model`` is an entry name, an entry, or a path to a local file (used as it
    is: offline machines pass their own copy). A registry file must be present
    with the right size (hashes are checked by :func:`download` and
    :func:`verify`, not on every load).
    """
    if not isinstance(model, ModelEntry):
        as_path = Path(model).expanduser()
        if as_path.is_file():
            return as_path
        if os.sep in str(model) or as_path.suffix in (".pt", ".pth"):
            raise ModelDownloadError(f"{as_path} does not exist; pass the path of a checkpoint file.")
    item = _as_entry(str(model) if not isinstance(model, ModelEntry) else model)
    for path in _local_candidates(item, None if folder is None else Path(folder)):
        if path.is_file() and (item.size is None or path.stat().st_size == item.size):
            return path
    raise ModelDownloadError(
        f"{item.name} is not downloaded ({item.file_name} is not in {Path(folder) if folder else models_dir()}); "
        f"run `gazeseg models download {item.name}`, or on a machine without network put the file there "
        "or pass its path."
    )


# ------------------------------------------------------------------------------- download


def size_text(size: int | None) -> str:
    """``375.0 MB``-style text for a byte count (``size unknown`` for None), for lists and combos."""
    if size is None:
        return "size unknown"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return ""  # pragma: no cover


class _ResumingDownloader:
    """A pooch downloader that streams into a stable ``.part`` file and resumes it with ``Range``.

    Called by pooch as ``downloader(url, output_file, pooch)``; on success the
    complete ``.part`` is moved to ``output_file`` (pooch's temporary file, which
    pooch hashes and moves into place, or deletes on a mismatch).
    """

    def __init__(self, partial: Path, size: int | None, progress: Progress | None, retries: int, timeout: float):
        self.partial = partial
        self.size = size
        self.progress = progress
        self.retries = retries
        self.timeout = timeout

    def __call__(self, url: str, output_file, pooch=None, check_only: bool = False) -> None:
        import requests

        last_error: Exception | None = None
        for _attempt in range(1 + self.retries):
            try:
                self._transfer(requests, url)
            except requests.HTTPError as err:  # the server refuses (404, 403, ...): no use retrying
                raise _Interrupted(f"HTTP {err.response.status_code}") from None
            except (requests.RequestException, OSError) as err:  # a cut connection: resume
                last_error = err
                continue
            break
        else:
            done = self.partial.stat().st_size if self.partial.exists() else 0
            raise _Interrupted(f"{type(last_error).__name__} after {size_text(done)}")
        os.replace(self.partial, output_file)

    def _transfer(self, requests, url: str) -> None:
        done = self.partial.stat().st_size if self.partial.exists() else 0
        if self.size is not None and done > self.size:  # not our file: start again
            self.partial.unlink()
            done = 0
        if self.size is not None and done == self.size:
            return
        headers = {"Range": f"bytes={done}-"} if done else {}
        with requests.get(url, headers=headers, stream=True, timeout=self.timeout) as response:
            if response.status_code == 416 and done:  # nothing left to send: it is complete
                return
            response.raise_for_status()
            resumed = response.status_code == 206
            if not resumed:
                done = 0
            length = response.headers.get("Content-Length")
            total = (done + int(length)) if length is not None and length.isdigit() else self.size
            mode = "ab" if resumed else "wb"
            with open(self.partial, mode) as handle:
                if self.progress is not None:
                    self.progress(done, total)
                for chunk in response.iter_content(chunk_size=1 << 16):  # a cut loses at most one chunk
                    handle.write(chunk)
                    done += len(chunk)
                    if self.progress is not None:
                        self.progress(done, total)
            if total is not None and done < total:
                raise OSError(f"the connection closed after {done} of {total} bytes")


class _Interrupted(Exception):
    pass


def download(
    model: str | ModelEntry,
    progress: Progress | None = None,
    folder: str | os.PathLike | None = None,
    retries: int = 3,
    timeout: float = 60.0,
) -> Path:
    """Download ``model`` into :func:`models_dir` (or ``folder``) unless a good copy is there.

    Returns the file's path. An existing file with the right hash (or size) is
    kept without a request. ``progress(done_bytes, total_bytes)`` is called as
    bytes arrive (from this thread: a widget's worker yields or emits from it;
    raising from it cancels, keeping the partial file for a later resume). A
    cut connection resumes up to ``retries`` times; then, and for a wrong
    checksum or size, :class:`ModelDownloadError` says so in one sentence.
    A wrong file is deleted; only a partial ``.part`` (never a file under the
    final name) is kept, and only to resume.
    """
    import pooch

    item = _as_entry(model)
    target_dir = Path(folder) if folder is not None else models_dir()
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ModelDownloadError(
            f"{target_dir} cannot be created ({err.strerror}); pass a folder you can write to."
        ) from None
    final = target_dir / item.file_name
    if final.is_file() and _good(item, final):
        if progress is not None:
            progress(final.stat().st_size, final.stat().st_size)
        return final
    if final.is_file():  # present but wrong (truncated, damaged): never kept under the final name
        final.unlink()
    partial = target_dir / (item.file_name + ".part")
    lock = _lock(partial)
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # pooch's own "Downloading ..." lines: the caller shows progress
    failures = []
    try:
        for url in item.urls:
            downloader = _ResumingDownloader(partial, item.size, progress, retries, timeout)
            try:
                pooch.retrieve(url, item.known_hash, fname=item.file_name, path=target_dir,
                               downloader=downloader)
            except _Interrupted as err:
                failures.append(f"{url} ({err})")
                continue
            except ValueError as err:  # pooch: hash mismatch (the download was deleted) or unknown algorithm
                partial.unlink(missing_ok=True)
                if "not available" in str(err) or "Algorithm" in str(err):
                    raise ModelDownloadError(
                        f"{item.name} is checked with {item.known_hash.split(':')[0]}, which needs the "
                        "xxhash package; install it (pip install xxhash) and download again."
                    ) from None
                raise ModelDownloadError(
                    f"the download of {item.name} from {url} does not match its {item.check.split(' ')[0]} "
                    "checksum and was deleted; the server sent another file or the entry is out of date: "
                    "try again later or download it by hand and pass its path."
                ) from None
            if not _size_ok(item, final):
                got = final.stat().st_size
                final.unlink(missing_ok=True)
                raise ModelDownloadError(
                    f"the download of {item.name} has {got} bytes, not {item.size}, and was deleted; "
                    "try again later or download it by hand and pass its path."
                )
            return final
        done = partial.stat().st_size if partial.exists() else 0
        kept = (
            f"{size_text(done)} are kept in {partial.name}: run `gazeseg models download {item.name}` "
            "again to resume"
            if done
            else f"try `gazeseg models download {item.name}` again later"
        )
        raise ModelDownloadError(
            f"the download of {item.name} failed or was interrupted ({'; '.join(failures)}); {kept}, "
            f"or on a machine without network copy {item.file_name} into {target_dir} or pass its path."
        )
    finally:
        logger.setLevel(level)
        _unlock(lock)


def _lock(partial: Path):
    """An exclusive lock beside the partial file, so two downloads never write one file."""
    handle = open(partial.with_name(partial.name + ".lock"), "a+")
    try:
        import fcntl

        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # Windows: no advisory locks; downloads of one file at once are the user's call
        pass
    except OSError:
        handle.close()
        raise ModelDownloadError(
            f"another download of {partial.name[: -len('.part')]} is running; wait for it to finish."
        ) from None
    return handle


def _unlock(handle) -> None:
    path = Path(handle.name)
    handle.close()
    path.unlink(missing_ok=True)


def _size_ok(item: ModelEntry, path: Path) -> bool:
    return item.size is None or path.stat().st_size == item.size


def _good(item: ModelEntry, path: Path) -> bool:
    if not _size_ok(item, path):
        return False
    known = item.known_hash
    if known is None:
        return True
    return _file_hash(path, known.split(":")[0]) == known.split(":")[1].lower()


def _file_hash(path: Path, algorithm: str) -> str:
    if algorithm == "xxh128":
        try:
            import xxhash
        except ImportError:
            raise ModelDownloadError(
                f"{path.name} is checked with xxh128, which needs the xxhash package; "
                "install it (pip install xxhash)."
            ) from None
        hasher = xxhash.xxh128()
    else:
        hasher = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            hasher.update(block)
    return hasher.hexdigest()


# --------------------------------------------------------------------------------- verify


@dataclass
class VerifyResult:
    """What :func:`verify` found for one entry: ``status`` is ok, mismatch or missing."""

    entry: ModelEntry
    path: Path | None
    status: str
    detail: str = ""
    extra: dict = field(default_factory=dict)


def verify(model: str | ModelEntry, folder: str | os.PathLike | None = None) -> VerifyResult:
    """Hash a downloaded file against its entry (size only where no hash is known)."""
    item = _as_entry(model)
    candidates = [p for p in _local_candidates(item, None if folder is None else Path(folder)) if p.is_file()]
    if not candidates:
        return VerifyResult(item, None, "missing", "not downloaded")
    path = candidates[0]
    if not _size_ok(item, path):
        return VerifyResult(item, path, "mismatch", f"{path.stat().st_size} bytes, expected {item.size}")
    known = item.known_hash
    if known is None:
        return VerifyResult(item, path, "ok", "size matches (no hash known)")
    algorithm, expected = known.split(":")
    actual = _file_hash(path, algorithm)
    if actual != expected.lower():
        return VerifyResult(item, path, "mismatch", f"{algorithm} {actual}, expected {expected}")
    return VerifyResult(item, path, "ok", f"{algorithm} matches")
