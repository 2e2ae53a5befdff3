"""torch.hub entry points: ``torch.hub.load("<this repository>", "efficientnet_b0",
pretrained=True, num_classes=10)`` for every registered model (``effnet.list_models()``).

``pretrained`` is as in :func:`effnet.create_model` (``True``, a library, a tag or ``LIB.TAG``)
and every other keyword is passed to it.
"""

from typing import Any

dependencies = ["torch", "torchvision", "safetensors", "huggingface_hub"]

from effnet.models.registry import list_models as _list_models  # noqa: E402
from effnet.weights.create import create_model as _create_model  # noqa: E402


def _entry(name: str):  # noqa: ANN202 - a torch.hub entry point
    def entry(pretrained: bool | str = False, **kwargs: Any):  # noqa: ANN202 - a Network
        return _create_model(name, pretrained=pretrained, **kwargs)

    entry.__name__ = entry.__qualname__ = name
    entry.__doc__ = f"effnet's {name}: ``effnet.create_model({name!r}, pretrained, **kwargs)``."
    return entry


globals().update({_name: _entry(_name) for _name in _list_models()})
