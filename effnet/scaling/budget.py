"""The budget solver: the largest compound-scaled model that fits given limits (paper eq. 2).

Paper §3.2, eq. 2 maximises accuracy subject to ``Memory(N) <= target_memory`` and
``FLOPS(N) <= target_flops``; with α, β, γ fixed (§3.3, step 2) the only free variable is φ,
and accuracy grows with φ, so the answer is the largest φ whose *built* model meets every limit.

Every figure is measured on the model :func:`effnet.create_model` builds from
``compound(base, φ)``, never predicted from 2^φ:

* params and macs (multiply-adds, the paper's "FLOPs", batch 1):
  :func:`effnet.analysis.cost.model_cost`, the model built on the ``meta`` device (the
  counter :func:`effnet.count_macs` uses: equal figures, much faster);
* latency_ms: :func:`effnet.measure_latency`, batch 1, on this machine;
* memory_mb: parameter bytes + the peak bytes of tensors alive at once during a batch-1
  inference forward (``torch.no_grad``), including the input. The peak is measured, not
  estimated: a :class:`~torch.utils._python_dispatch.TorchDispatchMode` sees every tensor each
  aten op creates, adds its storage's bytes when it first appears and subtracts them when the
  last tensor viewing that storage is garbage-collected
  (:func:`effnet.analysis.memory.peak_memory_bytes`).
  Allocator slack and framework buffers are not counted.

Search: φ = 0 is measured first; whole steps of φ go up (or down) until the limits are crossed,
then bisection narrows the bracket to ``tol``. The returned φ is always one whose model was
measured and met every limit. Rounding (channels to multiples of 8, repeats by ceil, integer
pixels) makes the figures step functions of φ, so "largest" means largest found by this search.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from effnet.analysis.cost import model_cost
from effnet.analysis.memory import peak_memory_bytes
from effnet.analysis.profile import measure_latency
from effnet.models.compound import ALPHA, BETA, GAMMA, compound
from effnet.models.registry import get_spec
from effnet.models.spec import NetworkSpec
from effnet.weights.create import create_model

#: Lowest and highest φ the solver considers. Below -10 a B0 is 55 px wide with 8-channel
#: stages: nothing sensible is smaller. Above 12 the model is far beyond one machine.
MIN_PHI, MAX_PHI = -10.0, 12.0


@dataclass(frozen=True)
class Measurement:
    """Measured figures of one scaled model (``None``: not measured)."""

    phi: float
    depth: float
    width: float
    resolution: int
    params: int
    macs: int | None = None
    latency_ms: float | None = None
    memory_mb: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain values; unmeasured figures left out."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class BudgetResult:
    """What :func:`solve_budget` found: the spec and its measured figures."""

    spec: NetworkSpec
    measurement: Measurement
    evaluations: int


def measure(
    spec: NetworkSpec,
    phi: float,
    *,
    macs: bool = True,
    latency: bool = False,
    memory: bool = False,
    threads: int | None = None,
) -> Measurement:
    """Measure ``spec`` (1000 classes): params always, the rest when asked for.

    Params and MACs come from :func:`effnet.analysis.cost.model_cost` (the built model on
    the ``meta`` device); latency and memory from a real model.
    """
    cost = model_cost(spec)
    params, n_macs = cost.params, cost.macs
    m_lat = m_mem = None
    model = create_model(spec) if (latency or memory) else None
    if latency:
        m_lat = measure_latency(model, spec.resolution, threads=threads, min_run_time=0.3)
    if memory:
        p_bytes, a_bytes = peak_memory_bytes(model, spec.resolution)
        m_mem = (p_bytes + a_bytes) / 2**20
    return Measurement(
        phi=phi,
        depth=spec.depth,
        width=spec.width,
        resolution=spec.resolution,
        params=params,
        macs=n_macs if macs else None,
        latency_ms=m_lat,
        memory_mb=m_mem,
    )


def _parse_limits(limits: dict[str, float | None]) -> dict[str, float]:
    given = {k: float(v) for k, v in limits.items() if v is not None}
    if not given:
        raise ValueError(
            "give at least one limit: max_macs, max_params, max_latency_ms or max_memory_mb"
        )
    for k, v in given.items():
        if not (v > 0 and math.isfinite(v)):
            raise ValueError(f"{k} must be a positive number, got {v:g}")
    return given


def _violations(m: Measurement, limits: dict[str, float]) -> list[str]:
    figures = {
        "max_macs": m.macs,
        "max_params": m.params,
        "max_latency_ms": m.latency_ms,
        "max_memory_mb": m.memory_mb,
    }
    return [k for k, limit in limits.items() if figures[k] is not None and figures[k] > limit]


def _describe(m: Measurement) -> str:
    parts = [f"{m.params / 1e6:.2f}M params"]
    if m.macs is not None:
        parts.append(f"{m.macs / 1e6:.1f}M MACs")
    if m.latency_ms is not None:
        parts.append(f"{m.latency_ms:.1f} ms")
    if m.memory_mb is not None:
        parts.append(f"{m.memory_mb:.1f} MB")
    return ", ".join(parts)


def solve_budget(
    base: str | NetworkSpec,
    *,
    max_macs: float | None = None,
    max_params: float | None = None,
    max_latency_ms: float | None = None,
    max_memory_mb: float | None = None,
    alpha: float = ALPHA,
    beta: float = BETA,
    gamma: float = GAMMA,
    tol: float = 1 / 64,
    threads: int | None = None,
) -> BudgetResult:
    """Like :func:`fit_budget`, returning the measured figures too (MACs always measured)."""
    limits = _parse_limits(
        {
            "max_macs": max_macs,
            "max_params": max_params,
            "max_latency_ms": max_latency_ms,
            "max_memory_mb": max_memory_mb,
        }
    )
    base_spec = get_spec(base)
    cache: dict[float, Measurement] = {}

    def at(phi: float) -> Measurement:
        if phi not in cache:
            cache[phi] = measure(
                compound(base_spec, phi, alpha=alpha, beta=beta, gamma=gamma),
                phi,
                latency="max_latency_ms" in limits,
                memory="max_memory_mb" in limits,
                threads=threads,
            )
        return cache[phi]

    def ok(phi: float) -> bool:
        return not _violations(at(phi), limits)

    if ok(0.0):  # walk up in whole steps of φ (cost about doubles per step)
        lo, hi = 0.0, 1.0
        while hi <= MAX_PHI and ok(hi):
            lo, hi = hi, hi + 1.0
        if hi > MAX_PHI:
            hi = lo  # every φ up to the cap fits: return the cap
    else:  # walk down
        hi, lo = 0.0, -1.0
        while lo >= MIN_PHI and not ok(lo):
            hi, lo = lo, lo - 1.0
        if lo < MIN_PHI:
            smallest = at(MIN_PHI)
            bad = ", ".join(_violations(smallest, limits))
            raise ValueError(
                f"no model fits this budget: even the smallest considered "
                f"(phi={MIN_PHI:g}: {_describe(smallest)}) exceeds {bad}"
            )
    while hi - lo > tol:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    spec = compound(base_spec, lo, alpha=alpha, beta=beta, gamma=gamma)
    best = at(lo)
    spec = spec.replace(name=f"{base_spec.name}_phi{lo:.4g}")
    return BudgetResult(spec=spec, measurement=best, evaluations=len(cache))


def fit_budget(
    base: str | NetworkSpec,
    *,
    max_macs: float | None = None,
    max_params: float | None = None,
    max_latency_ms: float | None = None,
    max_memory_mb: float | None = None,
    alpha: float = ALPHA,
    beta: float = BETA,
    gamma: float = GAMMA,
) -> NetworkSpec:
    """The compound-scaled ``base`` with the largest φ (continuous, to 1/64) that meets every
    given limit, measured on the built model (paper eq. 2 with α, β, γ fixed, §3.3 step 2).

    Args:
        base: a registered name or a spec.
        max_macs: multiply-adds at batch 1 and the scaled resolution.
        max_params: parameters (1000-class head).
        max_latency_ms: median batch-1 latency on this machine.
        max_memory_mb: parameter + peak activation memory of a batch-1 forward (MiB).
        alpha, beta, gamma: the compound coefficients (default: the paper's for B0).

    Raises:
        ValueError: no limit given, a non-positive limit, or a budget that even the smallest
            model considered (φ = -10) cannot meet.
    """
    return solve_budget(
        base,
        max_macs=max_macs,
        max_params=max_params,
        max_latency_ms=max_latency_ms,
        max_memory_mb=max_memory_mb,
        alpha=alpha,
        beta=beta,
        gamma=gamma,
    ).spec
