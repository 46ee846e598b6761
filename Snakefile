# herbseg: leaf segmentation and leaf measurement of herbarium sheets
# (Hussein et al., Sensors 2021, 21, 4549), from raw sheet scans to per-sheet leaf areas.
from snakemake.utils import min_version, validate

from herbseg.checks.startup import exit_on_error, prepare_config

min_version("9.0")


configfile: "config/config.yaml"


# `--config annotations=null` arrives as the string "null": read it as YAML would; a value the
# schema rejects stops the run in one line naming the key.
prepare_config(config, f"{workflow.basedir}/workflow/schemas/config.schema.yaml")
validate(config, schema="workflow/schemas/config.schema.yaml", set_default=True)

# Config and input mistakes stop the run here, in one sentence naming the key; once, in the main
# process (a cluster job re-reads this file and must not list a million sheets again). A missing
# GPU is judged only where jobs will run here: not in a dry run, not when a cluster executor
# (`--jobs`, which sets nodes) sends them to compute nodes.
if workflow.workflow_settings.exec_mode.name == "DEFAULT":
    exit_on_error(
        config,
        local_exec=workflow.resource_settings.nodes is None
        and not workflow.output_settings.dryrun,
    )


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/annotation_qc.smk"
include: "workflow/rules/resize.smk"
include: "workflow/rules/split.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/classify.smk"
include: "workflow/rules/measure.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/dwc_export.smk"
include: "workflow/rules/baseline.smk"
include: "workflow/rules/bootstrap.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/scale_evidence.smk"
include: "workflow/rules/bundle.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
