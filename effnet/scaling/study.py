"""Where a search keeps its state: an Optuna study that any number of workers attach to.

* storage: SQLite in ``OUT/study.db`` by default; ``--storage`` takes any URL Optuna's
  ``RDBStorage`` takes (``postgresql://user@host/db`` for workers on several machines) or
  ``journal:PATH`` for Optuna's journal file on a shared file system;
* heartbeat (RDB storages): each running trial beats every ``heartbeat`` seconds; a trial
  silent for ``3 × heartbeat`` is failed by the next worker that looks, and Optuna's
  ``RetryFailedTrialCallback`` queues it again with the same parameters, so another worker
  takes it over (its training resumes from the candidate's checkpoint). Optuna's journal
  storage has no heartbeat: there a killed worker's trial stays ``RUNNING``.
* pruners: Optuna's ``MedianPruner`` and ``HyperbandPruner`` on the per-epoch minival top-1.
"""

from __future__ import annotations

import fcntl
import os
import random
import time
from pathlib import Path
from typing import Any

PRUNERS = ("none", "median", "hyperband")
SAMPLERS = ("grid", "tpe")
#: Optuna's own warnings that say nothing to a search user (experimental features used here
#: on purpose, SQLite used by several processes of one machine).
_QUIET = ("heartbeat", "RetryFailedTrialCallback", "fail_stale_trials", "GridSampler")


def storage_url(storage: str | None, out: str | os.PathLike[str]) -> str:
    """The storage a search uses: ``storage`` or SQLite in ``OUT/study.db``."""
    if storage:
        return storage
    return f"sqlite:///{Path(out).resolve() / 'study.db'}"


def open_storage(url: str, heartbeat: float = 60.0, max_retry: int = 3) -> Any:
    """The Optuna storage for ``url`` (see the module docstring)."""
    import warnings

    import optuna

    for text in _QUIET:
        warnings.filterwarnings("ignore", message=f".*{text}.*")
    if url.startswith("journal:"):
        path = url.removeprefix("journal:")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
    engine: dict[str, Any] = {}
    if url.startswith("sqlite:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = {"connect_args": {"timeout": 120}}  # several local workers wait for the lock
    else:
        engine = {"pool_pre_ping": True}
    import sqlalchemy.exc

    def create() -> Any:
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine,
            heartbeat_interval=max(1, round(heartbeat)),
            grace_period=max(2, round(3 * heartbeat)),
            failed_trial_callback=optuna.storages.RetryFailedTrialCallback(
                max_retry=max_retry, inherit_intermediate_values=True
            ),
        )

    # workers started together race to create the tables: one at a time on this machine
    # (a lock file beside an SQLite database), and retried against a server
    lock = Path(url.removeprefix("sqlite:///") + ".lock") if url.startswith("sqlite:") else None
    for attempt in range(6):
        try:
            if lock is None:
                return create()
            with open(lock, "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                return create()
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError):
            if attempt == 5:
                raise
            time.sleep(0.2 + random.random())
    raise AssertionError("unreachable")


def make_pruner(name: str, epochs: int) -> Any:
    """Optuna's pruner named ``name`` over ``epochs`` reported steps."""
    import optuna

    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        # compare after the first epoch, once two candidates have finished
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(1, epochs))
    raise ValueError(f"unknown pruner {name!r}; choose from {', '.join(PRUNERS)}")


def make_sampler(name: str, grid: dict[str, list[Any]] | None) -> Any:
    """Optuna's ``GridSampler`` over ``grid`` (one fixed seed, so every worker walks the same
    order and trial number n takes grid point n) or a seeded ``TPESampler``."""
    import optuna

    if name == "grid":
        if not grid:
            raise ValueError("the grid sampler needs a grid")
        return optuna.samplers.GridSampler(grid, seed=0)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=None, n_startup_trials=4)
    raise ValueError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}")


def describe(url: str) -> str:
    """``url`` without a password, for log lines."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}@{host}"
    return url
