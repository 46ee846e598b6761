# The classical colour baseline: fitted on the train and val sheets, its test-sheet masks written
# in sheet geometry and scored with evaluate's code, so the network has a figure to beat.
rule baseline:
    input:
        split=res("split/split.csv"),
        sheets=annotated_shard_lists,
    output:
        model=res("baseline/model.json"),
        per_sheet=res("baseline/per_sheet.csv"),
        summary=res("baseline/summary.csv"),
        masks=directory(res("baseline/masks")),
    log:
        res("logs/baseline.log"),
    benchmark:
        res("benchmarks/baseline.tsv")
    conda:
        "../../envs/herbseg.yaml"
    threads: 2  # fitting analyses sheets and scores thresholds on threads
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        baseline=config["baseline"],
        long_side=config["predict"]["long_side"],
    script:
        "../scripts/baseline.py"
