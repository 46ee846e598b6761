"""Start-up errors: each common mistake stops the real Snakefile in one line naming the key,
with a non-zero exit, before any results folder exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from herbseg.checks import inputs as input_checks
from herbseg.checks.startup import check_config
from herbseg.config.schema import ConfigError, nulls_from_command_line, schema_error
from tests.helpers import REPO, run_snakemake, write_mask_file, write_sheet

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


def _fails(work: Path, config: dict, key: str, *args: str, dry: bool = True) -> str:
    """Run the workflow (dry by default); it must stop at start with one `herbseg:` line naming
    ``key``. How fast is a benchmark's question (benchmarks/startup_errors.py), not a test's:
    a wall-clock limit here failed under parallel test load."""
    proc = run_snakemake(work, config, *(["-n"] if dry else []), *args, check=False)
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("herbseg:")]
    assert proc.returncode != 0, proc.stderr[-2000:]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert f"config key '{key}'" in lines[0]
    assert "Traceback" not in proc.stderr and 'File "' not in proc.stderr
    assert not (work / "results").exists()
    return lines[0]


def _sheets(folder: Path, n: int = 2, mask: bool = True) -> Path:
    """Sheets, with one matching mask beside them (``masks/``) unless ``mask`` is false."""
    for i in range(n):
        write_sheet(folder / f"s{i}.jpg", 40, 60, seed=i)
    if mask:
        write_mask_file(folder.parent / "masks" / "s0_mask.png", 40, 60)
    return folder


# Everything but the key under test is valid: masks that match, packaged ImageNet weights.
VALID = {"annotations": "masks", "model": {"encoder": "timm-tf_efficientnet_lite0"}}


@pytest.mark.workflow
def test_missing_sheets_folder(tmp_path):
    line = _fails(tmp_path, {"sheets": "nowhere", "annotations": None}, "sheets")
    assert "'nowhere' does not exist" in line


@pytest.mark.workflow
def test_empty_sheets_folder_names_what_it_holds(tmp_path):
    (tmp_path / "sheets").mkdir()
    (tmp_path / "sheets" / ".DS_Store").write_bytes(b"\0")
    line = _fails(tmp_path, {"sheets": "sheets", "annotations": None}, "sheets")
    assert "holds no file ending in .jpg" in line and "(1 other files)" in line


@pytest.mark.workflow
def test_annotations_matching_no_sheet_on_10000_sheets_with_counts(tmp_path):
    # Names only are read at start, so empty files stand in for 10,000 scans.
    sheets = tmp_path / "sheets"
    sheets.mkdir()
    for i in range(10_000):
        (sheets / f"IMG_{i:05d}.jpg").touch()
    for i in range(3):
        write_mask_file(tmp_path / "masks" / f"other_{i}_mask.png", 20, 30)
    config = {"sheets": "sheets", "annotations": "masks"}
    line = _fails(tmp_path, config, "annotations")
    assert "none of the 3 annotations" in line and "any of the 10000 sheets" in line


@pytest.mark.workflow
def test_missing_annotations_folder(tmp_path):
    _sheets(tmp_path / "sheets", mask=False)
    line = _fails(tmp_path, {"sheets": "sheets", "annotations": "masks"}, "annotations")
    assert "does not exist" in line


@pytest.mark.workflow
def test_null_words_on_the_command_line_are_null(tmp_path):
    _sheets(tmp_path / "sheets")
    config = {**VALID, "sheets": "sheets"}
    for word in ("null", "none", "None"):
        # Read as null, annotations are "none given" (not a folder named 'null' that does not
        # exist): with no saved model either, the run says what to provide.
        line = _fails(tmp_path, config, "annotations", "--config", f"annotations={word}")
        assert "does not exist" not in line and "model.path" in line


def test_null_words_only_where_the_schema_allows_null():
    config = {"annotations": "None", "results": "none", "model": {"encoder_weights": "null"}}
    changed = nulls_from_command_line(config, SCHEMA)
    assert changed == ["annotations", "model.encoder_weights"]
    assert config == {"annotations": None, "results": "none", "model": {"encoder_weights": None}}


@pytest.mark.workflow
def test_batch_size_below_two(tmp_path):
    _sheets(tmp_path / "sheets")
    config = {**VALID, "sheets": "sheets", "train": {"batch_size": 1}}
    line = _fails(tmp_path, config, "train.batch_size")
    assert "minimum of 2" in line


def test_batch_size_check_itself():
    # The schema stops it first in a run; the check holds for callers that skip the schema.
    with pytest.raises(ConfigError, match="train.batch_size"):
        input_checks.check_batch_size({"train": {"batch_size": 1}})
    assert schema_error({"sheets": "x", "train": {"batch_size": 2}}, SCHEMA) is None


def test_patience_with_the_last_epoch_kept_is_refused():
    with pytest.raises(ConfigError, match="train.patience"):
        input_checks.check_model_selection({"train": {"select": "last", "patience": 3}})
    input_checks.check_model_selection({"train": {"select": "best", "patience": 3}})
    input_checks.check_model_selection({"train": {"select": "last", "patience": None}})


def test_generated_sheets_are_read_where_synth_writes_them():
    """The demo reads its generated images or their archive; any other place would find nothing
    to ingest after synth ran, so it stops at start naming the key."""
    synth = {"enabled": True, "truth": "demo/truth.csv"}
    ingest = {"media_root": None, "id_column": None}
    input_checks.check_sheets({"sheets": "demo/sheets", "synth": synth, "ingest": ingest})
    good = {"media_root": "demo/sheets", "id_column": "title"}
    input_checks.check_sheets({"sheets": "demo/dwca/", "synth": synth, "ingest": good})
    with pytest.raises(ConfigError, match="'sheets': .*'demo/sheets'.*'demo/dwca'"):
        input_checks.check_sheets({"sheets": "scans", "synth": synth, "ingest": ingest})
    with pytest.raises(ConfigError, match="'ingest.media_root': .*'demo/sheets'"):
        input_checks.check_sheets({"sheets": "demo/dwca", "synth": synth, "ingest": ingest})


def test_openvino_runtime_without_the_package(monkeypatch):
    """A predict job would fail on the import; the start-up check names the key instead."""
    import importlib.util

    config = {"predict": {"cpu_runtime": "openvino", "cpu_precision": "fp32"}}
    input_checks.check_cpu_runtime(config)  # installed here: passes
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a)
    )
    with pytest.raises(ConfigError, match="predict.cpu_runtime"):
        input_checks.check_cpu_runtime(config)
    input_checks.check_cpu_runtime({"predict": {"cpu_runtime": "auto", "cpu_precision": "fp32"}})
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "nncf" else real(name, *a)
    )
    with pytest.raises(ConfigError, match="predict.cpu_precision"):
        input_checks.check_cpu_runtime(
            {"predict": {"cpu_runtime": "auto", "cpu_precision": "int8"}}
        )


@pytest.mark.workflow
@pytest.mark.skipif(input_checks.cuda_devices() > 0, reason="this machine has a CUDA GPU")
def test_cuda_device_on_a_machine_without_one(tmp_path):
    _sheets(tmp_path / "sheets")
    config = {**VALID, "sheets": "sheets", "predict": {"device": "cuda"}}
    line = _fails(tmp_path, config, "predict.device", dry=False)  # a dry run plans for anywhere
    assert "no CUDA GPU" in line


def test_cuda_is_not_judged_where_jobs_run_elsewhere():
    # A SLURM login node has no GPU; its compute nodes do: a cluster run is not stopped.
    config = {"train": {"device": "cuda"}, "predict": {"device": "cpu"}}
    input_checks.check_devices(config, local=False)
    if input_checks.cuda_devices() == 0:
        with pytest.raises(ConfigError, match="train.device"):
            input_checks.check_devices(config, local=True)


@pytest.mark.workflow
def test_results_under_a_file(tmp_path):
    _sheets(tmp_path / "sheets")
    (tmp_path / "taken").write_text("a file")
    config = {**VALID, "sheets": "sheets", "results": "taken/results"}
    line = _fails(tmp_path, config, "results")
    assert "is a file" in line


@pytest.mark.workflow
def test_results_on_a_read_only_place(tmp_path):
    # /proc accepts no new file even for root, where chmod would not stop a write.
    _sheets(tmp_path / "sheets")
    config = {**VALID, "sheets": "sheets", "results": "/proc/herbseg-results"}
    line = _fails(tmp_path, config, "results")
    assert "cannot write into '/proc'" in line


def test_a_good_config_passes_every_check(tmp_path, monkeypatch):
    sheets = _sheets(tmp_path / "sheets")
    monkeypatch.chdir(tmp_path)
    from snakemake.utils import validate

    config = {**VALID, "sheets": str(sheets)}
    validate(config, str(SCHEMA), set_default=True)  # fills the defaults, as the Snakefile does
    check_config(config)
    assert not (tmp_path / "results").exists()
