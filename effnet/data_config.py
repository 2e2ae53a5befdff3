"""The data config every model carries as ``model.pretrained_cfg``: how to feed it images.

A frozen dataclass that also reads as a mapping, so ``model.pretrained_cfg["input_size"]``
works as it does on a timm model. Fields:

- ``input_size``: ``(C, H, W)`` the weights expect;
- ``crop_pct``: the eval crop's side as a fraction of the shorter image side;
- ``crop_order``: ``"crop_then_resize"`` (the official ``_decode_and_center_crop`` in
  ``preprocessing.py``; effnet's eval transform) or ``"resize_then_crop"`` (torchvision's and
  timm's: shorter side to ``floor(H / crop_pct)``, then a centre crop of ``H``);
- ``interpolation``: ``"bicubic"`` or ``"bilinear"``;
- ``mean``, ``std``: per channel, on 0..1 input;
- ``num_classes``, ``classes`` (names, or ``None``);
- ``source``: whose weights the model holds (a :data:`effnet.types.Source`; ``None`` before any
  are loaded) and ``weights``: where they came from (a file, URL or Hub id; or ``None``).

A change is a new config: ``cfg.replace(classes=names)``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from effnet.constants import eval_crop_fraction
from effnet.types import CropOrder, Interpolation, check_choice


def _per_channel(values: Sequence[float], in_chans: int) -> tuple[float, ...]:
    values = tuple(float(v) for v in values)
    if len(values) == in_chans:
        return values
    return (sum(values) / len(values),) * in_chans  # e.g. a grey-scale model: the average


@dataclasses.dataclass(frozen=True)
class DataConfig(Mapping[str, Any]):
    """How to feed a model images (see the module docstring for the fields)."""

    input_size: tuple[int, int, int]
    crop_pct: float
    crop_order: CropOrder
    interpolation: Interpolation
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int
    classes: tuple[str, ...] | None = None
    source: str | None = None
    weights: str | None = None

    def __post_init__(self) -> None:
        check_choice(CropOrder, self.crop_order, "crop_order")
        check_choice(Interpolation, self.interpolation, "interpolation")
        channels, height, width = (int(v) for v in self.input_size)
        if min(channels, height, width) < 1 or not 0.0 < float(self.crop_pct) <= 1.0:
            raise ValueError(
                f"need input_size >= 1 and 0 < crop_pct <= 1, got {self.input_size}, "
                f"{self.crop_pct}"
            )
        set_ = object.__setattr__  # normalise the types once, on a frozen instance
        set_(self, "input_size", (channels, height, width))
        set_(self, "crop_pct", float(self.crop_pct))
        set_(self, "mean", _per_channel(self.mean, channels))
        set_(self, "std", _per_channel(self.std, channels))
        set_(self, "num_classes", int(self.num_classes))
        if self.classes is not None:
            set_(self, "classes", tuple(str(c) for c in self.classes))
            if len(self.classes) != self.num_classes:
                raise ValueError(f"{len(self.classes)} class names for {self.num_classes} classes")

    @classmethod
    def square(cls, resolution: int, *, in_chans: int = 3, **fields: Any) -> DataConfig:
        """A config for ``resolution`` x ``resolution`` input with ``in_chans`` channels."""
        return cls(input_size=(in_chans, resolution, resolution), **fields)

    # a mapping, as timm's ``pretrained_cfg`` is
    def __getitem__(self, key: str) -> Any:
        if key not in FIELDS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(FIELDS)

    def __len__(self) -> int:
        return len(FIELDS)

    @property
    def resolution(self) -> int:
        """The input side the weights expect."""
        return self.input_size[-1]

    def replace(self, **changes: Any) -> DataConfig:
        """A copy with ``changes`` (checked as a new config)."""
        return dataclasses.replace(self, **changes)

    def fixed_crop(self) -> float | None:
        """The crop fraction, or ``None`` where it is the official ``res / (res + 32)`` at this
        resolution (which then follows any other resolution asked for)."""
        paper = eval_crop_fraction(self.resolution)
        return None if abs(self.crop_pct - paper) < 1e-6 else self.crop_pct

    def to_json(self) -> str:
        """The config as JSON (class names are stored on their own, so they are left out)."""
        return json.dumps({k: v for k, v in self.items() if k != "classes"}, sort_keys=True)


#: The field names, in order (the keys of the mapping).
FIELDS = tuple(f.name for f in dataclasses.fields(DataConfig))
