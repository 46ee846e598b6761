# Figures for the run report (`snakemake --report report.html`): training curves, test scores,
# the collection's leaf area and leaf count, and a gallery of sheets with their mask outlines.
rule plot_training:
    input:
        history=res("train/history.csv"),
        model=res("train/model"),
    output:
        figure=report(
            res("report/training.png"),
            caption="../report/training.rst",
            category="Training",
            labels={"result": "loss and validation IoU per epoch"},
        ),
    log:
        res("logs/report/plot_training.log"),
    benchmark:
        res("benchmarks/report/plot_training.tsv")
    localrule: True
    conda:
        "../../envs/herbseg.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/plot_training.py"


rule plot_evaluation:
    input:
        per_sheet=res("evaluate/per_sheet.csv"),
        summary=res("evaluate/summary.csv"),
    output:
        figure=report(
            res("report/evaluation.png"),
            caption="../report/evaluation.rst",
            category="Evaluation",
            labels={"result": "test scores (figure)"},
        ),
    log:
        res("logs/report/plot_evaluation.log"),
    benchmark:
        res("benchmarks/report/plot_evaluation.tsv")
    localrule: True
    conda:
        "../../envs/herbseg.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/plot_evaluation.py"


rule plot_collection:
    input:
        leaf_area=res("leaf_area.csv"),
    output:
        figure=report(
            res("report/collection.png"),
            caption="../report/collection.rst",
            category="Collection",
            labels={"result": "leaf area and leaf count per sheet"},
        ),
    log:
        res("logs/report/plot_collection.log"),
    benchmark:
        res("benchmarks/report/plot_collection.tsv")
    localrule: True
    conda:
        "../../envs/herbseg.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/plot_collection.py"


# One JPEG per sheet in <reason>/<sheet>.jpg; the reason becomes the report's sub-category.
rule overlays:
    input:
        unpack(evaluation_input),
        manifest=res("ingest/manifest.csv"),
        problems=res("ingest/problems.csv"),
        leaf_area=res("leaf_area.csv"),
    output:
        overlays=report(
            directory(res("report/overlays")),
            patterns=["{reason}/{sheet}.jpg"],
            caption="../report/overlays.rst",
            category="Overlays",
            subcategory="{reason}",
            labels={"sheet": "{sheet}"},
        ),
    log:
        res("logs/report/overlays.log"),
    benchmark:
        res("benchmarks/report/overlays.tsv")
    conda:
        "../../envs/herbseg.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        report=config["report"],
    script:
        "../scripts/overlays.py"
