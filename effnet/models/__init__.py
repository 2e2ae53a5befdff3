"""The network only: specs (paper Table 1), the rounding rules and compound scaling of a spec
(§3.3, eq. 3), the tables of named variants, layers and blocks, the network module and the data
config a fresh network carries. Weight files, other libraries' layouts and published weights
live one layer up, in :mod:`effnet.weights`.

Dependency order inside: spec -> rounding / variants -> zoo -> registry -> compound;
layers -> lean / blocks -> plan -> default_config -> network.
"""
