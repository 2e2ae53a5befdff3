"""The network: specs (paper Table 1), the rounding rules and compound scaling of a spec
(§3.3, eq. 3), layers and blocks, the network module, the registry of named models, and
weights files in and out.

Dependency order inside: spec -> rounding / variants -> zoo -> registry -> compound;
layers -> lean / blocks -> plan -> data_config -> network -> weights ->
efficientnet_pytorch_keys / key_order / class_names -> published -> convert / fetch -> create
-> loading. Every network carries its data config (``model.pretrained_cfg``,
:mod:`~effnet.models.data_config`); :mod:`~effnet.models.published` and
:mod:`~effnet.models.fetch` give the ImageNet weights torchvision and timm publish. The names
most users need are re-exported by the :mod:`effnet` facade.
"""
