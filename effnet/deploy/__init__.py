"""Deployment: the inference fast path (:mod:`~effnet.deploy.inference`: BN folded into the
convolutions and frozen TorchScript, or ONNX Runtime behind a torch module), export to ONNX /
TorchScript / ``torch.export`` (:mod:`~effnet.deploy.export`), static int8 ONNX
(:mod:`~effnet.deploy.quantize`), backbones for torchvision's detectors and segmenters
(:mod:`~effnet.deploy.backbones`), and classifying image files (:mod:`~effnet.deploy.predict`).
"""
