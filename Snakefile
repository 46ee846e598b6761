# herbseg: leaf segmentation and leaf measurement of herbarium sheets
# (Hussein et al., Sensors 2021, 21, 4549), from raw sheet scans to per-sheet leaf areas.
from snakemake.utils import min_version, validate

from herbseg.startup import check_config

min_version("9.0")


configfile: "config/config.yaml"


validate(config, schema="workflow/schemas/config.schema.yaml", set_default=True)

# Config and input mistakes stop the run here, in one sentence naming the key.
check_config(config)


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/resize.smk"
include: "workflow/rules/split.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/measure.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/baseline.smk"
include: "workflow/rules/bootstrap.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/bundle.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
