"""effnet: EfficientNet exact to the paper, and compound scaling as a method.

Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
ICML 2019 (arXiv 1905.11946).

The package is laid out by layer, each importing only those below it (checked by
``lint-imports``): ``models`` (the network; ``data`` beside it) -> ``weights`` (files in and
out) -> ``analysis`` / ``deploy`` -> ``train`` -> ``scaling`` (the method) -> ``cli``. This
module is the facade: the names most users need.
"""

from effnet.analysis.profile import count_macs, count_params, measure_latency
from effnet.data.preprocess import create_transform
from effnet.data_config import DataConfig
from effnet.deploy.backbones import backbone_with_fpn, segmentation_backbone
from effnet.deploy.inference import optimize_for_inference
from effnet.deploy.quantize import quantize
from effnet.models.compound import compound, scale
from effnet.models.network import FeatureNetwork, Network
from effnet.models.registry import get_spec, list_models
from effnet.models.rounding import round_filters, round_repeats
from effnet.models.spec import NetworkSpec, StageSpec
from effnet.models.variants import VARIANTS
from effnet.scaling.budget import fit_budget
from effnet.weights.convert import load_pretrained
from effnet.weights.create import create_model
from effnet.weights.io import WeightsMismatchError, save_weights

__version__ = "0.2.0"

__all__ = [
    "VARIANTS",
    "DataConfig",
    "FeatureNetwork",
    "Network",
    "NetworkSpec",
    "StageSpec",
    "WeightsMismatchError",
    "backbone_with_fpn",
    "compound",
    "count_macs",
    "count_params",
    "create_model",
    "create_transform",
    "fit_budget",
    "get_spec",
    "list_models",
    "load_pretrained",
    "measure_latency",
    "optimize_for_inference",
    "quantize",
    "round_filters",
    "round_repeats",
    "save_weights",
    "scale",
    "segmentation_backbone",
]
