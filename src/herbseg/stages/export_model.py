"""The trained model as an artefact to hand on (rule export_model, in workflow/rules/model.smk).

The work is :func:`herbseg.model.card.export_model`; this stage reads the evaluated card and says
in the log which model it wrote, so that the log names the ``weights_sha256`` another run cites.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from herbseg.model.card import export_model


def run(
    inputs: Any, outputs: Any, params: Any, *, threads: int, log: Callable[[str], None]
) -> None:
    """``inputs.model`` (train's folder) and ``inputs.card`` (evaluate's card) →
    ``outputs.model``, with the frame settings of ``params.settings`` on its card."""
    card = export_model(
        inputs.model,
        outputs.model,
        evaluated_card=json.loads(Path(inputs.card).read_text()),
        settings=dict(params.settings),
    )
    log(
        f"model {card['weights_sha256'][:12]} ({card['encoder']}, {card['frame_size']} px "
        f"{card['resize_mode']}, test IoU {card.get('test_metrics', {}).get('iou')}) "
        f"written to {outputs.model}"
    )
