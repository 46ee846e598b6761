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


def final_outputs():
    outputs = [
        res("leaf_area.csv"),
        res("leaf_traits.csv"),
        res("evaluate/summary.csv"),
    ]
    if SYNTH:
        outputs.append(res("demo_check.csv"))
    return outputs


def mem_for_frames(batch_size, frame, base_mb=2000):
    """Memory of a job holding a batch of frames and a DeepLabV3+ (activations dominate)."""
    return int(base_mb + batch_size * (frame / 512) ** 2 * 1500)
