"""Seeing and measuring a network: cost (params, multiply-adds), latency and memory (paper
Tables 2-4), the per-layer summary, class activation maps (Fig. 7) and the plots."""

from effnet.analysis.cost import Cost, model_cost
from effnet.analysis.memory import peak_memory_bytes
from effnet.analysis.profile import count_macs, count_params, measure_latency
from effnet.analysis.summary import ModelSummary, summarize

__all__ = [
    "Cost",
    "ModelSummary",
    "count_macs",
    "count_params",
    "measure_latency",
    "model_cost",
    "peak_memory_bytes",
    "summarize",
]
