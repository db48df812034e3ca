"""Dataset folders: images, optional label masks and gaze, matched by name.

Layout::

    FOLDER/
      images/NAME.png          (or .tif, .tiff, .jpg, .jpeg, .bmp)
      masks/NAME.png           optional label image (0 background, ids 1..n), lossless
                               (PNG or TIFF); grey masks saved as RGB are read as 2D
      gaze/NAME.gaze.tsv       any format read_gaze reads, named after the image:
                               NAME.<anything>, e.g. NAME.gaze.tsv (native, with
                               its NAME.gaze.json sidecar) or NAME.tsv (Tobii Pro Lab)

A gaze file whose name matches no image may hold several images' gaze (e.g. one
GazeMedSeg CSV for the whole set); such files are read with ``read_gaze_all``
and looked up by image name. ``gazeseg simulate`` writes such folders; SAM
fine-tuning and GradTrack training read them.
"""

from __future__ import annotations

import errno
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .formats import read_gaze, read_gaze_all, write_gaze
from .recording import Fixations, GazeRecording

__all__ = ["IMAGE_SUFFIXES", "DatasetItem", "iter_dataset", "load_dataset", "write_dataset"]

#: The imageio plugin reading each image suffix a dataset folder may hold (lower case).
_PLUGINS = {
    ".png": "pillow",
    ".jpg": "pillow",
    ".jpeg": "pillow",
    ".bmp": "pillow",
    ".tif": "tifffile",
    ".tiff": "tifffile",
}
#: Image file suffixes a dataset folder may hold (lower case).
IMAGE_SUFFIXES = tuple(_PLUGINS)
#: Files in gaze/ that are never gaze files of their own.
_SIDECAR_SUFFIXES = (".json",)


@dataclass(eq=False)
class DatasetItem:
    """One image of a dataset folder with what belongs to it.

    ``gaze`` is a :class:`GazeRecording`, or :class:`Fixations` for fixation-only
    formats. ``mask`` is the label image, or None when ``masks/`` has none.
    """

    name: str
    image: np.ndarray
    mask: np.ndarray | None
    gaze: GazeRecording | Fixations
    image_path: Path
    gaze_path: Path


def write_dataset(scenes: Iterable, folder: str | Path, overwrite: bool = False) -> list[str]:
    """Write scenes (anything with ``name``, ``image``, ``labels``, ``recording``) to a folder.

    Writes ``images/NAME.png``, ``masks/NAME.png`` (uint8 labels when the ids fit,
    else uint16) and ``gaze/NAME.gaze.tsv`` with its JSON sidecar. Returns the names
    written, in order. Refuses to replace existing files unless ``overwrite``.
    """
    import imageio.v3 as iio

    folder = Path(folder)
    directories = {part: folder / part for part in ("images", "masks", "gaze")}
    for directory in directories.values():
        directory.mkdir(parents=True, exist_ok=True)
    names = []
    for scene in scenes:
        name = scene.name
        if name in names:
            raise ValueError(f"two scenes are named {name!r}; give every scene its own name.")
        paths = (
            directories["images"] / f"{name}.png",
            directories["masks"] / f"{name}.png",
            directories["gaze"] / f"{name}.gaze.tsv",
        )
        existing = [path for path in paths if path.exists()]
        if existing and not overwrite:
            raise FileExistsError(
                errno.EEXIST,
                "already exists; write to another folder or pass overwrite=True",
                str(existing[0]),
            )
        labels = np.asarray(scene.labels)
        if labels.min() < 0 or labels.max() > np.iinfo(np.uint16).max:
            raise ValueError(f"labels of {name!r} must lie in 0..65535 to be stored as PNG.")
        mask_dtype = np.uint8 if labels.max() <= np.iinfo(np.uint8).max else np.uint16
        iio.imwrite(paths[0], np.asarray(scene.image))
        iio.imwrite(paths[1], labels.astype(mask_dtype))
        write_gaze(scene.recording, paths[2])
        names.append(name)
    return names


