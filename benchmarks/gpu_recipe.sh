#!/usr/bin/env bash
# The real-sheet model (issue 14) on one CUDA GPU: the documented GPU training command, timed from
# a clean folder, its model brought back in parts under 16 MB, then the recipe's predict path
# (flips averaged, thin parts from tiles) on the annotated Violaceae sheets on the GPU and on the
# CPUs, side by side. Extra arguments are variants: each is a string of extra
# benchmarks/violaceae_recipe.py arguments, trained after the documented command, on the same GPU.
#
#   bash benchmarks/gpu_recipe.sh OUT_DIR ["--epochs 36" ...]
#
# Environment: PYTHON (default python3, with torch + herbseg's requirements importable),
# HERBSEG_VIOLACEAE (the Violaceae folder: images/ and masks/; default ../shared/data/violaceae),
# WORK (scratch space; default /dev/shm), DEVICE (default cuda; cpu to try the script out),
# STEP_TIMEOUT (seconds per training; default 300), RECIPE_ARGS (arguments for every training, e.g.
# "--epochs 1" to try the script out on a CPU), VARIANTS_ONLY=1 (train the variants alone: no
# documented command, no predict timing).
# Every model's parts: OUT_DIR/runN.tar.NN (cat them, then tar -x: runN.log, runN/model,
# runN/final/history.csv).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: gpu_recipe.sh OUT_DIR [VARIANT_ARGS ...]}
shift
py=${PYTHON:-python3}
device=${DEVICE:-cuda}
work=${WORK:-/dev/shm}/herbseg_gpu_recipe
threads=$(nproc)
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$out"
rm -rf "$work" && mkdir -p "$work"
summary="$out/summary.txt"

nvidia-smi -L || true
"$py" -c "import torch, segmentation_models_pytorch as smp, albumentations as A; print('torch', \
torch.__version__, 'smp', smp.__version__, 'albumentations', A.__version__, 'cuda', \
torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" \
    | tee "$summary"
echo "CPUs: $threads" | tee -a "$summary"

# the documented GPU command (README)
cfg=(config/violaceae.yaml config/violaceae_recipe.yaml config/violaceae_recipe_gpu.yaml)
i=0
for variant in "" "$@"; do
    name=run$i
    i=$((i + 1))
    [ -z "$variant" ] && [ "${VARIANTS_ONLY:-0}" = 1 ] && continue
    t0=$(date +%s%N)
    # the first training registers the Violaceae masks (cached in $work/registered for the rest)
    # shellcheck disable=SC2086
    timeout "${STEP_TIMEOUT:-300}" "$py" benchmarks/violaceae_recipe.py --folds 0 \
        --device "$device" --threads "$threads" --config "${cfg[@]}" --out "$work/$name" \
        ${RECIPE_ARGS:-} $variant >"$work/$name.log" 2>&1
    rc=$?
    t1=$(date +%s%N)
    echo "$name [${variant:-documented command}]: exit $rc, wall $(((t1 - t0) / 1000000000)) s" \
        | tee -a "$summary"
    grep -E "registered|epoch .*/|stopped|real-sheet model" "$work/$name.log" | tail -4 \
        | cut -c1-400 | tee -a "$summary"
    if [ -d "$work/$name/model" ]; then
        tar -C "$work" -cf - "$name.log" "$name/model" "$name/final/history.csv" 2>/dev/null \
            | split -b 16000000 -d - "$out/$name.tar."
    else
        cp "$work/$name.log" "$out/$name.log"
    fi
done

# the recipe's predict path with run0's model, on the GPU and then on every CPU core
[ -d "$work/run0/model" ] || exit 0
# the annotated sheets, as the recipe pairs them (HERBSEG_VIOLACEAE or ../shared)
keep=$(PYTHONPATH="$PWD/benchmarks:$PYTHONPATH" "$py" -c "from violaceae_register import \
annotated_pairs as pairs; print(*(sheet for _, sheet, _ in pairs()), sep='\n')")
n=$(echo "$keep" | wc -l)
for dev in "$device" cpu; do
    t0=$(date +%s%N)
    # shellcheck disable=SC2086
    timeout 120 "$py" -m herbseg.cli predict $keep --model "$work/run0/model" \
        --config config/config.yaml --config config/violaceae.yaml \
        --config config/violaceae_recipe.yaml --out "$work/predict_$dev" --device "$dev" \
        --threads "$threads" >"$work/predict_$dev.log" 2>&1
    rc=$?
    t1=$(date +%s%N)
    echo "predict $n annotated sheets on $dev (flips, thin parts from tiles): exit $rc," \
        "$(((t1 - t0) / n / 1000000)) ms a sheet (start-up included)" \
        | tee -a "$summary"
    tail -2 "$work/predict_$dev.log" | cut -c1-300 >>"$summary"
done
