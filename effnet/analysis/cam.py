"""Class activation maps, aligned with the original image (the paper's Fig. 7).

Two methods:

* **CAM** (Zhou et al., "Learning Deep Features for Discriminative Localization", CVPR 2016):
  for a network whose head is global average pooling followed by a linear layer, the logit of
  class c is the spatial mean of ``M_c = sum_k w_ck F_k`` plus a bias, with ``F`` the final
  feature map and ``w`` the classifier weights. ``M_c`` is the map. Every effnet
  :class:`~effnet.models.network.Network` has this head; the identity is checked at run time.
* **Grad-CAM** (Selvaraju et al., ICCV 2017): ``ReLU(sum_k a_k F_k)`` with ``a_k`` the spatial
  mean of d logit_c / d F_k, for any model with ``forward_features`` / ``forward_head``
  (effnet and timm models), whatever its head.

The model sees the eval crop: a centred square of side ``res / (res + 32)`` of the shorter
image side (or the crop fraction stored or published with its weights), resized to ``res``
(:func:`effnet.data.preprocess.create_transform`: the model's data config). The map is
resampled onto that square, each feature cell at the centre of its receptive field
(:func:`feature_geometry`), and placed where the square came from in the original image, so
it lines up with the picture the user gave, whatever its size and aspect ratio; outside the
square the map is 0 (the model never saw those pixels).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from effnet.constants import eval_crop_fraction
from effnet.data.preprocess import create_transform, data_config_of, eval_geometry
from effnet.data.transforms import center_crop_box
from effnet.models.network import Network
from effnet.types import CamMethod

METHODS: tuple[str, ...] = ("cam", "gradcam")
Box = tuple[int, int, int, int]  # (left, top, right, bottom) in original-image pixels


@dataclass(frozen=True)
class FeatureMaps:
    """Raw maps at feature-map resolution.

    Args:
        maps: (N, h, w) map of ``target`` per image.
        logits: (N, num_classes).
        target: (N,) the class each map explains.
    """

    maps: torch.Tensor
    logits: torch.Tensor
    target: torch.Tensor


@dataclass(frozen=True)
class ImageCam:
    """A class activation map aligned with one original image.

    Args:
        heatmap: (H, W) float32 in [0, 1] over the original image; 0 outside ``box``.
        box: the eval crop (left, top, right, bottom) in original-image pixels.
        target: the class the map explains.
        predicted: the top-1 class.
        probability: softmax probability of ``predicted``.
        target_probability: softmax probability of ``target``.
        method: ``"cam"`` or ``"gradcam"``.
    """

    heatmap: np.ndarray
    box: Box
    target: int
    predicted: int
    probability: float
    target_probability: float
    method: str

    def peak(self) -> tuple[int, int]:
        """(x, y) of the heatmap's maximum in original-image pixels."""
        y, x = np.unravel_index(int(np.argmax(self.heatmap)), self.heatmap.shape)
        return int(x), int(y)


def crop_box(size: tuple[int, int], resolution: int, crop: float | None = None) -> Box:
    """The eval crop of an image of ``size`` = (width, height): the centred square of side
    ``int(crop * min(W, H))``, ``crop`` defaulting to the paper's ``res / (res + 32)`` (the
    arithmetic of :class:`effnet.data.transforms.CenterCropFraction`)."""
    return center_crop_box(size, eval_crop_fraction(resolution, crop))


def _linear_classifier(model: nn.Module) -> nn.Linear:
    classifier = getattr(model, "classifier", None)
    if not isinstance(classifier, nn.Linear):
        raise ValueError(
            f"CAM needs a linear classifier after global average pooling; {type(model).__name__} "
            "has none: use method='gradcam'"
        )
    return classifier


def _targets(logits: torch.Tensor, target: int | Sequence[int] | None) -> torch.Tensor:
    n, k = logits.shape
    if target is None:
        return logits.argmax(1)
    t = torch.as_tensor([target] * n if isinstance(target, int) else list(target))
    if t.shape != (n,) or bool(((t < 0) | (t >= k)).any()):
        raise ValueError(f"target must be class indices in [0, {k}) for {n} images, got {target}")
    return t.to(logits.device)


