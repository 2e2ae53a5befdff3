"""Published weights in one call: ``create_model(name, pretrained="torchvision" | "timm")`` and
``--pretrained`` on the verbs, from the libraries' own download caches, offline.

The caches are filled here with random-weight files under the published file names:
torchvision's ``<TORCH_HOME>/hub/checkpoints/<basename of the URL>`` and the Hugging Face
Hub cache layout ``models--timm--<name>/refs/main`` + ``snapshots/<rev>/model.safetensors``.
"""

import json
import re
import time
from pathlib import Path
from urllib.request import urlopen

import huggingface_hub.constants
import numpy as np
import pytest
import timm
import torch
import torchvision
from conftest import B0_URL, fill_torchvision, randomize_batchnorm
from PIL import Image
from safetensors.torch import save_file
from torchvision.models import get_weight

import effnet
from effnet.cli import main
from effnet.weights import fetch
from effnet.weights.key_order import in_module_order
from effnet.weights.loading import load_for_eval
from effnet.weights.published import TIMM_WEIGHTS, TORCHVISION_WEIGHTS, torchvision_config

REVISION = "0" * 40


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hf"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture(scope="module")
def timm_b0():
    torch.manual_seed(1)
    model = timm.create_model("efficientnet_b0").eval()
    randomize_batchnorm(model)
    return model


def fill_hf(cache: Path, hub_id: str, model: torch.nn.Module) -> Path:
    repo = cache / f"models--{hub_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(REVISION)
    path = repo / "snapshots" / REVISION / "model.safetensors"
    path.parent.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def photo(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "photo.jpg"
    Image.fromarray(rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)).save(path)
    return path


def test_torchvision_weights_give_torchvision_logits_and_preprocessing(
    torch_home, no_network, tv_b0, tmp_path
):
    fill_torchvision(torch_home, tv_b0)
    model = effnet.create_model("efficientnet_b0", pretrained="torchvision")
    assert model.training  # as every model create_model returns
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = tv_b0(x)
        assert (model(x) - expected).abs().max().item() <= 1e-4
    assert expected.abs().max() > 1e-2
    cfg = model.pretrained_cfg
    assert cfg["source"] == "torchvision" and cfg["num_classes"] == 1000
    categories = get_weight("EfficientNet_B0_Weights.IMAGENET1K_V1").meta["categories"]
    assert cfg["classes"] == tuple(categories)
    img = Image.open(photo(tmp_path)).convert("RGB")
    reference = get_weight("EfficientNet_B0_Weights.IMAGENET1K_V1").transforms()(img)
    ours = effnet.create_transform(model)(img)
    assert ours.shape == reference.shape == (3, 224, 224)
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=0)
    new_head = effnet.create_model("efficientnet_b0", pretrained="torchvision", num_classes=10)
    assert new_head.num_classes == 10 and new_head.pretrained_cfg["classes"] is None
    assert new_head.pretrained_cfg["crop_order"] == "resize_then_crop"


def test_timm_weights_give_timm_logits_and_preprocessing(hf_cache, no_network, timm_b0, tmp_path):
    fill_hf(hf_cache, "timm/efficientnet_b0.ra_in1k", timm_b0)  # safetensors: keys sorted
    model = effnet.create_model("efficientnet_b0", pretrained="timm").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert (model(x) - timm_b0(x)).abs().max().item() <= 1e-4
    assert model.pretrained_cfg["classes"][:2] == ("tench", "goldfish")
    img = Image.open(photo(tmp_path)).convert("RGB")
    config = timm.data.resolve_data_config({}, model=timm.create_model("efficientnet_b0.ra_in1k"))
    reference = timm.data.create_transform(**config)(img)
    torch.testing.assert_close(effnet.create_transform(model)(img), reference, atol=1e-6, rtol=0)


def test_the_timm_table_is_what_timm_publishes():
    for name, entry in TIMM_WEIGHTS.items():
        cfg = timm.models.get_pretrained_cfg(entry.hub_id.removeprefix("timm/"))
        assert cfg is not None and cfg.hf_hub_id == entry.hub_id, name
        size = cfg.test_input_size if "v2" in name else cfg.input_size  # V2: the eval size
        assert size == (3, entry.resolution, entry.resolution), name
        assert (cfg.crop_pct, cfg.interpolation) == (entry.crop_pct, entry.interpolation), name
        assert cfg.crop_mode == "center", name  # shorter side resized, then the centre crop
        assert (tuple(cfg.mean), tuple(cfg.std)) == (entry.mean, entry.std), name
        assert cfg.num_classes == 1000 and name.startswith("tf_") == (entry.layout == "timm_tf")


@pytest.mark.parametrize("name", list(TORCHVISION_WEIGHTS))
def test_torchvision_configs_resize_and_crop_as_published(name):
    cfg = torchvision_config(name)
    published = get_weight(TORCHVISION_WEIGHTS[name]).transforms()
    res = cfg["input_size"][-1]
    assert res == published.crop_size[0]
    assert int(np.floor(res / cfg["crop_pct"] + 1e-6)) == published.resize_size[0]


