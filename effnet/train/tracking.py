"""Experiment tracking: each epoch's metrics and the final summary go to the loggers a run
names (``TrainConfig.log``): ``csv`` (``OUT/metrics.csv``, on by default), ``tensorboard``
(``torch.utils.tensorboard``'s ``SummaryWriter``, in ``OUT/tensorboard``; ``pip install
effnet[tensorboard]``), ``mlflow`` and ``wandb`` (``pip install effnet[mlflow]`` /
``effnet[wandb]``). A logger that fails warns once and the run goes on without it;
``metrics.jsonl`` and ``summary.json`` keep everything regardless.

MLflow and W&B each get the run's config (params), every epoch's metrics (step = epoch), the
final summary (``final/<key>``, as TensorBoard's ``final/val_top1``), and ``best.safetensors``
and ``summary.json`` as artifacts. Both are configured as their own tools are, by environment:
MLflow's ``MLFLOW_TRACKING_URI`` (unset: MLflow's default, a local ``mlflow.db`` and
``mlruns/`` in the working directory) and ``MLFLOW_EXPERIMENT_NAME`` (default ``effnet``);
W&B's ``WANDB_MODE`` (``offline`` logs to disk for a later ``wandb sync``), ``WANDB_PROJECT``
(default ``effnet``), ``WANDB_ENTITY`` and ``WANDB_DIR``. Their run ids are kept in
``OUT/tracking.json``, so ``--resume`` continues the same MLflow and W&B runs.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from effnet.files import write_text

LOGGERS = ("csv", "tensorboard", "mlflow", "wandb")
#: The package each optional logger needs (the extra of the same name installs it).
_PACKAGES = {"tensorboard": "tensorboard", "mlflow": "mlflow", "wandb": "wandb"}
#: Where the MLflow and W&B run ids are kept, for ``--resume``.
IDS_FILE = "tracking.json"
#: Files of the run folder logged as artifacts at the end (those that exist).
ARTIFACTS = ("best.safetensors", "summary.json")
#: Seconds to wait for an MLflow tracking server to accept a connection at the start: a
#: server that is down fails at once, not after MLflow's HTTP retries (minutes).
CONNECT_TIMEOUT = 5.0
#: MLflow's limit on a param value's length (``MAX_PARAM_VAL_LENGTH``, 6000 in MLflow 2.x/3.x)
#: and on the params of one ``log_batch`` call (100).
_PARAM_LENGTH, _PARAM_BATCH = 6000, 100


def check_loggers(names: Sequence[str]) -> None:
    """ValueError for an unknown logger or one whose package is missing."""
    unknown = [n for n in names if n not in LOGGERS]
    if unknown:
        raise ValueError(f"unknown logger(s) {', '.join(unknown)}; known: {', '.join(LOGGERS)}")
    for name in names:
        package = _PACKAGES.get(name)
        if package and importlib.util.find_spec(package) is None:
            raise ValueError(
                f"--log {name} needs the {package} package: pip install effnet[{name}]"
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


def _numbers(record: dict[str, Any]) -> dict[str, float]:
    """The numeric values of ``record`` (no ``None``, no flags, no epoch counter)."""
    return {
        k: float(v)
        for k, v in record.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k != "epoch"
    }


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"recipe": {"epochs": 3}}`` -> ``{"recipe.epochs": 3}``."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class _Mlflow:
    """One MLflow run through :class:`mlflow.MlflowClient` (the tracking URI MLflow resolves:
    ``MLFLOW_TRACKING_URI`` or its default). A run already active in this process (``with
    mlflow.start_run()`` around :func:`effnet.train`) becomes its parent."""

    def __init__(self, out: Path, config: dict[str, Any], run_id: str | None) -> None:
        import mlflow
        from mlflow.entities import Param

        uri = mlflow.get_tracking_uri()
        _check_server(uri)
        self.client = mlflow.MlflowClient(uri)
        if run_id is not None:  # --resume: the same run, running again
            self.client.update_run(run_id, status="RUNNING")
            self.run_id = run_id
            return
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or "effnet"
        experiment_id = os.environ.get("MLFLOW_EXPERIMENT_ID")
        if not experiment_id:
            experiment = self.client.get_experiment_by_name(name)
            experiment_id = (
                experiment.experiment_id if experiment else self.client.create_experiment(name)
            )
        tags = {"effnet.out": str(out.resolve())}
        parent = mlflow.active_run()
        if parent is not None:
            tags["mlflow.parentRunId"] = parent.info.run_id
        run = self.client.create_run(experiment_id, run_name=out.name, tags=tags)
        self.run_id = run.info.run_id
        params = [Param(k, str(v)[:_PARAM_LENGTH]) for k, v in _flat(config).items()]
        for i in range(0, len(params), _PARAM_BATCH):
            self.client.log_batch(self.run_id, params=params[i : i + _PARAM_BATCH])

    def _metrics(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def epoch(self, record: dict[str, Any]) -> None:
        self._metrics(_numbers(record), int(record["epoch"]))

    def finished(self, summary: dict[str, Any], files: list[Path]) -> None:
        """The summary's numbers as ``final/<key>`` metrics (at the last epoch), the files as
        artifacts; the run ends ``FINISHED``."""
        values = {f"final/{k}": v for k, v in _numbers(summary).items()}
        self._metrics(values, int(summary.get("epochs") or 0))
        for file in files:
            self.client.log_artifact(self.run_id, str(file))
        self.client.set_terminated(self.run_id, "FINISHED")

    def stopped(self) -> None:
        self.client.set_terminated(self.run_id, "KILLED")


def _check_server(uri: str) -> None:
    """A tracking server at ``uri`` (``http(s)://``) accepts connections, or ConnectionError."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise ConnectionError(f"no MLflow tracking server at {uri}: {exc}") from None


class _Wandb:
    """One W&B run (``wandb.init``; ``WANDB_*`` variables apply). Online without
    credentials it fails at once instead of asking for an API key."""

    def __init__(self, out: Path, config: dict[str, Any], run_id: str | None) -> None:
        import wandb

        mode = os.environ.get("WANDB_MODE", "online")
        if mode not in ("offline", "dryrun", "disabled") and not wandb.login(
            prompt=False, verify=False
        ):
            raise RuntimeError(
                "no W&B credentials: run wandb login or set WANDB_API_KEY "
                "(WANDB_MODE=offline logs to disk for a later wandb sync)"
            )
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT") or "effnet",
            name=out.name,
            id=run_id,
            resume="allow" if run_id else None,
            config=config,
            dir=os.environ.get("WANDB_DIR") or None,
            reinit="create_new",  # beside any run of the caller's, never replacing it
            settings=wandb.Settings(console="off"),  # effnet's output stays as it is
        )
        self.run_id = self.run.id

    def epoch(self, record: dict[str, Any]) -> None:
        self.run.log(_numbers(record), step=int(record["epoch"]))

    def finished(self, summary: dict[str, Any], files: list[Path]) -> None:
        """The summary into the run's summary (W&B's place for a run's results) as
        ``final/<key>`` (W&B keeps each epoch metric's last value under its own name), the
        files as one ``model`` artifact; the run ends."""
        import wandb

        self.run.summary.update({f"final/{k}": v for k, v in summary.items()})
        artifact = wandb.Artifact(f"{self.run.id}-best", type="model", metadata=summary)
        for file in files:
            artifact.add_file(str(file))
        self.run.log_artifact(artifact)
        self.run.finish()

    def stopped(self) -> None:
        self.run.finish(exit_code=1)


