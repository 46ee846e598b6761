"""Where the network runs on a CPU: torch as trained, or compiled by OpenVINO (fp32, bf16, int8).

Most labs predict on CPU nodes. On two Zen 4 cores, DeepLabV3+ ResNet-101 on a 512 frame takes
about 650 ms in torch eager fp32 and 300-370 ms compiled by OpenVINO in fp32 (batch norm folded
into the convolutions, oneDNN kernels picked for this CPU), with the same masks; bf16 (where the
CPU has bf16 instructions) and int8 (NNCF post-training quantization, VNNI) halve that again and
again, but their masks differ from fp32's by more than 0.2 % on some real sheets (BENCHMARKS.md,
"CPU predict"). OpenVINO is a well-kept route (Intel's; it runs on any x86-64 CPU) with no
hand-written kernels; torch stays the fallback where it is not installed, and the runtime on GPUs.

So fp32 is the default, and bf16/int8 are a choice: used only where the CPU has the
instructions (read from the CPU's flags, never assumed) and only after agreeing with fp32 on the
job's own first frames (:func:`choose_precision`), else the job runs in fp32 and says so.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from herbseg.io.files import user_cache_dir
from herbseg.measurement.metrics import confusion, scores
from herbseg.model.network import get_normalisation, preprocess

CPU_RUNTIMES = ("auto", "torch", "openvino")
CPU_PRECISIONS = ("fp32", "bf16", "int8")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The instruction-set flags of this CPU (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((x for x in text.splitlines() if x.startswith("flags")), "")
    return frozenset(line.split(":", 1)[-1].split())


def has_bf16(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU computes in bf16 natively (AVX-512 BF16 or AMX); without them bf16 is
    emulated and slower than fp32."""
    return bool({"avx512_bf16", "amx_bf16"} & (cpu_flags() if flags is None else flags))


def has_int8(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU has int8 dot-product instructions (VNNI or AMX), which int8 needs to be
    faster than bf16/fp32."""
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & (cpu_flags() if flags is None else flags))


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


class OpenVinoNet:
    """A torch segmentation model compiled by OpenVINO, called like the module: ``N×3×H×W`` float
    tensor in, ``N×1×H×W`` logits out.

    The torch module stays in :attr:`module` (its normalisation and stride are read from it). The
    model is converted once with a free input shape and compiled for each frame size it meets, as
    OpenVINO's static-shape kernels are the fast ones; frames go through one at a time, which on
    two cores was as fast as batches in fp32 and faster in bf16 (160 vs 270 ms a frame at 4).

    ``int8`` quantizes weights and activations with NNCF's post-training quantization, calibrated
    on ``calibration`` (uint8 ``N×H×W×3`` frames: the job's own first frames, so no labels and no
    training data are needed); int8 kernels need VNNI (or AMX) to be fast.

    Converting traces the module (1.8 s for ResNet-18, 3.8 s for ResNet-101 on 2 cores), in every
    predict job of a collection's many shards. With ``cache_key`` (the sha256 of the model's
    weights) the converted fp32 model is kept in :func:`ir_cache_dir` and read back by every later
    job of that model, under the same OpenVINO and torch versions.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        precision: str,
        threads: int,
        calibration: np.ndarray | None = None,
        cache_key: str | None = None,
    ) -> None:
        import openvino as ov

        if precision not in ("fp32", "bf16", "int8"):
            raise ValueError(f"precision must be fp32, bf16 or int8, not {precision!r}")
        if precision == "int8" and (calibration is None or not len(calibration)):
            raise ValueError("int8 needs calibration frames")
        self.module = module.float().eval()
        self.precision = precision
        self._core = ov.Core()
        self._config = {
            "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
            "INFERENCE_NUM_THREADS": max(1, int(threads)),
            "PERFORMANCE_HINT": "LATENCY",
        }
        self._model = self._converted(cache_key)
        if precision == "int8":
            self._model = self._quantized(calibration)
        self._compiled: dict[tuple[int, int], object] = {}

    def _converted(self, cache_key: str | None):
        """The module as an OpenVINO model with a free frame size: read from the IR cache when
        ``cache_key`` names one there, else converted (and then cached, best effort)."""
        import openvino as ov

        xml = ir_cache_dir() / f"{cache_key}.xml" if cache_key else None
        self.from_cache = False
        if xml is not None and xml.is_file():
            with contextlib.suppress(Exception):  # a damaged entry is converted again
                model = self._core.read_model(xml)
                with contextlib.suppress(OSError):
                    xml.touch()  # recently used: kept by _save_ir's pruning
                self.from_cache = True
                return model
        # OpenVINO traces the module with TorchScript (seconds; torch.export took 6× longer
        # here), whose deprecation and tracer warnings say nothing about this model.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            model = ov.convert_model(
                self.module,
                example_input=torch.zeros(1, 3, 64, 64),
                input=[ov.PartialShape([1, 3, -1, -1])],
            )
        if xml is not None:
            with contextlib.suppress(OSError):  # an unwritable cache costs time, not results
                _save_ir(model, xml)
        return model

    def _quantized(self, frames: np.ndarray):
        import nncf

        x = preprocess(frames, "cpu", get_normalisation(self.module)).numpy()
        model = self._model.clone()
        model.reshape([1, 3, *x.shape[2:]])
        data = nncf.Dataset([x[i : i + 1] for i in range(len(x))])
        preset = nncf.QuantizationPreset.MIXED
        # NNCF draws progress bars on the console; a job log wants none of them.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return nncf.quantize(model, data, subset_size=len(x), preset=preset)

    def _request(self, h: int, w: int):
        if (h, w) not in self._compiled:
            model = self._model.clone()
            model.reshape([1, 3, h, w])
            compiled = self._core.compile_model(model, "CPU", self._config)
            self._compiled[h, w] = compiled.create_infer_request()
        return self._compiled[h, w]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        request = self._request(h, w)
        frames = x.detach().float().contiguous().numpy()
        out = [np.array(request.infer({0: frames[i : i + 1]})[0]) for i in range(n)]
        return torch.from_numpy(np.concatenate(out))


