"""The input normalisation a model's ImageNet weights expect, kept apart from torch.

The model card records it and predict applies it; the stages that only read or write cards
(evaluate, baseline, export_model, bundle) get it from here without importing torch and
segmentation-models-pytorch (about 5 s per job).
"""

from __future__ import annotations

# ImageNet statistics: the encoders' pretrained weights expect inputs normalised this way.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite (TensorFlow's port) was trained on ``(x - 127.5) / 127.5``, which is
# ``(x / 255 - 0.5) / 0.5``.
LITE_MEAN = (0.5, 0.5, 0.5)
LITE_STD = (0.5, 0.5, 0.5)


def normalisation_for(encoder: str) -> dict[str, list[float]]:
    """Per-channel mean and std (of pixels in 0..1) the encoder's ImageNet weights expect.

    EfficientNet-Lite was trained on ``(x - 127.5) / 127.5`` (smp's hub copy records the same);
    every other smp encoder on torchvision's ImageNet statistics. The model card records the
    result so predict normalises exactly as training did.
    """
    if encoder.startswith("timm-tf_efficientnet_lite"):
        mean, std = LITE_MEAN, LITE_STD
    else:
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    return {"mean": list(mean), "std": list(std)}
