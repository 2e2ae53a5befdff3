""":func:`create_model`: a registered name, a spec or a weights file -> a ready network."""

from __future__ import annotations

import os
from collections.abc import Sequence

from torch import nn

from effnet.models.lean import make_memory_efficient
from effnet.models.network import FeatureNetwork, Network
from effnet.models.registry import get_spec
from effnet.models.spec import NetworkSpec
from effnet.models.weights import WeightsMismatchError, load_weights
from effnet.types import Padding


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
    out_indices: Sequence[int] | None = None,
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
        drop_rate: dropout before the classifier (default: per variant, the official table's).
        drop_path_rate: stochastic depth of the last block (default 0.2: ``drop_connect_rate``
            in the official ``efficientnet_builder.py``).
        padding: ``"symmetric"`` or TF ``"same"``.
        features_only: return a :class:`FeatureNetwork` giving maps at strides 2..32.
        out_indices: with ``features_only``, the levels to return (indices into
            ``model.feature_info``; default all).
        bn_eps: BatchNorm epsilon.
        memory_efficient: lean training by per-block activation checkpointing (see
            :mod:`effnet.models.lean`); same outputs, gradients and ``state_dict`` keys.
    """
    if out_indices is not None and not features_only:
        raise ValueError("out_indices selects feature levels: pass features_only=True with it")
    if weights is not None:
        model = load_weights(
            weights,
            name=name,
            in_chans=in_chans,
            drop_rate=drop_rate,
            drop_path_rate=drop_path_rate,
        )
        if num_classes is not None and num_classes != model.num_classes:
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
    return FeatureNetwork(model, out_indices) if features_only else model
