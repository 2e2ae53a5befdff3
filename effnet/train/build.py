"""Which network a run trains: the default small model, a named variant, or pretrained weights.

Without ``--model`` a run trains EfficientNet-B0 compound-scaled *down* (paper eq. 3 with a
negative φ: depth 1.2^φ, width 1.1^φ) at the recipe's resolution: at φ = -4 that is width
0.68, depth 0.48, ~1.2M parameters, a network a 2-core CPU trains in minutes at 64 px.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from effnet.models.compound import compound
from effnet.models.layers import batch_norms
from effnet.models.network import Network
from effnet.models.registry import get_spec
from effnet.models.spec import NetworkSpec
from effnet.types import Source
from effnet.weights.create import create_model
from effnet.weights.loading import load_model

if TYPE_CHECKING:
    from effnet.train.config import TrainConfig

DEFAULT_BASE = "efficientnet_b0"
DEFAULT_PHI = -4.0


def scaled_spec(base: str | NetworkSpec, phi: float) -> NetworkSpec:
    """``compound(base, φ)`` (paper eq. 3: depth 1.2^φ, width 1.1^φ, resolution 1.15^φ),
    named ``<base>_phi<φ>``."""
    spec = compound(base, phi)
    return spec.replace(name=f"{spec.name}_phi{phi:g}")


def default_spec(resolution: int) -> NetworkSpec:
    """EfficientNet-B0 scaled down by φ = ``DEFAULT_PHI``, at ``resolution``."""
    return scaled_spec(DEFAULT_BASE, DEFAULT_PHI).replace(resolution=resolution)


def read_spec_file(path: str | os.PathLike[str]) -> NetworkSpec:
    """A :class:`NetworkSpec` saved with ``spec.to_json()``; a clear error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"spec file not found: {path}")
    try:
        return NetworkSpec.from_json(path.read_text())
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(
            f"{path} is not a network spec (write one with NetworkSpec.to_json()): {exc}"
        ) from None


def resolve_spec(model: object, resolution: int | None) -> NetworkSpec:
    """A spec for ``model`` (a registered name, a spec, or ``None`` for the default)."""
    if model is None:
        return default_spec(resolution or 64)
    spec = get_spec(model)  # type: ignore[arg-type]
    return spec.replace(resolution=resolution) if resolution else spec


def load_init(
    path: str | os.PathLike[str],
    *,
    source: Source = "effnet",
    model_name: str | None = None,
) -> Network:
    """Pretrained weights from any source :func:`effnet.load_pretrained` accepts, loaded by
    :func:`effnet.weights.loading.load_model` as ``eval`` and ``predict`` load them.

    ``effnet`` safetensors files rebuild their own architecture (``model_name`` is then only
    checked); other sources need ``model_name``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"pretrained weights not found: {path}")
    return load_model(path, model=model_name, source=source)[0]


def prepare_for_transfer(model: nn.Module, num_classes: int, *, freeze_backbone: bool) -> set[int]:
    """Give ``model`` a new head for ``num_classes`` (unless it already has that many) and
    optionally freeze everything else; returns the ids of the head's parameters."""
    if getattr(model, "num_classes", None) != num_classes:
        model.reset_classifier(num_classes)  # type: ignore[operator]
    head = {id(p) for p in model.classifier.parameters()}  # type: ignore[union-attr]
    if freeze_backbone:
        for p in model.parameters():
            if id(p) not in head:
                p.requires_grad_(False)
    return head


def freeze_norm_stats(model: nn.Module) -> None:
    """Put every BatchNorm in eval mode (a frozen backbone keeps its running statistics)."""
    for m in batch_norms(model):
        m.eval()


def run_model(
    cfg: TrainConfig,
    spec: NetworkSpec,
    num_classes: int,
    *,
    saved: dict[str, Any] | None = None,
    pretrained: nn.Module | None = None,
) -> tuple[nn.Module, set[int] | None]:
    """The network a run trains, and the ids of its head parameters when fine-tuning (they get
    the full LR, the backbone ``backbone_lr_scale`` of it).

    ``saved``: a resumed run's checkpoint (the architecture it recorded; weights are loaded
    later with the optimizer state). ``pretrained``: ``--init-from`` weights, given a new head
    for ``num_classes``. Otherwise a fresh ``spec`` network, with the recipe's head init. The
    recipe's BN momentum is applied in every case.
    """
    recipe = cfg.recipe
    drop_path = cfg.drop_path_rate if cfg.drop_path_rate is not None else recipe.drop_path_rate
    head: set[int] | None = None
    if saved is not None:
        model = Network(
            spec,
            num_classes=int(saved["num_classes"]),
            drop_rate=cfg.drop_rate,
            drop_path_rate=drop_path,
            padding=saved["padding"],
            bn_eps=float(saved["bn_eps"]),
        )
        if cfg.init_from:
            head = {id(p) for p in model.classifier.parameters()}
        if cfg.freeze_backbone:
            prepare_for_transfer(model, model.num_classes, freeze_backbone=True)
    elif pretrained is not None:
        model = pretrained
        head = prepare_for_transfer(model, num_classes, freeze_backbone=cfg.freeze_backbone)
    else:
        model = create_model(
            spec, num_classes=num_classes, drop_rate=cfg.drop_rate, drop_path_rate=drop_path
        )
        if recipe.zero_init_head:
            nn.init.zeros_(model.classifier.weight)
        if recipe.zero_init_residual:
            for block in model.modules():
                if hasattr(block, "zero_init_last"):
                    block.zero_init_last()
    if recipe.bn_momentum is not None:
        for m in batch_norms(model):
            m.momentum = recipe.bn_momentum
    return model, head
