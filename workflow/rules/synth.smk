# The demo collection: synthetic sheets with exact leaf masks and a truth table (demo only).
if SYNTH:

    rule synth:
        output:
            sheets=directory(synth_folder("sheets")),
            masks=directory(config["annotations"]),
            archive=directory(synth_folder("dwca")),
            truth=config["synth"]["truth"],
        log:
            res("logs/synth.log"),
        benchmark:
            res("benchmarks/synth.tsv")
        conda:
            "../../envs/herbseg.yaml"
        threads: 2
        resources:
            mem_mb=2000,
            runtime=30,
        params:
            synth=config["synth"],
            mask_class=config["model"]["mask_class"],
        script:
            "../scripts/synth.py"

    rule demo_check:
        input:
            leaf_area=res("leaf_area.csv"),
            leaf_traits=res("leaf_traits.csv"),
            summary=res("evaluate/summary.csv"),
            truth=config["synth"]["truth"],
        output:
            res("demo_check.csv"),
        log:
            res("logs/demo_check.log"),
        benchmark:
            res("benchmarks/demo_check.tsv")
        localrule: True
        conda:
            "../../envs/herbseg.yaml"
        threads: 1
        resources:
            mem_mb=500,
            runtime=5,
        script:
            "../scripts/demo_check.py"
