"""Optimizers: :class:`RMSpropTF`, RMSProp with TensorFlow semantics (paper §5.2)."""

from effnet.train.optim import RMSpropTF

__all__ = ["RMSpropTF"]
