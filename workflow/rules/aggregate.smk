# One collection-wide table each for sheets and leaves (one row per manifest row), and one row
# per specimen (herbseg.stages.specimens states the roll-up rule).
rule aggregate:
    input:
        manifest=res("ingest/manifest.csv"),
        sheets=shard_sheet_tables,
        leaves=shard_leaf_tables,
        model=predict_model(),
    output:
        sheets=res("leaf_area.csv"),
        leaves=res("leaf_traits.csv"),
        specimens=res("specimens.csv"),
    log:
        res("logs/aggregate.log"),
    benchmark:
        res("benchmarks/aggregate.tsv")
    localrule: True
    conda:
        "../../envs/herbseg.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/aggregate.py"
