"""Datasets and transforms: image folders, CIFAR, the generated demo set (Tan & Le, 2019, §5.2)."""

from effnet.constants import IMAGENET_MEAN, IMAGENET_STD
from effnet.data.build import DataBundle, build_datasets
from effnet.data.demo import demo_root
from effnet.data.image import DEFAULT_MAX_PIXELS, load_image, to_rgb
from effnet.data.split import stratified_split
from effnet.data.transforms import eval_transform, train_transform

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "DataBundle",
    "build_datasets",
    "demo_root",
    "eval_transform",
    "load_image",
    "stratified_split",
    "to_rgb",
    "train_transform",
]
