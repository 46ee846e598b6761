"""Write the measurements as a Darwin Core Archive (rule dwc_export)."""

from pathlib import Path

from herbseg.io.logs import job_log
from herbseg.stages.dwc_export import export

with job_log(snakemake.log[0]) as log:
    n_rows, n_occurrences, link = export(
        snakemake.input.leaf_area,
        snakemake.input.leaf_traits,
        snakemake.input.model,
        Path(snakemake.output.mof).parent,
        id_column=snakemake.params.id_column,
    )
    log(f"{n_rows} MeasurementOrFact rows for {n_occurrences} occurrences, linked by {link}")
