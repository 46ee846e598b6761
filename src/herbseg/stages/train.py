"""Training loop (rule train): paper defaults, crash-safe resume, reproducibility, GPU speed-ups.

A run writes ``model/`` (the best epoch by validation IoU, or the last with ``select: last``),
``history.csv``, ``checkpoint.pt`` and ``.state/`` into its ``out_dir``;
:mod:`herbseg.model.checkpoint` describes these files and how a killed run continues from its
last completed epoch. One epoch's work is :mod:`herbseg.model.fit`. This module is the loop:
build, resume, train epoch after epoch, select the model, stop on a budget.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.utils.data import DataLoader

from herbseg.config.settings import settings_from
from herbseg.model.card import training_card, update_card
from herbseg.model.checkpoint import (
    CHECKPOINT_NAME,
    HISTORY_NAME,
    MODEL_DIRNAME,
    STATE_DIRNAME,
    TrainState,
    clear_outputs,
    load_checkpoint,
    make_checkpoint,
    publish_best,
    remove_leftovers,
    restore,
    save_checkpoint,
    snapshot_name,
    write_history,
)
from herbseg.model.data import FrameDataset, SeededSampler, build_augmentation, data_facts
from herbseg.model.fit import (
    Switches,
    loss_fn_for,
    make_loader,
    make_scheduler,
    runtime,
    seed_everything,
    step_scheduler,
    train_epoch,
    validate,
)
from herbseg.model.network import (
    build_model,
    get_normalisation,
    init_weights_sha256,
    load_init_weights,
    resolve_device,
    save_model,
)

# Settings that may change between a crash and its resume: budgets (how long training goes on) and
# execution resources that do not change what an epoch computes. Snakemake passes its --cores as
# ``threads``, so a rerun with other resources must not throw finished epochs away; only the
# floating-point summation order can differ with threads.
RESUMABLE_CHANGES = (
    "epochs",
    "patience",
    "max_minutes",
    "threads",
    "num_workers",
    "pin_memory",
)


def _default_augment() -> dict[str, float]:
    """The schema's ``train.augment`` (the paper's four, the real-sheet ones off)."""
    return {"rotate": 30, "hflip": 0.5, "vflip": 0.5, "brightness": 0.2, "hue": 0,
            "paper_tone": 0, "stains": 0, "jpeg": 0, "scale": 0, "table_edges": 0,
            "grey": 0}  # fmt: skip


@dataclass
class TrainConfig:
    """Training settings; the defaults are those of Hussein et al. (2021)."""

    encoder: str = field(default="resnet101", metadata={"config": "model.encoder"})
    encoder_weights: str | None = field(
        default="imagenet", metadata={"config": "model.encoder_weights"}
    )
    encoder_weights_file: str | None = field(
        default=None, metadata={"config": "model.encoder_weights_file"}
    )
    lr: float = 1e-4
    batch_size: int = 3
    epochs: int = 100
    loss: str = "bce"  # "bce" | "bce_dice"
    thin_weight: float = 1.0  # loss weight of the label's thin parts (herbseg.model.fit)
    augment: dict[str, float] = field(default_factory=_default_augment)
    # Train on frames brought down to this size (None: resize.size); predict and validation use
    # resize.size's frames (see herbseg.model.data.build_augmentation).
    size: int | None = None
    device: str = "auto"
    num_workers: int = 2
    seed: int = 0
    deterministic: bool = False
    amp: bool = True  # bf16/fp16 autocast, on CUDA only
    channels_last: bool | str = "auto"  # memory layout: True, False, or "auto" (Switches)
    cudnn_benchmark: bool = field(default=True, metadata={"fixed": True})
    pin_memory: bool = field(default=True, metadata={"fixed": True})
    patience: int | None = None  # early stopping on val IoU; None = off, as in the paper
    # Which epoch becomes the model: "best" (val IoU; train loss without val) or "last"
    select: str = "best"
    lr_schedule: str | None = None  # None | "cosine" | "plateau"
    # torch.set_num_threads on CPU: the cores the job got (not a config key; run() passes them)
    threads: int | None = field(default=None, metadata={"fixed": True})
    max_minutes: float | None = None  # stop after the epoch that crosses it
    init_from: str | None = None  # a saved model folder whose weights start training

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        if self.loss not in ("bce", "bce_dice"):
            raise ValueError(f"loss must be 'bce' or 'bce_dice', got {self.loss!r}")
        if self.lr_schedule not in (None, "cosine", "plateau"):
            raise ValueError(
                f"lr_schedule must be null, 'cosine' or 'plateau', got {self.lr_schedule!r}"
            )
        if self.select not in ("best", "last"):
            raise ValueError(f"select must be 'best' or 'last', got {self.select!r}")
        if self.select == "last" and self.patience is not None:
            raise ValueError("patience (early stopping on the best epoch) needs select 'best'")
        if self.thin_weight < 1:
            raise ValueError(f"thin_weight must be at least 1, got {self.thin_weight}")
        if self.batch_size < 2:
            # DeepLabv3+'s ASPP image-pooling branch has BatchNorm over a 1×1 map: one sample
            # per batch makes its statistics undefined and PyTorch refuses to train.
            raise ValueError("batch_size must be at least 2 for DeepLabv3+ (BatchNorm in ASPP)")
        if self.epochs < 1:
            raise ValueError("epochs must be at least 1")
        if self.channels_last not in (True, False, "auto"):
            raise ValueError(
                f"channels_last must be true, false or 'auto', got {self.channels_last!r}"
            )


def _identity(cfg: TrainConfig, checksum: str) -> dict[str, Any]:
    """What must match for a checkpoint to be continued: the config (bar budgets) and the data."""
    ident = {k: v for k, v in cfg.to_dict().items() if k not in RESUMABLE_CHANGES}
    ident["data_checksum"] = checksum
    if cfg.init_from:  # the same path may hold another model later: its weights count
        ident["init_from_sha256"] = init_weights_sha256(cfg.init_from)
    return ident


# --------------------------------------------------------------------------- the loop


def _eta(state: TrainState, cfg: TrainConfig, run_seconds: Sequence[float], spent: float) -> str:
    remaining = cfg.epochs - state.epoch
    per_epoch = sum(run_seconds) / max(len(run_seconds), 1)
    eta = remaining * per_epoch
    if cfg.max_minutes is not None:
        eta = min(eta, max(0.0, cfg.max_minutes * 60 - spent) + per_epoch)
    if eta < 90:
        return f"{eta:.0f} s"
    if eta < 2 * 3600:
        return f"{eta / 60:.0f} min"
    return f"{eta / 3600:.1f} h"


def _fmt(v: float | None) -> str:
    return "-" if v is None or math.isnan(v) else f"{v:.4f}"


def _stop_reason(state: TrainState, cfg: TrainConfig, spent: float) -> str | None:
    """Why training is over, or None to go on; checked before every epoch, resumes included.

    ``spent`` is wall-clock time: earlier runs' epoch seconds plus everything this call has
    taken (start-up, checkpoints, model saves), so a demo's time budget is really kept.
    """
    if state.epoch >= cfg.epochs:
        return f"reached {cfg.epochs} epochs"
    if cfg.patience is not None and state.epoch - state.best_epoch >= cfg.patience:
        return f"early stop: no improvement for {cfg.patience} epochs"
    if cfg.max_minutes is not None and state.epoch > 0:  # always produce a model
        if spent >= cfg.max_minutes * 60:
            return f"time budget of {cfg.max_minutes:g} min used ({spent / 60:.1f} min)"
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
    with runtime(
        device,
        threads=cfg.threads,
        deterministic=cfg.deterministic,
        cudnn_benchmark=cfg.cudnn_benchmark,
        log=log,
    ):
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
    switches: Switches
    init: str | None = None  # what init_from loaded: 'full' or 'encoder'


def _build(
    train_items: Sequence[tuple[Path, Path]],
    val_items: Sequence[tuple[Path, Path]],
    cfg: TrainConfig,
    device: torch.device,
) -> _Parts:
    """Seed first, so weight initialisation is part of what ``seed`` reproduces."""
    seed_everything(cfg.seed)
    # init_from replaces the encoder's weights anyway, so ImageNet weights are not loaded then.
    weights = None if cfg.init_from else cfg.encoder_weights
    model = build_model(cfg.encoder, weights, cfg.encoder_weights_file)
    init = load_init_weights(model, cfg.init_from) if cfg.init_from else None
    switches = Switches.resolve(
        device, model, amp=cfg.amp, channels_last=cfg.channels_last, pin_memory=cfg.pin_memory
    )
    model = model.to(device=device, memory_format=switches.memory_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sampler = SeededSampler(len(train_items), cfg.seed, shuffle=True)
    norm = get_normalisation(model)
    train_ds = FrameDataset(
        *zip(*train_items, strict=True),
        build_augmentation(cfg.augment, cfg.size),
        normalisation=norm,
    )
    val_loader = None
    if val_items:
        val_ds = FrameDataset(*zip(*val_items, strict=True), normalisation=norm)
        val_loader = make_loader(
            val_ds, cfg.batch_size, cfg.num_workers, cfg.seed, switches.pin, None
        )
    return _Parts(
        model=model,
        optimizer=optimizer,
        scheduler=make_scheduler(cfg.lr_schedule, optimizer, cfg.epochs, bool(val_items)),
        scaler=torch.amp.GradScaler("cuda", enabled=switches.fp16),
        loss_fn=loss_fn_for(cfg.loss, cfg.thin_weight),
        sampler=sampler,
        train_loader=make_loader(
            train_ds, cfg.batch_size, cfg.num_workers, cfg.seed, switches.pin, sampler
        ),
        val_loader=val_loader,
        device=device,
        switches=switches,
        init=init,
    )


def _start_state(
    parts: _Parts, out_dir: Path, cfg: TrainConfig, ident: dict, log: Callable[[str], None]
) -> TrainState:
    """Continue from this config's checkpoint, or start clean."""
    ckpt_path = out_dir / CHECKPOINT_NAME
    ckpt = load_checkpoint(ckpt_path, ident, log)
    snapshot = str(ckpt.get("best_snapshot", "")) if ckpt is not None else ""
    if ckpt is not None and snapshot and not (out_dir / STATE_DIRNAME / snapshot).is_dir():
        log(
            f"checkpoint {ckpt_path.name} names best model {snapshot}, which is gone; starting over"
        )
        ckpt = None
    if ckpt is None:
        clear_outputs(out_dir)
        return TrainState()
    p = parts
    state = restore(ckpt, p.model, p.optimizer, p.scheduler, p.scaler, cfg.epochs)
    # Rebuild every declared output from the checkpoint: Snakemake deletes a killed job's
    # outputs before rerunning it, and later epochs may never save a better model again.
    remove_leftovers(out_dir, keep=state.best_snapshot)
    if state.best_snapshot:
        publish_best(out_dir, state.best_snapshot)
    write_history(out_dir / HISTORY_NAME, state.history)
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
    train_loss = train_epoch(
        p.model, p.train_loader, p.optimizer, p.scaler, p.loss_fn, p.device, p.switches
    )
    train_seconds = time.perf_counter() - t0
    val_loss = val_iou = None
    if p.val_loader is not None:
        val_loss, val_iou = validate(p.model, p.val_loader, p.loss_fn, p.device, p.switches)
    step_scheduler(p.scheduler, train_loss if val_iou is None else val_iou)
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
    state: TrainState,
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
    if cfg.select == "last":  # every epoch supersedes the one before
        score = float(row["epoch"])
    else:
        score = -row["train_loss"] if row["val_iou"] is None else row["val_iou"]
    improved = score > state.best_score
    if improved:
        state.best_score, state.best_epoch, state.best_val_iou = score, row["epoch"], row["val_iou"]
        state.best_snapshot = snapshot_name(row["epoch"])
        snapshot = out_dir / STATE_DIRNAME / state.best_snapshot
        card = training_card(
            cfg.to_dict(),
            epochs_run=state.epoch,
            best_epoch=state.best_epoch,
            best_val_iou=state.best_val_iou,
            device=str(p.device),
            data=data,
        )
        save_model(p.model, snapshot, card)
    ckpt = make_checkpoint(p.model, p.optimizer, p.scheduler, p.scaler, state, ident)
    save_checkpoint(out_dir / CHECKPOINT_NAME, ckpt)
    write_history(out_dir / HISTORY_NAME, state.history)
    if improved:
        publish_best(out_dir, state.best_snapshot)
        remove_leftovers(out_dir, keep=state.best_snapshot)


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
    data = data_facts(train_items, val_items)
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
    log(
        f"stopped: {reason}; model: epoch {state.best_epoch} ({cfg.select}, "
        f"val_iou {_fmt(state.best_val_iou)})"
    )
    return _finish(out_dir, cfg, state, device, train_items, reason)


