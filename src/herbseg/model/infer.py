"""Forward passes for inference: uint8 frames in, leaf probabilities out."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F

from herbseg.model.network import get_normalisation, preprocess
from herbseg.model.runtime import Network, OpenVinoNet


def autocast_for(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when asked and supported; a no-op elsewhere.

    CPU autocast is left off: on the CPUs we run on it is slower than fp32 and changes results.
    """
    if amp and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def _divisor(model: torch.nn.Module) -> int:
    """The multiple the input sides must have (smp checks it against the encoder's stride)."""
    encoder = getattr(model, "encoder", None)
    if getattr(model, "requires_divisible_input_shape", False) and encoder is not None:
        return int(getattr(encoder, "output_stride", 32))
    return 1


def predict_proba(
    model: Network,
    images: np.ndarray,
    device: str | torch.device,
    *,
    amp: bool = True,
    channels_last: bool = True,
    batch_size: int | None = None,
    tta: bool = False,
) -> np.ndarray:
    """Sigmoid leaf probabilities (``N×H×W`` float32) of ``N×H×W×3`` uint8 frames.

    ``tta`` averages the probabilities of the frame and its three flips (horizontal, vertical,
    both), at four times the cost. Flipped views disagree most at narrow tips and lobes, where a
    coarse frame is least sure; their mean is a steadier start for edge refinement (demo
    collection: intact-leaf length error 3.2 % → 2.8 % with refinement; without it TTA does not
    help lengths, BENCHMARKS.md).

    Frames whose sides are not a multiple of the network stride are reflect-padded and the result
    cropped back, so callers may pass any frame size. ``channels_last`` is on by default: on 2
    CPU cores it was faster than NCHW (ResNet-101 at 512: 378 vs 486 ms a frame; Lite0 at 256:
    30 vs 36), and it is the format cuDNN's fast convolutions want on CUDA. The model is moved to
    ``device`` and put in eval mode (a side effect callers rely on to avoid a second copy of the
    weights). ``model`` may be an OpenVINO compilation (:mod:`herbseg.model.runtime`), which runs
    on the CPU.

    ``batch_size`` splits the input into passes; ``None`` is one pass on a GPU and one frame at a
    time on a CPU, where batches were slower per frame (ResNet-101 at 512, batch 8: 672 vs 378
    ms a frame), which is why the workflow's batched path once lost to a plain loop.
    """
    device = torch.device(device)
    module = model.module if isinstance(model, OpenVinoNet) else model
    if images.ndim != 4:
        raise ValueError(f"expected N×H×W×3 frames, got shape {images.shape}")
    n, h, w = images.shape[:3]
    if n == 0:
        return np.zeros((0, h, w), dtype=np.float32)
    if isinstance(model, OpenVinoNet):
        channels_last = False  # OpenVINO takes NCHW and picks its own layout inside
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    module.to(device=device, memory_format=memory_format).eval()
    step = batch_size or (1 if device.type == "cpu" else n)
    div = _divisor(module)
    pad_h, pad_w = (-h) % div, (-w) % div
    out = np.empty((n, h, w), dtype=np.float32)
    norm = get_normalisation(module)  # as the model was trained (its card), ImageNet by default
    flips: list[tuple[int, ...]] = [(), (3,), (2,), (2, 3)] if tta else [()]
    with torch.inference_mode(), autocast_for(device, amp):
        for start in range(0, n, step):
            x = preprocess(images[start : start + step], device, norm)
            total = None
            for dims in flips:
                view = _pad(torch.flip(x, dims) if dims else x, pad_h, pad_w)
                view = view.contiguous(memory_format=memory_format)
                prob = torch.sigmoid(model(view)[:, :1, :h, :w].float())
                prob = torch.flip(prob, dims) if dims else prob
                total = prob if total is None else total + prob
            out[start : start + step] = (total / len(flips))[:, 0].cpu().numpy()
    return out


def _pad(x: torch.Tensor, pad_h: int, pad_w: int) -> torch.Tensor:
    """Pad the bottom and right up to the network's stride (cropped off again after)."""
    if not (pad_h or pad_w):
        return x
    h, w = x.shape[-2:]
    # Reflection keeps leaf context at the border; it needs pads smaller than the side.
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
