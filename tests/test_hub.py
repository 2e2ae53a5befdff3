"""The Hugging Face Hub both ways, offline: ``hf-hub:ORG/NAME`` repositories written by timm's
own saving code (``timm.models.save_for_hf``) and by effnet's (``save_pretrained``, ``effnet
push``), put into a Hub cache in the layout ``huggingface_hub`` reads (``models--ORG--NAME/
refs/<branch>`` + ``snapshots/<commit>/``), and loaded by effnet and by timm."""

import json
import shutil
from pathlib import Path

import huggingface_hub
import huggingface_hub.constants
import pytest
import timm
import torch
from conftest import make_image_folder, randomize_batchnorm
from timm.models import save_for_hf

import effnet
from effnet.cli import main
from effnet.publish import push as push_module
from effnet.publish.push import PushError
from effnet.weights.fetch import WeightsUnavailableError
from effnet.weights.hub_config import EFFNET_SPEC
from effnet.weights.io import load_weights
from effnet.weights.timm_keys import timm_architecture, to_timm_keys

ROOT = Path(__file__).resolve().parents[1]
COMMIT_A, COMMIT_B = "a" * 40, "b" * 40


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hf"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("EFFNET_CACHE", str(tmp_path / "effnet-cache"))
    return cache


def fill(cache: Path, repo: str, folder: Path, commit: str = COMMIT_A, ref: str = "main") -> None:
    """Put ``folder`` into the Hub cache as ``repo`` at ``commit``, with ``ref`` pointing to it."""
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / ref).write_text(commit)
    shutil.copytree(folder, root / "snapshots" / commit, dirs_exist_ok=True)


def logits(model: torch.nn.Module, size: int = 96) -> torch.Tensor:
    torch.manual_seed(5)
    with torch.no_grad():
        return model.eval()(torch.randn(2, 3, size, size))


@pytest.mark.parametrize("name", effnet.list_models())
def test_timm_keys_and_architecture_match_timm(name):
    with torch.device("meta"):
        ours = effnet.create_model(name)
    keys, architecture = to_timm_keys(ours.state_dict()), timm_architecture(ours)
    if name in ("mobilenet_v1", "mobilenet_v2", "resnet50"):  # bases timm builds otherwise
        assert architecture is None
        assert (keys is None) == (name == "resnet50")  # a ResNet's layers are not timm's MBConv
        return
    timm_name, model_args = architecture
    assert model_args["bn_eps"] == 1e-3 and model_args.get("pad_type", "") == ""
    with torch.device("meta"):
        theirs = timm.create_model(timm_name, **model_args)
    assert [(k, v.shape) for k, v in keys.items()] == [
        (k, v.shape) for k, v in theirs.state_dict().items()
    ]


