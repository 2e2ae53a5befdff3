"""The command line: verbs, JSON output, one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import effnet
from effnet.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "effnet", *args], capture_output=True, text=True, timeout=600
    )


def test_help_lists_verbs() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for verb in ("profile", "export"):
        assert verb in result.stdout


def test_profile_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "--models", "efficientnet_b0,mobilenet_v2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in rows] == ["efficientnet_b0", "mobilenet_v2"]
    assert set(rows[0]) == {"model", "resolution", "params", "macs", "latency_ms"}
    assert rows[0]["params"] == 5_288_548 and rows[0]["resolution"] == 224
    assert rows[0]["latency_ms"] > 0


def test_profile_takes_lite(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "--models", "efficientnet_lite4", "--no-latency", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["params"] == 13_006_568 and row["resolution"] == 300


def test_profile_table_default_lists_b0_to_b7(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "--no-latency"]) == 0
    out = capsys.readouterr().out
    for i in range(8):
        assert f"efficientnet_b{i}" in out


@pytest.mark.parametrize(
    "args",
    [
        ["profile", "--models", "efficientnet_b9"],
        ["profile", "--resolution", "-3"],
        ["export", "--model", "nope", "--out", "x.onnx"],
        ["export", "--model", "efficientnet_b0", "--weights", "missing.safetensors", "--out", "x"],
    ],
)
def test_bad_arguments_give_one_line_and_nonzero_exit(args: list[str], capsys) -> None:
    # in-process (tests/test_faults_cli.py checks a real process's stderr once)
    try:
        code = main(args)
    except SystemExit as exit_info:  # argparse's own refusal
        code = exit_info.code
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert err.strip().count("\n") == 0, err
    assert "error" in err


@pytest.mark.slow
def test_export_cli_checks_against_eager(tmp_path: Path, capsys) -> None:
    out = tmp_path / "b0.onnx"
    assert (
        main(["export", "--model", "efficientnet_b0", "--resolution", "32", "--out", str(out)]) == 0
    )
    assert out.is_file()
    diff = float(capsys.readouterr().out.rsplit("=", 1)[1])
    assert diff <= 1e-4


def test_export_takes_the_architecture_from_the_weights(tmp_path: Path, capsys) -> None:
    from effnet.cli import main

    weights = tmp_path / "tiny.safetensors"
    tiny = effnet.compound("efficientnet_b0", -8).replace(name="tiny", resolution=32)
    effnet.save_weights(effnet.create_model(tiny, num_classes=3), weights)
    out = tmp_path / "tiny.pt2"
    code = main(["export", "--weights", str(weights), "--format", "exported", "--out", str(out)])
    assert code == 0 and out.is_file()
    assert float(capsys.readouterr().out.rsplit("=", 1)[1]) <= 1e-5
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--format", "onnx", "--out", str(tmp_path / "x.onnx")])
    assert exit_info.value.code == 2
    assert "give --model NAME, --weights FILE" in capsys.readouterr().err
    for flag, value in (("--num-classes", "7"), ("--padding", "same")):
        with pytest.raises(SystemExit) as exit_info:  # the file fixes it: refused, not ignored
            main(["export", "--weights", str(weights), flag, value, "--out", str(out)])
        assert exit_info.value.code == 2
        assert f"{flag} {value}: the weights fix it" in capsys.readouterr().err


def test_version_is_the_packages(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"effnet {effnet.__version__}"
