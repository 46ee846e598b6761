"""The static-buffer training step (herbseg.model.graph_step) trains exactly as the plain loop does.

On CUDA the step is captured into a graph; on CPU the same static-buffer code runs eagerly, and
that is what these tests hold: same losses, same parameters, an odd-sized last batch included.
"""

from __future__ import annotations

import pytest
import torch

from herbseg.model.graph_step import GraphedStep


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.Conv2d(4, 1, 1),
    )


def _batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    sizes = [3, 3, 3, 2]  # the last batch of an epoch is smaller: it runs without the graph
    return [
        (
            torch.randn(n, 3, 16, 16, generator=g),
            (torch.rand(n, 1, 16, 16, generator=g) > 0.5).float(),
        )
        for n in sizes
    ]


def test_static_step_matches_plain_loop() -> None:
    loss_fn = torch.nn.BCEWithLogitsLoss()
    plain, graphed = _net(), _net()
    opt_a = torch.optim.Adam(plain.parameters(), lr=1e-2)
    opt_b = torch.optim.Adam(graphed.parameters(), lr=1e-2)
    step = GraphedStep(graphed, opt_b, loss_fn, torch.device("cpu"), capture=False)
    for x, y in _batches():
        opt_a.zero_grad(set_to_none=True)
        loss_a = loss_fn(plain(x), y)
        loss_a.backward()
        opt_a.step()
        loss_b = step(x, y)
        assert torch.allclose(loss_a.detach(), loss_b, atol=1e-6)
    for a, b in zip(plain.state_dict().values(), graphed.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-6)
    start = _net().state_dict()["0.weight"]
    assert not torch.allclose(start, graphed.state_dict()["0.weight"])  # it did train


def test_capture_needs_a_capturable_optimizer() -> None:
    net = _net()
    opt = torch.optim.LBFGS(net.parameters())
    with pytest.raises(ValueError, match="cannot be captured"):
        GraphedStep(net, opt, torch.nn.BCEWithLogitsLoss(), torch.device("cpu"), capture=True)
