"""Write the run bundle, a Workflow Run RO-Crate (rule bundle)."""

from pathlib import Path

from herbseg.io.logs import job_log
from herbseg.model.card import model_facts
from herbseg.reporting.bundle import build_bundle

with job_log(snakemake.log[0]) as log:
    p = snakemake.params
    results_dir = Path(snakemake.output[0]).parent  # <results>/bundle
    results = [
        path
        for name, value in snakemake.input.items()
        if name not in ("checksums", "report")
        for path in ([value] if isinstance(value, str) else value)
        # a saved model (model.path) lives elsewhere: run.json records it by sha256
        if Path(path).resolve().is_relative_to(results_dir.resolve())
    ]
    build_bundle(
        snakemake.output[0],
        results_dir=results_dir,
        results=results,
        mask_tables=snakemake.input.checksums,
        config=snakemake.config,
        configfiles=p.configfiles,
        # scripts/ → workflow/ → the checkout holding the Snakefile
        source_root=Path(snakemake.scriptdir).resolve().parents[1],
        report=snakemake.input.get("report"),
        copy_masks=p.bundle["copy_masks"],
        name=p.bundle["name"],
        license=p.bundle["license"],
        authors=p.bundle["authors"],
        threads=snakemake.threads,
        log=log,
        model=model_facts(p.model),
    )
