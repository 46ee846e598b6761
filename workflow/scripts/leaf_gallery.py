"""Contact sheets of kept and rejected leaves, verdicts as a labels CSV (rule leaf_gallery)."""

import pandas as pd

from herbseg.io.files import write_csv
from herbseg.io.logs import job_log
from herbseg.reporting.leaf_gallery import gallery_png, labels_template

with job_log(snakemake.log[0]) as log:
    leaves = pd.read_csv(snakemake.input.leaves, dtype={"sheet_id": str})
    rows = pd.read_csv(snakemake.input.manifest, dtype={"sheet_id": str}, keep_default_na=False)
    rows = rows[rows["status"] == "ok"]
    preds = pd.concat(
        [pd.read_csv(p, dtype={"sheet_id": str}) for p in snakemake.input.predictions],
        ignore_index=True,
    )
    mask_w = dict(zip(preds["sheet_id"], pd.to_numeric(preds["mask_w"], errors="coerce")))
    sample = rows["sheet_id"].sample(
        n=min(len(rows), 12), random_state=snakemake.params.report["seed"]
    )
    chosen = leaves[leaves["sheet_id"].isin(set(sample))] if len(leaves) else leaves
    if not len(leaves):
        leaves = pd.DataFrame(columns=["sheet_id", "leaf_id", "bbox", "intact", "intact_prob"])
        chosen = leaves
    by = leaves["intact_by"].iloc[0] if "intact_by" in leaves and len(leaves) else "rule"
    for kind, out in (("kept", snakemake.output.kept), ("rejected", snakemake.output.rejected)):
        part = chosen[chosen["intact"].astype(bool) == (kind == "kept")]
        n = gallery_png(part, rows, out, f"{kind} as intact leaves by the {by}", mask_w=mask_w)
        log(f"{kind}: {n} leaves drawn")
    write_csv(labels_template(leaves), snakemake.output.labels)
