# Test-split scores of the predicted sheet masks against their annotations.
rule evaluate:
    input:
        split=res("split/split.csv"),
        predictions=annotated_predictions,
        sheets=annotated_shard_lists,
        model=res("train/model"),
    output:
        per_sheet=res("evaluate/per_sheet.csv"),
        summary=res("evaluate/summary.csv"),
    log:
        res("logs/evaluate.log"),
    benchmark:
        res("benchmarks/evaluate.tsv")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/herbseg.yaml"
    script:
        "../scripts/evaluate.py"