@pytest.mark.parametrize(
    ("name", "options"),
    [("efficientnet_b0", {}), ("efficientnet_lite0", {"padding": "same", "bn_eps": 1e-5})],
)
def test_saved_by_effnet_loads_in_timm_with_the_same_logits(hf_cache, tmp_path, name, options):
    model = effnet.create_model(name, num_classes=7, **options)
    randomize_batchnorm(model)
    model.pretrained_cfg = model.pretrained_cfg.replace(classes=list("abcdefg"))
    folder = effnet.save_pretrained(model, tmp_path / "repo", repo_id="me/model")
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    fill(hf_cache, "me/model", folder)
    theirs = timm.create_model("hf-hub:me/model", pretrained=True)
    expected = logits(model)
    assert expected.abs().max() > 1e-2
    assert torch.equal(logits(theirs), expected)
    assert theirs.pretrained_cfg["label_names"] == list("abcdefg")
    back = effnet.create_model("hf-hub:me/model", pretrained=True)
    assert torch.equal(logits(back), expected)
    loaded_cfg = model.pretrained_cfg.replace(source="effnet", weights="hf-hub:me/model")
    assert back.pretrained_cfg == loaded_cfg
    card = (folder / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: timm\nlicense: apache-2.0\n")
    assert 'timm.create_model("hf-hub:me/model", pretrained=True)' in card


@pytest.mark.parametrize("name", ["efficientnet_b0", "tf_efficientnet_b1", "tf_efficientnet_lite1"])
def test_saved_by_timm_loads_in_effnet_with_its_preprocessing(hf_cache, tmp_path, name):
    torch.manual_seed(0)
    theirs = timm.create_model(name, num_classes=5).eval()
    randomize_batchnorm(theirs)
    save_for_hf(theirs, tmp_path / "repo", model_config={"label_names": list("vwxyz")})
    assert (tmp_path / "repo" / "pytorch_model.bin").is_file()  # timm's pickle format
    fill(hf_cache, f"timm/{name}", tmp_path / "repo")
    ours = effnet.create_model(f"hf-hub:timm/{name}", pretrained=True)
    assert ours.training  # as create_model returns every model
    assert torch.equal(logits(ours, 100), logits(theirs, 100))
    cfg, published = ours.pretrained_cfg, theirs.pretrained_cfg
    assert cfg["classes"] == tuple("vwxyz") and cfg["input_size"] == published["input_size"]
    assert (cfg["crop_pct"], cfg["interpolation"]) == (published["crop_pct"], "bicubic")
    assert cfg["mean"] == published["mean"] and cfg["crop_order"] == "resize_then_crop"
    assert (ours.padding, ours.bn_eps) == (
        ("same", 1e-3) if name.startswith("tf_") else ("symmetric", 1e-5)
    )


def test_a_spec_timm_cannot_build_round_trips_in_effnet(hf_cache, tmp_path):
    spec = effnet.compound(effnet.get_spec("efficientnet_b0"), -2)
    model = effnet.create_model(spec, num_classes=3)
    randomize_batchnorm(model)
    folder = effnet.save_pretrained(model, tmp_path / "repo")
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == f"{EFFNET_SPEC}{spec.name}"
    assert config["effnet"]["keys"] == "timm" and not config["effnet"]["timm_builds"]
    assert "timm cannot build this architecture" in (folder / "README.md").read_text()
    fill(hf_cache, "me/small", folder)
    back = effnet.create_model("hf-hub:me/small", pretrained=True)
    assert back.spec == spec and torch.equal(logits(back, 64), logits(model, 64))
    with pytest.raises(RuntimeError, match="Unknown model"):
        timm.create_model("hf-hub:me/small", pretrained=True)
    resnet = effnet.create_model("resnet50", num_classes=3)
    fill(hf_cache, "me/resnet", effnet.save_pretrained(resnet, tmp_path / "resnet"))
    assert torch.equal(
        logits(effnet.create_model("hf-hub:me/resnet", pretrained=True), 64), logits(resnet, 64)
    )


def test_revision_pins_and_architecture_without_weights(hf_cache, tmp_path):
    first, second = (effnet.create_model("efficientnet_lite0", num_classes=2) for _ in range(2))
    fill(hf_cache, "me/pinned", effnet.save_pretrained(first, tmp_path / "1"), COMMIT_A)
    fill(hf_cache, "me/pinned", effnet.save_pretrained(second, tmp_path / "2"), COMMIT_B, "v2")
    for name, expected in (
        ("hf-hub:me/pinned", first),
        (f"hf-hub:me/pinned@{COMMIT_A}", first),
        ("hf-hub:me/pinned@v2", second),
    ):
        assert torch.equal(
            logits(effnet.create_model(name, pretrained=True), 64), logits(expected, 64)
        )
    bare = effnet.create_model("hf-hub:me/pinned", num_classes=4)  # timm: no weights unless asked
    assert bare.num_classes == 4 and bare.spec == first.spec


def test_missing_unreachable_and_unsupported_are_one_line(
    hf_cache, tmp_path, no_network, monkeypatch
):
    with pytest.raises(WeightsUnavailableError, match="hf download me/absent") as caught:
        effnet.create_model("hf-hub:me/absent", pretrained=True)
    assert "\n" not in str(caught.value)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(WeightsUnavailableError, match="cannot reach"):
        effnet.create_model("hf-hub:me/absent", pretrained=True)
    (tmp_path / "mixnet").mkdir()
    (tmp_path / "mixnet" / "config.json").write_text(json.dumps({"architecture": "mixnet_s"}))
    fill(hf_cache, "me/mixnet", tmp_path / "mixnet")
    with pytest.raises(ValueError, match="'mixnet_s' is not one effnet builds; effnet reads"):
        effnet.create_model("hf-hub:me/mixnet", pretrained=True)
    with pytest.raises(ValueError, match="hf-hub:ORG/NAME"):
        effnet.create_model("hf-hub:nameonly", pretrained=True)


class _Planted:
    """Unpickling this runs code: it writes a file."""

    marker: Path

    def __reduce__(self):
        return (Path.write_text, (self.marker, "ran"))


def test_a_pickle_that_runs_code_is_refused_unrun(hf_cache, tmp_path):
    planted = _Planted()
    planted.marker = tmp_path / "ran.txt"
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "config.json").write_text(json.dumps({"architecture": "efficientnet_b0"}))
    torch.save({"conv_stem.weight": planted}, repo / "pytorch_model.bin")
    fill(hf_cache, "me/planted", repo)
    with pytest.raises(
        ValueError, match="refusing to load .*pytorch_model.bin: not a plain tensor"
    ):
        effnet.create_model("hf-hub:me/planted", pretrained=True)
    assert not planted.marker.exists()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data = make_image_folder(tmp_path_factory.mktemp("data"))
    out = tmp_path_factory.mktemp("runs") / "run"
    common = ["--batch-size", "8", "--resolution", "32", "--workers", "0", "--no-progress"]
    assert main(["train", "--data", str(data), "--out", str(out), "--epochs", "1", *common]) == 0
    return data, out


