"""Start-up checks of everything model-related: encoder name, its weights, a saved model to use.

These run when the workflow starts (registered in :data:`herbseg.checks.startup.CHECKS`), before
ingest hashes a collection, because each of these mistakes used to surface only in ``train`` or
``predict``, after hours of work. Resolving the ImageNet weights here also means the one
download a connected machine needs happens once, at start, into the cache smp uses; jobs only
read it.

torch and smp are imported inside the checks that need them: parsing a config that names a saved
model or trains from scratch pays nothing for them, and the encoder names smp knows are cached
per smp version, so checking the name does not import smp (~5 s) at every start.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import socket
from importlib import metadata
from pathlib import Path
from typing import Any

from herbseg.config.schema import ConfigError
from herbseg.io.files import atomic_write_text, user_cache_dir

HUB_HOST = "huggingface.co"
_TRUE = {"1", "true", "yes", "on"}
MASK_CLASSES = ("leaf", "plant")


def is_offline(config: dict[str, Any]) -> bool:
    """``model.offline: true`` or ``HF_HUB_OFFLINE`` set: never try the network."""
    offline = bool(config.get("model", {}).get("offline", False))
    return offline or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def encoder_names() -> list[str]:
    """Every encoder name the installed segmentation-models-pytorch accepts (``tu-`` aside).

    Read from a cache file named for the installed smp version (a new smp writes a new file), so
    only the first start after an install imports smp; an unwritable cache is not an error.
    """
    cache = (
        user_cache_dir() / f"smp-encoders-{metadata.version('segmentation-models-pytorch')}.json"
    )
    try:
        names = json.loads(cache.read_text())
        if isinstance(names, list) and names:
            return names
    except (OSError, ValueError):
        pass
    import segmentation_models_pytorch as smp

    names = sorted(smp.encoders.get_encoder_names())
    with contextlib.suppress(OSError):
        atomic_write_text(cache, json.dumps(names))
    return names


def check_encoder_name(config: dict[str, Any]) -> None:
    """An unknown encoder is rejected with the closest names smp knows (typos are common)."""
    model = config.get("model", {})
    if model.get("path"):
        return  # the saved model's own encoder is used
    encoder = model.get("encoder", "")
    if encoder.startswith("tu-"):
        import timm

        if timm.is_model(encoder[3:]):
            return
        names = [f"tu-{n}" for n in timm.list_models()]
    else:
        names = encoder_names()
        if encoder in names:
            return
    close = difflib.get_close_matches(encoder, names, n=5, cutoff=0.5)
    hint = f"closest: {', '.join(close)}" if close else "see smp.encoders.get_encoder_names()"
    raise ConfigError(
        "model.encoder",
        f"segmentation-models-pytorch does not know encoder {encoder!r} ({hint}).",
    )


def _reachable(host: str, timeout: float = 3.0) -> bool:
    """A quick TCP probe, so an offline machine fails in seconds instead of retrying for 30."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_weights(
    encoder: str, weights_file: str | None, offline: bool
) -> tuple[Path, dict[str, Any]]:
    """Find the ImageNet weights ``build_model`` will load, downloading them when allowed.

    Returns the file and its state dict. Order: the user's file, a pip package, the hub cache,
    then (online only) a download into that cache as smp would do it. Offline, a miss raises
    :class:`herbseg.model.network.WeightsNotFound` with the message that says how to provide them.
    """
    from herbseg.model import network as hm

    if weights_file:
        return Path(weights_file), hm.read_encoder_state(Path(weights_file))
    packaged = hm.packaged_weights(encoder)
    if packaged is not None:
        from herbseg.model import weights as lite_weights

        return packaged, lite_weights.without_classifier(lite_weights.read_packaged_state(packaged))
    try:
        path = hm.find_hub_weights(encoder)
    except hm.WeightsNotFound:
        if offline or hm._hub_settings(encoder) is None:
            raise
        path = _download(encoder)
    return Path(path), _shapes_only(path)


def _shapes_only(path: str) -> dict[str, Any]:
    """The tensors of a .safetensors file as meta tensors: its header, not its 170 MB."""
    import torch
    from safetensors import safe_open

    with safe_open(path, framework="pt") as f:
        return {k: torch.empty(f.get_slice(k).get_shape(), device="meta") for k in f.keys()}


