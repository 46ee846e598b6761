"""One epoch of training and one of validation, and what they need: run-time switches, seeding,
loss, learning-rate schedule, data loaders, GPU switches.

The loop around them (resume, model selection, budgets) is :mod:`herbseg.stages.train`; these
pieces take plain arguments so that a benchmark or a test can run an epoch without it.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from herbseg.measurement.metrics import scores
from herbseg.model.infer import autocast_for


@contextlib.contextmanager
def runtime(
    device: torch.device,
    *,
    threads: int | None,
    deterministic: bool,
    cudnn_benchmark: bool,
    log: Callable[[str], None],
) -> Iterator[None]:
    """Apply thread, determinism and cuDNN settings for this run and restore them afterwards.

    These are process-wide switches; restoring them keeps a deterministic run from slowing down
    whatever the same process does next (tests, the workflow's inference stage).
    """
    saved = (
        torch.get_num_threads(),
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )
    try:
        if device.type == "cpu" and threads:
            torch.set_num_threads(int(threads))
        if deterministic:
            if device.type == "cuda":
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
                # The bilinear upsampling backward of DeepLabv3+ has no deterministic CUDA
                # kernel; erroring would make deterministic GPU training impossible.
                torch.use_deterministic_algorithms(True, warn_only=True)
                log(
                    "deterministic: on CUDA some kernels (bilinear upsampling backward) stay "
                    "non-deterministic; bit-identical runs are guaranteed on CPU only"
                )
            else:
                torch.use_deterministic_algorithms(True, warn_only=False)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        elif device.type == "cuda":
            torch.backends.cudnn.benchmark = bool(cudnn_benchmark)
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1], warn_only=saved[2])
        torch.backends.cudnn.benchmark = saved[3]
        torch.backends.cudnn.deterministic = saved[4]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def worker_init(worker_id: int) -> None:
    """Seed numpy and random in a worker from its torch seed (itself derived from the generator)."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


THIN_RADIUS = 2  # frame pixels: "thin" is what an opening by a 5×5 square removes


def _pool(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Grey dilation by a ``(2·radius+1)`` square (``-_pool(-x)`` is the erosion)."""
    return torch.nn.functional.max_pool2d(x, 2 * radius + 1, stride=1, padding=radius)


def thin_weights(target: torch.Tensor, weight: float, radius: int = THIN_RADIUS) -> torch.Tensor:
    """Per-pixel loss weights: ``weight`` on the label's thin parts and the background within
    ``radius`` of them, 1 elsewhere.

    Why: a stem, root or culm one to four frame pixels wide is a few hundred of a frame's 262,144
    pixels, so a pixel-averaged loss barely notices when the network leaves it out, and a network
    trained longer gives stems up (held-out stem recall fell 0.34 -> 0.20 from 12 to 24 epochs).
    Weighing the stem alone buys recall with stems drawn too wide and paper filled between
    stems and leaves; weighing the paper beside it as much makes a stem's outline, not only its
    presence, cost. "Thin" is what a morphological opening by a ``(2·radius+1)`` square removes
    from the label, computed on the device from the (augmented) target, so every sample and every
    loader configuration weighs the same pixels.
    """
    opened = _pool(-_pool(-target, radius), radius)
    return 1.0 + (weight - 1.0) * _pool((target - opened).clamp_(min=0.0), radius)


class _Loss(torch.nn.Module):
    """BCE, optionally plus soft Dice (which counters the foreground/background imbalance of
    sparse sheets), both weighted by :func:`thin_weights` when ``thin_weight`` > 1."""

    def __init__(self, dice: bool, thin_weight: float = 1.0) -> None:
        super().__init__()
        self.dice, self.thin_weight = dice, float(thin_weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        w = thin_weights(target, self.thin_weight) if self.thin_weight > 1.0 else None
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, weight=w)
        if not self.dice:
            return loss
        prob = torch.sigmoid(logits)
        if w is not None:  # weighted soft Dice: a pixel of weight k counts as k pixels
            inter, total = (w * prob * target).sum(), (w * (prob + target)).sum()
        else:
            inter, total = (prob * target).sum(), prob.sum() + target.sum()
        return loss + 1.0 - (2.0 * inter + 1.0) / (total + 1.0)


def loss_fn_for(name: str, thin_weight: float = 1.0) -> torch.nn.Module:
    """``bce`` (the paper) or ``bce_dice``; ``thin_weight`` > 1 weighs thin label parts up."""
    return _Loss(dice=name == "bce_dice", thin_weight=thin_weight)


def has_depthwise_convolutions(model: torch.nn.Module) -> bool:
    """Whether ``model``'s encoder has depthwise convolutions (EfficientNet, MobileNet), the
    layers whose CPU kernels gain most from channels-last memory. The encoder alone: every
    DeepLabV3+ decoder has a few (its separable ASPP), and ResNets gain nothing from them."""
    encoder = getattr(model, "encoder", model)
    return any(
        isinstance(m, torch.nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels
        for m in encoder.modules()
    )


@dataclass
class Switches:
    """The device switches, resolved once so the loop does not re-check the device.

    Autocast and pinned memory are CUDA's. Channels-last memory (``train.channels_last``): on
    CUDA with ``auto``; on the CPU with ``auto`` only when the encoder has depthwise convolutions.
    One CPU training step, channels-last against NCHW, 2 threads (BENCHMARKS.md): Lite0 1.33–1.48×,
    MobileNetV2 1.10–1.21×, ResNet-18 0.99–1.20×, ResNet-101 0.89–1.00×.
    """

    autocast_on: bool
    fp16: bool
    memory_format: torch.memory_format
    pin: bool

    @classmethod
    def resolve(
        cls,
        device: torch.device,
        model: torch.nn.Module,
        *,
        amp: bool,
        channels_last: bool | str,
        pin_memory: bool,
    ) -> Switches:
        """The settings (``train.amp`` …) as they apply to ``model`` on ``device``."""
        cuda = device.type == "cuda"
        amp = cuda and amp
        if channels_last == "auto":
            channels_last = cuda or has_depthwise_convolutions(model)
        return cls(
            autocast_on=amp,
            fp16=amp and not torch.cuda.is_bf16_supported(),
            memory_format=torch.channels_last if channels_last else torch.contiguous_format,
            pin=cuda and pin_memory,
        )


def make_scheduler(
    name: str | None, optimizer: torch.optim.Optimizer, epochs: int, has_val: bool
) -> Any:
    """``train.lr_schedule``: None, cosine over ``epochs``, or halving on a plateau."""
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "plateau":
        mode = "max" if has_val else "min"  # val IoU, or train loss without validation
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode, factor=0.5, patience=5
        )
    return None


def make_loader(
    dataset: Dataset,
    batch_size: int,
    num_workers: int,
    seed: int,
    pin: bool,
    sampler: Sampler | None,
) -> DataLoader:
    """Batches of ``dataset``; with a ``sampler`` (training) in its order, else in file order."""
    n = len(dataset)
    # A trailing batch of one sample would crash BatchNorm in ASPP; drop it (it is a different
    # sample every epoch, so nothing is lost for good).
    drop_last = sampler is not None and n > batch_size and n % batch_size == 1
    workers = max(0, int(num_workers))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        shuffle=False,
        drop_last=drop_last,
        num_workers=workers,
        pin_memory=pin,
        persistent_workers=workers > 0,
        worker_init_fn=worker_init if workers > 0 else None,
        generator=torch.Generator().manual_seed(seed),
    )


def train_epoch(
    model: torch.nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    loss_fn: torch.nn.Module,
    device: torch.device,
    switches: Switches,
) -> float:
    """One pass over the training data; returns the mean loss per image.

    The loss is summed on the device and read once at the end: reading it every step would
    make the CPU wait for the GPU after each batch (small batches, as the paper's 3, pay most).
    """
    model.train()
    total = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    for x, y in loader:
        x = x.to(device, non_blocking=switches.pin).contiguous(memory_format=switches.memory_format)
        y = y.to(device, non_blocking=switches.pin)
        optimizer.zero_grad(set_to_none=True)
        with autocast_for(device, switches.autocast_on):
            logits = model(x)
        loss = loss_fn(logits.float(), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        total += loss.detach().double() * len(x)
        count += len(x)
    return float(total) / max(count, 1)


def validate(
    model: torch.nn.Module,
    loader: DataLoader,
    loss_fn: torch.nn.Module,
    device: torch.device,
    switches: Switches,
) -> tuple[float, float]:
    """Mean loss per image and IoU pooled over all validation pixels.

    Pooling (one IoU of summed counts) rather than averaging per-sheet IoUs keeps sheets with
    tiny leaves from dominating model selection.
    """
    model.eval()
    total, count = 0.0, 0
    tp = fp = fn = 0
    with torch.inference_mode(), autocast_for(device, switches.autocast_on):
        for x, y in loader:
            x = x.to(device, non_blocking=switches.pin).contiguous(
                memory_format=switches.memory_format
            )
            y = y.to(device, non_blocking=switches.pin)
            logits = model(x).float()
            total += float(loss_fn(logits, y)) * len(x)
            count += len(x)
            pred, truth = logits > 0, y > 0.5
            tp += int((pred & truth).sum())
            fp += int((pred & ~truth).sum())
            fn += int((~pred & truth).sum())
    return total / max(count, 1), scores(tp, fp, fn, 0)["iou"]


def step_scheduler(scheduler: Any, metric: float) -> None:
    """Step per epoch; the plateau scheduler watches val IoU, or train loss without val."""
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(metric)
    else:
        scheduler.step()
