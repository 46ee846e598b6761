"""Generate the synthetic demo collection (rule synth)."""

from pathlib import Path

from herbseg.logs import job_log
from herbseg.synth import generate_collection

with job_log(snakemake.log[0]) as log:
    p = snakemake.params.synth
    out = Path(snakemake.output.sheets).parent
    truth = generate_collection(
        out,
        p["n_sheets"],
        p["seed"],
        width=p["width"],
        height=p["height"],
        dpi=p["dpi"],
        workers=snakemake.threads,
        damage=p["damage"],
    )
    for name, target in (
        ("sheets", snakemake.output.sheets),
        ("masks", snakemake.output.masks),
        ("truth.csv", snakemake.output.truth),
    ):
        if Path(out / name).resolve() != Path(target).resolve():
            raise ValueError(f"synth writes {out / name}, but the config names {target}")
    log(f"generated {len(truth)} sheets into {out}")
