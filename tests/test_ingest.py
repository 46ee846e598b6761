import os
import time

import pandas as pd

from herbseg.ingest import assign_shards, discover_sheets, ingest, match_masks
from tests.conftest import write_mask_file, write_sheet


def _collection(root):
    write_sheet(root / "sheets" / "inst_a" / "IMG_0001.jpg")
    write_sheet(root / "sheets" / "inst_b" / "IMG_0001.jpg", seed=1)
    write_sheet(root / "sheets" / "inst_b" / "leaf.PNG", fmt="PNG")
    (root / "sheets" / "notes.txt").write_text("not a sheet")
    (root / "sheets" / "broken.jpg").write_text("garbage")
    write_mask_file(root / "masks" / "leaf_mask.png")
    write_mask_file(root / "masks" / "orphan_mask.png")
    return root


def test_folder_ids_are_unique_per_relative_path(tmp_path):
    sheets = discover_sheets(_collection(tmp_path) / "sheets")
    assert sorted(sheets["sheet_id"]) == [
        "broken", "inst_a__IMG_0001", "inst_b__IMG_0001", "inst_b__leaf"]  # fmt: skip


def test_csv_list_carries_extra_columns(tmp_path):
    _collection(tmp_path)
    csv = tmp_path / "list.csv"
    pd.DataFrame({"path": ["sheets/inst_a/IMG_0001.jpg"], "catalogNumber": ["K000123"]}).to_csv(
        csv, index=False
    )
    sheets = discover_sheets(csv)
    assert sheets.loc[0, "catalogNumber"] == "K000123"
    assert os.path.exists(sheets.loc[0, "path"])


def test_masks_match_by_stem_and_orphans_are_reported(tmp_path):
    root = _collection(tmp_path)
    sheets = discover_sheets(root / "sheets")
    found, problems = match_masks(sheets, root / "masks")
    assert list(found) == ["inst_b__leaf"]
    assert [p["status"] for p in problems] == ["unmatched"]


def test_ingest_accounts_for_every_file(tmp_path):
    root = _collection(tmp_path)
    manifest, problems, shards = ingest(
        str(root / "sheets"),
        str(root / "masks"),
        tmp_path / "out",
        shard_size=2,
        log=lambda m: None,
    )
    assert len(manifest) == 4
    row = manifest.set_index("sheet_id").loc["broken"]
    assert row["status"] == "error" and row["error"] == "unsupported format"
    assert manifest.set_index("sheet_id").loc["inst_b__leaf", "has_mask"]
    assert len(manifest.loc[0, "sha256"]) == 64
    assert set(problems["kind"]) == {"sheet", "annotation"}
    # the annotated sheet has a shard of its own kind; all sheets are in exactly one shard
    assert manifest.set_index("sheet_id").loc["inst_b__leaf", "shard"] == "a00000"
    assert shards["n_sheets"].sum() == 4
    files = sorted(p.name for p in (tmp_path / "out" / "shards").iterdir())
    assert files == [f"{s}.csv" for s in shards["shard"]]


def test_shards_are_sticky_and_unchanged_files_keep_their_mtime(tmp_path):
    root = tmp_path / "c"
    for i in range(6):
        write_sheet(root / f"s{i}.jpg", 40, 60, seed=i)
    out = tmp_path / "out"
    ingest(str(root), None, out, shard_size=3, log=lambda m: None)
    before = {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}
    assert sorted(before) == ["c00000.csv", "c00001.csv"]
    time.sleep(0.01)
    write_sheet(root / "a_new.jpg", 40, 60, seed=9)  # sorts first: must not shift other shards
    os.remove(root / "s4.jpg")
    manifest, _, shards = ingest(str(root), None, out, shard_size=3, log=lambda m: None)
    after = {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}
    assert after["c00000.csv"] == before["c00000.csv"]
    assert after["c00001.csv"] != before["c00001.csv"]
    assert manifest.set_index("sheet_id").loc["a_new", "shard"] == "c00001"


def test_assign_shards_opens_new_shards_when_full():
    manifest = pd.DataFrame(
        {"sheet_id": [f"s{i}" for i in range(5)], "has_mask": False, "status": "ok"}
    )
    shards = assign_shards(manifest, {"s0": "c00003"}, shard_size=2)
    assert shards.tolist() == ["c00003", "c00003", "c00000", "c00000", "c00001"]
