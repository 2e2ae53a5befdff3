"""Sharing trained models: a repository folder in timm's Hugging Face Hub format
(:mod:`~effnet.publish.save`), its model card (:mod:`~effnet.publish.card`) and the upload
(:mod:`~effnet.publish.push`)."""