def test_safetensors_key_order_is_rebuilt_for_every_layout():
    with torch.device("meta"):
        models = {
            "timm": timm.create_model("efficientnet_lite0"),
            "timm_tf": timm.create_model("tf_efficientnet_b0"),
            "torchvision": torchvision.models.efficientnet_b1(),
        }
        v2 = {
            "timm": timm.create_model("efficientnetv2_s"),
            "timm_tf": timm.create_model("tf_efficientnetv2_b0"),
            "torchvision": torchvision.models.efficientnet_v2_s(),
        }
    for source, model in [*models.items(), *v2.items()]:
        state = model.state_dict()
        assert list(in_module_order(dict(sorted(state.items())), source)) == list(state)
    odd = {"head.fc.weight": torch.zeros(1), "conv_stem.weight": torch.zeros(1)}
    assert in_module_order(odd, "timm") is odd  # not timm's naming: left as given


def test_no_network_and_nothing_cached_is_one_line(torch_home, hf_cache, no_network):
    checkpoint = torch_home / "hub" / "checkpoints" / B0_URL.rsplit("/", 1)[-1]
    timm_url = "https://huggingface.co/timm/efficientnet_b0.ra_in1k/resolve/main/model.safetensors"
    for hub, url, where in (("torchvision", B0_URL, checkpoint), ("timm", timm_url, hf_cache)):
        start = time.monotonic()
        with pytest.raises(fetch.WeightsUnavailableError) as err:
            effnet.create_model("efficientnet_b0", pretrained=hub)
        assert time.monotonic() - start < 5
        message = str(err.value)
        assert "\n" not in message and url in message and str(where) in message
        assert f"--source {hub}" in message
    assert not checkpoint.exists()


