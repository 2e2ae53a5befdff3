"""A per-layer table of a network, like Keras' ``model.summary()``: for the stem, every block,
the head and the classifier, its stage, output shape, parameters and multiply-adds.

The table is how the paper's Table 1 looks once a network is built: the stages, the resolution
and channels each one works at, and where the parameters and multiply-adds go (the scaled
variants of Fig. 5 and Table 2 differ exactly in these columns).

Output shapes come from forward hooks; parameters and multiply-adds from
:func:`effnet.analysis.cost.model_cost` (per module), so the column sums equal
:func:`effnet.count_params` and :func:`effnet.count_macs`. A registered name or a spec is built
on the ``meta`` device: nothing is allocated or computed, so B7 at 600 px takes about a second.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from effnet.analysis.cost import Resolution, as_model, input_shape, model_cost
from effnet.models.network import Network
from effnet.models.spec import NetworkSpec


@dataclass(frozen=True)
class LayerRow:
    """One row of the table.

    Args:
        name: module path(s) in the model (``blocks.1.0``).
        stage: ``"stem"``, the stage index as a string, ``"head"`` or ``"classifier"``.
        block: index of the block within its stage (``None`` outside the stages).
        kind: what the layer is (``MBConv6 k3x3 s2 SE``).
        output_shape: output without the batch dimension: (C, H, W) or (classes,).
        params: parameters of the row's modules.
        macs: multiply-adds for one image.
    """

    name: str
    stage: str
    block: int | None
    kind: str
    output_shape: tuple[int, ...]
    params: int
    macs: int


@dataclass(frozen=True)
class ModelSummary:
    """The per-layer table of one network at one input resolution."""

    model: str
    resolution: tuple[int, int]
    rows: tuple[LayerRow, ...]

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``effnet summary --json``)."""
        return {
            "model": self.model,
            "resolution": list(self.resolution),
            "total_params": self.total_params,
            "total_macs": self.total_macs,
            "layers": [{**asdict(r), "output_shape": list(r.output_shape)} for r in self.rows],
        }

    def to_text(self) -> str:
        """The table as fixed-width text, totals last."""
        head = ("#", "layer", "stage", "blk", "type", "output (C, H, W)", "params", "MACs")
        body = [
            (
                str(i),
                r.name,
                r.stage,
                "" if r.block is None else str(r.block),
                r.kind,
                "x".join(str(d) for d in r.output_shape),
                f"{r.params:,}",
                f"{r.macs:,}",
            )
            for i, r in enumerate(self.rows)
        ]
        widths = [max(len(row[k]) for row in (head, *body)) for k in range(len(head))]
        right = {0, 6, 7}

        def fmt(row: tuple[str, ...]) -> str:
            cells = [
                c.rjust(w) if k in right else c.ljust(w)
                for k, (c, w) in enumerate(zip(row, widths))
            ]
            return "  ".join(cells).rstrip()

        rule = "-" * len(fmt(head))
        h, w = self.resolution
        lines = [f"{self.model} at {h}x{w}", rule, fmt(head), rule, *map(fmt, body), rule]
        lines.append(f"total params: {self.total_params:,} ({self.total_params / 1e6:.2f} M)")
        lines.append(f"total MACs:   {self.total_macs:,} ({self.total_macs / 1e9:.3f} B)")
        return "\n".join(lines)


# A row group: (name, stage, block, kind, modules whose params/MACs it owns, module giving shape)
_Group = tuple[str, str, int | None, str, list[str], str]


def _block_kind(model: Network, index: int) -> str:
    b = model.plan.blocks[index]
    se = " SE" if b.se_channels else ""
    if b.kind == "mbconv":
        ratio = b.mid_channels / b.in_channels
        name = f"MBConv{ratio:g}"
    elif b.kind == "fused":
        name = f"FusedMBConv{b.mid_channels / b.in_channels:g}"
    elif b.kind == "dwsep":
        name = "DWSepConv"
    else:
        name = "Bottleneck"
    return f"{name} k{b.kernel}x{b.kernel} s{b.stride}{se}"


def _network_groups(model: Network) -> list[_Group]:
    k, s = model.spec.stem_kernel, model.spec.stem_stride
    stem_out = "stem_pool" if model.spec.stem_pool else "act1"
    groups: list[_Group] = [
        ("stem", "stem", None, f"Conv k{k}x{k} s{s}", ["conv_stem", "bn1", "stem_pool"], stem_out)
    ]
    index = 0
    for i, stage in enumerate(model.blocks):
        for j in range(len(stage)):
            path = f"blocks.{i}.{j}"
            groups.append((path, str(i), j, _block_kind(model, index), [path], path))
            index += 1
    if model.plan.head_channels:
        groups.append(("conv_head", "head", None, "Conv k1x1", ["conv_head", "bn2"], "act2"))
    groups.append(
        ("classifier", "classifier", None, "Pool, Dropout, Linear", ["classifier"], "classifier")
    )
    return groups


def _generic_groups(model: nn.Module) -> list[_Group]:
    return [
        (name, name, None, type(child).__name__, [name], name)
        for name, child in model.named_children()
    ]


def _params(model: nn.Module, paths: list[str]) -> int:
    return sum(p.numel() for path in paths for p in model.get_submodule(path).parameters())


@torch.no_grad()
def summarize(
    model: nn.Module | NetworkSpec | str,
    resolution: Resolution | None = None,
    *,
    num_classes: int = 1000,
) -> ModelSummary:
    """The per-layer table of ``model`` (a module, a spec or a registered name).

    Args:
        model: a built model (counted where its parameters live), or a spec / registered name
            (built on the ``meta`` device with ``num_classes`` classes).
        resolution: input side or (height, width); default the spec's resolution.

    The row sums equal :func:`effnet.count_params` and :func:`effnet.count_macs` of the same
    model at the same resolution.
    """
    net = as_model(model, num_classes)
    _, _, h, w = input_shape(net, resolution)
    groups = _network_groups(net) if isinstance(net, Network) else _generic_groups(net)

    shapes: dict[str, tuple[int, ...]] = {}
    handles = []
    for _, _, _, _, _, out in groups:

        def hook(_m: nn.Module, _i: Any, y: Any, out: str = out) -> None:
            if isinstance(y, torch.Tensor):
                shapes[out] = tuple(y.shape[1:])

        handles.append(net.get_submodule(out).register_forward_hook(hook))
    try:
        cost = model_cost(net, (h, w))
    finally:
        for handle in handles:
            handle.remove()

    def macs(paths: list[str]) -> int:
        return sum(cost.module_macs.get(p, 0) for p in paths)

    rows = [
        LayerRow(name, stage, block, kind, shapes.get(out, ()), _params(net, mods), macs(mods))
        for name, stage, block, kind, mods, out in groups
    ]
    other_params = cost.params - sum(r.params for r in rows)
    other_macs = cost.macs - sum(r.macs for r in rows)
    if other_params or other_macs:  # work done outside the listed modules (generic models)
        rows.append(LayerRow("(other)", "", None, "outside the rows", (), other_params, other_macs))
    spec = getattr(net, "spec", None)
    name = spec.name if spec is not None else type(net).__name__
    return ModelSummary(model=name, resolution=(h, w), rows=tuple(rows))
