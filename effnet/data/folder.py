"""Image-folder datasets: ``ROOT/<class>/**/<image>``, classes are the sorted folder names.

Indexing reads headers only (:func:`effnet.data.image.header_problem`: empty files, files that
are not images, images over the pixel cap), cached per file between runs
(:mod:`effnet.data.index_cache`), and skips what it finds with a warning naming each file. What
only decoding shows (a truncated JPEG) is skipped the first time the item is loaded: another
item takes its place, and the file is recorded (:attr:`ImageFolderDataset.load_skipped`, and
the dataset's ``skip_log`` file when set). ``verify`` (``--verify``, ``--strict``) decodes
every file up front instead, in parallel processes.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from effnet.data import index_cache
from effnet.data.image import DEFAULT_MAX_PIXELS, check_image, header_problem, load_image

Sample = tuple[str, int]
#: The label of an undecodable item in an evaluation dataset (``substitute=False``).
SKIPPED_LABEL = -1
_SHOW = 20  # paths named in a warning / error message before "and N more"


def image_extensions() -> frozenset[str]:
    """Lower-case file extensions PIL can open (jpg, png, webp, bmp, gif, tiff, ...)."""
    Image.init()
    return frozenset(
        ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN
    )


def _visible(name: str) -> bool:
    # .DS_Store, AppleDouble ._files, .ipynb_checkpoints, zip tools' __MACOSX
    return not name.startswith(".") and name != "__MACOSX"


def find_classes(root: Path) -> list[str]:
    """Sorted names of the (non-hidden) sub-folders of ``root``."""
    with os.scandir(root) as it:
        return sorted(e.name for e in it if e.is_dir() and _visible(e.name))


def _list_images(folder: Path, exts: frozenset[str]) -> dict[str, tuple[int, int]]:
    """``path -> (size, mtime_ns)`` of the image files under ``folder``, in sorted order."""
    found: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if _visible(d))
        for name in sorted(filenames):
            if _visible(name) and os.path.splitext(name)[1].lower() in exts:
                path = os.path.join(dirpath, name)
                try:
                    st = os.stat(path)
                except OSError:  # a dangling link or a file removed while listing
                    found[path] = (-1, -1)
                    continue
                found[path] = (st.st_size, st.st_mtime_ns)
    return found


def _header_problems(root: Path, stats: index_cache.Stats, max_pixels: int | None) -> dict:
    """``path -> problem or None`` from the headers, reusing the cache for unchanged files."""
    known, todo = index_cache.reuse(index_cache.load(root, max_pixels), stats)
    if todo:
        with warnings.catch_warnings():  # the pixel cap is ours; PIL's bomb warning is noise
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            known.update({p: header_problem(p, max_pixels=max_pixels) for p in todo})
        index_cache.save(root, max_pixels, stats, known)
    return known


def _decode_check(args: tuple[str, int | None]) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return check_image(args[0], max_pixels=args[1])


def decode_problems(
    paths: Sequence[str], max_pixels: int | None, workers: int | None = None
) -> dict[str, str]:
    """Decode every file (:func:`effnet.data.image.check_image`) in ``workers`` processes
    (default: the cores); returns ``path -> problem`` for the unreadable ones."""
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    args = [(p, max_pixels) for p in paths]
    if workers <= 1 or len(paths) < 64:
        results = list(map(_decode_check, args))
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_decode_check, args, chunksize=64))
    return {p: r for p, r in zip(paths, results) if r is not None}


def describe_paths(paths: Sequence[str]) -> str:
    """The first few paths, one per line, then a count of the rest."""
    shown = "\n  ".join(paths[:_SHOW])
    more = f"\n  ... and {len(paths) - _SHOW} more" if len(paths) > _SHOW else ""
    return f"  {shown}{more}"


def scan_folder(
    root: Path,
    classes: Sequence[str],
    *,
    verify: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> tuple[list[Sample], dict[str, str]]:
    """Index ``root/<class>/`` for each of ``classes``: ``(samples, problems)``, where
    ``problems`` maps each skipped file to the reason (headers only, or a full decode with
    ``verify``). Raises ``ValueError`` for a missing or empty class folder, or a class left
    with no usable image."""
    exts = image_extensions()
    per_class: list[dict[str, tuple[int, int]]] = []
    for name in classes:
        folder = root / name
        if not folder.is_dir():
            raise ValueError(f"class folder {folder} is missing")
        files = _list_images(folder, exts)
        if not files:
            raise ValueError(f"class folder {folder} contains no image files")
        per_class.append(files)
    stats = {p: s for files in per_class for p, s in files.items()}
    checked = _header_problems(root, stats, max_pixels)
    problems = {p: r for p, r in checked.items() if r is not None}
    if verify:
        problems.update(decode_problems([p for p in stats if p not in problems], max_pixels))
    samples: list[Sample] = []
    for label, (name, files) in enumerate(zip(classes, per_class)):
        good = [p for p in files if p not in problems]
        if not good:
            raise ValueError(f"class folder {root / name} has no readable image")
        samples.extend((p, label) for p in good)
    return samples, dict(sorted(problems.items()))


def index_folder(
    root: Path,
    classes: Sequence[str],
    *,
    strict: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> tuple[list[Sample], list[str]]:
    """:func:`scan_folder` as training uses it: returns ``(samples, skipped paths)``.

    Unusable files are skipped with a warning naming each; with ``strict`` every file is
    decoded first and any unreadable one is a ``ValueError``.
    """
    samples, problems = scan_folder(root, classes, verify=strict, max_pixels=max_pixels)
    report_problems(problems, f"under {root}", strict=strict)
    return samples, list(problems)


def report_problems(problems: dict[str, str], where: str, *, strict: bool) -> None:
    """Skipped files, each with why, as a warning; or, ``strict``, as a ``ValueError``."""
    if not problems:
        return
    listing = describe_paths([f"{p} ({r})" for p, r in problems.items()])
    if strict:
        raise ValueError(f"{len(problems)} unreadable image(s) {where}:\n{listing}")
    warnings.warn(f"skipping {len(problems)} unreadable image(s) {where}:\n{listing}", stacklevel=4)


class ImageFolderDataset(Dataset):
    """(image tensor, label) pairs from an indexed list of files. Picklable.

    An item whose file cannot be decoded (truncated, changed on disk since indexing) is
    skipped: with ``substitute`` (training) the next readable item takes its place; without
    (evaluation, where a stand-in would be counted twice) a blank image labelled
    :data:`SKIPPED_LABEL` is returned, which :func:`effnet.train.evaluate.evaluate` leaves out.
    Either way the file is added to
    ``load_skipped`` (this process) and appended to ``skip_log`` (a text file, one
    ``path<TAB>reason`` line per skip, shared by loader workers and processes) when set.

    Args:
        samples: ``(path, label)`` pairs, as returned by ``index_folder``.
        classes: class names; ``label`` indexes this list.
        transform: applied to the RGB PIL image.
        max_pixels: pixel cap re-checked (from the header) when an item is loaded.
        substitute: replace an undecodable item by the next one (else: a blank, label -1).
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        classes: Sequence[str],
        transform: Callable[[Image.Image], torch.Tensor],
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        substitute: bool = True,
    ) -> None:
        self.samples = list(samples)
        self.classes = list(classes)
        self.transform = transform
        self.max_pixels = max_pixels
        self.substitute = substitute
        self.load_skipped: dict[str, str] = {}
        self.skip_log: str | None = None

    @property
    def targets(self) -> list[int]:
        return [label for _, label in self.samples]

    def subset(self, indices: Sequence[int], transform: Callable) -> ImageFolderDataset:
        """The items at ``indices`` with another transform."""
        return ImageFolderDataset(
            [self.samples[i] for i in indices], self.classes, transform, self.max_pixels
        )

    def __len__(self) -> int:
        return len(self.samples)

    def _skip(self, path: str, reason: str) -> None:
        if path in self.load_skipped:
            return
        self.load_skipped[path] = reason
        if self.skip_log is not None:
            with open(self.skip_log, "a") as f:  # one short append: atomic across processes
                f.write(f"{path}\t{reason}\n")

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not self.substitute:
            path, label = self.samples[index]
            try:
                return self.transform(load_image(path, max_pixels=self.max_pixels)), label
            except (OSError, ValueError) as e:
                self._skip(path, f"{type(e).__name__}: {e}")
                return self.transform(Image.new("RGB", (32, 32))), SKIPPED_LABEL
        n = len(self.samples)
        for k in range(n):
            path, label = self.samples[(index + k) % n]
            if path in self.load_skipped:
                continue
            try:
                img = load_image(path, max_pixels=self.max_pixels)
            except (OSError, ValueError) as e:
                self._skip(path, f"{type(e).__name__}: {e}")
                continue
            return self.transform(img), label
        raise OSError(f"no readable image left among {n} items (see {self.skip_log or 'the log'})")


def read_skip_logs(paths: Sequence[str | os.PathLike]) -> dict[str, str]:
    """``path -> reason`` from :class:`ImageFolderDataset` skip logs (missing files: none)."""
    skipped: dict[str, str] = {}
    for log in paths:
        try:
            lines = Path(log).read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            path, _, reason = line.partition("\t")
            if path:
                skipped.setdefault(path, reason)
    return skipped
