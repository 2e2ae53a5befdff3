"""Seeing and measuring a network: cost (params, multiply-adds; :mod:`~effnet.analysis.cost`),
latency (:mod:`~effnet.analysis.profile`) and memory (:mod:`~effnet.analysis.memory`) as in
the paper's Tables 2-4, the per-layer summary, class activation maps (Fig. 7) and the plots."""