def test_cli_without_network_exits_2_with_one_line(torch_home, no_network, tmp_path, capsys):
    image = str(photo(tmp_path))
    args = ["predict", image, "--model", "efficientnet_b0", "--pretrained", "torchvision"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and B0_URL in err
    assert str(torch_home / "hub" / "checkpoints") in err and "Traceback" not in err


def test_download_lands_in_the_cache_atomically(torch_home, tv_b0, monkeypatch, tmp_path):
    source = tmp_path / "served.pth"
    torch.save(tv_b0.state_dict(), source)
    monkeypatch.setattr(fetch, "check_reachable", lambda url: None)
    monkeypatch.setattr(torch.hub, "urlopen", lambda request: urlopen(source.as_uri()))
    with pytest.raises(fetch.WeightsUnavailableError, match="SHA-256"):  # not the real file
        fetch.torchvision_file("efficientnet_b0")
    checkpoints = torch_home / "hub" / "checkpoints"
    assert not any(checkpoints.iterdir())  # nothing half-written left behind
    monkeypatch.setattr(fetch, "hash_prefix", lambda name: None)
    path = fetch.torchvision_file("efficientnet_b0")
    assert path.parent == checkpoints and path.read_bytes() == source.read_bytes()


def test_predict_prints_imagenet_names_offline(torch_home, no_network, tv_b0, tmp_path, capsys):
    fill_torchvision(torch_home, tv_b0)
    image = str(photo(tmp_path))
    args = ["predict", image, "--model", "efficientnet_b0", "--pretrained", "torchvision"]
    assert main([*args, "--json", "--topk", "3"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    names = set(get_weight("EfficientNet_B0_Weights.IMAGENET1K_V1").meta["categories"])
    assert len(result["top"]) == 3 and {t["class"] for t in result["top"]} <= names
    x = effnet.create_transform(torchvision_config("efficientnet_b0"))(Image.open(image))
    with torch.no_grad():
        top = tv_b0(x[None]).softmax(1)[0].topk(3)
    assert [t["index"] for t in result["top"]] == top.indices.tolist()


def test_weights_file_of_another_library_still_loads(tv_b0, tmp_path, capsys):
    path = tmp_path / "tv_b0.safetensors"  # keys sorted by name in the file
    save_file({k: v.contiguous() for k, v in tv_b0.state_dict().items()}, str(path))
    model, classes, res, crop = load_for_eval(path, model="efficientnet_b0", source="torchvision")
    assert (res, crop) == (224, None) and classes[0] == "tench"  # 0.875 is the paper's at 224
    assert model.pretrained_cfg["crop_order"] == "resize_then_crop"
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert (model(x) - tv_b0(x)).abs().max().item() <= 1e-4


def test_finetune_from_published_weights(torch_home, hf_cache, no_network, timm_b0, monkeypatch):
    import effnet.train.loop

    fill_hf(hf_cache, "timm/efficientnet_b0.ra_in1k", timm_b0)
    seen = {}

    class Result:
        interrupted = False
        out = hf_cache  # where the run's config.yaml goes

    def fake_train(config):
        seen["config"] = config
        return Result()

    monkeypatch.setattr(effnet.train.loop, "train", fake_train)
    args = ["finetune", "--pretrained", "timm", "--model", "efficientnet_b0", "--data", "demo"]
    assert main(args) == 0
    config = seen["config"]
    assert config.init_source == "timm" and config.init_from.endswith("model.safetensors")
    assert (config.recipe.resolution, config.recipe.eval_crop) == (224, None)
    assert main([*args, "--source", "timm"]) == 2  # --pretrained sets the layout
    assert main(["finetune", "--pretrained", "timm", "--data", "demo"]) == 2  # needs --model


def test_eval_and_cam_take_pretrained_too(torch_home, no_network, tv_b0, tmp_path, capsys):
    fill_torchvision(torch_home, tv_b0)
    for name in ("tench", "goldfish"):  # ImageNet class names as folder names
        (tmp_path / "val" / name).mkdir(parents=True)
        Image.open(photo(tmp_path)).save(tmp_path / "val" / name / "a.png")
    weights = ["--pretrained", "torchvision", "--model", "efficientnet_b0", "--resolution", "64"]
    assert main(["eval", *weights, "--data", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 2
    out = tmp_path / "cam.png"
    args = ["cam", *weights, "--image", str(photo(tmp_path)), "--out", str(out)]
    assert main([*args, "--target", "goldfish"]) == 0 and out.is_file()
    assert "efficientnet_b0 64px" in capsys.readouterr().out


def test_tagged_names_and_pretrained_true_pick_the_published_file(
    torch_home, hf_cache, no_network, tv_b0, timm_b0
):
    fill_torchvision(torch_home, tv_b0)
    fill_hf(hf_cache, "timm/efficientnet_b0.ra_in1k", timm_b0)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for name, pretrained, reference in (
            ("efficientnet_b0.tv_in1k", True, tv_b0),
            ("efficientnet_b0", "tv_in1k", tv_b0),
            ("efficientnet_b0", "torchvision", tv_b0),
            ("efficientnet_b0", True, timm_b0),  # the default: timm's own weights
            ("efficientnet_b0.ra_in1k", "timm", timm_b0),
            ("efficientnet_b0", "timm.ra_in1k", timm_b0),
        ):
            model = effnet.create_model(name, pretrained=pretrained).eval()
            assert (model(x) - reference(x)).abs().max().item() <= 1e-4, (name, pretrained)
    # timm's habit: a tag without pretrained=True picks no weights (random initialisation)
    untrained = effnet.create_model("efficientnet_b0.tv_in1k").eval()
    with torch.no_grad():
        assert (untrained(x) - tv_b0(x)).abs().max().item() > 1e-2


def test_published_names_follow_timm_tags():
    names = effnet.list_models(pretrained=True)
    # timm's own tags, its ports of the official TF weights, torchvision's as .tv_in1k
    for hub_id in (e.hub_id for e in TIMM_WEIGHTS.values()):
        model, tag = hub_id.removeprefix("timm/").split(".")
        effnet_name = model.removeprefix("tf_").replace("efficientnetv2_", "efficientnet_v2_")
        assert f"{effnet_name}.{tag}" in names
    assert {f"{m}.tv_in1k" for m in TORCHVISION_WEIGHTS} <= set(names)
    assert effnet.list_models("*b0*", pretrained=True)[0] == "efficientnet_b0.ra_in1k"
    assert all(n.startswith("efficientnet_lite") for n in effnet.list_models("*lite*", True))
    assert effnet.list_models(["*t_b1", "*t_b2"]) == ["efficientnet_b1", "efficientnet_b2"]


@pytest.mark.parametrize(
    ("name", "pretrained", "message"),
    [
        ("efficientnet_b8", True, "no published weights for 'efficientnet_b8'"),
        ("efficientnet_b0", "in22k", "it has ra_in1k (timm), aa_in1k (timm), tv_in1k"),
        ("efficientnet_b0.ra_in1k", "tv_in1k", "names the tag 'ra_in1k'"),
        ("efficientnet_b0", "keras.in1k", "LIB.TAG needs LIB in torchvision, timm"),
    ],
)
def test_unknown_published_weights_are_one_clear_error(name, pretrained, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        effnet.create_model(name, pretrained=pretrained)


def test_cli_takes_name_tag_and_bare_pretrained(torch_home, no_network, tv_b0, tmp_path, capsys):
    fill_torchvision(torch_home, tv_b0)
    image = str(photo(tmp_path))
    tops = []
    for extra in (
        ["--model", "efficientnet_b0.tv_in1k"],
        ["--model", "efficientnet_b0", "--pretrained", "tv_in1k"],
        ["--model", "efficientnet_b0.tv_in1k", "--pretrained"],
    ):
        assert main(["predict", image, "--json", *extra]) == 0
        tops.append(json.loads(capsys.readouterr().out)[0]["top"])
    assert tops[0] == tops[1] == tops[2]
