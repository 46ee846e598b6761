# Find every sheet and annotation, write the manifest, and group sheets into shards.
checkpoint ingest:
    input:
        unpack(ingest_input),
    output:
        manifest=res("ingest/manifest.csv"),
        problems=res("ingest/problems.csv"),
        shards=res("ingest/shards.csv"),
    log:
        res("logs/ingest.log"),
    benchmark:
        res("benchmarks/ingest.tsv")
    conda:
        "../../envs/herbseg.yaml"
    threads: config["threads"]["ingest"]
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        sheets=config["sheets"],
        annotations=config["annotations"],
        ingest=config["ingest"],
    script:
        "../scripts/ingest.py"