def iter_dataset(folder: str | Path) -> Iterator[DatasetItem]:
    """Yield the items of a dataset folder, images sorted by name.

    Raises FileNotFoundError naming what is missing (the folder, ``images/``, an
    image's gaze) and ValueError naming a file that cannot be read.
    """
    folder = Path(folder)
    images_dir, masks_dir, gaze_dir = folder / "images", folder / "masks", folder / "gaze"
    if not images_dir.is_dir():
        raise FileNotFoundError(
            f"{images_dir} does not exist; "
            "a dataset folder holds images/, gaze/ and optionally masks/."
        )
    image_paths = _files_by_stem(images_dir, IMAGE_SUFFIXES)
    if not image_paths:
        raise FileNotFoundError(f"{images_dir} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
    mask_paths = _files_by_stem(masks_dir, IMAGE_SUFFIXES) if masks_dir.is_dir() else {}
    gaze_files = _gaze_files(gaze_dir)
    shared = _SharedGaze([path for path in gaze_files if _image_name(path, image_paths) is None])
    for name in sorted(image_paths):
        image_path = image_paths[name]
        own = [path for path in gaze_files if _image_name(path, image_paths) == name]
        if len(own) > 1:
            raise ValueError(
                f"several gaze files belong to {image_path.name}: "
                f"{', '.join(p.name for p in own)}; keep one."
            )
        if own:
            gaze_path, gaze = own[0], _read_gaze(own[0])
        else:
            gaze_path, gaze = shared.find(name, image_path, gaze_dir)
        mask_path = mask_paths.get(name)
        yield DatasetItem(
            name=name,
            image=_read_image(image_path),
            mask=None if mask_path is None else _read_mask(mask_path),
            gaze=gaze,
            image_path=image_path,
            gaze_path=gaze_path,
        )


def load_dataset(folder: str | Path) -> list[DatasetItem]:
    """All items of a dataset folder in a list (see :func:`iter_dataset`)."""
    return list(iter_dataset(folder))


def _files_by_stem(directory: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix.lower() in suffixes:
            if path.stem in files:
                raise ValueError(
                    f"{files[path.stem].name} and {path.name} in {directory} share a name; "
                    "keep one."
                )
            files[path.stem] = path
    return files


def _gaze_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return [
        path
        for path in sorted(directory.iterdir())
        if path.is_file()
        and not path.name.startswith(".")
        and path.suffix.lower() not in _SIDECAR_SUFFIXES
    ]


def _image_name(gaze_path: Path, image_paths: dict[str, Path]) -> str | None:
    """The image a gaze file is named after: the longest image name N with file name ``N.<...>``."""
    matches = [name for name in image_paths if gaze_path.name.startswith(f"{name}.")]
    return max(matches, key=len) if matches else None


def _read_gaze(path: Path) -> GazeRecording | Fixations:
    try:
        return read_gaze(path)
    except ValueError as err:
        raise ValueError(f"cannot read gaze file {path}: {err}") from None


class _SharedGaze:
    """Gaze files holding several images, read once on first need."""

    def __init__(self, paths: list[Path]):
        self._paths = paths
        self._by_image: dict[str, tuple[Path, GazeRecording | Fixations]] | None = None

    def find(self, name: str, image_path: Path, gaze_dir: Path):
        if self._by_image is None:
            self._by_image = {}
            for path in self._paths:
                try:
                    contents = read_gaze_all(path)
                except ValueError as err:
                    warnings.warn(
                        f"{path} matches no image name and is not a gaze file ({err}); skipped."
                    )
                    continue
                for key, gaze in contents.items():
                    self._by_image.setdefault(Path(str(key)).stem, (path, gaze))
        if name not in self._by_image:
            raise FileNotFoundError(
                f"no gaze for {image_path}: add {gaze_dir / (name + '.gaze.tsv')} "
                "(or another gaze file named after the image)."
            )
        return self._by_image[name]


def _read_mask(path: Path) -> np.ndarray:
    """A label image; grey masks saved as RGB(A), with equal colour channels, become 2D."""
    mask = _read_image(path)
    if mask.ndim == 3 and mask.shape[-1] in (3, 4):
        colour = mask[..., :3]
        if not (
            np.array_equal(colour[..., 0], colour[..., 1])
            and np.array_equal(colour[..., 0], colour[..., 2])
        ):
            raise ValueError(
                f"mask {path} is a colour image; save masks as single-channel label images "
                "(0 background, 1, 2, ... the objects)."
            )
        mask = colour[..., 0]
    return mask


def _read_image(path: Path) -> np.ndarray:
    import imageio.v3 as iio

    try:
        return np.asarray(iio.imread(path, plugin=_PLUGINS[path.suffix.lower()]))
    # imageio raises OSError, struct.error and more for files it cannot decode
    except Exception as err:  # noqa: BLE001
        raise ValueError(
            f"cannot read image {path} ({err}); replace it with a valid image file."
        ) from None
