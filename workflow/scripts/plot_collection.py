"""Draw leaf area and leaf count over the collection for the report (rule plot_collection)."""

from herbseg.io.logs import job_log
from herbseg.reporting.plots import plot_collection, read_collection

with job_log(snakemake.log[0]) as log:
    sheets = read_collection(snakemake.input.leaf_area)
    plot_collection(sheets, snakemake.output.figure)
    log(f"plotted {len(sheets)} sheets into {snakemake.output.figure}")