def test_push_a_run_then_evaluate_and_finetune_from_the_hub(
    hf_cache, run, tmp_path, capsys, monkeypatch
):
    data, out = run
    folder = tmp_path / "repo"
    assert main(["push", str(out), "--save-dir", str(folder)]) == 0
    card = (folder / "README.md").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert f"| val top-1 | {summary['val_top1']:.2f}% |" in card
    assert f"- {data.name}\n" in card and "| recipe | small, 1 epochs |" in card
    fill(hf_cache, "me/run", folder)
    capsys.readouterr()
    assert (
        main(["eval", "--weights", str(out / "best.safetensors"), "--data", str(data), "--json"])
        == 0
    )
    from_file = json.loads(capsys.readouterr().out)
    assert main(["eval", "--pretrained", "hf-hub:me/run", "--data", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == from_file

    import effnet.train.loop

    seen = {}

    class Result:
        interrupted = False
        out = tmp_path  # where the run's config.yaml goes

    def fake_train(config):
        seen["c"] = config
        return Result()

    monkeypatch.setattr(effnet.train.loop, "train", fake_train)
    assert main(["finetune", "--pretrained", "hf-hub:me/run", "--data", str(data)]) == 0
    start = load_weights(seen["c"].init_from)
    assert torch.equal(
        logits(start, 32), logits(effnet.create_model("hf-hub:me/run", pretrained=True), 32)
    )


class _FakeHub:
    """``HfApi`` recording one pushed commit: the folder's files as uploaded."""

    pushed: dict = {}

    def __init__(self, token=None):
        self.token = token

    def create_repo(self, repo_id, private=False, exist_ok=False):
        self.pushed.update(repo=repo_id, private=private)

    def create_branch(self, repo_id, branch, exist_ok=False):
        self.pushed["branch"] = branch

    def upload_folder(self, repo_id, folder_path, revision=None, commit_message=None):
        self.pushed["files"] = {p.name: p.read_bytes() for p in Path(folder_path).iterdir()}
        self.pushed["revision"] = revision

        class Commit:
            commit_url = f"https://huggingface.co/{repo_id}/commit/{COMMIT_B}"

        return Commit()


def test_push_uploads_the_folder_in_one_commit(hf_cache, run, tmp_path, capsys, monkeypatch):
    _, out = run
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    assert main(["push", str(out), "--repo", "me/run"]) == 2  # no token
    assert "no Hugging Face token" in capsys.readouterr().err
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "token")
    monkeypatch.setattr(huggingface_hub, "HfApi", _FakeHub)
    monkeypatch.setattr(push_module, "check_reachable", lambda url: None)
    assert main(["push", str(out), "--repo", "me/run", "--private", "--revision", "v1"]) == 0
    assert f"/me/run/commit/{COMMIT_B}" in capsys.readouterr().out
    pushed = _FakeHub.pushed
    assert (pushed["repo"], pushed["private"], pushed["branch"], pushed["revision"]) == (
        "me/run",
        True,
        "v1",
        "v1",
    )
    (tmp_path / "remote").mkdir()
    for name, content in pushed["files"].items():
        (tmp_path / "remote" / name).write_bytes(content)
    fill(hf_cache, "me/run", tmp_path / "remote", COMMIT_B, "v1")
    ours = load_weights(out / "best.safetensors")
    # the demo-sized run is compound-scaled: timm refuses it, effnet loads it
    theirs = effnet.create_model("hf-hub:me/run@v1", pretrained=True)
    assert torch.equal(logits(theirs, 32), logits(ours, 32))


def test_push_offline_or_unreachable_pushes_nothing(run, monkeypatch):
    _, out = run
    model = load_weights(out / "best.safetensors")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(PushError, match="HF_HUB_OFFLINE is set; nothing was pushed"):
        effnet.push_to_hub(model, "me/run", token="token")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)

    def refuse(url):
        raise push_module.DownloadError("cannot reach huggingface.co: Network is unreachable")

    monkeypatch.setattr(push_module, "check_reachable", refuse)
    with pytest.raises(PushError, match="cannot reach huggingface.co.*nothing was pushed"):
        effnet.push_to_hub(model, "me/run", token="token")


@pytest.mark.parametrize("name", effnet.list_models())
def test_torch_hub_load_takes_every_registered_model(name):
    with torch.device("meta"):
        model = torch.hub.load(str(ROOT), name, source="local", num_classes=10, trust_repo=True)
    assert model.spec == effnet.get_spec(name) and model.num_classes == 10
