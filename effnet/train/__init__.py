"""Training: the paper's recipe (§5.2), optimizers and schedules, the loop, checkpoints, EMA,
DDP and evaluation.

Light to import: heavy pieces load on first use.
"""

from effnet.train.recipe import PAPER, RECIPES, SMALL, Recipe, get_recipe

__all__ = ["PAPER", "RECIPES", "SMALL", "RMSpropTF", "Recipe", "TrainConfig", "get_recipe", "train"]


def __getattr__(name: str) -> object:
    if name == "RMSpropTF":
        from effnet.train.optim import RMSpropTF

        return RMSpropTF
    if name == "TrainConfig":
        from effnet.train.config import TrainConfig

        return TrainConfig
    if name == "train":
        from effnet.train.loop import train

        return train
    raise AttributeError(name)
