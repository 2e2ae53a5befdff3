"""The network: specs (paper Table 1), the rounding rules and compound scaling of a spec
(§3.3, eq. 3), layers and blocks, the network module, the registry of named models, and
weights files in and out.

Dependency order inside: spec -> rounding / variants -> zoo -> registry -> compound;
layers -> blocks -> network -> weights -> convert / create -> loading.
"""

from effnet.models.compound import ALPHA, BETA, GAMMA, compound, scale
from effnet.models.convert import load_pretrained
from effnet.models.create import create_model
from effnet.models.network import FeatureNetwork, Network
from effnet.models.registry import get_spec, list_models
from effnet.models.rounding import round_filters, round_repeats
from effnet.models.spec import NetworkSpec, StageSpec
from effnet.models.variants import VARIANTS
from effnet.models.weights import WeightsMismatchError, load_weights, save_weights

__all__ = [
    "ALPHA",
    "BETA",
    "GAMMA",
    "VARIANTS",
    "FeatureNetwork",
    "Network",
    "NetworkSpec",
    "StageSpec",
    "WeightsMismatchError",
    "compound",
    "create_model",
    "get_spec",
    "list_models",
    "load_pretrained",
    "load_weights",
    "round_filters",
    "round_repeats",
    "save_weights",
    "scale",
]
