import functools
import os
from pathlib import Path

import pandas as pd

# Scripts import the herbseg package (src/herbseg): it is installed into the job's environment,
# by `make` into .venv or by envs/herbseg.yaml for `--sdm conda`.

RESULTS = config["results"]
SYNTH = config["synth"]["enabled"]
SHARD_PATTERN = r"[ac]\d{5}"


wildcard_constraints:
    shard=SHARD_PATTERN,


def res(*parts):
    """A path under the run's results folder."""
    return str(Path(RESULTS, *parts))


def uses_cuda(stage):
    """A stage asks the scheduler for a GPU only when its config asks for CUDA.

    ``auto`` uses a GPU when the job finds one but requests none, so a CPU-only machine or
    cluster partition still runs it; parsing never imports torch to find out.
    """
    return config[stage]["device"] == "cuda"


def synth_folder(name):
    """A folder synth writes beside its truth table: ``sheets`` (the images) or ``dwca`` (their
    Darwin Core Archive); the config's ``sheets`` names one of them (checked at start).
    """
    return str(Path(config["synth"]["truth"]).parent / name)


def ingest_input(wildcards):
    """Files whose change should re-run ingest: the sheet list, or the generated demo."""
    if SYNTH:
        return {"sheets": config["sheets"], "truth": config["synth"]["truth"]}
    inputs = {}
    if Path(config["sheets"]).exists():
        inputs["sheets"] = config["sheets"]
    if config["annotations"] and Path(config["annotations"]).exists():
        inputs["annotations"] = config["annotations"]
    return inputs


def shard_table():
    """The shard list written by the ingest checkpoint (read only after it has run)."""
    return pd.read_csv(checkpoints.ingest.get().output.shards, dtype={"shard": str})


def all_shards(wildcards):
    return list(shard_table()["shard"])


def annotated_shards(wildcards):
    table = shard_table()
    return list(table.loc[table["kind"] == "annotated", "shard"])


def per_shard(pattern, shards):
    return [res(pattern.format(shard=s)) for s in shards]


def annotated_resize_tables(wildcards):
    return per_shard("resize/{shard}/resize.csv", annotated_shards(wildcards))


def annotated_shard_lists(wildcards):
    return per_shard("ingest/shards/{shard}.csv", annotated_shards(wildcards))


def annotated_predictions(wildcards):
    return per_shard("predict/{shard}/predict.csv", annotated_shards(wildcards))


def shard_sheet_tables(wildcards):
    return per_shard("measure/{shard}/leaf_area.csv", all_shards(wildcards))


def shard_leaf_tables(wildcards):
    return per_shard("measure/{shard}/leaf_traits.csv", all_shards(wildcards))


def scale_table_input(wildcards):
    table = config["measure"]["scale_table"]
    return {"scale_table": table} if table else {}


def mask_checksum_tables(wildcards):
    return per_shard("checksums/masks/{shard}.csv", all_shards(wildcards))


def has_annotations():
    """Whether the run has annotated sheets (the demo generates its own)."""
    return SYNTH or bool(config["annotations"])


# A saved model (`model.path`, issue 13): the run then skips split, train and evaluate, and
# predicts and measures every sheet with it.
MODEL_PATH = config["model"]["path"]


def trains_model():
    """Whether this run trains its own model (no `model.path`)."""
    return not MODEL_PATH


def predict_model():
    """The model folder predict uses: `model.path`, else the one this run trains."""
    return MODEL_PATH or res("train/model")


def evaluation_input(wildcards):
    """Test scores to draw the worst sheets from, when this run trains (and so tests) a model."""
    return {"per_sheet": res("evaluate/per_sheet.csv")} if trains_model() else {}


def bundle_model_input(wildcards):
    """What the bundle records of the model: the training run's files, or the saved model used."""
    if not trains_model():
        return {"model": MODEL_PATH}
    return {
        "split": res("split/split.csv"),
        "model": res("train/model"),
        "history": res("train/history.csv"),
        "card": res("train/model_card.json"),
        "per_sheet": res("evaluate/per_sheet.csv"),
        "summary": res("evaluate/summary.csv"),
        "figures": [res("report/training.png"), res("report/evaluation.png")],
    }


def bundle_dwc_input(wildcards):
    """The Darwin Core Archive files, when the run writes them (``dwc_export.enabled``)."""
    if not config["dwc_export"]["enabled"]:
        return {}
    return {
        "dwc": [
            res("dwc/meta.xml"),
            res("dwc/occurrence.txt"),
            res("dwc/measurementorfact.txt"),
        ]
    }


def train_init_input(wildcards):
    """The model training starts from (`train.init_from`), so a changed one retrains."""
    init = config["train"]["init_from"]
    return {"init": init} if init else {}


def bootstrap_source():
    """`bootstrap.source` resolved: `auto` is the trained model when there are annotations to
    train it on, else the baseline."""
    source = config["bootstrap"]["source"]
    if source == "auto":
        return "model" if has_annotations() or MODEL_PATH else "baseline"
    return source


def bootstrap_input(wildcards):
    """The manifest, plus the predictions of the unannotated shards (model) or the fitted
    baseline (baseline with annotations; without, it falls back to Otsu)."""
    inputs = {"manifest": res("ingest/manifest.csv")}
    if bootstrap_source() == "model":
        table = shard_table()
        shards = table.loc[table["kind"] != "annotated", "shard"]
        inputs["predictions"] = per_shard("predict/{shard}/predict.csv", shards)
    elif has_annotations() and trains_model():
        inputs["baseline"] = res("baseline/model.json")
    return inputs


def report_html():
    """Where `snakemake --report` is expected to write the report the bundle includes."""
    return config["bundle"]["report"] or res("report.html")


