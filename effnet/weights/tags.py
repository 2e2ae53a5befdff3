"""Published weights by timm's ``name.tag`` names, and what ``pretrained=`` asks for.

Each published file of :mod:`effnet.weights.published` gets the name timm gives it: timm's own
and its ports of the official TF weights keep their Hub tags (``efficientnet_b0.ra_in1k``,
``efficientnet_b0.aa_in1k`` for ``timm/tf_efficientnet_b0.aa_in1k``), torchvision's
``IMAGENET1K_V1`` weights are ``.tv_in1k`` as timm names the torchvision weights it carries.
A model's default weights (``pretrained=True``) are the first of: timm's own, timm's port of
the official weights, torchvision's; :func:`published_weights` lists the default first.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import NamedTuple

from effnet.models import registry
from effnet.types import PublishedHub, choices
from effnet.weights.published import TIMM_WEIGHTS, TORCHVISION_WEIGHTS
from effnet.weights.timm_keys import from_timm_name

TORCHVISION_TAG = "tv_in1k"


class PublishedWeights(NamedTuple):
    """One published file: effnet's ``model``, timm's ``tag``, the library that publishes it
    and the key of that library's table (timm model name or torchvision model name)."""

    model: str
    tag: str
    hub: PublishedHub
    key: str

    @property
    def name(self) -> str:
        return f"{self.model}.{self.tag}"


def published_weights() -> list[PublishedWeights]:
    """Every published file, grouped by model (sorted), each model's default first."""
    found: dict[str, list[PublishedWeights]] = {}
    ranked = sorted(TIMM_WEIGHTS.items(), key=lambda kv: kv[0].startswith("tf_"))
    for timm_name, entry in ranked:
        model = from_timm_name(timm_name)
        tag = entry.hub_id.split(".", 1)[1]
        found.setdefault(model, []).append(PublishedWeights(model, tag, "timm", timm_name))
    for model in TORCHVISION_WEIGHTS:
        found.setdefault(model, []).append(
            PublishedWeights(model, TORCHVISION_TAG, "torchvision", model)
        )
    return [w for model in sorted(found) for w in found[model]]


def list_models(filter: str | Sequence[str] = "", pretrained: bool = False) -> list[str]:
    """Names accepted by :func:`effnet.create_model`, as timm's ``list_models``: those
    matching ``filter`` (shell-style wildcards such as ``"*lite*"``, one or several) when it
    is given; with ``pretrained``, the ``name.tag`` of every published file instead (each
    model's default first)."""
    if not pretrained:
        return registry.list_models(filter)
    patterns = [p for p in ([filter] if isinstance(filter, str) else filter) if p]
    names = [w.name for w in published_weights()]
    return [n for n in names if not patterns or any(fnmatch.fnmatchcase(n, p) for p in patterns)]


def split_tag(name: str) -> tuple[str, str | None]:
    """``"efficientnet_b0.ra_in1k"`` -> ``("efficientnet_b0", "ra_in1k")``; timm's ``tf_``
    names of the TF ports map to effnet's model name (their tag tells the file apart)."""
    model, _, tag = name.partition(".")
    if model.startswith("tf_") and model in TIMM_WEIGHTS:
        model = from_timm_name(model)
    return model, tag or None


def _parse(pretrained: bool | str) -> tuple[str | None, str | None]:
    """``pretrained=`` as ``(library, tag)``: True, ``"timm"``, ``"ra_in1k"`` or
    ``"timm.ra_in1k"``."""
    if pretrained is True:
        return None, None
    text = str(pretrained)
    lib, _, tag = text.partition(".")
    if lib in choices(PublishedHub):
        return lib, tag or None
    if tag:
        raise ValueError(
            f"pretrained={text!r}: LIB.TAG needs LIB in {', '.join(choices(PublishedHub))}"
        )
    return None, text


def resolve(name: str, pretrained: bool | str = True) -> PublishedWeights:
    """The published file ``name`` (``model`` or ``model.tag``) with ``pretrained`` (True:
    the tag in the name, else the model's default; a library; a tag; ``LIB.TAG``) names."""
    model, name_tag = split_tag(name)
    lib, tag = _parse(pretrained)
    if name_tag and tag and name_tag != tag:
        raise ValueError(f"{name!r} names the tag {name_tag!r}, pretrained names {tag!r}")
    tag = tag or name_tag
    candidates = [w for w in published_weights() if w.model == model]
    if not candidates:
        some = ", ".join(sorted({w.model for w in published_weights()}))
        raise ValueError(
            f"no published weights for {model!r}; published for: {some} "
            "(other files: weights=PATH, --weights PATH --source S)"
        )
    matches = [w for w in candidates if (lib is None or w.hub == lib) and tag in (None, w.tag)]
    if not matches:
        asked = ".".join(p for p in (lib, tag) if p)
        raise ValueError(
            f"no published weights {asked!r} for {model}; it has "
            f"{', '.join(f'{w.tag} ({w.hub})' for w in candidates)}"
        )
    return matches[0]
