"""Write the run bundle, a Workflow Run RO-Crate (rule bundle)."""

from pathlib import Path

from herbseg.io.logs import job_log

with job_log(snakemake.log[0]) as log:
    from herbseg.reporting.bundle import run

    run(
        snakemake.input,
        snakemake.output,
        snakemake.params,
        threads=snakemake.threads,
        log=log,
        config=snakemake.config,
        # scripts/ → workflow/ → the checkout holding the Snakefile
        source_root=Path(snakemake.scriptdir).resolve().parents[1],
    )