def bundle_report_input(wildcards):
    """The report, once it exists: it is made after the run, so it cannot be required."""
    return {"report": report_html()} if Path(report_html()).exists() else {}


def final_outputs():
    outputs = [
        res("leaf_area.csv"),
        res("leaf_traits.csv"),
        res("report/collection.png"),
        res("report/overlays"),
        res("report/scale_evidence"),
        res("report/leaves/kept.png"),
    ]
    if trains_model():
        outputs += [
            res("evaluate/summary.csv"),
            res("report/training.png"),
            res("report/evaluation.png"),
            res("model"),
        ]
    if SYNTH and trains_model():
        outputs.append(res("demo_check.csv"))
    if has_annotations() and trains_model():
        outputs.append(res("baseline/summary.csv"))
    if config["bundle"]["enabled"]:
        outputs.append(res("bundle"))
    if config["dwc_export"]["enabled"]:
        outputs.append(res("dwc/measurementorfact.txt"))
    return outputs


# Job sizes: `resources:` of each rule, in MB and minutes. Threads come from `threads:` in the
# config; Snakemake caps them at --cores (a workstation) or at the profile's max-threads (a
# cluster), and memory at the profile's `resources: mem_mb`, so no job asks more than a node has.
# Per-shard jobs are sized from their shard's own sheet list once ingest has written it (how many
# sheets, the largest sheet's pixels), else from ingest.shard_size and ingest.max_megapixels.
# Figures are generous upper bounds of the demo's benchmarks (a SLURM job ends at its runtime).


def mem_for_frames(batch_size, frame, base_mb=2000):
    """Memory of a job holding a batch of frames and a DeepLabV3+ (activations dominate)."""
    return int(base_mb + batch_size * (frame / 512) ** 2 * 1500)


@functools.lru_cache(maxsize=4096)
def _shard_extent(path, mtime_ns):
    """Sheets in a shard list and megapixels of its largest readable sheet (NaN when none).

    Cached on the file's mtime: the resource functions of a shard's jobs ask several times while
    planning, and re-reading a thousand shard lists each time dominated a million-sheet plan.
    """
    rows = pd.read_csv(path, usecols=["width", "height"])
    return len(rows), (rows["width"] * rows["height"]).max() / 1e6


def shard_size_mp(wildcards):
    """Sheets in a shard and megapixels of its largest sheet, from the ingest shard list."""
    fallback = config["ingest"]["shard_size"], config["ingest"]["max_megapixels"]
    path = res(f"ingest/shards/{wildcards.shard}.csv")
    try:
        n, largest = _shard_extent(path, os.stat(path).st_mtime_ns)
    except (FileNotFoundError, ValueError):
        return fallback
    if pd.isna(largest):  # no readable sheet: the job only copies errors
        return n, 0.0
    return n, min(float(largest), fallback[1])


def mem_for_sheets(bytes_per_px, per_thread=False, base_mb=1000, long_side=None):
    """Memory of a shard job holding its largest sheet (scaled to ``long_side``), once or once
    per thread."""

    def mem_mb(wildcards, threads):
        _, mp = shard_size_mp(wildcards)
        if long_side:
            mp = min(mp, long_side**2 / 1e6)
        return int(base_mb + (threads if per_thread else 1) * mp * bytes_per_px)

    return mem_mb


def predict_bytes_per_px():
    """Bytes a predict thread holds per sheet pixel: the mask and its encoder (10), plus, with
    edge refinement, the sheet's pixels, the probability grid and two distance transforms.
    """
    return 40 if config["predict"]["refine_edges"] else 10


def shard_runtime(seconds_per_mp, seconds_per_sheet=0.0, parallel=True, base_min=10):
    """Minutes for a shard job: its sheets' work (shared among its threads when ``parallel``),
    at a third of the demo's pace on a 2-core CPU."""

    def runtime(wildcards, threads):
        n, mp = shard_size_mp(wildcards)
        seconds = (
            n * (seconds_per_sheet + mp * seconds_per_mp) / (threads if parallel else 1)
        )
        return int(base_min + 3 * seconds / 60)

    return runtime


def train_runtime():
    """Minutes for training: its time budget when the config sets one, else a day (the paper's
    100 epochs on a GPU take hours; a job ended at its limit resumes from the epoch checkpoint).
    """
    budget = config["train"]["max_minutes"]
    return int(budget + 30) if budget else 24 * 60


# --- classify (intact-leaf classifier) -------------------------------------------------------
CLASSIFY = config["classify"]["enabled"]


def classifier_model():
    """The saved classifier: the config's, or the one this run trains."""
    return config["classify"]["model"] or res("classify/model")


def classify_verdicts(wildcards):
    """The classify stage's table of a shard, for measure, when the classifier is on."""
    return (
        {"verdicts": res(f"classify/{wildcards.shard}/leaf_class.csv")}
        if CLASSIFY
        else {}
    )


def classify_train_input(wildcards):
    """Every shard's sheets and predictions, plus what says which leaves are intact: the
    synthetic truth (its test split left out) and/or a person's labels."""
    inputs = {
        "sheets": per_shard("ingest/shards/{shard}.csv", all_shards(wildcards)),
        "predictions": per_shard("predict/{shard}/predict.csv", all_shards(wildcards)),
    }
    if SYNTH:
        inputs["truth"] = config["synth"]["truth"]
        inputs["split"] = res("split/split.csv")
    if config["classify"]["labels"]:
        inputs["labels"] = config["classify"]["labels"]
    return inputs


def prediction_tables(wildcards):
    return per_shard("predict/{shard}/predict.csv", all_shards(wildcards))
