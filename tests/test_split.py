import pytest

from herbseg.stages.split import split_sheets

FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}


def test_same_seed_same_split_independent_of_order():
    ids = [f"s{i:03d}" for i in range(40)]
    a = split_sheets(ids, FRACTIONS, 7)
    b = split_sheets(list(reversed(ids)), FRACTIONS, 7)
    assert a.equals(b)
    assert a["split"].value_counts().to_dict() == {"train": 28, "val": 6, "test": 6}
    assert not a.equals(split_sheets(ids, FRACTIONS, 8))


def test_tiny_collections_still_get_val_and_test():
    out = split_sheets(["a", "b", "c"], FRACTIONS, 0)
    assert sorted(out["split"]) == ["test", "train", "val"]


def test_groups_stay_together():
    ids = [f"s{i}" for i in range(30)]
    groups = [f"g{i // 3}" for i in range(30)]
    out = split_sheets(ids, FRACTIONS, 1, groups)
    assert out.groupby("group")["split"].nunique().max() == 1


def test_duplicates_rejected():
    with pytest.raises(ValueError, match="unique"):
        split_sheets(["a", "a"], FRACTIONS, 0)
