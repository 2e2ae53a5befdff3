"""Weight files in and out: safetensors files with their metadata (:mod:`~effnet.weights.io`),
the layouts of torchvision, timm and efficientnet_pytorch (:mod:`~effnet.weights.convert`),
what each library publishes and where it is cached (:mod:`~effnet.weights.published`,
:mod:`~effnet.weights.fetch`), class names, the data config stored with a file, and the two
entry points everything else uses: :func:`~effnet.weights.create.create_model` (a name and its
weights -> a network) and :func:`~effnet.weights.loading.load_model` (the one loader the verbs
use). Sits above :mod:`effnet.models`, which knows nothing of files.
"""
