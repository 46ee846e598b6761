"""A trained model as an artefact another lab can use: its folder, its card, its checksum.

A herbseg model folder is smp's ``save_pretrained`` layout (``config.json``,
``model.safetensors``) plus ``model_card.json``. The card exported at the end of a run
(:func:`export_model`, rule ``export_model``) carries everything predict needs to use the model
exactly as it was trained and evaluated: the encoder, the frame size and resize mode, the input
normalisation, the threshold, what its masks mark (leaf or whole plant), the checksums of its
training data and its test metrics. ``weights_sha256`` names the model: it goes into the run
bundle and into every row of ``leaf_area.csv``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from herbseg.config.schema import schema_path
from herbseg.io.files import atomic_write_text, sha256_file
from herbseg.io.versions import herbseg_version, package_versions
from herbseg.model.normalisation import normalisation_for

CARD_NAME = "model_card.json"
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_FORMAT = 1

# config key -> card field: the settings a model fixes for every run that uses it.
CARD_SETTINGS = {
    "model.encoder": "encoder",
    "resize.size": "frame_size",
    "resize.mode": "resize_mode",
    "predict.threshold": "threshold",
    "model.mask_class": "mask_class",
}


def write_card(model_dir: str | os.PathLike, card: dict[str, Any]) -> None:
    """Write a model folder's card atomically (a reader never sees half a card)."""
    atomic_write_text(
        Path(model_dir) / CARD_NAME, json.dumps(card, indent=2, sort_keys=True, default=str) + "\n"
    )


def update_card(model_dir: str | os.PathLike, **fields: Any) -> dict[str, Any]:
    """Add fields (e.g. test metrics) to a saved model's card; returns the updated card."""
    card = read_card(model_dir)
    card.update(fields)
    write_card(model_dir, card)
    return card


def read_card(model_dir: str | os.PathLike) -> dict[str, Any]:
    """The model card of a saved model, empty if it has none."""
    path = Path(model_dir) / CARD_NAME
    return json.loads(path.read_text()) if path.exists() else {}


def weights_sha256(model_dir: str | os.PathLike) -> str:
    """The model's identity: the sha256 of its weights file (the card may gain fields later)."""
    return sha256_file(Path(model_dir) / WEIGHTS_NAME)


