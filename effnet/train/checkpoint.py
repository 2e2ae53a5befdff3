"""Checkpoints that survive crashes, and loading that never runs code from a file.

Checkpoints are written with :func:`effnet.files.atomic_write`: a kill at any moment leaves
either the old file or the new one, never a torn one.

``last.ckpt`` is a plain :func:`torch.save` dict of tensors and Python scalars/lists, loaded
with ``torch.load(weights_only=True)``: a pickle that would construct arbitrary objects
(and so could run code) is refused.
"""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from effnet.files import atomic_write


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Atomically ``torch.save`` a dict of tensors and plain Python values."""
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (no code from the file is ever run)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"refusing to load {path}: it is not a plain tensor checkpoint (weights_only "
            f"load failed: {first})"
        ) from None
    except (RuntimeError, EOFError) as exc:
        raise ValueError(
            f"{path} is not a readable checkpoint (truncated or corrupt): {exc}"
        ) from None
    if not isinstance(state, dict) or "format" not in state:
        raise ValueError(f"{path} is not an effnet training checkpoint")
    return state


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch RNG states as checkpoint-safe values (tensors, ints, tuples)."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (
            np_state[0],
            torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            int(np_state[2]),
            int(np_state[3]),
            float(np_state[4]),
        ),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    random.setstate(state["python"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
