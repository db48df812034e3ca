"""``gazeseg annotate``: open napari on a folder of images, ready to annotate them by looking.

Examples::

    gazeseg annotate slides/                 # a folder of images; output in slides/gazeseg-annotations
    gazeseg annotate data/                   # a dataset folder (images/, gaze/, masks/): in place
    gazeseg annotate slides/ --output annotated/

Docks the Record gaze, Segment with gaze and Annotate series panels and shows the
first image not yet accepted or skipped (see ``docs/annotate.md``).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "annotate",
        help="annotate a folder of images by looking, in napari (resumes where it stopped)",
        description="Open napari with the Annotate series panel on a folder of images or a dataset.",
    )
    parser.add_argument("folder", type=Path, metavar="FOLDER|DATASET")
    parser.add_argument("--output", type=Path, default=None,
                        help="dataset folder to write (default: FOLDER/gazeseg-annotations, "
                        "or the dataset itself)")
    parser.set_defaults(func=run)
    return parser


def open_annotator(folder, output=None, viewer=None):
    """The viewer with the three panels docked and the series open; returns the Annotate widget."""
    import napari

    from napari_gazeseg._napari.annotate_widget import AnnotateSeriesWidget
    from napari_gazeseg._napari.record_widget import RecordGazeWidget
    from napari_gazeseg._napari.segment_widget import SegmentWithGazeWidget

    from napari_gazeseg.annotation import AnnotationSeries

    AnnotationSeries(folder, output)  # one sentence before napari opens, if the folder is wrong
    viewer = viewer or napari.Viewer()
    viewer.window.add_dock_widget(RecordGazeWidget(viewer), name="Record gaze", area="right")
    viewer.window.add_dock_widget(SegmentWithGazeWidget(viewer), name="Segment with gaze", area="right")
    widget = AnnotateSeriesWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Annotate series", area="left")
    widget.open_series(folder, output)
    return widget


def run(args: argparse.Namespace) -> int:
    import napari

    open_annotator(args.folder, args.output)
    napari.run()
    return 0
