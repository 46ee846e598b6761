"""A training step replayed from a CUDA graph, for small batches on fast GPUs.

At the paper's batch 3 a DeepLabV3+ ResNet-101 step issues ~1,500 small kernels; on an H100 the
GPU finishes them faster than Python and the CUDA driver can launch them, so the step is bound
by the CPU (BENCHMARKS.md: bf16 was *slower* than fp32 there). Capturing forward, loss, backward
and the optimiser step once into a CUDA graph and replaying it launches the whole step as one
unit. The price is static shapes and static memory: every batch is copied into the same input
buffers, so a batch of another size (an epoch's last) runs eagerly on the same parameters.

The capture is the recipe of PyTorch's "whole-network capture" (warm-up on a side stream,
``zero_grad(set_to_none=True)``, a capturable optimiser), with one change: the warm-up steps are
undone before capture (parameters, buffers and optimiser state copied back in place), so the
first replayed step is the run's first real step and training follows the eager trajectory.

CPU seam: with ``capture=False`` the same static-buffer step runs eagerly (tests compare it with
the plain loop); on CUDA ``capture=True`` records and replays the graph.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

AutocastFactory = Callable[[], contextlib.AbstractContextManager]


class GraphedStep:
    """One optimiser step on a batch of a fixed shape, captured once and replayed."""

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: torch.nn.Module,
        device: torch.device,
        *,
        autocast: AutocastFactory = contextlib.nullcontext,
        memory_format: torch.memory_format = torch.contiguous_format,
        capture: bool | None = None,
        warmup: int = 3,
    ) -> None:
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.device, self.autocast, self.memory_format = device, autocast, memory_format
        self.capture = device.type == "cuda" if capture is None else capture
        self.warmup = warmup
        self.graph: torch.cuda.CUDAGraph | None = None
        self.shape: tuple[torch.Size, torch.Size] | None = None
        self.static_x: torch.Tensor | None = None
        self.static_y: torch.Tensor | None = None
        self.static_loss: torch.Tensor | None = None
        if self.capture:
            for group in optimizer.param_groups:
                if "capturable" not in group:
                    raise ValueError(f"{type(optimizer).__name__} cannot be captured in a graph")
                group["capturable"] = True

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Train on ``(x, y)``; returns the batch's mean loss as a device tensor (no sync)."""
        if self.shape is None:
            self._setup(x, y)
        if (x.shape, y.shape) != self.shape:
            return self._eager(x, y)
        self.static_x.copy_(x, non_blocking=True)
        self.static_y.copy_(y, non_blocking=True)
        if self.graph is not None:
            self.graph.replay()
        else:
            self._step()
        return self.static_loss.detach().clone()

    def _setup(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.shape = (x.shape, y.shape)
        self.static_x = torch.empty_like(x, device=self.device).contiguous(
            memory_format=self.memory_format
        )
        self.static_y = torch.empty_like(y, device=self.device)
        if not self.capture:
            return
        self.static_x.copy_(x)
        self.static_y.copy_(y)
        saved = self._snapshot()
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(self.warmup):
                self._step()
        torch.cuda.current_stream(self.device).wait_stream(side)
        self._restore(saved)
        self.optimizer.zero_grad(set_to_none=True)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self._step(zero_grad=False)

    def _step(self, zero_grad: bool = True) -> None:
        if zero_grad:
            self.optimizer.zero_grad(set_to_none=not self.capture)
        with self.autocast():
            logits = self.model(self.static_x)
        self.static_loss = self.loss_fn(logits.float(), self.static_y)
        self.static_loss.backward()
        self.optimizer.step()

    def _eager(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """A batch of another shape: the same parameters and optimiser, no graph. Gradients are
        zeroed in place so the graph's gradient buffers stay where the graph expects them."""
        self.optimizer.zero_grad(set_to_none=self.graph is None)
        x = x.to(self.device).contiguous(memory_format=self.memory_format)
        with self.autocast():
            logits = self.model(x)
        loss = self.loss_fn(logits.float(), y.to(self.device))
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def _snapshot(self) -> dict[str, list[torch.Tensor]]:
        tensors = self._state_tensors()
        return {"known": [t.detach().clone() for t in tensors], "ids": [id(t) for t in tensors]}

    def _restore(self, saved: dict[str, list[torch.Tensor]]) -> None:
        """Undo the warm-up in place: tensors that existed are copied back; optimiser state the
        warm-up created (a fresh Adam's moments and step count) is zeroed."""
        before = dict(zip(saved["ids"], saved["known"]))
        with torch.no_grad():
            for t in self._state_tensors():
                if id(t) in before:
                    t.copy_(before[id(t)])
                else:
                    t.zero_()

    def _state_tensors(self) -> list[torch.Tensor]:
        out = [*self.model.parameters(), *self.model.buffers()]
        for state in self.optimizer.state.values():
            out += [v for v in state.values() if torch.is_tensor(v)]
        return out
