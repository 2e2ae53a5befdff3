"""effnet: EfficientNet exact to the paper, and compound scaling as a method.

Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
ICML 2019 (arXiv 1905.11946).
"""

from effnet.budget import fit_budget
from effnet.inference import optimize_for_inference
from effnet.model import FeatureNetwork, Network
from effnet.profile import count_macs, count_params, measure_latency
from effnet.registry import create_model, get_spec, list_models
from effnet.scaling import VARIANTS, compound, round_filters, round_repeats, scale
from effnet.spec import NetworkSpec, StageSpec
from effnet.weights import WeightsMismatchError, load_pretrained, save_weights

__version__ = "0.1.0"

__all__ = [
    "VARIANTS",
    "FeatureNetwork",
    "Network",
    "NetworkSpec",
    "StageSpec",
    "WeightsMismatchError",
    "compound",
    "count_macs",
    "count_params",
    "create_model",
    "fit_budget",
    "get_spec",
    "list_models",
    "load_pretrained",
    "measure_latency",
    "optimize_for_inference",
    "round_filters",
    "round_repeats",
    "save_weights",
    "scale",
]
