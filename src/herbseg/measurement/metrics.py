"""Pixel metrics of binary leaf masks.

Convention for empty masks: a ratio whose denominator is zero is 1.0 when prediction and truth
agree perfectly (no false positives and no false negatives, e.g. an empty prediction of an empty
truth) and 0.0 otherwise. A sheet without leaves that is predicted empty is a perfect result, and
it must not turn a mean into NaN; one that is predicted non-empty, or a missed non-empty truth,
is a total failure for the undefined ratio.
"""

from __future__ import annotations

import numpy as np


def confusion(pred: np.ndarray, truth: np.ndarray) -> tuple[int, int, int, int]:
    """Count ``tp, fp, fn, tn`` pixels; counts (not ratios) so they can be pooled over sheets."""
    pred = np.asarray(pred)
    truth = np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and truth {truth.shape} differ in shape")
    pred = pred.astype(bool, copy=False)
    truth = truth.astype(bool, copy=False)
    tp = int(np.count_nonzero(pred & truth))
    fp = int(np.count_nonzero(pred)) - tp
    fn = int(np.count_nonzero(truth)) - tp
    tn = int(pred.size) - tp - fp - fn
    return tp, fp, fn, tn


def _ratio(num: int, den: int, perfect: bool) -> float:
    if den == 0:
        return 1.0 if perfect else 0.0
    return num / den


def scores(tp: int, fp: int, fn: int, tn: int) -> dict[str, float]:
    """IoU, Dice, precision, recall and accuracy; zero denominators follow the module convention."""
    perfect = fp == 0 and fn == 0
    return {
        "iou": _ratio(tp, tp + fp + fn, perfect),
        "dice": _ratio(2 * tp, 2 * tp + fp + fn, perfect),
        "precision": _ratio(tp, tp + fp, perfect),
        "recall": _ratio(tp, tp + fn, perfect),
        "accuracy": _ratio(tp + tn, tp + fp + fn + tn, perfect),
    }
