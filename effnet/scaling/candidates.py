"""The networks a search trains: (α, β, γ) grid candidates at φ = 1 (paper §3.3, step 1) and
single-dimension or compound sweeps (paper Figures 3 and 8), all built from one base.

Step 1 of compound scaling fixes φ = 1 and searches depth α, width β and resolution γ under
α·β²·γ² ≈ 2 (α, β, γ ≥ 1): each candidate is the base scaled by (α, β, γ), so it costs about
twice the base's multiply-adds. A sweep instead scales one dimension at several multipliers
(or compound φ) to compare accuracy against multiply-adds, as in Figures 3 and 8.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from effnet.analysis.cost import model_cost
from effnet.models.compound import ALPHA, BETA, GAMMA, compound, scale
from effnet.models.registry import get_spec
from effnet.models.spec import NetworkSpec

SWEEP_KINDS = ("depth", "width", "resolution", "compound")
#: Default sweep points (paper Figure 3 uses d up to 8, w up to 5, r up to 2.5): small enough
#: to train on a CPU. For ``compound`` they are values of φ (multiply-adds about 2^φ).
DEFAULT_SWEEP = {
    "depth": (1.0, 2.0, 3.0, 4.0),
    "width": (1.0, 1.4, 1.8, 2.2),
    "resolution": (1.0, 1.3, 1.6, 2.0),
    "compound": (0.0, 1.0, 2.0, 3.0),
}
_KEY_DIGITS = 4


@dataclass(frozen=True)
class Candidate:
    """One network to train: the base scaled by ``depth``, ``width``, ``resolution``.

    ``kind`` is ``"grid"`` (an (α, β, γ) candidate at φ = 1) or a sweep kind; ``value`` is the
    swept multiplier (or φ for compound sweeps, 1 for grid candidates).
    """

    kind: str
    depth: float
    width: float
    resolution: float
    value: float = 1.0

    @property
    def key(self) -> str:
        d = _KEY_DIGITS
        return (
            f"{self.kind}:{self.depth:.{d}f}:{self.width:.{d}f}:{self.resolution:.{d}f}:"
            f"{self.value:.{d}f}"
        )

    @classmethod
    def from_key(cls, key: str) -> Candidate:
        kind, depth, width, resolution, value = key.split(":")
        return cls(kind, float(depth), float(width), float(resolution), float(value))

    @property
    def product(self) -> float:
        """α·β²·γ² (the multiply-add factor before rounding)."""
        return self.depth * self.width**2 * self.resolution**2

    def apply(self, base: NetworkSpec) -> NetworkSpec:
        spec = scale(base, depth=self.depth, width=self.width, resolution=self.resolution)
        return spec.replace(name=f"{base.name}-{self.kind}-{self.value:g}")


def grid(
    step: float = 0.05, tolerance: float = 0.1, target: float = 2.0, max_value: float = 2.0
) -> list[Candidate]:
    """Every (α, β, γ) on a grid of ``step`` from 1 to ``max_value`` with
    ``|α·β²·γ² - target| <= tolerance`` (paper §3.3: α·β²·γ² ≈ 2, α, β, γ ≥ 1),
    ordered by α, then β, then γ."""
    if not step > 0:
        raise ValueError(f"grid step must be > 0, got {step}")
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    n = int(math.floor((max_value - 1.0) / step + 1e-9))
    values = [round(1.0 + i * step, 10) for i in range(n + 1)]
    out = []
    for a in values:
        for b in values:
            for g in values:
                if abs(a * b * b * g * g - target) <= tolerance + 1e-12:
                    out.append(Candidate("grid", a, b, g))
    return out


def sweep_candidates(
    kinds: Iterable[str],
    multipliers: Sequence[float] | None = None,
    *,
    alpha: float = ALPHA,
    beta: float = BETA,
    gamma: float = GAMMA,
) -> list[Candidate]:
    """Candidates of single-dimension (or compound) sweeps (paper Figures 3 and 8)."""
    out = []
    for kind in kinds:
        _check_kind(kind)
        for v in multipliers or DEFAULT_SWEEP[kind]:
            if kind != "compound" and not v > 0:
                raise ValueError(f"sweep multipliers must be > 0, got {v}")
            d, w, r = _multipliers(kind, float(v), alpha, beta, gamma)
            out.append(Candidate(kind, d, w, r, float(v)))
    return out


def _check_kind(kind: str) -> None:
    if kind not in SWEEP_KINDS:
        raise ValueError(f"unknown sweep {kind!r}; choose from {', '.join(SWEEP_KINDS)}")


def _multipliers(
    kind: str, v: float, alpha: float, beta: float, gamma: float
) -> tuple[float, float, float]:
    return {
        "depth": (v, 1.0, 1.0),
        "width": (1.0, v, 1.0),
        "resolution": (1.0, 1.0, v),
        "compound": (alpha**v, beta**v, gamma**v),
    }[kind]


def matched_candidates(
    base: NetworkSpec,
    kinds: Iterable[str],
    ratios: Sequence[float],
    *,
    alpha: float = ALPHA,
    beta: float = BETA,
    gamma: float = GAMMA,
) -> list[Candidate]:
    """For each kind and each multiply-add ratio, the multiplier (φ for ``compound``) whose
    network costs closest to ``ratio`` × the base's multiply-adds, as counted after rounding
    (paper Figure 8 and Table 3 compare the dimensions at equal FLOPS). Found by bisection on
    the continuous multiplier, each count on the meta device."""
    base_macs = model_cost(base).macs
    out = []
    for kind in kinds:
        _check_kind(kind)
        for ratio in ratios:
            if not ratio > 1:
                raise ValueError(f"multiply-add ratios must be > 1, got {ratio}")

            def macs_at(v: float, kind: str = kind) -> float:
                d, w, r = _multipliers(kind, v, alpha, beta, gamma)
                return model_cost(Candidate(kind, d, w, r, v).apply(base)).macs / base_macs

            lo, hi = (0.0, 1.0) if kind == "compound" else (1.0, 2.0)
            while macs_at(hi) < ratio:
                lo, hi = hi, hi * 2 if kind != "compound" else hi + 1
            for _ in range(16):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if macs_at(mid) < ratio else (lo, mid)
            best = min((lo, hi), key=lambda v: abs(macs_at(v) - ratio))
            v = round(best, _KEY_DIGITS)
            d, w, r = _multipliers(kind, v, alpha, beta, gamma)
            out.append(Candidate(kind, round(d, _KEY_DIGITS), round(w, _KEY_DIGITS),
                                 round(r, _KEY_DIGITS), v))  # fmt: skip
    return out


def select(candidates: Sequence[Candidate], max_candidates: int | None = None) -> list[Candidate]:
    """At most ``max_candidates`` spread evenly over the list."""
    cands = list(candidates)
    if max_candidates is not None:
        if max_candidates < 1:
            raise ValueError(f"max candidates must be >= 1, got {max_candidates}")
        if max_candidates < len(cands):
            k = max_candidates
            idx = sorted({round(j * (len(cands) - 1) / max(1, k - 1)) for j in range(k)})
            cands = [cands[j] for j in idx]
    return cands


def base_spec(
    base: str | NetworkSpec, base_phi: float = 0.0, resolution: int | None = None
) -> NetworkSpec:
    """The network the search scales: ``compound(base, base_phi)``, at ``resolution`` if
    given (e.g. B0 at φ = -4 and 64 px to search on a CPU)."""
    spec = get_spec(base)
    if base_phi:
        spec = compound(spec, base_phi)
    if resolution:
        spec = spec.replace(resolution=int(resolution))
    return spec.replace(name=f"{spec.name}" + (f"_phi{base_phi:g}" if base_phi else ""))


def cost_row(cand: Candidate, base: NetworkSpec, base_macs: int) -> dict[str, Any]:
    """What a candidate is and costs: its multipliers, the rounded spec's depth, width and
    resolution, multiply-adds and parameters (counted on the meta device)."""
    spec = cand.apply(base)
    cost = model_cost(spec)
    return {
        "key": cand.key,
        "kind": cand.kind,
        "value": cand.value,
        "alpha": cand.depth,
        "beta": cand.width,
        "gamma": cand.resolution,
        "product": round(cand.product, 6),
        "depth": spec.depth,
        "width": spec.width,
        "resolution": spec.resolution,
        "macs": cost.macs,
        "params": cost.params,
        "macs_ratio": round(cost.macs / base_macs, 4),
    }
