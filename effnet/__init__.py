"""effnet: EfficientNet exact to the paper, and compound scaling as a method.

Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
ICML 2019 (arXiv 1905.11946).

The package is laid out by layer, each importing only those below it (checked by
``lint-imports``): ``models`` (the network) -> ``analysis`` / ``deploy`` -> ``train`` ->
``scaling`` (the method) -> ``cli``; ``data`` sits beside ``models``. This module is the facade:
the names most users need.
"""

from effnet import compat
from effnet.analysis.profile import count_macs, count_params, measure_latency
from effnet.data.preprocess import create_transform
from effnet.deploy.inference import optimize_for_inference
from effnet.deploy.quantize import quantize
from effnet.models.backbones import backbone_with_fpn, segmentation_backbone
from effnet.models.compound import compound, scale
from effnet.models.convert import load_pretrained
from effnet.models.create import create_model
from effnet.models.network import FeatureNetwork, Network
from effnet.models.registry import get_spec, list_models
from effnet.models.rounding import round_filters, round_repeats
from effnet.models.spec import NetworkSpec, StageSpec
from effnet.models.variants import VARIANTS
from effnet.models.weights import WeightsMismatchError, save_weights
from effnet.scaling.budget import fit_budget

__version__ = "0.1.0"

__all__ = [
    "VARIANTS",
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

compat.install()


def __getattr__(name: str) -> object:
    """``effnet.optim``, ``effnet.weights`` ...: the module paths of 0.1 (see
    :mod:`effnet.compat`)."""
    if compat.new_homes(f"effnet.{name}") is not None:
        import importlib

        return importlib.import_module(f"effnet.{name}")
    raise AttributeError(f"module 'effnet' has no attribute {name!r}")
