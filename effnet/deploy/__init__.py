"""Deployment: the inference fast path (BN folded into convolutions;
:mod:`~effnet.deploy.inference`), export to ONNX / TorchScript / ``torch.export``
(:mod:`~effnet.deploy.export`), and classifying image files (:mod:`~effnet.deploy.predict`)."""
