"""Compound scaling as a method (paper §3.3): the 2^φ family law, the budget solver (eq. 2)
and the α, β, γ search (step 1).

These build, measure and train models, so they sit above :mod:`effnet.models`,
:mod:`effnet.analysis` and :mod:`effnet.train`. Scaling one spec by eq. 3 (``scale``,
``compound``) is arithmetic on the spec and lives with it in :mod:`effnet.models.compound`;
it is re-exported here.
"""

from effnet.models.compound import ALPHA, BETA, GAMMA, compound, scale
from effnet.models.rounding import round_filters, round_repeats, round_resolution
from effnet.models.variants import VARIANTS, Variant
from effnet.scaling.budget import fit_budget, solve_budget
from effnet.scaling.law import family

__all__ = [
    "ALPHA",
    "BETA",
    "GAMMA",
    "VARIANTS",
    "Variant",
    "compound",
    "family",
    "fit_budget",
    "round_filters",
    "round_repeats",
    "round_resolution",
    "scale",
    "solve_budget",
]
