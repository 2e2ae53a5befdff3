"""What the header check found for each file of a folder, cached between runs.

The cache is keyed by the folder's absolute path and the pixel cap, and stores each file's
size and modification time with its result. A file whose size or time changed, or that is
new, is checked again; a file that is gone drops out. So a second start reads headers only
for what changed, and the index is never stale. Files live under
``$EFFNET_CACHE/index/`` (default ``~/.cache/effnet``), written atomically.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from effnet.data.demo import cache_dir
from effnet.files import write_text

#: Bump when the meaning of a cached entry changes.
VERSION = 1
#: path -> (size, mtime_ns)
Stats = dict[str, tuple[int, int]]


def cache_file(root: Path, max_pixels: int | None) -> Path:
    """The cache file of folder ``root`` indexed with ``max_pixels``."""
    key = f"{Path(root).resolve()}|{max_pixels}".encode()
    return cache_dir() / "index" / f"{hashlib.sha256(key).hexdigest()[:32]}.json"


def load(root: Path, max_pixels: int | None) -> dict[str, tuple[int, int, str | None]]:
    """``path -> (size, mtime_ns, problem or None)`` from the cache; empty when there is none
    or it cannot be read (a torn or foreign file is ignored, never trusted)."""
    try:
        data = json.loads(cache_file(root, max_pixels).read_text())
        if data.get("version") != VERSION:
            return {}
        return {p: (int(s), int(m), r) for p, (s, m, r) in data["files"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def save(root: Path, max_pixels: int | None, stats: Stats, problems: dict[str, str | None]) -> None:
    """Record every file's stat and result; a cache that cannot be written is skipped (the
    index is still right, the next start only slower)."""
    files = {p: [s, m, problems.get(p)] for p, (s, m) in stats.items()}
    text = json.dumps({"version": VERSION, "root": str(root), "files": files})
    try:
        write_text(cache_file(root, max_pixels), text)
    except OSError:
        pass


def reuse(
    cached: dict[str, tuple[int, int, str | None]], stats: Stats
) -> tuple[dict[str, str | None], list[str]]:
    """``(known results, paths to check)``: a cached result holds for a file whose size and
    modification time are unchanged."""
    known: dict[str, str | None] = {}
    todo: list[str] = []
    for path, (size, mtime) in stats.items():
        hit = cached.get(path)
        if hit is not None and hit[0] == size and hit[1] == mtime:
            known[path] = hit[2]
        else:
            todo.append(path)
    return known, todo