def _finish(
    out_dir: Path,
    cfg: TrainConfig,
    state: TrainState,
    device: torch.device,
    train_items: Sequence,
    reason: str,
) -> dict[str, Any]:
    """Record the final state in the model card and summarise the run."""
    if state.best_snapshot and not (out_dir / MODEL_DIRNAME).exists():
        publish_best(out_dir, state.best_snapshot)
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


# --------------------------------------------------------------------------- the workflow rule


def _frame_pairs(
    split_csv: str | os.PathLike, tables: Sequence[str | os.PathLike]
) -> dict[str, list[tuple[Path, Path]]]:
    """``(frame, mask)`` pairs of the train and val sheets of ``split.csv``, from resize's
    tables."""
    split = pd.read_csv(split_csv, dtype={"sheet_id": str})
    frames = pd.concat([pd.read_csv(p, dtype={"sheet_id": str}) for p in tables])
    items = split.merge(frames[frames["status"] == "ok"], on="sheet_id", how="left")
    if items["frame_path"].isna().any() or items["mask_frame_path"].isna().any():
        raise ValueError("split names sheets without resized frames or masks")

    def pairs(name: str) -> list[tuple[Path, Path]]:
        chosen = items[items["split"] == name]
        return [(Path(a), Path(b)) for a, b in zip(chosen["frame_path"], chosen["mask_frame_path"])]

    return {name: pairs(name) for name in ("train", "val")}


def run(
    inputs: Any, outputs: Any, params: Any, *, threads: int, log: Callable[[str], None]
) -> None:
    """Rule train: ``inputs.split`` and resize's ``inputs.tables`` → ``outputs.model``,
    ``outputs.history`` (and the checkpoint beside them); ``params.model``/``params.train`` are the
    config sections, ``threads`` the job's cores."""
    m, t = params.model, params.train
    pairs = _frame_pairs(inputs.split, inputs.tables)
    cfg = settings_from(
        TrainConfig,
        t,
        "train",
        encoder=m["encoder"],
        encoder_weights=m["encoder_weights"],
        encoder_weights_file=m["encoder_weights_file"],
        threads=threads,
    )
    result = train(pairs["train"], pairs["val"], Path(outputs.history).parent, cfg, log=log)
    log(f"training done: {result}")
