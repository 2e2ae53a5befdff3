"""One network class built from any :class:`~effnet.models.spec.NetworkSpec` (EfficientNet,
MobileNet, ResNet), with the initialisation of the official code (``conv_kernel_initializer`` and
``dense_kernel_initializer`` in ``efficientnet_model.py``)."""

from __future__ import annotations

import math

import torch
from torch import nn

from effnet.models.blocks import BLOCKS
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
            stages[block.stage].append(BLOCKS[block.kind](block, act, norm, padding))
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
        if self.training and not torch.compiler.is_compiling():
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

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a freshly initialised one for ``num_classes`` outputs."""
        self.num_classes = num_classes
        self.classifier = (
            nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()
        )
        self.classifier.apply(init_weights)

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


class FeatureNetwork(nn.Module):
    """Multi-scale feature maps of a :class:`Network` for detection / segmentation backbones.

    ``forward`` returns one map per stride (2, 4, 8, 16, 32 for EfficientNet): the last
    feature map produced at each stride. ``feature_channels`` and ``feature_strides`` describe
    them.
    """

    def __init__(self, network: Network) -> None:
        super().__init__()
        points = network.feature_points()
        last_at_stride: dict[int, int] = {}
        for i, (_, stride, _) in enumerate(points):
            last_at_stride[stride] = i
        self.taps = sorted(last_at_stride.values())
        self.feature_strides = [points[i][1] for i in self.taps]
        self.feature_channels = [points[i][2] for i in self.taps]
        self.spec = network.spec
        self.conv_stem, self.bn1, self.act1 = network.conv_stem, network.bn1, network.act1
        self.stem_pool = network.stem_pool
        self.blocks = network.blocks
        self.in_chans = network.in_chans

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        check_image_batch(x, self.in_chans)
        x = self.act1(self.bn1(self.conv_stem(x)))
        out = [x] if 0 in self.taps else []
        x = self.stem_pool(x)
        for i, stage in enumerate(self.blocks, start=1):
            x = stage(x)
            if i in self.taps:
                out.append(x)
        return out