class Tracker:
    """The run's loggers (main process only). ``config`` is ``TrainConfig.to_dict()``; with
    ``config["resume"]`` the MLflow and W&B runs of ``OUT/tracking.json`` go on."""

    def __init__(self, names: Sequence[str], out: Path, config: dict[str, Any]) -> None:
        self.out = out
        self.active = list(names)
        self.writer: Any = None
        self.remote: dict[str, Any] = {}  # mlflow / wandb: their run objects
        if "tensorboard" in self.active:
            self._call("tensorboard", self._open_tensorboard, config)
        ids = self._saved_ids() if config.get("resume") else {}
        for name, kind in (("mlflow", _Mlflow), ("wandb", _Wandb)):
            self._call(name, self._open_remote, name, kind, config, ids.get(name))

    def _saved_ids(self) -> dict[str, str]:
        try:
            return json.loads((self.out / IDS_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def _open_remote(
        self, name: str, kind: Any, config: dict[str, Any], run_id: str | None
    ) -> None:
        self.remote[name] = kind(self.out, config, run_id)
        ids = {**self._saved_ids(), name: self.remote[name].run_id}
        write_text(self.out / IDS_FILE, json.dumps(ids, indent=2) + "\n")

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
        for name, remote in self.remote.items():
            self._call(name, remote.epoch, history[-1])

    def finished(self, summary: dict[str, Any]) -> None:
        """Log the final summary and close the loggers."""
        step = int(summary.get("epochs") or 0)
        values = {k: v for k, v in summary.items() if k in ("val_top1", "val_top5")}
        self._call("tensorboard", self._scalars, values, step, "final")
        self._call("tensorboard", self.writer.close if self.writer else lambda: None)
        files = [self.out / name for name in ARTIFACTS if (self.out / name).is_file()]
        for name, remote in self.remote.items():
            self._call(name, remote.finished, summary, files)

    def stopped(self) -> None:
        """The run stopped early (``--resume`` continues it): end the remote runs as killed."""
        for name, remote in self.remote.items():
            self._call(name, remote.stopped)

    def _scalars(self, record: dict[str, Any], step: int, prefix: str = "epoch") -> None:
        for key, value in record.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and key != "epoch":
                self.writer.add_scalar(f"{prefix}/{key}", value, step)
        self.writer.flush()
