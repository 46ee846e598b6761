# Annotated sheets into train / val / test (fractions, seed and optional group column from config).
rule split:
    input:
        tables=annotated_resize_tables,
        sheets=annotated_shard_lists,
        qc=res("ingest/annotation_qc.csv"),
    output:
        res("split/split.csv"),
    log:
        res("logs/split.log"),
    benchmark:
        res("benchmarks/split.tsv")
    localrule: True
    conda:
        "../../envs/herbseg.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        split=config["split"],
        annotations=config["annotations"],
    script:
        "../scripts/split.py"
