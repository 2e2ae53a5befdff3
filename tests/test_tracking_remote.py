"""MLflow and W&B tracking (``--log mlflow`` / ``--log wandb``), read back with their own
clients: a local MLflow store, an MLflow tracking server started here, a server that is down,
and W&B's offline mode. One short run per case (1 epoch... 2 where the per-epoch history is
checked) at 32 px."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import make_image_folder

from effnet.cli import main
from effnet.weights.io import load_weights


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("data"))


def _argv(data, out, *extra, epochs=2):
    common = ["--epochs", str(epochs), "-b", "8", "--resolution", "32", "--workers", "0"]
    common += ["--procs", "1", "--no-progress"]
    return ["train", "--data", str(data), "--out", str(out), *common, *extra]


def _records(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    """``mlflow server`` on SQLite and a local artifact folder, started at once; :attr:`url`
    waits until it answers (its start overlaps the run before it)."""

    def __init__(self, root):
        self.port = _free_port()
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        env.pop("MLFLOW_TRACKING_URI", None)
        cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri"]
        cmd += [f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "art")]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        self.log = (root / "server.log").open("w")
        self.proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def url(self):
        address = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "mlflow server exited; see server.log"
            try:
                with urllib.request.urlopen(f"{address}/health", timeout=1) as r:
                    if r.status == 200:
                        return address
            except OSError:
                time.sleep(0.2)
        raise TimeoutError("mlflow server did not answer within 60 s")

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)  # the server and its uvicorn worker
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    pytest.importorskip("mlflow")
    server = _Server(tmp_path_factory.mktemp("mlflow-server"))
    yield server
    server.stop()


def _check_mlflow_run(client, out):
    """What one ``--log mlflow`` run left in ``client``'s store: params, the per-epoch metric
    history, the summary, and ``best.safetensors`` (downloaded and loaded)."""
    (experiment,) = [e for e in client.search_experiments() if e.name == "effnet"]
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == out.name and run.info.status == "FINISHED"
    assert run.data.params["recipe.epochs"] == "2" and run.data.params["recipe.name"] == "small"
    records = _records(out)
    history = client.get_metric_history(run.info.run_id, "train_loss")
    assert [m.step for m in history] == [1, 2]
    assert [m.value for m in history] == pytest.approx([r["train_loss"] for r in records])
    lrs = client.get_metric_history(run.info.run_id, "lr")
    assert [m.value for m in lrs] == pytest.approx([r["lr"] for r in records])
    summary = json.loads((out / "summary.json").read_text())
    assert run.data.metrics["final/val_top1"] == pytest.approx(summary["val_top1"])
    assert run.data.metrics["final/val_top5"] == pytest.approx(summary["val_top5"])
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert names == {"best.safetensors", "summary.json"}
    local = client.download_artifacts(run.info.run_id, "best.safetensors", str(out.parent))
    model = load_weights(local)
    assert model.num_classes == 3
    assert json.loads((out / "tracking.json").read_text())["mlflow"] == run.info.run_id


def test_mlflow_local_store(data, tmp_path, monkeypatch, mlflow_server):
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root is ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    out = tmp_path / "run"
    assert main(_argv(data, out, "--log", "mlflow")) == 0
    _check_mlflow_run(MlflowClient(uri), out)


def test_mlflow_tracking_server(data, tmp_path, monkeypatch, mlflow_server):
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    url = mlflow_server.url
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    out = tmp_path / "run"
    assert main(_argv(data, out, "--log", "csv,mlflow")) == 0
    _check_mlflow_run(MlflowClient(url), out)
    assert not (tmp_path / "mlruns").exists()  # artifacts went to the server


def test_mlflow_server_down_warns_once_and_the_run_goes_on(data, tmp_path, monkeypatch, capsys):
    pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_free_port()}")
    out = tmp_path / "run"
    tic = time.monotonic()
    assert main(_argv(data, out, "--log", "csv,mlflow", epochs=1)) == 0
    assert time.monotonic() - tic < 60  # no minutes of HTTP retries
    err = capsys.readouterr().err
    assert err.count("mlflow logging failed (no MLflow tracking server at http://127.0.0.1") == 1
    for name in ("metrics.jsonl", "metrics.csv", "best.safetensors", "summary.json", "last.ckpt"):
        assert (out / name).is_file(), name


def _wandb_records(path):
    """The records of an offline run's ``.wandb`` file, parsed with W&B's own protobuf
    ``Record``. wandb 0.31 has no Python reader of the file any more (its ``DataStore`` went
    with the Go core), so its framing is read here: a 7-byte header (``:W&B``, magic, version),
    then LevelDB-log chunks in 32 KiB blocks (checksum, length, type: full / first / middle /
    last)."""
    from wandb.proto import wandb_internal_pb2

    raw, block, header = path.read_bytes(), 32768, 7
    assert raw[:4] == b":W&B"
    pos, pending, records = header, b"", []
    while pos + header <= len(raw):
        if block - pos % block < header:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length = int.from_bytes(raw[pos + 4 : pos + 6], "little")
        kind = raw[pos + 6]
        if kind == 0:  # zero padding
            break
        chunk = raw[pos + header : pos + header + length]
        pos += header + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def test_wandb_offline(data, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    # no system-metrics sampling or git / package scan competing with the run for 2 cores
    for name in ("WANDB_X_DISABLE_STATS", "WANDB_X_DISABLE_META", "WANDB_DISABLE_GIT"):
        monkeypatch.setenv(name, "true")
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    out = tmp_path / "run"
    assert main(_argv(data, out, "--log", "wandb")) == 0
    run_id = json.loads((out / "tracking.json").read_text())["wandb"]
    (file,) = tmp_path.glob(f"wandb/offline-run-*-{run_id}/run-{run_id}.wandb")
    records = _wandb_records(file)
    by_kind: dict[str, list] = {}
    for record in records:
        by_kind.setdefault(record.WhichOneof("record_type"), []).append(record)

    def values(items):
        return {i.key or ".".join(i.nested_key): json.loads(i.value_json) for i in items}

    (run,) = by_kind["run"]
    assert (run.run.project, run.run.display_name) == ("effnet", out.name)
    updates = [run.run.config, *(r.config for r in by_kind.get("config", []))]
    config = {k: v for u in updates for k, v in values(u.update).items()}
    assert config["recipe"]["epochs"] == 2 and config["log"] == ["wandb"]
    history = [values(r.history.item) for r in by_kind["history"]]
    records_ = _records(out)
    assert [h["_step"] for h in history] == [1, 2]
    assert [h["train_loss"] for h in history] == pytest.approx([r["train_loss"] for r in records_])
    summary = json.loads((out / "summary.json").read_text())
    logged = {k: v for r in by_kind["summary"] for k, v in values(r.summary.update).items()}
    assert logged["final/val_top1"] == pytest.approx(summary["val_top1"])
    assert logged["final/model"] == summary["model"]
    (artifact,) = [r.artifact for r in by_kind["artifact"]]
    assert (artifact.name, artifact.type) == (f"{run_id}-best", "model")
    assert {c.path for c in artifact.manifest.contents} == {"best.safetensors", "summary.json"}


def test_wandb_online_without_credentials_warns_at_once(tmp_path, monkeypatch, capsys):
    pytest.importorskip("wandb")
    from effnet.train.tracking import Tracker

    for name in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc, no settings
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    tic = time.monotonic()
    tracker = Tracker(["csv", "wandb"], tmp_path, {"seed": 0})
    assert time.monotonic() - tic < 30 and tracker.active == ["csv"]
    assert "wandb logging failed (no W&B credentials" in capsys.readouterr().err