def _download(encoder: str) -> str:
    """Download smp's ImageNet weights of ``encoder`` into the hub cache, as smp itself does."""
    from huggingface_hub import hf_hub_download

    from herbseg.model import network as hm

    settings = hm._hub_settings(encoder)
    assert settings is not None
    if not _reachable(HUB_HOST):
        raise hm.WeightsNotFound(
            f"ImageNet weights for encoder {encoder!r} are not in the cache and {HUB_HOST} "
            "cannot be reached to download them. "
            + hm._how_to_provide(encoder, settings, hm.hub_cache_dir())
        )
    return hf_hub_download(
        settings["repo_id"],
        "model.safetensors",
        revision=settings.get("revision"),
        cache_dir=str(hm.hub_cache_dir()),
    )


def check_encoder_weights(config: dict[str, Any]) -> None:
    """ImageNet weights present (or downloaded) and fitting the encoder, before anything runs."""
    model, train = config.get("model", {}), config.get("train", {})
    if model.get("path") or model.get("encoder_weights") is None or train.get("init_from"):
        return  # nothing to load: a saved model, training from scratch, or from init_from
    import torch

    from herbseg.model import network as hm

    encoder = model["encoder"]
    key = (
        "model.encoder_weights_file"
        if model.get("encoder_weights_file")
        else "model.encoder_weights"
    )
    try:
        path, state = resolve_weights(
            encoder, model.get("encoder_weights_file"), is_offline(config)
        )
        import segmentation_models_pytorch as smp

        with torch.device("meta"):  # shapes only: instant even for ResNet-101
            own = smp.encoders.get_encoder(encoder, weights=None).state_dict()
        hm.fit_encoder_state(state, own, str(path), encoder)
    except hm.WeightsNotFound as exc:
        raise ConfigError(key, str(exc)) from None
    except ValueError as exc:
        raise ConfigError(key, str(exc)) from None


def check_model_path(config: dict[str, Any]) -> None:
    """``model.path`` is a saved herbseg model, and the config does not contradict its card.

    The card's frame size, resize mode and threshold are adopted where the config keeps the
    schema default; a config that sets another value is refused, naming both values.
    """
    model = config.get("model", {})
    path = model.get("path")
    if not path:
        return
    from herbseg.model.card import adopt_card, read_model_folder

    try:
        card = read_model_folder(path)
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError("model.path", str(exc)) from None
    for key, config_value, card_value in adopt_card(card, config):
        raise ConfigError(
            key,
            f"{config_value!r} contradicts the model at {path}, which was trained with "
            f"{card_value!r}; set {key}: {card_value!r} (or leave it out).",
        )


def check_annotations_or_model(config: dict[str, Any]) -> None:
    """Without annotations there is nothing to train on: a saved model must be named instead."""
    if config.get("model", {}).get("path") or config.get("synth", {}).get("enabled"):
        return
    if not config.get("annotations"):
        raise ConfigError(
            "annotations",
            "is empty, so there is nothing to train a model on: set `annotations` to a folder of "
            "masks or a COCO JSON file, or set `model.path` to a saved herbseg model (a "
            "results/model folder of an earlier run) to measure every sheet with it.",
        )


def check_train_size(config: dict[str, Any]) -> None:
    """``train.size`` brings frames down for training, never up: it cannot exceed ``resize.size``.

    Checked after ``model.path`` has given the frame size of a saved model, although a run with
    a saved model does not train: a contradiction there is still a mistake in the config.
    """
    size = config.get("train", {}).get("size")
    frame = config.get("resize", {}).get("size")
    if size is not None and frame is not None and size > frame:
        raise ConfigError(
            "train.size",
            f"{size} is larger than resize.size ({frame}): training frames are brought down "
            f"from the resized frames, never up; set train.size to {frame} or less (or null).",
        )


MODEL_CHECKS = [
    check_annotations_or_model,
    check_model_path,
    check_encoder_name,
    check_encoder_weights,
    check_train_size,
]
