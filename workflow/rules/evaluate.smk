# Test-split scores of the predicted sheet masks against their annotations, and the model card
# completed with them (written beside the model folder, which stays as train left it).
rule evaluate:
    input:
        split=res("split/split.csv"),
        predictions=annotated_predictions,
        sheets=annotated_shard_lists,
        model=res("train/model"),
    output:
        per_sheet=report(
            res("evaluate/per_sheet.csv"),
            caption="../report/per_sheet.rst",
            category="Evaluation",
            labels={"result": "scores per test sheet (CSV)"},
        ),
        summary=report(
            res("evaluate/summary.csv"),
            caption="../report/summary.rst",
            category="Evaluation",
            labels={"result": "pooled test scores (CSV)"},
        ),
        card=res("train/model_card.json"),
    log:
        res("logs/evaluate.log"),
    benchmark:
        res("benchmarks/evaluate.tsv")
    conda:
        "../../envs/herbseg.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/evaluate.py"
