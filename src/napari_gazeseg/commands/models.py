"""``gazeseg models``: list, download and verify the checkpoints of the model registry.

    gazeseg models list
    gazeseg models download NAME [--dir DIR]
    gazeseg models verify [NAME ...]

Downloads resume after a cut connection (run the same command again), are
checked against the entry's SHA-256 (or the hash or size it has) and go to the
user cache folder the SAM loader searches (see ``docs/models.md``). Offline
machines copy files there, or pass a checkpoint path wherever one is asked for.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "models",
        help="list, download and verify SAM, MedSAM, micro-sam and SAM 2 checkpoints",
        description=__doc__.split("\n\n")[0].replace("``", ""),
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the known models, their sizes, licences and whether they are here")
    listing.add_argument("--dir", default=None, help="look in this folder instead of the cache folder")
    get = actions.add_parser("download", help="download a model (resumes an interrupted download)")
    get.add_argument("name", help="the model's name (see `gazeseg models list`)")
    get.add_argument("--dir", default=None, help="download into this folder instead of the cache folder")
    get.add_argument("--quiet", action="store_true", help="no progress bar")
    check = actions.add_parser("verify", help="hash downloaded models against the registry")
    check.add_argument("names", nargs="*", help="models to check (default: every downloaded one)")
    check.add_argument("--dir", default=None, help="look in this folder instead of the cache folder")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..models import registry

    try:
        return {"list": _list, "download": _download, "verify": _verify}[args.action](args, registry)
    except registry.ModelDownloadError as err:
        raise ValueError(str(err)) from None  # the CLI prints it as one line (rc 2)


def _list(args, registry) -> int:
    rows = []
    for item in registry.entries():
        here = registry.is_downloaded(item, args.dir)
        status = "downloaded" if here else f"will download ({registry.size_text(item.size)})"
        rows.append((item.name, item.family, item.architecture, registry.size_text(item.size), status,
                     item.licence.split(" (")[0].split(";")[0]))
    header = ("NAME", "FAMILY", "ARCH", "SIZE", "STATUS", "LICENCE")
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
    print(f"\nfolder: {args.dir or registry.models_dir()}")
    return 0


def _download(args, registry) -> int:
    from tqdm import tqdm

    item = registry.entry(args.name)
    bar = None

    def progress(done: int, total: int | None) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, initial=done, unit="B", unit_scale=True, desc=item.name, disable=args.quiet)
        bar.update(done - bar.n)

    try:
        path = registry.download(item, progress=progress, folder=args.dir)
    finally:
        if bar is not None:
            bar.close()
    print(f"{item.name}: {path} ({item.check} checked)")
    return 0


def _verify(args, registry) -> int:
    chosen = [registry.entry(name) for name in args.names] if args.names else registry.entries()
    results = [registry.verify(item, args.dir) for item in chosen]  # each file hashed once
    if not args.names:
        results = [result for result in results if result.status != "missing"]
    if not results:
        print("no model is downloaded; `gazeseg models download NAME` fetches one.")
        return 0
    for result in results:
        where = f" {result.path}" if result.path else ""
        print(f"{result.entry.name}: {result.status} ({result.detail}){where}")
    return 1 if any(result.status != "ok" for result in results) else 0
