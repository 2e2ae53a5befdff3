"""Files that survive crashes: every file effnet writes goes through :func:`atomic_write`.

The content is written to a temporary file in the same directory, flushed and ``fsync``-ed,
then moved over the old file with :func:`os.replace` (atomic on POSIX and Windows), and the
directory entry is synced. A kill at any moment leaves either the old file or the new one,
never a torn one; a full disk leaves the old one and raises ``OSError`` naming the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then atomically move ``tmp_path`` to ``path``.

    On any failure the temporary file is removed, ``path`` is untouched and an ``OSError``
    naming the file is raised. Temporary files left by writers killed mid-save are removed
    (those of live processes, writing the same file at the same time, are left alone).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OSError(
                exc.errno,
                f"could not write {path} ({exc.strerror or exc}); the previous file, "
                "if any, is unchanged",
            ) from exc
        raise
    _fsync_dir(path.parent)
    for stale in path.parent.glob(f".{path.name}.tmp-*"):
        if not _alive(stale.name.rsplit("-", 1)[-1]):  # another live writer's is in use
            stale.unlink(missing_ok=True)
    return path


def _alive(pid: str) -> bool:
    """Whether process ``pid`` (a file name's suffix) runs on this machine."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Atomically write ``text``."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON with sorted keys."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def append_line(path: str | os.PathLike[str], line: str) -> None:
    """Append one line and ``fsync`` it: a kill loses at most this line, torn at its end
    (readers of such logs skip a torn last line)."""
    with open(path, "a") as f:
        f.write(line.rstrip("\n") + "\n")
        f.flush()
        os.fsync(f.fileno())
