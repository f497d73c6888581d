"""vqa2: score and question the perceptual quality of videos with the VQA² models."""

__version__ = "0.1.0"
