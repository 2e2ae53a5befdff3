"""The network: specs (paper Table 1), the rounding rules and compound scaling of a spec
(§3.3, eq. 3), layers and blocks, the network module, the registry of named models, and
weights files in and out.

Dependency order inside: spec -> rounding / variants -> zoo -> registry -> compound;
layers -> lean / blocks -> plan -> network -> weights -> efficientnet_pytorch_keys ->
convert / create -> class_names -> loading. The names most users need are re-exported by the
:mod:`effnet` facade.
"""
