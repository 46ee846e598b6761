"""Pixel metrics on hand-computed examples, including the empty-mask convention."""

from __future__ import annotations

import numpy as np
import pytest

from herbseg.measurement.metrics import confusion, scores


def test_confusion_and_scores_hand_computed():
    pred = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], bool)
    truth = np.array([[1, 0, 0, 0], [1, 1, 1, 0]], bool)
    # tp: (0,0),(1,0)=2; fp: (0,1)=1; fn: (1,1),(1,2)=2; tn: 3
    assert confusion(pred, truth) == (2, 1, 2, 3)
    s = scores(2, 1, 2, 3)
    assert s["iou"] == pytest.approx(2 / 5)
    assert s["dice"] == pytest.approx(4 / 7)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["recall"] == pytest.approx(2 / 4)
    assert s["accuracy"] == pytest.approx(5 / 8)


def test_confusion_accepts_0_255_masks():
    pred = np.array([0, 255, 255], np.uint8)
    truth = np.array([0, 0, 255], np.uint8)
    assert confusion(pred, truth) == (1, 1, 0, 1)


def test_empty_vs_empty_is_perfect():
    empty = np.zeros((3, 3), bool)
    s = scores(*confusion(empty, empty))
    assert s == {"iou": 1.0, "dice": 1.0, "precision": 1.0, "recall": 1.0, "accuracy": 1.0}


def test_empty_prediction_of_nonempty_truth_fails():
    truth = np.zeros((2, 2), bool)
    truth[0, 0] = True
    s = scores(*confusion(np.zeros_like(truth), truth))
    assert s["iou"] == 0.0 and s["dice"] == 0.0 and s["recall"] == 0.0
    assert s["precision"] == 0.0  # undefined ratio, not a perfect one: something was missed
    assert s["accuracy"] == pytest.approx(3 / 4)


def test_nonempty_prediction_of_empty_truth_fails():
    pred = np.zeros((2, 2), bool)
    pred[1, 1] = True
    s = scores(*confusion(pred, np.zeros_like(pred)))
    assert s["iou"] == 0.0 and s["precision"] == 0.0 and s["recall"] == 0.0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        confusion(np.zeros((2, 2), bool), np.zeros((2, 3), bool))
