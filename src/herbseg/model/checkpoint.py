"""A training run's files: crash-safe checkpoint, best-epoch snapshots, history and ``model/``.

A run writes into its ``out_dir``:

* ``model/`` – the best epoch so far (by validation IoU; the latest with ``train.select: last``), as
  :func:`herbseg.model.network.save_model`;
* ``history.csv`` – ``epoch, train_loss, val_loss, val_iou, seconds``, one row per epoch;
* ``checkpoint.pt`` – everything needed to continue after a crash (see :func:`make_checkpoint`);
* ``.state/best-epoch-NNNNN/`` – a copy of the best model the checkpoint names.

The checkpoint is one file written atomically after every epoch, so a killed run continues
from its last completed epoch when started again with the same configuration. It holds only
tensors and plain containers, so it loads with ``torch.load(weights_only=True)`` and can never
execute code. Neither it nor ``.state/`` is a Snakemake output: ``--rerun-incomplete`` deletes
the declared outputs (``model/``, ``history.csv``) of a killed job, and a resumed run rebuilds
them from these two, so it ends with the files an uninterrupted run writes even when no epoch
after the crash beats the best one. The loop that drives them is
:mod:`herbseg.stages.train`.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import math
import os
import random
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from herbseg.io.files import atomic_dir, atomic_open, remove_stale_temps

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = "herbseg-checkpoint/2"  # /2: names its best-model snapshot
HISTORY_NAME = "history.csv"
HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_iou", "seconds")
MODEL_DIRNAME = "model"
STATE_DIRNAME = ".state"


@dataclass
class TrainState:
    """What the loop carries from epoch to epoch (and the checkpoint carries across crashes)."""

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_score: float = -math.inf
    best_epoch: int = 0
    best_val_iou: float | None = None
    best_snapshot: str = ""  # folder under .state/ holding the best model ("" before epoch 1)


def identity_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def rng_state() -> dict[str, Any]:
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


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        with contextlib.suppress(RuntimeError):  # resuming on a machine with fewer GPUs
            torch.cuda.set_rng_state_all(state["cuda"])


def make_checkpoint(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler,
    state: TrainState,
    ident: dict,
) -> dict:
    """The checkpoint: only tensors, numbers, strings and containers (``weights_only``-safe)."""
    return {
        "format": CHECKPOINT_FORMAT,
        "identity_hash": identity_hash(ident),
        "identity": json.dumps(ident, sort_keys=True, default=str),
        "epoch": state.epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else {},
        "scaler": scaler.state_dict(),
        "rng": rng_state(),
        "history": state.history,
        "best_score": state.best_score,
        "best_epoch": state.best_epoch,
        "best_val_iou": state.best_val_iou,
        "best_snapshot": state.best_snapshot,
    }


def save_checkpoint(path: Path, ckpt: dict) -> None:
    with atomic_open(path, "wb") as f:
        torch.save(ckpt, f)


def load_checkpoint(path: Path, ident: dict, log: Callable[[str], None]) -> dict | None:
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
    if ckpt.get("identity_hash") != identity_hash(ident):
        old = json.loads(ckpt.get("identity", "{}"))
        changed = sorted(k for k in set(old) | set(ident) if old.get(k) != ident.get(k))
        log(
            f"checkpoint {path.name} is from a different configuration (changed: "
            f"{', '.join(changed)}); starting over"
        )
        return None
    return ckpt


def restore(
    ckpt: dict,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler,
    epochs: int,
) -> TrainState:
    """Put the checkpoint's weights, optimiser, scheduler, scaler and RNG states back in place;
    ``epochs`` is the budget now, which may have changed since the crash."""
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and ckpt["scheduler"]:
        scheduler.load_state_dict(ckpt["scheduler"])
        if isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
            scheduler.T_max = epochs  # epochs may have changed since the crash
    if ckpt["scaler"]:
        scaler.load_state_dict(ckpt["scaler"])
    set_rng_state(ckpt["rng"])
    return TrainState(
        epoch=int(ckpt["epoch"]),
        history=list(ckpt["history"]),
        best_score=float(ckpt["best_score"]),
        best_epoch=int(ckpt["best_epoch"]),
        best_val_iou=ckpt["best_val_iou"],
        best_snapshot=str(ckpt["best_snapshot"]),
    )


# --------------------------------------------------------------------------- files


def write_history(path: Path, history: Sequence[dict[str, Any]]) -> None:
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


def clear_outputs(out_dir: Path) -> None:
    """Remove another configuration's results so they can never pass for this run's."""
    for name in (CHECKPOINT_NAME, HISTORY_NAME):
        (out_dir / name).unlink(missing_ok=True)
    shutil.rmtree(out_dir / MODEL_DIRNAME, ignore_errors=True)
    shutil.rmtree(out_dir / STATE_DIRNAME, ignore_errors=True)
    remove_leftovers(out_dir, keep="")


def remove_leftovers(out_dir: Path, keep: str) -> None:
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


def snapshot_name(epoch: int) -> str:
    return f"best-epoch-{epoch:05d}"


def publish_best(out_dir: Path, snapshot: str) -> None:
    """Make ``model/`` the snapshot's files (hard links where the filesystem allows: no copy).

    The card is rewritten later by :func:`herbseg.model.card.update_card` through a rename, which
    replaces the link in ``model/`` and leaves the snapshot's own card as it was.
    """
    src = out_dir / STATE_DIRNAME / snapshot
    with atomic_dir(out_dir / MODEL_DIRNAME) as tmp:
        for f in sorted(src.iterdir()):
            try:
                os.link(f, tmp / f.name)
            except OSError:
                shutil.copy2(f, tmp / f.name)
