#!/usr/bin/env bash
# `make demo` from a fresh clone with the virtual environment already built (issue floor: < 10 min
# on a 2-core machine), then the demo's headline figures against the generator's truth.
# Run: bash benchmarks/demo.sh            (writes benchmarks/results/demo.txt)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/herbseg-demo-XXXX)
git clone -q "$repo" "$work/herbseg"
ln -s "$repo/.venv" "$work/herbseg/.venv"
cd "$work/herbseg"
# The venv is shared: keep make from re-installing herbseg into it from this clone (which would
# re-point the editable install here), and run this clone's code through PYTHONPATH instead.
touch -d "2000-01-01" requirements.txt requirements.lock pyproject.toml
export PYTHONPATH="$work/herbseg/src"
start=$(date +%s)
make demo > "$work/demo.log" 2>&1
end=$(date +%s)
mkdir -p "$repo/benchmarks/results"
{
  echo "make demo from a fresh clone (venv prebuilt): $((end - start)) s wall, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "commit $(git rev-parse --short HEAD), $(nproc) cores"
  tail -n 8 "$work/demo.log"
  echo
  echo "per-rule wall seconds (Snakemake benchmark files):"
  for f in $(find demo/results/benchmarks -name '*.tsv' | sort); do
    printf '  %-40s %s\n' "${f#demo/results/benchmarks/}" "$(tail -n 1 "$f" | cut -f1)"
  done
} | tee "$repo/benchmarks/results/demo.txt"
