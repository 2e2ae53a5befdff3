"""One network class built from any :class:`~effnet.models.spec.NetworkSpec` (EfficientNet,
MobileNet, ResNet), with the initialisation of the official code (``conv_kernel_initializer`` and
``dense_kernel_initializer`` in ``efficientnet_model.py``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from effnet.data_config import DataConfig
from effnet.models.blocks import make_block
from effnet.models.default_config import default_config
from effnet.models.layers import batch_norms, create_conv2d, make_activation, tf_batchnorm
from effnet.models.lean import make_memory_efficient
from effnet.models.plan import NetworkPlan, plan_network
from effnet.models.spec import NetworkSpec
from effnet.types import Padding


def init_weights(module: nn.Module) -> None:
    """TF-faithful init: conv ~ N(0, sqrt(2 / fan_out)) with fan_out = k·k·out / groups;
    dense ~ U(±1/sqrt(out_features)); biases 0; BN weight 1, bias 0."""
    if isinstance(module, nn.Conv2d):
        k_h, k_w = module.kernel_size
        fan_out = k_h * k_w * module.out_channels // module.groups
        nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Linear):
        bound = 1.0 / math.sqrt(module.out_features)
        nn.init.uniform_(module.weight, -bound, bound)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def _tracing(x: object) -> bool:
    """Whether ``x`` flows through a graph capture (torch.fx or torch.compile / export), where
    checks that read module state or concrete sizes would be baked in."""
    return isinstance(x, torch.fx.Proxy) or torch.compiler.is_compiling()


def check_image_batch(x: torch.Tensor, in_chans: int) -> None:
    """Raise a clear error unless ``x`` is a float tensor of shape (N, in_chans, H, W)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] != in_chans:
        raise ValueError(f"expected input of shape (N, {in_chans}, H, W), got {tuple(x.shape)}")
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(
            f"expected input of shape (N, {in_chans}, H, W) with H, W >= 1, got {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"expected a floating-point input (N, {in_chans}, H, W), got {x.dtype}; "
            "convert images with .float() and normalise them"
        )


# torch.fx records the check as one call (run on the real input when the traced module runs)
# instead of tracing into it, so fx, torchvision's create_feature_extractor and their graphs keep
# the eager-mode errors.
torch.fx.wrap("check_image_batch")


