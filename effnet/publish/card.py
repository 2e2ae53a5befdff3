"""The model card (``README.md``) of a Hub repository: the Hub's YAML metadata (library, tags,
license, datasets, metrics) and what a user needs to know of the model, from the model and,
for a training run, its ``summary.json``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from effnet.analysis.profile import count_macs, count_params
from effnet.models.network import Network

_CROP = {
    "resize_then_crop": "shorter side to {resize} px, centre crop {size} px",
    "crop_then_resize": "centre crop of {pct:.1%} of the shorter side, resized to {size} px",
}


def _front_matter(config: Mapping[str, Any], summary: Mapping[str, Any], license: str) -> str:
    timm_builds = bool(config["effnet"].get("timm_builds"))
    tags = ["image-classification", *(["timm"] if timm_builds else []), "effnet", "efficientnet"]
    lines = ["---", f"library_name: {'timm' if timm_builds else 'effnet'}", f"license: {license}"]
    lines += ["tags:", *(f"- {t}" for t in tags)]
    if summary.get("data"):  # a folder's name, or "demo"
        lines += ["datasets:", f"- {PurePath(str(summary['data'])).name or summary['data']}"]
    lines += ["metrics:", "- accuracy", "---", ""]
    return "\n".join(lines)


def _percent(value: object) -> str:
    return f"{float(value):.2f}%" if isinstance(value, (int, float)) else "not measured"


def model_card(
    model: Network,
    config: Mapping[str, Any],
    *,
    repo_id: str | None = None,
    summary: Mapping[str, Any] | None = None,
    license: str = "apache-2.0",
) -> str:
    """``README.md`` for a repository holding ``model`` described by ``config`` (its
    ``config.json``); ``summary`` is a training run's ``summary.json``."""
    summary = summary or {}
    cfg = model.pretrained_cfg
    size = cfg.resolution
    macs = count_macs(model, size)
    architecture = config["architecture"]
    timm_builds = bool(config["effnet"].get("timm_builds"))
    repo = repo_id or "ORG/NAME"
    crop = _CROP[cfg.crop_order].format(
        resize=int(size / cfg.crop_pct), size=size, pct=cfg.crop_pct
    )
    rows = [
        ("architecture", f"`{model.spec.name}`" + ("" if timm_builds else " (effnet spec)")),
        ("classes", str(model.num_classes)),
        ("parameters", f"{count_params(model) / 1e6:.2f} M"),
        ("multiply-adds", f"{macs / 1e9:.3f} G at {size} x {size}"),
        ("input", f"{size} x {size}, {cfg.interpolation}; {crop}"),
        ("normalisation", f"mean {list(cfg.mean)}, std {list(cfg.std)}"),
    ]
    if summary:
        rows += [
            ("data", str(summary.get("data", "not recorded"))),
            ("recipe", f"{summary.get('recipe', '?')}, {summary.get('epochs', '?')} epochs"),
            ("val top-1", _percent(summary.get("val_top1"))),
            ("val top-5", _percent(summary.get("val_top5"))),
        ]
    table = "\n".join(["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])
    if timm_builds:
        usage = (
            "```python\nimport timm\n"
            f'model = timm.create_model("hf-hub:{repo}", pretrained=True)\n```\n\n'
            "or with effnet:\n\n"
        )
        note = (
            f"timm builds it as `{architecture}` with the `model_args` of `config.json`."
            if config.get("model_args")
            else f"timm builds it as `{architecture}`."
        )
    else:
        usage = ""
        note = (
            "timm cannot build this architecture (an effnet spec: compound-scaled or "
            "custom); load it with effnet, which reads the spec from `config.json`."
        )
    usage += (
        "```python\nimport effnet\n"
        f'model = effnet.create_model("hf-hub:{repo}", pretrained=True).eval()\n'
        "transform = effnet.create_transform(model)\n```"
    )
    title = f"# {repo_id or model.spec.name}\n\n"
    body = (
        "EfficientNet (Tan & Le, ICML 2019) trained with effnet. "
        f"{note}\n\n{table}\n\n## Use\n\n{usage}\n"
    )
    return _front_matter(config, summary, license) + title + body
