""":func:`create_model`: a registered name, a spec, a weights file or published weights -> a
ready network."""

from __future__ import annotations

import os
from collections.abc import Sequence

from torch import nn

from effnet.models.lean import make_memory_efficient
from effnet.models.network import FeatureNetwork, Network
from effnet.models.registry import get_spec
from effnet.models.spec import NetworkSpec
from effnet.types import Padding
from effnet.weights.convert import load_pretrained
from effnet.weights.fetch import published_file
from effnet.weights.hub import is_hub_name, load_from_hub
from effnet.weights.io import WeightsMismatchError, load_weights
from effnet.weights.tags import resolve, split_tag


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
    pretrained: bool | str | None = False,
) -> nn.Module:
    """Build a registered model or any spec.

    Args:
        name: a registered name (see :func:`list_models`), a published ``name.tag`` (timm's
            names: ``"efficientnet_b0.ra_in1k"``, ``".tv_in1k"`` for torchvision's; see
            ``list_models(pretrained=True)``), a Hugging Face Hub repository in timm's or
            effnet's format (``"hf-hub:ORG/NAME[@REVISION]"``: its architecture, and its
            weights with ``pretrained=True``; see :mod:`effnet.weights.hub`), or a
            :class:`NetworkSpec`.
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
        pretrained: published ImageNet weights for ``name``: ``True`` (the tag in ``name``,
            else the model's default: timm's own, else timm's port of the official weights,
            else torchvision's), a library (``"torchvision"``, ``"timm"``), a tag
            (``"ra_in1k"``) or ``"LIB.TAG"``; from the library's download cache (fetched
            once if missing; see :mod:`effnet.weights.fetch`). The model is configured like
            the source (padding, BN eps) and ``model.pretrained_cfg`` holds the preprocessing
            published with the weights. ``num_classes`` other than 1000 gives a new, untrained head.

    Every model carries its data config, ``model.pretrained_cfg``
    (:mod:`effnet.data_config`); ``effnet.create_transform(model)`` feeds it images.
    """
    if out_indices is not None and not features_only:
        raise ValueError("out_indices selects feature levels: pass features_only=True with it")
    if is_hub_name(name):
        if weights is not None or pretrained not in (True, False, None):
            raise ValueError(f"{name} names its weights: pass pretrained=True (or nothing)")
        drops = {"drop_rate": drop_rate, "drop_path_rate": drop_path_rate}
        model = load_from_hub(str(name), pretrained=bool(pretrained), **drops).train()
        if in_chans not in (3, model.in_chans):
            raise ValueError(f"{name} takes {model.in_chans} input channels, not {in_chans}")
        _adapt(model, num_classes, memory_efficient)
        return FeatureNetwork(model, out_indices) if features_only else model
    if isinstance(name, str) and "." in name and not pretrained:
        name = split_tag(name)[0]  # timm: a tag without pretrained=True picks no weights
    if pretrained:
        if weights is not None:
            raise ValueError("give weights (a file) or pretrained (a library), not both")
        if in_chans != 3:
            raise ValueError(f"published weights take 3 input channels, not in_chans={in_chans}")
        if not isinstance(name, str):
            raise ValueError("pretrained weights are published for registered names, not specs")
        published = resolve(name, pretrained)
        path, layout = published_file(published)
        model = load_pretrained(
            published.model, path, source=layout, drop_rate=drop_rate, drop_path_rate=drop_path_rate
        ).train()  # as every other model create_model returns (and torchvision's, timm's)
        _adapt(model, num_classes, memory_efficient)
    elif weights is not None:
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


def _adapt(model: Network, num_classes: int | None, memory_efficient: bool) -> None:
    """A new, untrained head for another ``num_classes``; lean training if asked."""
    if num_classes is not None and num_classes != model.num_classes:
        model.reset_classifier(num_classes)
    if memory_efficient:
        make_memory_efficient(model)
