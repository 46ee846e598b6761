#!/usr/bin/env bash
# Every GPU figure in BENCHMARKS.md, on a machine with one CUDA GPU (~12 min on an H100 in all;
# name steps to split it over calls with a time limit):
#   1. training speed, fp32 vs bf16 + channels_last (benchmarks/gpu_train.py);
#   2. predict throughput from memory, PNG frames and full-size JPEGs (benchmarks/gpu_predict.py);
#   3. the real Violaceae benchmark in the paper configuration at 512 (benchmarks/violaceae.py with
#      config/violaceae_paper.yaml): baseline vs scratch vs synthetic pre-training.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR [train] [predict] [violaceae]]   (default: all three)
#
# Environment: PYTHON (default python3, with torch + herbseg's requirements importable),
# HERBSEG_VIOLACEAE (the Violaceae folder: images/ and masks/; default ../shared/data/violaceae),
# VIOLACEAE_REGISTERED (a cached violaceae_register.py output to reuse; optional),
# WORK (scratch space for the benchmark's models and checkpoints; default /dev/shm).
# Each step has its own time limit, so one failing step still leaves the others' figures.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-benchmarks/results}
shift || true
steps=" ${*:-train predict violaceae} "
py=${PYTHON:-python3}
work=${WORK:-/dev/shm}/herbseg_violaceae
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

nvidia-smi -L || true
"$py" -c "import torch, segmentation_models_pytorch as smp; print('torch', torch.__version__, \
'smp', smp.__version__, 'cuda', torch.cuda.is_available())"

if [[ $steps == *" train "* ]]; then
    echo "== training speed (~2.5 min: cuDNN's kernel search makes epoch 1 slow)"
    timeout 240 "$py" benchmarks/gpu_train.py --probe --out "$out/gpu_train.txt" \
        || echo "gpu_train failed: $?"
fi

if [[ $steps == *" predict "* ]]; then
    echo "== predict throughput (~2.5 min)"
    timeout 200 "$py" benchmarks/gpu_predict.py --n 192 --out "$out/gpu_predict.txt" \
        || echo "gpu_predict failed: $?"
fi

[[ $steps == *" violaceae "* ]] || exit 0
echo "== Violaceae, paper configuration (~8 min)"
rm -rf "$work" && mkdir -p "$work"
if [ -n "${VIOLACEAE_REGISTERED:-}" ]; then cp -r "$VIOLACEAE_REGISTERED" "$work/registered"; fi
timeout 560 "$py" benchmarks/violaceae.py \
    --config config/violaceae.yaml config/violaceae_paper.yaml \
    --out "$work/benchmark" --synth-sheets 120 --synth-epochs 15 --threads "$(nproc)" \
    >"$out/violaceae_paper_log.txt" 2>&1 || echo "violaceae failed: $?"
tail -25 "$out/violaceae_paper_log.txt"
for f in results.md results.csv per_sheet.csv; do
    cp "$work/benchmark/$f" "$out/violaceae_paper_$f" 2>/dev/null || true
done
