"""Training loop: paper defaults, crash-safe resume, reproducibility, and GPU speed-ups.

A run writes into its ``out_dir``:

* ``model/`` – the best epoch so far (by validation IoU), as
:func:`herbseg.model.network.save_model`;
* ``history.csv`` – ``epoch, train_loss, val_loss, val_iou, seconds``, one row per epoch;
* ``checkpoint.pt`` – everything needed to continue after a crash (see :func:`_checkpoint`);
* ``.state/best-epoch-NNNNN/`` – a copy of the best model the checkpoint names.

The checkpoint is one file written atomically after every epoch, so a killed run continues
from its last completed epoch when started again with the same configuration. It holds only
tensors and plain containers, so it loads with ``torch.load(weights_only=True)`` and can never
execute code. Neither it nor ``.state/`` is a Snakemake output: ``--rerun-incomplete`` deletes
the declared outputs (``model/``, ``history.csv``) of a killed job, and a resumed run rebuilds
them from these two, so it ends with the files an uninterrupted run writes even when no epoch
after the crash beats the best one.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from herbseg.io.files import atomic_dir, atomic_open, remove_stale_temps
from herbseg.measurement.metrics import scores
from herbseg.model.data import (
    FrameDataset,
    SeededSampler,
    build_augmentation,
    data_checksum,
    split_ids_hash,
)
from herbseg.model.infer import autocast_for
from herbseg.model.network import (
    build_model,
    get_normalisation,
    init_weights_sha256,
    load_init_weights,
    normalisation_for,
    resolve_device,
    save_model,
    update_card,
)

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = "herbseg-checkpoint/2"  # /2: names its best-model snapshot
HISTORY_NAME = "history.csv"
HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_iou", "seconds")
MODEL_DIRNAME = "model"
STATE_DIRNAME = ".state"

# Settings that may change between a crash and its resume: budgets (how long training goes on) and
# execution resources that do not change what an epoch computes. Snakemake passes its --cores as
# ``threads``, so a rerun with other resources must not throw finished epochs away; only the
# floating-point summation order can differ with threads.
RESUMABLE_CHANGES = (
    "epochs",
    "patience",
    "max_train_minutes",
    "threads",
    "num_workers",
    "pin_memory",
)


def _default_augment() -> dict[str, float]:
    return {"rotate": 30, "hflip": 0.5, "vflip": 0.5, "brightness": 0.2}


@dataclass
class TrainConfig:
    """Training settings; the defaults are those of Hussein et al. (2021)."""

    encoder: str = "resnet101"
    encoder_weights: str | None = "imagenet"
    encoder_weights_file: str | None = None
    lr: float = 1e-4
    batch_size: int = 3
    epochs: int = 100
    loss: str = "bce"  # "bce" | "bce_dice"
    augment: dict[str, float] = field(default_factory=_default_augment)
    device: str = "auto"
    num_workers: int = 2
    seed: int = 0
    deterministic: bool = False
    # Effective on CUDA only:
    amp: bool = True
    channels_last: bool = True
    cudnn_benchmark: bool = True
    pin_memory: bool = True
    patience: int | None = None  # early stopping on val IoU; None = off, as in the paper
    lr_schedule: str | None = None  # None | "cosine" | "plateau"
    threads: int | None = None  # torch.set_num_threads on CPU
    max_train_minutes: float | None = None  # stop after the epoch that crosses it
    init_from: str | None = None  # a saved model folder whose weights start training

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a config mapping, rejecting unknown keys so typos do not go unnoticed."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown training settings {sorted(unknown)}; known: {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        if self.loss not in ("bce", "bce_dice"):
            raise ValueError(f"loss must be 'bce' or 'bce_dice', got {self.loss!r}")
        if self.lr_schedule not in (None, "cosine", "plateau"):
            raise ValueError(
                f"lr_schedule must be null, 'cosine' or 'plateau', got {self.lr_schedule!r}"
            )
        if self.batch_size < 2:
            # DeepLabv3+'s ASPP image-pooling branch has BatchNorm over a 1×1 map: one sample
            # per batch makes its statistics undefined and PyTorch refuses to train.
            raise ValueError("batch_size must be at least 2 for DeepLabv3+ (BatchNorm in ASPP)")
        if self.epochs < 1:
            raise ValueError("epochs must be at least 1")


# --------------------------------------------------------------------------- runtime set-up


@contextlib.contextmanager
def _runtime(cfg: TrainConfig, device: torch.device, log: Callable[[str], None]) -> Iterator[None]:
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
        if device.type == "cpu" and cfg.threads:
            torch.set_num_threads(int(cfg.threads))
        if cfg.deterministic:
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
            torch.backends.cudnn.benchmark = bool(cfg.cudnn_benchmark)
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1], warn_only=saved[2])
        torch.backends.cudnn.benchmark = saved[3]
        torch.backends.cudnn.deterministic = saved[4]


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _worker_init(worker_id: int) -> None:
    """Seed numpy and random in a worker from its torch seed (itself derived from the generator)."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def _rng_state() -> dict[str, Any]:
    """All global RNG states as tensors and plain values (``weights_only``-loadable)."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        with contextlib.suppress(RuntimeError):  # resuming on a machine with fewer GPUs
            torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- building blocks


class _BceDice(torch.nn.Module):
    """BCE plus soft Dice: Dice counters the foreground/background imbalance of sparse sheets."""

    def __init__(self) -> None:
        super().__init__()
        self.bce = torch.nn.BCEWithLogitsLoss()

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        prob = torch.sigmoid(logits)
        inter = (prob * target).sum()
        dice = 1.0 - (2.0 * inter + 1.0) / (prob.sum() + target.sum() + 1.0)
        return self.bce(logits, target) + dice


def _loss_fn(name: str) -> torch.nn.Module:
    return torch.nn.BCEWithLogitsLoss() if name == "bce" else _BceDice()


def _scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer, has_val: bool) -> Any:
    if cfg.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
    if cfg.lr_schedule == "plateau":
        mode = "max" if has_val else "min"  # val IoU, or train loss without validation
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode, factor=0.5, patience=5
        )
    return None


@dataclass
class _Gpu:
    """The CUDA-only switches, resolved once so the loop does not re-check the device."""

    autocast_on: bool
    fp16: bool
    memory_format: torch.memory_format
    pin: bool

    @classmethod
    def resolve(cls, cfg: TrainConfig, device: torch.device) -> _Gpu:
        cuda = device.type == "cuda"
        amp = cuda and cfg.amp
        return cls(
            autocast_on=amp,
            fp16=amp and not torch.cuda.is_bf16_supported(),
            memory_format=torch.channels_last
            if cuda and cfg.channels_last
            else torch.contiguous_format,
            pin=cuda and cfg.pin_memory,
        )


def _loader(
    dataset: FrameDataset, cfg: TrainConfig, gpu: _Gpu, sampler: SeededSampler | None
) -> DataLoader:
    n = len(dataset)
    # A trailing batch of one sample would crash BatchNorm in ASPP; drop it (it is a different
    # sample every epoch, so nothing is lost for good).
    drop_last = sampler is not None and n > cfg.batch_size and n % cfg.batch_size == 1
    workers = max(0, int(cfg.num_workers))
    return DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        sampler=sampler,
        shuffle=False,
        drop_last=drop_last,
        num_workers=workers,
        pin_memory=gpu.pin,
        persistent_workers=workers > 0,
        worker_init_fn=_worker_init if workers > 0 else None,
        generator=torch.Generator().manual_seed(cfg.seed),
    )


def _train_epoch(
    model: torch.nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    loss_fn: torch.nn.Module,
    device: torch.device,
    gpu: _Gpu,
) -> float:
    """One pass over the training data; returns the mean loss per image.

    The loss is summed on the device and read once at the end: reading it every step would
    make the CPU wait for the GPU after each batch (small batches, as the paper's 3, pay most).
    """
    model.train()
    total = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    for x, y in loader:
        x = x.to(device, non_blocking=gpu.pin).contiguous(memory_format=gpu.memory_format)
        y = y.to(device, non_blocking=gpu.pin)
        optimizer.zero_grad(set_to_none=True)
        with autocast_for(device, gpu.autocast_on):
            logits = model(x)
        loss = loss_fn(logits.float(), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        total += loss.detach().double() * len(x)
        count += len(x)
    return float(total) / max(count, 1)


def _validate(
    model: torch.nn.Module,
    loader: DataLoader,
    loss_fn: torch.nn.Module,
    device: torch.device,
    gpu: _Gpu,
) -> tuple[float, float]:
    """Mean loss per image and IoU pooled over all validation pixels.

    Pooling (one IoU of summed counts) rather than averaging per-sheet IoUs keeps sheets with
    tiny leaves from dominating model selection.
    """
    model.eval()
    total, count = 0.0, 0
    tp = fp = fn = 0
    with torch.inference_mode(), autocast_for(device, gpu.autocast_on):
        for x, y in loader:
            x = x.to(device, non_blocking=gpu.pin).contiguous(memory_format=gpu.memory_format)
            y = y.to(device, non_blocking=gpu.pin)
            logits = model(x).float()
            total += float(loss_fn(logits, y)) * len(x)
            count += len(x)
            pred, truth = logits > 0, y > 0.5
            tp += int((pred & truth).sum())
            fp += int((pred & ~truth).sum())
            fn += int((~pred & truth).sum())
    return total / max(count, 1), scores(tp, fp, fn, 0)["iou"]


# --------------------------------------------------------------------------- files


def _write_history(path: Path, history: Sequence[dict[str, Any]]) -> None:
    """Rewrite the whole CSV from the checkpoint's history, so it can never hold a lost epoch."""

    def fmt(v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        return repr(v) if isinstance(v, float) else str(v)

    def write(f: Any) -> None:
        lines = [",".join(HISTORY_COLUMNS)]
        for row in history:
            lines.append(",".join(fmt(row[c]) for c in HISTORY_COLUMNS))
        f.write(("\n".join(lines) + "\n").encode())

    with atomic_open(path, "wb") as f:
        write(f)


def read_history(path: str | os.PathLike) -> list[dict[str, str]]:
    """``history.csv`` as a list of row dicts (strings), for reports and tests."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _identity(cfg: TrainConfig, checksum: str) -> dict[str, Any]:
    """What must match for a checkpoint to be continued: the config (bar budgets) and the data."""
    ident = {k: v for k, v in cfg.to_dict().items() if k not in RESUMABLE_CHANGES}
    ident["data_checksum"] = checksum
    if cfg.init_from:  # the same path may hold another model later: its weights count
        ident["init_from_sha256"] = init_weights_sha256(cfg.init_from)
    return ident


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


# --------------------------------------------------------------------------- state & checkpoint


@dataclass
class _State:
    """What the loop carries from epoch to epoch (and the checkpoint carries across crashes)."""

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_score: float = -math.inf
    best_epoch: int = 0
    best_val_iou: float | None = None
    best_snapshot: str = ""  # folder under .state/ holding the best model ("" before epoch 1)


def _checkpoint(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler,
    state: _State,
    ident: dict,
) -> dict:
    """The checkpoint: only tensors, numbers, strings and containers (``weights_only``-safe)."""
    return {
        "format": CHECKPOINT_FORMAT,
        "identity_hash": _hash(ident),
        "identity": json.dumps(ident, sort_keys=True, default=str),
        "epoch": state.epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else {},
        "scaler": scaler.state_dict(),
        "rng": _rng_state(),
        "history": state.history,
        "best_score": state.best_score,
        "best_epoch": state.best_epoch,
        "best_val_iou": state.best_val_iou,
        "best_snapshot": state.best_snapshot,
    }


def _save_checkpoint(path: Path, ckpt: dict) -> None:
    with atomic_open(path, "wb") as f:
        torch.save(ckpt, f)


def _load_checkpoint(path: Path, ident: dict, log: Callable[[str], None]) -> dict | None:
    """The checkpoint if it exists, is readable and belongs to this config and data, else None."""
    if not path.exists():
        return None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint means starting over
        log(f"checkpoint {path.name} unreadable ({exc}); starting over")
        return None
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        log(f"checkpoint {path.name} has format {ckpt.get('format')!r}; starting over")
        return None
    if ckpt.get("identity_hash") != _hash(ident):
        old = json.loads(ckpt.get("identity", "{}"))
        changed = sorted(k for k in set(old) | set(ident) if old.get(k) != ident.get(k))
        log(
            f"checkpoint {path.name} is from a different configuration (changed: "
            f"{', '.join(changed)}); starting over"
        )
        return None
    return ckpt


def _clear_outputs(out_dir: Path) -> None:
    """Remove another configuration's results so they can never pass for this run's."""
    for name in (CHECKPOINT_NAME, HISTORY_NAME):
        (out_dir / name).unlink(missing_ok=True)
    shutil.rmtree(out_dir / MODEL_DIRNAME, ignore_errors=True)
    shutil.rmtree(out_dir / STATE_DIRNAME, ignore_errors=True)
    _remove_leftovers(out_dir, keep="")


def _remove_leftovers(out_dir: Path, keep: str) -> None:
    """Temp files a killed write left, and best-model snapshots the checkpoint does not name."""
    for name in (CHECKPOINT_NAME, HISTORY_NAME, MODEL_DIRNAME):
        remove_stale_temps(out_dir, name)
    for p in out_dir.glob(f".{MODEL_DIRNAME}.*"):  # atomic_dir's temp and old folders
        shutil.rmtree(p, ignore_errors=True)
    state_dir = out_dir / STATE_DIRNAME
    if state_dir.is_dir():
        for p in state_dir.iterdir():
            if p.name == keep:
                continue
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def _snapshot_name(epoch: int) -> str:
    return f"best-epoch-{epoch:05d}"


def _publish_best(out_dir: Path, snapshot: str) -> None:
    """Make ``model/`` the snapshot's files (hard links where the filesystem allows: no copy).

    The card is rewritten later by :func:`herbseg.model.network.update_card` through a rename, which
    replaces the link in ``model/`` and leaves the snapshot's own card as it was.
    """
    src = out_dir / STATE_DIRNAME / snapshot
    with atomic_dir(out_dir / MODEL_DIRNAME) as tmp:
        for f in sorted(src.iterdir()):
            try:
                os.link(f, tmp / f.name)
            except OSError:
                shutil.copy2(f, tmp / f.name)


def _restore(
    ckpt: dict,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler,
    cfg: TrainConfig,
) -> _State:
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and ckpt["scheduler"]:
        scheduler.load_state_dict(ckpt["scheduler"])
        if isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
            scheduler.T_max = cfg.epochs  # epochs may have changed since the crash
    if ckpt["scaler"]:
        scaler.load_state_dict(ckpt["scaler"])
    _set_rng_state(ckpt["rng"])
    return _State(
        epoch=int(ckpt["epoch"]),
        history=list(ckpt["history"]),
        best_score=float(ckpt["best_score"]),
        best_epoch=int(ckpt["best_epoch"]),
        best_val_iou=ckpt["best_val_iou"],
        best_snapshot=str(ckpt["best_snapshot"]),
    )


# --------------------------------------------------------------------------- model card


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("torch", "segmentation-models-pytorch", "albumentations", "numpy", "herbseg"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "unknown"
    if out["herbseg"] == "unknown":  # running from a source tree without installation
        import herbseg

        out["herbseg"] = getattr(herbseg, "__version__", "unknown")
    return out


def _card(cfg: TrainConfig, state: _State, device: torch.device, data: dict[str, Any]) -> dict:
    return {
        "config": cfg.to_dict(),
        "epochs_run": state.epoch,
        "best_epoch": state.best_epoch,
        "best_val_iou": state.best_val_iou,
        "device": str(device),
        "versions": _versions(),
        "encoder": cfg.encoder,
        "normalisation": normalisation_for(cfg.encoder),
        **data,
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _data_facts(
    train_items: Sequence[tuple[Path, Path]], val_items: Sequence[tuple[Path, Path]]
) -> dict[str, Any]:
    paths = [p for item in (*train_items, *val_items) for p in item]
    return {
        "training_data_sha256": data_checksum(paths),
        "split_ids_sha256": split_ids_hash(
            [Path(i).stem for i, _ in train_items], [Path(i).stem for i, _ in val_items]
        ),
        "n_train": len(train_items),
        "n_val": len(val_items),
    }


# --------------------------------------------------------------------------- the loop


def _eta(state: _State, cfg: TrainConfig, run_seconds: Sequence[float], spent: float) -> str:
    remaining = cfg.epochs - state.epoch
    per_epoch = sum(run_seconds) / max(len(run_seconds), 1)
    eta = remaining * per_epoch
    if cfg.max_train_minutes is not None:
        eta = min(eta, max(0.0, cfg.max_train_minutes * 60 - spent) + per_epoch)
    if eta < 90:
        return f"{eta:.0f} s"
    if eta < 2 * 3600:
        return f"{eta / 60:.0f} min"
    return f"{eta / 3600:.1f} h"


def _fmt(v: float | None) -> str:
    return "-" if v is None or math.isnan(v) else f"{v:.4f}"


def _stop_reason(state: _State, cfg: TrainConfig, spent: float) -> str | None:
    """Why training is over, or None to go on; checked before every epoch, resumes included.

    ``spent`` is wall-clock time: earlier runs' epoch seconds plus everything this call has
    taken (start-up, checkpoints, model saves), so a demo's time budget is really kept.
    """
    if state.epoch >= cfg.epochs:
        return f"reached {cfg.epochs} epochs"
    if cfg.patience is not None and state.epoch - state.best_epoch >= cfg.patience:
        return f"early stop: no improvement for {cfg.patience} epochs"
    if cfg.max_train_minutes is not None and state.epoch > 0:  # always produce a model
        if spent >= cfg.max_train_minutes * 60:
            return f"time budget of {cfg.max_train_minutes:g} min used ({spent / 60:.1f} min)"
    return None


def train(
    train_items: list[tuple[Path, Path]],
    val_items: list[tuple[Path, Path]],
    out_dir: Path,
    cfg: TrainConfig,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train DeepLabv3+ on ``(frame, mask)`` pairs, resuming a crashed run of the same config.

    Returns ``epochs_run, best_epoch, best_val_iou, device, seconds, images_per_second`` where
    ``seconds`` and ``images_per_second`` cover all epochs, resumed ones included.
    """
    cfg.validate()
    if len(train_items) < 2:
        raise ValueError("training needs at least 2 frames (BatchNorm needs batches of >= 2)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    if not val_items:
        log(
            "warning: no validation frames; the model is selected by training loss and "
            "val_loss/val_iou stay empty"
        )
    with _runtime(cfg, device, log):
        return _run(train_items, val_items, out_dir, cfg, device, log)


@dataclass
class _Parts:
    """Everything one training run operates on, built once per call."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    loss_fn: torch.nn.Module
    sampler: SeededSampler
    train_loader: DataLoader
    val_loader: DataLoader | None
    device: torch.device
    gpu: _Gpu
    init: str | None = None  # what init_from loaded: 'full' or 'encoder'


def _build(
    train_items: Sequence[tuple[Path, Path]],
    val_items: Sequence[tuple[Path, Path]],
    cfg: TrainConfig,
    device: torch.device,
) -> _Parts:
    """Seed first, so weight initialisation is part of what ``seed`` reproduces."""
    gpu = _Gpu.resolve(cfg, device)
    _seed_everything(cfg.seed)
    # init_from replaces the encoder's weights anyway, so ImageNet weights are not loaded then.
    weights = None if cfg.init_from else cfg.encoder_weights
    model = build_model(cfg.encoder, weights, cfg.encoder_weights_file)
    init = load_init_weights(model, cfg.init_from) if cfg.init_from else None
    model = model.to(device=device, memory_format=gpu.memory_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sampler = SeededSampler(len(train_items), cfg.seed, shuffle=True)
    norm = get_normalisation(model)
    train_ds = FrameDataset(
        *zip(*train_items, strict=True), build_augmentation(cfg.augment), normalisation=norm
    )
    val_loader = None
    if val_items:
        val_ds = FrameDataset(*zip(*val_items, strict=True), normalisation=norm)
        val_loader = _loader(val_ds, cfg, gpu, None)
    return _Parts(
        model=model,
        optimizer=optimizer,
        scheduler=_scheduler(cfg, optimizer, bool(val_items)),
        scaler=torch.amp.GradScaler("cuda", enabled=gpu.fp16),
        loss_fn=_loss_fn(cfg.loss),
        sampler=sampler,
        train_loader=_loader(train_ds, cfg, gpu, sampler),
        val_loader=val_loader,
        device=device,
        gpu=gpu,
        init=init,
    )


def _start_state(
    parts: _Parts, out_dir: Path, cfg: TrainConfig, ident: dict, log: Callable[[str], None]
) -> _State:
    """Continue from this config's checkpoint, or start clean."""
    ckpt_path = out_dir / CHECKPOINT_NAME
    ckpt = _load_checkpoint(ckpt_path, ident, log)
    snapshot = str(ckpt.get("best_snapshot", "")) if ckpt is not None else ""
    if ckpt is not None and snapshot and not (out_dir / STATE_DIRNAME / snapshot).is_dir():
        log(
            f"checkpoint {ckpt_path.name} names best model {snapshot}, which is gone; starting over"
        )
        ckpt = None
    if ckpt is None:
        _clear_outputs(out_dir)
        return _State()
    p = parts
    state = _restore(ckpt, p.model, p.optimizer, p.scheduler, p.scaler, cfg)
    # Rebuild every declared output from the checkpoint: Snakemake deletes a killed job's
    # outputs before rerunning it, and later epochs may never save a better model again.
    _remove_leftovers(out_dir, keep=state.best_snapshot)
    if state.best_snapshot:
        _publish_best(out_dir, state.best_snapshot)
    _write_history(out_dir / HISTORY_NAME, state.history)
    log(
        f"resumed at epoch {state.epoch + 1}/{cfg.epochs} from {ckpt_path} "
        f"(epochs 1-{state.epoch} done, best epoch {state.best_epoch})"
    )
    return state


def _epoch(parts: _Parts, epoch: int) -> dict[str, Any]:
    """Train and validate once; the history row (plus the selection score, not written)."""
    p = parts
    t0 = time.perf_counter()
    p.sampler.set_epoch(epoch)
    train_loss = _train_epoch(
        p.model, p.train_loader, p.optimizer, p.scaler, p.loss_fn, p.device, p.gpu
    )
    train_seconds = time.perf_counter() - t0
    val_loss = val_iou = None
    if p.val_loader is not None:
        val_loss, val_iou = _validate(p.model, p.val_loader, p.loss_fn, p.device, p.gpu)
    _step_scheduler(p.scheduler, train_loss if val_iou is None else val_iou)
    return {
        "epoch": epoch,
        "train_loss": train_loss,
        "val_loss": val_loss,
        "val_iou": val_iou,
        "seconds": round(time.perf_counter() - t0, 3),
        "train_seconds": round(train_seconds, 3),
    }


def _record(
    parts: _Parts,
    state: _State,
    row: dict[str, Any],
    out_dir: Path,
    cfg: TrainConfig,
    ident: dict,
    data: dict[str, Any],
) -> None:
    """Best-model snapshot (if best), checkpoint, history, then ``model/``: a crash between
    any two loses no epoch, and the checkpoint only ever names a snapshot that is complete.

    The snapshot of a new best epoch gets a new folder, so a crash before the checkpoint that
    names it leaves the previous best intact; older snapshots go once the checkpoint is written.
    """
    p = parts
    state.epoch = row["epoch"]
    state.history.append(row)
    score = -row["train_loss"] if row["val_iou"] is None else row["val_iou"]
    improved = score > state.best_score
    if improved:
        state.best_score, state.best_epoch, state.best_val_iou = score, row["epoch"], row["val_iou"]
        state.best_snapshot = _snapshot_name(row["epoch"])
        snapshot = out_dir / STATE_DIRNAME / state.best_snapshot
        save_model(p.model, snapshot, _card(cfg, state, p.device, data))
    ckpt = _checkpoint(p.model, p.optimizer, p.scheduler, p.scaler, state, ident)
    _save_checkpoint(out_dir / CHECKPOINT_NAME, ckpt)
    _write_history(out_dir / HISTORY_NAME, state.history)
    if improved:
        _publish_best(out_dir, state.best_snapshot)
        _remove_leftovers(out_dir, keep=state.best_snapshot)


def _run(
    train_items: Sequence[tuple[Path, Path]],
    val_items: Sequence[tuple[Path, Path]],
    out_dir: Path,
    cfg: TrainConfig,
    device: torch.device,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """The body of :func:`train`, inside the runtime settings."""
    t_call = time.perf_counter()
    data = _data_facts(train_items, val_items)
    ident = _identity(cfg, data["training_data_sha256"])
    parts = _build(train_items, val_items, cfg, device)
    if parts.init:
        log(f"initialised from {cfg.init_from} ({parts.init} weights)")
    state = _start_state(parts, out_dir, cfg, ident, log)
    log(
        f"training {cfg.encoder} on {device}: {len(train_items)} train / {len(val_items)} val "
        f"frames, batch {cfg.batch_size}, lr {cfg.lr:g}, up to {cfg.epochs} epochs"
    )
    prior = sum(r["seconds"] for r in state.history)
    run_seconds: list[float] = []

    def spent() -> float:
        return prior + time.perf_counter() - t_call

    while (reason := _stop_reason(state, cfg, spent())) is None:
        row = _epoch(parts, state.epoch + 1)
        _record(parts, state, row, out_dir, cfg, ident, data)
        run_seconds.append(row["seconds"])
        eta = _eta(state, cfg, run_seconds, spent())
        log(
            f"epoch {row['epoch']}/{cfg.epochs} train_loss {row['train_loss']:.4f} "
            f"val_loss {_fmt(row['val_loss'])} val_iou {_fmt(row['val_iou'])} "
            f"{row['seconds']:.1f} s (eta {eta})"
        )
    log(f"stopped: {reason}; best epoch {state.best_epoch} (val_iou {_fmt(state.best_val_iou)})")
    return _finish(out_dir, cfg, state, device, train_items, reason)


def _step_scheduler(scheduler: Any, metric: float) -> None:
    """Step per epoch; the plateau scheduler watches val IoU, or train loss without val."""
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(metric)
    else:
        scheduler.step()


def _finish(
    out_dir: Path,
    cfg: TrainConfig,
    state: _State,
    device: torch.device,
    train_items: Sequence,
    reason: str,
) -> dict[str, Any]:
    """Record the final state in the model card and summarise the run."""
    if state.best_snapshot and not (out_dir / MODEL_DIRNAME).exists():
        _publish_best(out_dir, state.best_snapshot)
    if (out_dir / MODEL_DIRNAME).exists():
        update_card(out_dir / MODEL_DIRNAME, epochs_run=state.epoch, stop_reason=reason)
    seconds = sum(r["seconds"] for r in state.history)
    train_seconds = sum(r.get("train_seconds", r["seconds"]) for r in state.history)
    images = len(train_items) * state.epoch
    return {
        "epochs_run": state.epoch,
        "best_epoch": state.best_epoch,
        "best_val_iou": state.best_val_iou,
        "device": str(device),
        "seconds": round(seconds, 3),
        "images_per_second": round(images / train_seconds, 3) if train_seconds > 0 else None,
    }
