"""Model names -> specs, and :func:`create_model`."""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from functools import partial

from torch import nn

from effnet import zoo
from effnet.layers import Padding
from effnet.lean import make_memory_efficient
from effnet.model import FeatureNetwork, Network
from effnet.scaling import VARIANTS
from effnet.spec import NetworkSpec

_REGISTRY: dict[str, Callable[[], NetworkSpec]] = {
    **{f"efficientnet_{v}": partial(zoo.efficientnet, v) for v in VARIANTS},
    "mobilenet_v1": zoo.mobilenet_v1,
    "mobilenet_v2": zoo.mobilenet_v2,
    "resnet50": zoo.resnet50,
}


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`."""
    return sorted(_REGISTRY)


def get_spec(name: str | NetworkSpec) -> NetworkSpec:
    """The spec registered under ``name`` (a spec is returned as is)."""
    if isinstance(name, NetworkSpec):
        return name
    try:
        return _REGISTRY[name]()
    except KeyError:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown model {name!r}{hint} (see effnet.list_models())") from None


def create_model(
    name: str | NetworkSpec,
    *,
    num_classes: int | None = None,
    in_chans: int = 3,
    weights: str | os.PathLike[str] | None = None,
    drop_rate: float | None = None,
    drop_path_rate: float | None = None,
    padding: Padding = "symmetric",
    features_only: bool = False,
    bn_eps: float = 1e-3,
    memory_efficient: bool = False,
) -> nn.Module:
    """Build a registered model or any spec.

    Args:
        name: a registered name (see :func:`list_models`) or a :class:`NetworkSpec`.
        num_classes: classifier outputs (default 1000); 0 removes the classifier. With
            ``weights`` the file sets it, and a different value given here is an error.
        in_chans: input channels.
        weights: an effnet ``.safetensors`` file (see :func:`effnet.save_weights`); its metadata
            sets the architecture, class count, padding and BN eps, and must agree with ``name``.
        drop_rate: dropout before the classifier (default: per variant, facts §2).
        drop_path_rate: stochastic depth of the last block (default 0.2, facts §4).
        padding: ``"symmetric"`` or TF ``"same"``.
        features_only: return a :class:`FeatureNetwork` giving maps at strides 2..32.
        bn_eps: BatchNorm epsilon.
        memory_efficient: lean training by per-block activation checkpointing (see
            :mod:`effnet.lean`); same outputs, gradients and ``state_dict`` keys.
    """
    if weights is not None:
        from effnet.weights import load_weights

        model = load_weights(
            weights,
            name=name,
            in_chans=in_chans,
            drop_rate=drop_rate,
            drop_path_rate=drop_path_rate,
        )
        if num_classes is not None and num_classes != model.num_classes:
            from effnet.weights import WeightsMismatchError

            head = getattr(model.classifier, "weight", None)
            shape = f" (classifier.weight {tuple(head.shape)})" if head is not None else ""
            raise WeightsMismatchError(
                f"{weights} holds a classifier for {model.num_classes} classes, not "
                f"{num_classes}{shape}; "
                f"load it without num_classes and call reset_classifier({num_classes}) "
                "for a new head"
            )
        if memory_efficient:
            make_memory_efficient(model)
    else:
        model = Network(
            get_spec(name),
            num_classes=1000 if num_classes is None else num_classes,
            in_chans=in_chans,
            drop_rate=drop_rate,
            drop_path_rate=drop_path_rate,
            padding=padding,
            bn_eps=bn_eps,
            memory_efficient=memory_efficient,
        )
    return FeatureNetwork(model) if features_only else model