def feature_maps(
    model: nn.Module,
    x: torch.Tensor,
    *,
    method: CamMethod = "cam",
    target: int | Sequence[int] | None = None,
) -> FeatureMaps:
    """CAM or Grad-CAM maps of a batch ``x`` (N, 3, res, res) at feature-map resolution.

    ``target`` is a class index (for all images), one per image, or ``None`` for each image's
    top-1 class. The model is run in eval mode and left in the mode it was in.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not (hasattr(model, "forward_features") and hasattr(model, "forward_head")):
        raise ValueError(
            f"{type(model).__name__} has no forward_features / forward_head (effnet and timm "
            "models have them); class activation maps need the final feature map"
        )
    was_training = model.training
    model.eval()
    try:
        if method == "cam":
            classifier = _linear_classifier(model)
            with torch.no_grad():
                features = model.forward_features(x)  # (N, C, h, w)
                logits = model.forward_head(features)  # (N, K)
                t = _targets(logits, target)
                maps = torch.einsum("nchw,nc->nhw", features, classifier.weight[t])
                bias = classifier.bias[t] if classifier.bias is not None else 0.0
                check = maps.mean((1, 2)) + bias
                if not torch.allclose(
                    check,
                    logits.gather(1, t[:, None])[:, 0],
                    rtol=1e-3,
                    atol=1e-3 * float(logits.abs().max()) + 1e-4,
                ):
                    raise ValueError(
                        f"{type(model).__name__}'s head is not global average pooling + linear "
                        "(the CAM identity does not hold): use method='gradcam'"
                    )
        else:
            with torch.no_grad():
                features = model.forward_features(x)
            with torch.enable_grad():
                features = features.detach().requires_grad_(True)
                logits = model.forward_head(features)
                t = _targets(logits.detach(), target)
                (grads,) = torch.autograd.grad(logits.gather(1, t[:, None]).sum(), features)
            weights = grads.mean((2, 3), keepdim=True)  # (N, C, 1, 1): alpha_k^c
            maps = F.relu((weights * features.detach()).sum(1))
            logits = logits.detach()
    finally:
        model.train(was_training)
    return FeatureMaps(maps=maps, logits=logits, target=t)


def feature_geometry(model: nn.Module, resolution: int, cells: int) -> tuple[float, float]:
    """(stride, offset): feature cell i is centred on input pixel ``stride * i + offset``
    (pixel centres at integers) of a ``resolution``-pixel input mapped to ``cells`` cells.

    For an effnet :class:`~effnet.models.network.Network` this follows the strided layers: a k x k
    stride-s conv with ``p`` pixels of padding before centres output i on input
    ``s * i + (k - 1) / 2 - p``; PyTorch's symmetric padding gives offset 0 (cell i on pixel
    32 i for B0), TF "same" padding of even sizes up to +(stride - 1). Plain bilinear
    upsampling would put every cell (stride - 1) / 2 pixels off, half a cell. Other models
    get that generic even tiling.
    """
    if not isinstance(model, Network):
        stride = resolution / cells
        return stride, (stride - 1) / 2
    spec = model.spec
    layers = [(spec.stem_kernel, spec.stem_stride, model.padding)]
    if spec.stem_pool:
        layers.append((3, 2, "symmetric"))
    layers += [(b.kernel, b.stride, model.padding) for b in model.plan.blocks if b.stride > 1]
    n, stride, offset = resolution, 1.0, 0.0
    for k, s, padding in layers:
        if padding == "same":  # TF: total padding (out - 1) * s + k - n, the smaller half first
            out = -(-n // s)
            before = max((out - 1) * s + k - n, 0) // 2
        else:
            out, before = (n + 2 * (k // 2) - k) // s + 1, k // 2
        offset += stride * ((k - 1) / 2 - before)
        stride *= s
        n = out
    return stride, offset


def align_to_image(
    cam: torch.Tensor,
    size: tuple[int, int],
    box: Box,
    resolution: int,
    geometry: tuple[float, float] | None = None,
) -> np.ndarray:
    """Resample a (h, w) map onto an image of ``size`` = (width, height): bilinear inside the
    crop ``box`` (which the model saw resized to ``resolution``), 0 outside; normalised to
    [0, 1] inside the box (min-max, as in Zhou et al.).

    ``geometry`` = (stride, offset) places cell i at resized-input pixel ``stride * i + offset``
    (see :func:`feature_geometry`; default: cells tile the input evenly).
    """
    h, w = cam.shape
    stride, offset = geometry or (resolution / w, (resolution / w - 1) / 2)
    left, top, right, bottom = box
    side = right - left
    # original crop pixel x -> resized-input pixel u (centres) -> feature-grid coordinate g
    u = (torch.arange(side, dtype=torch.float32) + 0.5) * resolution / side - 0.5
    g = (u - offset) / stride

    def normalised(coords: torch.Tensor, cells: int) -> torch.Tensor:
        return 2 * coords / (cells - 1) - 1 if cells > 1 else torch.zeros_like(coords)

    gy, gx = torch.meshgrid(normalised(g, h), normalised(g, w), indexing="ij")
    grid = torch.stack([gx, gy], -1)[None]  # (1, side, side, 2): x then y, as grid_sample wants
    up = F.grid_sample(
        cam[None, None].float().cpu(),
        grid,
        mode="bilinear",
        padding_mode="border",
        align_corners=True,
    )[0, 0]
    lo, hi = float(up.min()), float(up.max())
    up = (up - lo) / (hi - lo) if hi > lo else torch.zeros_like(up)
    heat = np.zeros((size[1], size[0]), dtype=np.float32)
    heat[top:bottom, left:right] = up.numpy()
    return heat


def image_cams(
    model: nn.Module,
    images: Sequence[Image.Image],
    *,
    method: CamMethod = "cam",
    target: int | None = None,
    resolution: int | None = None,
    crop: float | None = None,
) -> list[ImageCam]:
    """Class activation maps of ``images`` (RGB PIL images of any size), aligned with them.

    Args:
        model: a classifier with ``forward_features`` / ``forward_head``.
        images: the original images.
        method: ``"cam"`` (Zhou et al.) or ``"gradcam"`` (Selvaraju et al.).
        target: class to explain; default each image's predicted class.
        resolution: eval resolution; default the model's (its data config's, or its
            ``spec.resolution``).
        crop: eval crop fraction; default the data config's, else the paper's
            ``res / (res + 32)``.

    The model sees what :func:`effnet.create_transform` gives it (its data config, with
    ``resolution`` / ``crop`` overriding); the crop box is the centred square of that fraction
    of the shorter side in either crop order.
    """
    if resolution is None and data_config_of(model) is None:
        spec = getattr(model, "spec", None)
        if spec is None:
            raise ValueError("resolution is required for a model without a spec")
        resolution = int(spec.resolution)
    geometry = eval_geometry(model, resolution=resolution, crop=crop)
    resolution, crop = geometry.resolution, geometry.fraction
    transform = create_transform(model, resolution=resolution, crop=crop)
    device = next(model.parameters()).device
    out = []
    for img in images:
        x = transform(img.convert("RGB"))[None].to(device)
        fm = feature_maps(model, x, method=method, target=target)
        probs = fm.logits[0].float().softmax(0)
        box = crop_box(img.size, resolution, crop)
        geometry = feature_geometry(model, resolution, fm.maps.shape[-1])
        predicted, t = int(probs.argmax()), int(fm.target[0])
        out.append(
            ImageCam(
                heatmap=align_to_image(fm.maps[0], img.size, box, resolution, geometry),
                box=box,
                target=t,
                predicted=predicted,
                probability=float(probs[predicted]),
                target_probability=float(probs[t]),
                method=method,
            )
        )
    return out
