"""Draw the training curves for the report (rule plot_training)."""

import pandas as pd

from herbseg.io.logs import job_log
from herbseg.reporting.plots import plot_training, read_model_card

with job_log(snakemake.log[0]) as log:
    history = pd.read_csv(snakemake.input.history)
    plot_training(history, snakemake.output.figure, read_model_card(snakemake.input.model))
    log(f"plotted {len(history)} epochs into {snakemake.output.figure}")
