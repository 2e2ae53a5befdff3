"""Model names -> specs: the bases of :mod:`effnet.models.zoo` and the official variants
(B0..B8, L2, Lite0..Lite4 and V2-B0..B3, S, M, L, XL)."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Sequence
from functools import partial

from effnet.models import zoo
from effnet.models.spec import NetworkSpec
from effnet.models.variants import LITE_VARIANTS, V2_VARIANTS, VARIANTS

_REGISTRY: dict[str, Callable[[], NetworkSpec]] = {
    **{f"efficientnet_{v}": partial(zoo.efficientnet, v) for v in VARIANTS},
    **{f"efficientnet_{v}": partial(zoo.efficientnet_lite, v) for v in LITE_VARIANTS},
    **{f"efficientnet_v2_{v}": partial(zoo.efficientnet_v2, v) for v in V2_VARIANTS},
    "mobilenet_v1": zoo.mobilenet_v1,
    "mobilenet_v2": zoo.mobilenet_v2,
    "resnet50": zoo.resnet50,
}


def list_models(filter: str | Sequence[str] = "") -> list[str]:
    """Names accepted by :func:`effnet.create_model`, those matching ``filter`` (a shell-style
    wildcard such as ``"*lite*"``, or several of them) when it is given, as timm's
    ``list_models``."""
    patterns = [filter] if isinstance(filter, str) else list(filter)
    names = sorted(_REGISTRY)
    if not any(patterns):
        return names
    return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns if p)]


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
