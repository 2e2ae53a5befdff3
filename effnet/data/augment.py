"""Train-time augmentation policies by name, torchvision's implementations.

The per-image policies are ``torchvision.transforms``' (its ``v2`` namespace draws its random
numbers in another order, which would change the results of today's recipes); the batch
mixing of :mod:`effnet.train.mixing` is ``transforms.v2``'s MixUp and CutMix.

Names (``--augment``; timm's ``--aa`` spellings too):

- ``none``;
- ``autoaugment`` (timm: ``original``): AutoAugment's ImageNet policy (the paper's, §5.2);
- ``randaugment`` = ``rand-m9-n2``; ``rand-mM-nN``: RandAugment with magnitude M (0..30) and N
  ops (timm's ``rand-...``; its ``mstd`` and ``inc`` options have no torchvision counterpart
  and are refused);
- ``trivialaugment``: TrivialAugmentWide;
- ``augmix`` = ``augmix-m3-w3-d-1``; ``augmix-mM-wW-dD``: AugMix with severity M, mixture width
  W, chain depth D (-1: random 1..3).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

#: RandAugment's defaults: N=2 ops of magnitude M=9 (RandAugment paper's ImageNet setting;
#: ``randaug_num_layers`` / ``randaug_magnitude`` in the official ``main.py``).
RANDAUGMENT_N, RANDAUGMENT_M = 2, 9
_KINDS = ("none", "autoaugment", "randaugment", "trivialaugment", "augmix")
_ALIASES = {"original": "autoaugment", "rand": "randaugment"}


@dataclass(frozen=True)
class AugmentPolicy:
    """A parsed ``--augment``: the kind and its numbers (RandAugment: ``magnitude``,
    ``num_ops``; AugMix: ``magnitude`` is its severity, ``width``, ``depth``)."""

    kind: str
    magnitude: int = RANDAUGMENT_M
    num_ops: int = RANDAUGMENT_N
    width: int = 3
    depth: int = -1


def parse_augment(text: str) -> AugmentPolicy:
    """The policy ``text`` names (see the module docstring); ValueError names what is
    accepted."""
    head, *options = str(text).split("-")
    kind = _ALIASES.get(head, head)
    if kind not in _KINDS:
        raise ValueError(
            f"augment {text!r}: expected none, autoaugment, randaugment (rand-mM-nN), "
            "trivialaugment or augmix (augmix-mM-wW-dD)"
        )
    values: dict[str, int] = {}
    for option in _options(options):
        match = re.fullmatch(r"([a-z]+)(-?\d+)", option)
        allowed = {"randaugment": "mn", "augmix": "mwd"}.get(kind, "")
        if match is None or match.group(1) not in allowed or len(match.group(1)) != 1:
            raise ValueError(
                f"augment {text!r}: {option!r} is not an option effnet's {kind} takes "
                f"({', '.join(allowed) or 'none'}; timm's mstd / inc have no torchvision "
                "counterpart)"
            )
        values[match.group(1)] = int(match.group(2))
    if kind == "augmix":
        policy = AugmentPolicy(kind, values.get("m", 3), width=values.get("w", 3),
                               depth=values.get("d", -1))  # fmt: skip
    else:
        policy = AugmentPolicy(kind, values.get("m", RANDAUGMENT_M), values.get("n", RANDAUGMENT_N))
    if not 0 <= policy.magnitude <= 30 or policy.num_ops < 1 or policy.width < 1:
        raise ValueError(f"augment {text!r}: magnitude 0..30, ops and width >= 1")
    return policy


def _options(parts: list[str]) -> list[str]:
    """``["m3", "w3", "d", "1"]`` -> ``["m3", "w3", "d-1"]``: a negative value rejoined."""
    out: list[str] = []
    for part in parts:
        if part.isdigit() and out and not out[-1][-1:].isdigit():
            out[-1] += f"-{part}"
        else:
            out.append(part)
    return out


def augment_step(policy: AugmentPolicy) -> Callable | None:
    """The torchvision transform of ``policy`` (on PIL images), or ``None`` for ``none``."""
    from torchvision import transforms as T

    if policy.kind == "autoaugment":
        return T.AutoAugment(T.AutoAugmentPolicy.IMAGENET)
    if policy.kind == "randaugment":
        return T.RandAugment(num_ops=policy.num_ops, magnitude=policy.magnitude)
    if policy.kind == "trivialaugment":
        return T.TrivialAugmentWide()
    if policy.kind == "augmix":
        return T.AugMix(
            severity=max(1, policy.magnitude), mixture_width=policy.width, chain_depth=policy.depth
        )
    return None