def read_model_folder(model_dir: str | os.PathLike) -> dict[str, Any]:
    """The card of a saved herbseg model; a clear error when the folder is not one."""
    folder = Path(model_dir)
    if not folder.exists():
        raise FileNotFoundError(f"{folder} does not exist (expected a saved herbseg model folder)")
    if not folder.is_dir():
        raise ValueError(f"{folder} is a file, not a saved herbseg model folder")
    missing = [n for n in (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME) if not (folder / n).is_file()]
    if missing:
        raise ValueError(
            f"{folder} is not a saved herbseg model: it lacks {', '.join(missing)} (use the "
            "results/model folder of a herbseg run)"
        )
    try:
        card = json.loads((folder / CARD_NAME).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{folder / CARD_NAME} is not valid JSON: {exc}") from None
    if not isinstance(card, dict) or "encoder" not in card:
        raise ValueError(
            f"{folder / CARD_NAME} is not a herbseg model card (no 'encoder'; use the "
            "results/model folder of a herbseg run)"
        )
    return card


def _get(config: dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def card_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The card fields of :data:`CARD_SETTINGS` that ``config`` sets, for :func:`export_model`
    (callers outside the workflow, which names them in rule ``export_model``)."""
    values = {field: _get(config, key) for key, field in CARD_SETTINGS.items()}
    return {field: v for field, v in values.items() if v is not None}


def _set(config: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def schema_defaults() -> dict[str, Any]:
    """Defaults of the settings in :data:`CARD_SETTINGS`, read from the config schema."""
    import yaml

    try:
        schema = yaml.safe_load(schema_path().read_text())
    except FileNotFoundError:
        return {}
    out = {}
    for key in CARD_SETTINGS:
        node = schema
        for part in key.split("."):
            node = node.get("properties", {}).get(part, {})
        if "default" in node:
            out[key] = node["default"]
    return out


def adopt_card(card: dict[str, Any], config: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Take the card's settings into ``config`` where it keeps the default; return conflicts.

    A conflict is ``(config key, config value, card value)``: the config sets a value other than
    the default that differs from what the model was trained with.
    """
    defaults = schema_defaults()
    conflicts = []
    for key, field in CARD_SETTINGS.items():
        if field not in card:
            continue
        wanted, have = card[field], _get(config, key)
        if have == wanted:
            continue
        if key in defaults and have == defaults[key] or have is None:
            _set(config, key, wanted)
        else:
            conflicts.append((key, have, wanted))
    return conflicts


# What a model card records of the software that trained it (herbseg is added last).
TRAINING_PACKAGES = ("torch", "segmentation-models-pytorch", "albumentations", "numpy")


def training_card(
    config: dict[str, Any],
    *,
    epochs_run: int,
    best_epoch: int,
    best_val_iou: float | None,
    device: str,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The card training writes beside each best model: its settings (``config``, a
    ``TrainConfig`` as a dict), how far it got, where it ran, the software versions, the input
    normalisation and the ``data`` facts (:func:`herbseg.model.data.data_facts`).

    :func:`export_model` later completes it with the run's frame settings and test metrics.
    """
    return {
        "config": config,
        "epochs_run": epochs_run,
        "best_epoch": best_epoch,
        "best_val_iou": best_val_iou,
        "device": device,
        "versions": {**package_versions(TRAINING_PACKAGES), "herbseg": herbseg_version()},
        "encoder": config["encoder"],
        "normalisation": normalisation_for(config["encoder"]),
        **data,
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def export_model(
    trained: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    evaluated_card: dict[str, Any] | None,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """Copy a trained model folder to ``out_dir`` with its complete card; returns the card.

    ``settings`` maps the card fields of :data:`CARD_SETTINGS` (frame size, …) to the values the
    run used; ``evaluated_card`` is evaluate's card (test metrics, split checksums).
    """
    trained, out_dir = Path(trained), Path(out_dir)
    card = {**read_card(trained), **(evaluated_card or {}), **settings}
    encoder = card.get("encoder") or card.get("config", {}).get("encoder")
    card["encoder"] = encoder
    card.setdefault("normalisation", normalisation_for(encoder))
    card["herbseg_model_format"] = CARD_FORMAT
    card["weights_sha256"] = weights_sha256(trained)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for name in (CONFIG_NAME, WEIGHTS_NAME):
            shutil.copyfile(trained / name, tmp / name)
        (tmp / CARD_NAME).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
        tmp.chmod(0o755)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return card


def check_frames(card: dict[str, Any], frame: int, mode: str, where: str) -> None:
    """predict's guard: the frames it is given must be the ones the model was trained on."""
    for field, value in (("frame_size", frame), ("resize_mode", mode)):
        if field in card and card[field] != value:
            raise ValueError(
                f"{where}: frames are {field} {value!r} but the model was trained with "
                f"{card[field]!r} (its model_card.json); set resize.{field.split('_')[-1]} "
                f"to {card[field]!r}"
            )


def trained_on_grey(card: dict[str, Any]) -> bool:
    """Whether the model saw greyscale frames in training (``train.augment.grey`` above 0 on its
    card): predict warns when a colour-only model is given grey sheets."""
    augment = (card.get("config") or {}).get("augment") or {}
    return float(augment.get("grey", 0) or 0) > 0


MODEL_SHA_COLUMN = "model_sha256"


def with_model_column(sheets: Any, sha256: str) -> Any:
    """``leaf_area.csv`` with the sha256 of the model that measured each sheet (measured rows)."""
    out = sheets.copy()
    measured = out["status"] == "ok" if "status" in out else True
    out[MODEL_SHA_COLUMN] = ""
    out.loc[measured, MODEL_SHA_COLUMN] = sha256
    return out


def model_facts(model_dir: str | os.PathLike) -> dict[str, Any]:
    """What a run bundle records of its model: where it was, its sha256, and its card's gist."""
    card = read_card(model_dir)
    keep = ("encoder", "frame_size", "resize_mode", "normalisation", "threshold", "mask_class")
    return {
        "path": str(Path(model_dir).resolve()),
        "weights_sha256": weights_sha256(model_dir),
        "training_data_sha256": card.get("training_data_sha256"),
        "test_metrics": card.get("test_metrics"),
        **{k: card[k] for k in keep if k in card},
    }
