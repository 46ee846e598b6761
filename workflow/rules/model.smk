# The trained model as an artefact to hand on: the weights with a complete card (frame settings,
# normalisation, threshold, mask class, training-data checksums, test metrics, sha256).
# Another run uses it with `model.path: <results>/model`.
rule export_model:
    input:
        model=res("train/model"),
        card=res("train/model_card.json"),
    output:
        model=directory(res("model")),
    log:
        res("logs/export_model.log"),
    benchmark:
        res("benchmarks/export_model.tsv")
    localrule: True
    conda:
        "../../envs/herbseg.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        settings={
            "frame_size": config["resize"]["size"],
            "resize_mode": config["resize"]["mode"],
            "threshold": config["predict"]["threshold"],
            "mask_class": config["model"]["mask_class"],
        },
    script:
        "../scripts/export_model.py"