class Network(nn.Module):
    """A convolutional classifier laid out by a spec: stem -> stages of blocks -> head -> pool
    -> dropout -> linear.

    Args:
        spec: the network (base table plus width/depth multipliers and resolution).
        num_classes: classifier outputs (0: no classifier, ``forward`` returns pooled features).
        in_chans: input image channels.
        drop_rate: dropout before the classifier (default: the spec's, per variant).
        drop_path_rate: stochastic-depth rate of the last block (default: the spec's).
        padding: ``"symmetric"`` (PyTorch) or ``"same"`` (TF, needed for TF-trained weights).
        bn_eps: BatchNorm epsilon (1e-3 in the official code, 1e-5 in torchvision / timm).
        memory_efficient: lean training, recomputing each block's activations in the backward
            pass (see :mod:`effnet.models.lean`); same outputs, gradients and ``state_dict`` keys.
    """

    def __init__(
        self,
        spec: NetworkSpec,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float | None = None,
        drop_path_rate: float | None = None,
        padding: Padding = "symmetric",
        bn_eps: float = 1e-3,
        memory_efficient: bool = False,
    ) -> None:
        super().__init__()
        if num_classes < 0 or in_chans < 1:
            raise ValueError(f"invalid num_classes={num_classes} or in_chans={in_chans}")
        self.spec = spec
        self.in_chans = in_chans
        self.padding = padding
        self.bn_eps = bn_eps
        self.plan: NetworkPlan = plan_network(spec, drop_path_rate)
        norm = tf_batchnorm(bn_eps)
        act = spec.activation

        stem = self.plan.stem_channels
        self.conv_stem = create_conv2d(
            in_chans, stem, spec.stem_kernel, stride=spec.stem_stride, padding=padding
        )
        self.bn1 = norm(stem)
        self.act1 = make_activation(act)
        self.stem_pool = nn.MaxPool2d(3, 2, 1) if spec.stem_pool else nn.Identity()

        stages: list[list[nn.Module]] = [[] for _ in spec.stages]
        for block in self.plan.blocks:
            stages[block.stage].append(make_block(block, act, norm, padding))
        self.blocks = nn.Sequential(*(nn.Sequential(*s) for s in stages))

        self.num_features = self.plan.num_features
        if self.plan.head_channels:
            last = self.plan.blocks[-1].out_channels
            self.conv_head: nn.Module = nn.Conv2d(last, self.plan.head_channels, 1, bias=False)
            self.bn2: nn.Module = norm(self.plan.head_channels)
            self.act2: nn.Module = make_activation(act)
        else:
            self.conv_head = self.bn2 = self.act2 = nn.Identity()
        self.drop_rate = spec.dropout if drop_rate is None else drop_rate
        self.dropout = nn.Dropout(self.drop_rate)
        self.num_classes = num_classes
        self.classifier: nn.Module = (
            nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()
        )
        self.apply(init_weights)
        #: how to feed the network images (:mod:`effnet.data_config`): the variant's
        #: defaults until weights are loaded
        self.pretrained_cfg: DataConfig = default_config(
            spec, num_classes=num_classes, in_chans=in_chans
        )
        self.memory_efficient = memory_efficient
        if memory_efficient:
            make_memory_efficient(self)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a clear error for inputs the network cannot take.

        Any H, W >= 1 works in eval mode (each stride-s layer gives ceil(size / s)). In
        training mode, BatchNorm needs more than one value per channel, so a batch of one
        image whose final feature map is 1x1 (H, W <= the total stride) cannot be trained on.
        """
        check_image_batch(x, self.in_chans)
        if self.training and not _tracing(x):
            stride = self.feature_points()[-1][1]
            n, _, h, w = x.shape
            if n * -(-h // stride) * -(-w // stride) == 1 and self._last_norm_trains():
                raise ValueError(
                    f"input {tuple(x.shape)} is too small to train on: with a total stride "
                    f"of {stride} its final feature map is 1x1, and BatchNorm in training "
                    f"mode needs more than one value per channel; expected (N, "
                    f"{self.in_chans}, H, W) with N >= 2 or H or W > {stride} (or call "
                    ".eval() for inference)"
                )

    def _last_norm_trains(self) -> bool:
        norms = batch_norms(self)
        return bool(norms) and norms[-1].training

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem_pool(self.act1(self.bn1(self.conv_stem(x))))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Image (N, C, H, W) -> final feature map (N, num_features, H/32, W/32)."""
        if not torch.jit.is_scripting():  # eager, fx and export check; TorchScript cannot
            self.check_input(x)
        x = self.blocks(self.forward_stem(x))
        return self.act2(self.bn2(self.conv_head(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Feature map -> pooled features (``pre_logits``) or logits."""
        x = x.mean((2, 3))  # (N, num_features)
        x = self.dropout(x)
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """The classifier (``nn.Identity`` when ``num_classes`` is 0), as timm's models give."""
        return self.classifier

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Lean training on or off (per-block activation checkpointing, see
        :mod:`effnet.models.lean`; same outputs, gradients and ``state_dict`` keys)."""
        make_memory_efficient(self, enable)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a freshly initialised one for ``num_classes`` outputs
        (the data config keeps its preprocessing and forgets the class names)."""
        self.num_classes = num_classes
        cfg = getattr(self, "pretrained_cfg", None) or default_config(
            self.spec, num_classes=num_classes, in_chans=self.in_chans
        )
        self.pretrained_cfg = cfg.replace(num_classes=num_classes, classes=None)
        self.classifier = (
            nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()
        )
        self.classifier.apply(init_weights)

    __jit_unused_properties__ = ["feature_info"]  # metadata, not part of a scripted graph

    @property
    def feature_info(self) -> FeatureInfo:
        """Every feature level: channels, total stride and module name (see
        :func:`feature_levels`)."""
        return feature_levels(self)

    def feature_points(self) -> list[tuple[str, int, int]]:
        """(where, total stride, channels) after the stem and after each stage."""
        stride = self.spec.stem_stride
        points = [("stem", stride, self.plan.stem_channels)]
        stride *= 2 if self.spec.stem_pool else 1
        for i, stage in enumerate(self.spec.stages):
            stride *= stage.stride
            out = [b for b in self.plan.blocks if b.stage == i][-1].out_channels
            points.append((f"stage{i}", stride, out))
        return points


class FeatureInfo(list):
    """The feature levels of a network, in the form timm users know: one dict per level with
    ``num_chs`` (channels), ``reduction`` (total stride) and ``module`` (the module whose output
    it is, usable as a ``return_nodes`` key of torchvision's ``create_feature_extractor``)."""

    def channels(self) -> list[int]:
        return [level["num_chs"] for level in self]

    def reduction(self) -> list[int]:
        return [level["reduction"] for level in self]

    def module_name(self) -> list[str]:
        return [level["module"] for level in self]


def feature_levels(network: Network) -> FeatureInfo:
    """One level per total stride: the last map the network produces at that stride (the
    stem's ``act1`` or a stage's ``blocks.i``), with its ``stage`` (-1 for the stem)."""
    levels: dict[int, dict[str, object]] = {}
    for i, (_, stride, channels) in enumerate(network.feature_points()):
        module = "act1" if i == 0 else f"blocks.{i - 1}"
        levels[stride] = {
            "num_chs": channels,
            "reduction": stride,
            "module": module,
            "stage": i - 1,
        }
    return FeatureInfo(levels[s] for s in sorted(levels))


class FeatureNetwork(nn.Module):
    """Multi-scale feature maps of a :class:`Network` for detection / segmentation backbones.

    ``forward`` returns one map per selected level (``out_indices`` into
    :func:`feature_levels`; default all: strides 2, 4, 8, 16, 32 for EfficientNet). Stages
    after the last selected level are not kept. ``feature_info`` describes the selected levels;
    ``feature_channels`` and ``feature_strides`` list their channels and strides. Parameter
    names are the network's, so its weights load into the kept modules.
    """

    def __init__(self, network: Network, out_indices: Sequence[int] | None = None) -> None:
        super().__init__()
        levels = feature_levels(network)
        if out_indices is None:
            out_indices = range(len(levels))
        out_indices = tuple(int(i) for i in out_indices)
        if not out_indices or any(not 0 <= i < len(levels) for i in out_indices):
            raise ValueError(
                f"out_indices must be levels in 0..{len(levels) - 1} (strides "
                f"{levels.reduction()}), got {out_indices}"
            )
        if list(out_indices) != sorted(set(out_indices)):
            raise ValueError(f"out_indices must be increasing and distinct, got {out_indices}")
        self.out_indices = out_indices
        self.feature_info = FeatureInfo(levels[i] for i in out_indices)
        self.feature_strides = self.feature_info.reduction()
        self.feature_channels = self.feature_info.channels()
        stages = [int(level["stage"]) for level in self.feature_info]
        self.stem_tap = -1 in stages  # the stem's own map is a selected level
        self.taps = [s for s in stages if s >= 0]
        self.spec = network.spec
        self.in_chans = network.in_chans
        self.pretrained_cfg: DataConfig = network.pretrained_cfg
        self.conv_stem, self.bn1, self.act1 = network.conv_stem, network.bn1, network.act1
        self.stem_pool = network.stem_pool
        self.blocks = nn.Sequential(*list(network.blocks)[: max(stages) + 1])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if not torch.jit.is_scripting():
            check_image_batch(x, self.in_chans)
        x = self.act1(self.bn1(self.conv_stem(x)))
        out = [x] if self.stem_tap else []
        x = self.stem_pool(x)
        for i, stage in enumerate(self.blocks):
            x = stage(x)
            if i in self.taps:
                out.append(x)
        return out
