"""Deployment: the inference fast path (BN folded into convolutions), export to ONNX /
TorchScript / ``torch.export``, and classifying image files."""

from effnet.deploy.export import export_model
from effnet.deploy.inference import optimize_for_inference
from effnet.deploy.predict import predict_images

__all__ = ["export_model", "optimize_for_inference", "predict_images"]
