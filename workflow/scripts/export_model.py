"""Write <results>/model: the trained model with its complete card (rule export_model)."""

import json
from pathlib import Path

from herbseg.io.logs import job_log
from herbseg.model.card import export_model

with job_log(snakemake.log[0]) as log:
    card = export_model(
        snakemake.input.model,
        snakemake.output.model,
        evaluated_card=json.loads(Path(snakemake.input.card).read_text()),
        settings=dict(snakemake.params.settings),
    )
    log(
        f"model {card['weights_sha256'][:12]} ({card['encoder']}, {card['frame_size']} px "
        f"{card['resize_mode']}, test IoU {card.get('test_metrics', {}).get('iou')}) "
        f"written to {snakemake.output.model}"
    )
