"""Experiment tracking: each epoch's metrics and the final summary go to the loggers a run
names (``TrainConfig.log``): ``csv`` (``OUT/metrics.csv``, on by default) and ``tensorboard``
(``torch.utils.tensorboard``'s ``SummaryWriter``, in ``OUT/tensorboard``; ``pip install
effnet[tensorboard]``). A logger that fails warns once and the run goes on without it;
``metrics.jsonl`` and ``summary.json`` keep everything regardless.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from effnet.files import write_text

LOGGERS = ("csv", "tensorboard")


def check_loggers(names: Sequence[str]) -> None:
    """ValueError for an unknown logger or one whose package is missing."""
    unknown = [n for n in names if n not in LOGGERS]
    if unknown:
        raise ValueError(f"unknown logger(s) {', '.join(unknown)}; known: {', '.join(LOGGERS)}")
    if "tensorboard" in names and importlib.util.find_spec("tensorboard") is None:
        raise ValueError(
            "--log tensorboard needs the tensorboard package: pip install effnet[tensorboard]"
        )


def _csv_text(history: Sequence[dict[str, Any]]) -> str:
    columns: dict[str, None] = {}
    for record in history:
        columns.update(dict.fromkeys(record))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return buffer.getvalue()


class Tracker:
    """The run's loggers (main process only)."""

    def __init__(self, names: Sequence[str], out: Path, config: dict[str, Any]) -> None:
        self.out = out
        self.active = list(names)
        self.writer: Any = None
        if "tensorboard" in self.active:
            self._call("tensorboard", self._open_tensorboard, config)

    def _open_tensorboard(self, config: dict[str, Any]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(self.out / "tensorboard"))
        text = json.dumps(config, indent=2, default=str)
        self.writer.add_text("config", f"```\n{text}\n```")

    def _call(self, name: str, fn: Any, *args: Any) -> None:
        if name not in self.active:
            return
        try:
            fn(*args)
        except Exception as exc:  # a logger's failure never stops training
            self.active.remove(name)
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            print(f"effnet: {name} logging failed ({reason}); the run goes on without it",
                  file=sys.stderr)  # fmt: skip

    def epoch(self, history: Sequence[dict[str, Any]]) -> None:
        """Log the epoch just completed (the last record of ``history``)."""
        self._call("csv", lambda: write_text(self.out / "metrics.csv", _csv_text(history)))
        self._call("tensorboard", self._scalars, history[-1], int(history[-1]["epoch"]))

    def finished(self, summary: dict[str, Any]) -> None:
        """Log the final summary and close the loggers."""
        step = int(summary.get("epochs") or 0)
        values = {k: v for k, v in summary.items() if k in ("val_top1", "val_top5")}
        self._call("tensorboard", self._scalars, values, step, "final")
        self._call("tensorboard", self.writer.close if self.writer else lambda: None)

    def _scalars(self, record: dict[str, Any], step: int, prefix: str = "epoch") -> None:
        for key, value in record.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and key != "epoch":
                self.writer.add_scalar(f"{prefix}/{key}", value, step)
        self.writer.flush()