Network = torch.nn.Module | OpenVinoNet


# Converted models kept in the cache (:func:`_save_ir`).
IR_CACHE_ENTRIES = 4


def ir_cache_dir() -> Path:
    """Converted models, one ``.xml``/``.bin`` pair per model weights and software versions
    (the folder name holds the OpenVINO and torch versions that converted them)."""
    import openvino as ov

    versions = f"openvino-{ov.get_version().split('-')[0]}-torch-{torch.__version__}"
    return user_cache_dir() / "openvino" / versions


def _save_ir(model, xml: Path) -> None:
    """Write ``xml`` and its ``.bin`` so that a reader never sees half an entry: both are
    written beside it under a temporary name, the weights renamed into place first, the
    ``.xml`` (which a reader looks for) last. Jobs racing to write one entry write equal files."""
    import openvino as ov

    xml.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=xml.parent, prefix=".tmp-") as tmp:
        staged = Path(tmp) / xml.name
        ov.save_model(model, staged, compress_to_fp16=False)
        os.replace(staged.with_suffix(".bin"), xml.with_suffix(".bin"))
        os.replace(staged, xml)
    # A model's conversion is as large as its weights (170 MB for ResNet-101): keep the most
    # recently used few, as a lab predicts with one or two models at a time.
    entries = sorted(xml.parent.glob("*.xml"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[IR_CACHE_ENTRIES:]:
        old.with_suffix(".bin").unlink(missing_ok=True)
        old.unlink(missing_ok=True)


@dataclass(frozen=True)
class CpuChoice:
    """What runs the network of a CPU job, and why (one log line)."""

    runtime: str
    precision: str
    reason: str


def resolve(runtime: str, precision: str, flags: frozenset[str] | None = None) -> CpuChoice:
    """Turn the ``predict.cpu_runtime``/``cpu_precision`` settings into what this machine can do.

    ``auto`` is OpenVINO where it is installed. The precision stays fp32 unless bf16 or int8 is
    asked for: on real sheets their masks differed from fp32's by more than 0.2 % on some sheets
    (BENCHMARKS.md, "CPU predict"), and a choice made per job on its own frames would make a
    sheet's mask depend on the shard it landed in. bf16 or int8 asked for on a CPU without the
    instructions, or with the torch runtime, fall back to fp32 with the reason said.
    """
    if runtime not in CPU_RUNTIMES:
        raise ValueError(f"predict.cpu_runtime must be one of {CPU_RUNTIMES}, not {runtime!r}")
    if precision not in CPU_PRECISIONS:
        raise ValueError(
            f"predict.cpu_precision must be one of {CPU_PRECISIONS}, not {precision!r}"
        )
    ov_ok = openvino_available()
    if runtime == "openvino" and not ov_ok:
        raise RuntimeError(
            "predict.cpu_runtime is 'openvino' but the openvino package is not installed: "
            "pip install openvino, or set predict.cpu_runtime: auto"
        )
    use = "openvino" if runtime == "openvino" or (runtime == "auto" and ov_ok) else "torch"
    why = f"runtime {use}" + (
        " (openvino not installed)" if runtime == "auto" and not ov_ok else ""
    )
    if precision == "fp32":
        return CpuChoice(use, "fp32", why)
    if use == "torch":
        return CpuChoice(use, "fp32", f"{why}; {precision} runs through openvino only, fp32")
    if precision == "int8":
        if not has_int8(flags):
            return CpuChoice(
                use, "fp32", f"{why}; this CPU has no VNNI/AMX int8 instructions, fp32"
            )
        return CpuChoice(use, "int8", f"{why}; int8 (the CPU has VNNI/AMX)")
    if not has_bf16(flags):
        return CpuChoice(use, "fp32", f"{why}; this CPU has no bf16 instructions, fp32")
    return CpuChoice(use, "bf16", f"{why}; bf16 (the CPU has bf16 instructions)")


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boolean masks (pooled, for stacks), by the project's metric
    (:mod:`herbseg.measurement.metrics`: 1.0 when neither marks anything)."""
    return scores(*confusion(a, b))["iou"]


def choose_precision(
    fast: Network,
    exact: Callable[[], Network],
    frames: np.ndarray,
    *,
    threshold: float,
    min_agreement: float,
    predict: Callable[[Network, np.ndarray], np.ndarray],
) -> tuple[Network, float]:
    """Keep ``fast`` (bf16 or int8) if its mask of every one of ``frames`` agrees with
    ``exact()``'s (fp32) at ``min_agreement`` IoU or better, else the fp32 network; returns it and
    the worst frame's IoU.

    ``predict`` is the job's forward function (frames → probabilities), so the check sees what
    the job will write, padding and flips included.
    """
    if len(frames) == 0:
        return fast, float("nan")
    reference = exact()
    got, want = predict(fast, frames) >= threshold, predict(reference, frames) >= threshold
    iou = min(mask_iou(g, w) for g, w in zip(got, want))  # the worst frame: every sheet counts
    return (fast if iou >= min_agreement else reference), iou


def cpu_network(
    model: torch.nn.Module,
    *,
    runtime: str,
    precision: str,
    threads: int,
    sample: Callable[[], np.ndarray],
    threshold: float,
    min_agreement: float,
    predict: Callable[[Network, np.ndarray], np.ndarray],
    log: Callable[[str], None],
    cache_key: Callable[[], str] | None = None,
) -> Network:
    """The network a CPU job runs: ``model`` itself, or its OpenVINO compilation in the precision
    :func:`resolve` allows and :func:`choose_precision` confirms on ``sample()`` (the job's first
    frames, which also calibrate int8). Logs what was chosen and why. ``cache_key()`` (the
    weights' sha256, asked for only when OpenVINO runs: hashing ResNet-101 takes 0.3 s) lets
    every job of one model share one conversion (:class:`OpenVinoNet`)."""
    choice = resolve(runtime, precision)
    if choice.runtime == "torch":
        log(f"network on the CPU: {choice.reason}")
        return model
    key = cache_key() if cache_key is not None else None

    def openvino(precision: str, calibration: np.ndarray | None = None) -> OpenVinoNet:
        start = time.perf_counter()
        net = OpenVinoNet(model, precision, threads, calibration, cache_key=key)
        got = "read from the cache" if net.from_cache else "converted"
        log(f"OpenVINO model ({precision}) {got} in {time.perf_counter() - start:.1f} s")
        return net

    if choice.precision == "fp32":
        log(f"network on the CPU: {choice.reason}")
        return openvino("fp32")
    frames = sample()
    if not len(frames):  # nothing readable to calibrate or check on: the job writes error rows
        log(f"network on the CPU: {choice.reason}; no readable frame to check it on, fp32")
        return openvino("fp32")
    calibration = frames if choice.precision == "int8" else None
    fast = openvino(choice.precision, calibration)
    if min_agreement <= 0:
        log(f"network on the CPU: {choice.reason}; not checked against fp32 (min agreement 0)")
        return fast
    net, iou = choose_precision(
        fast,
        lambda: openvino("fp32"),
        frames,
        threshold=threshold,
        min_agreement=min_agreement,
        predict=predict,
    )
    kept = "kept" if net.precision != "fp32" else "not kept: fp32 instead"
    log(
        f"network on the CPU: {choice.reason}; {choice.precision} against fp32 masks on the "
        f"first {len(frames)} frames: worst IoU {iou:.5f} (at least {min_agreement} asked), "
        f"{choice.precision} {kept}"
    )
    return net
