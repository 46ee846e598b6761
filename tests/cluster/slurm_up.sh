#!/usr/bin/env bash
# Start a real single-node SLURM on this machine, from Debian's packages, for herbseg's cluster
# test (tests/test_slurm.py). Needs root; installs slurmctld, slurmd, slurm-client and munge
# with apt-get when they are missing.
#
#   sudo tests/cluster/slurm_up.sh          # prints `export SLURM_CONF=…` on its last line
#   tests/cluster/slurm_down.sh             # stops what this started
#
# Everything it writes is under $HERBSEG_SLURM_DIR (default /tmp/herbseg-slurm): slurm.conf,
# gres.conf, the daemons' state, logs and pid files, and jobcomp.log (one line per finished job).
# /etc/slurm/slurm.conf becomes a link to that slurm.conf (and slurm_down.sh removes it): inside a
# job, Snakemake's jobstep drops $SLURM_CONF before it calls srun, so srun needs the default path.
# A real /etc/slurm/slurm.conf (a file, or a link elsewhere) is never replaced: it stops here.
# Partitions: $HERBSEG_SLURM_PARTITION (default herbseg) and $HERBSEG_SLURM_GPU_PARTITION
# (default herbseg-gpu), both on the one node, which has one fake GPU (gres gpu:1, /dev/null).
# Running it again while the cluster is up only checks that the node is idle.
#
# Exit status: 0 up; 2 not root; 3 packages missing and not installable; 4 did not come up
# (or a real /etc/slurm/slurm.conf is in the way).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${HERBSEG_SLURM_DIR:-/tmp/herbseg-slurm}"
PARTITION="${HERBSEG_SLURM_PARTITION:-herbseg}"
GPU_PARTITION="${HERBSEG_SLURM_GPU_PARTITION:-herbseg-gpu}"
CTLD_PORT="${HERBSEG_SLURM_CTLD_PORT:-6817}"
SLURMD_PORT="${HERBSEG_SLURM_SLURMD_PORT:-6818}"
export SLURM_CONF="$STATE/etc/slurm.conf"

say() { echo "slurm_up: $*" >&2; }
# A failing command names itself (set -e alone would exit 1 without a word).
trap 'say "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

if [[ "$(id -u)" -ne 0 ]]; then
  say "needs root (the daemons run as root and packages may need installing)"
  exit 2
fi

# --- packages ---------------------------------------------------------------------------------
need=()
for cmd in slurmctld slurmd sbatch munged; do
  command -v "$cmd" >/dev/null 2>&1 || need+=("$cmd")
done
if ((${#need[@]})); then
  say "installing slurmctld slurmd slurm-client munge (missing: ${need[*]})"
  if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      slurmctld slurmd slurm-client munge; } >"${TMPDIR:-/tmp}/herbseg-slurm-apt.log" 2>&1; then
    say "apt-get failed; see ${TMPDIR:-/tmp}/herbseg-slurm-apt.log"
    exit 3
  fi
fi

# --- munge (no systemd here: its init script) -------------------------------------------------
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  if [[ ! -s /etc/munge/munge.key ]]; then
    say "creating /etc/munge/munge.key"
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
  fi
  mkdir -p "$STATE"
  /etc/init.d/munge start >/dev/null
  touch "$STATE/munge.started" # slurm_down.sh stops munge only when this script started it
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
    sleep 0.1
  done
fi

node_state() { sinfo -h -N -o %t 2>/dev/null | head -n1 | tr -d '*~#!%$@^-'; }

# --- already up? ------------------------------------------------------------------------------
if [[ -f "$SLURM_CONF" ]] && scontrol ping >/dev/null 2>&1 && [[ "$(node_state)" =~ ^(idle|mix|alloc)$ ]]; then
  say "already up ($(node_state))"
  echo "export SLURM_CONF=$SLURM_CONF"
  exit 0
fi

# --- configuration ----------------------------------------------------------------------------
host="$(hostname -s)"
read -r cpus mem_mb < <(slurmd -C | awk '/^NodeName/ {
  for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
  print v["CPUs"], v["RealMemory"] }')
# a little less memory than the node has: slurmd marks a node invalid that has less than this
mem_mb=$((mem_mb * 95 / 100))
mkdir -p "$STATE/etc" "$STATE/ctld" "$STATE/d"
fill() {
  sed -e "s|@HOST@|$host|g" -e "s|@STATE@|$STATE|g" -e "s|@CPUS@|$cpus|g" \
    -e "s|@MEM_MB@|$mem_mb|g" -e "s|@PARTITION@|$PARTITION|g" \
    -e "s|@GPU_PARTITION@|$GPU_PARTITION|g" -e "s|@CTLD_PORT@|$CTLD_PORT|g" \
    -e "s|@SLURMD_PORT@|$SLURMD_PORT|g" "$1"
}
fill "$HERE/slurm.conf.in" >"$SLURM_CONF"
fill "$HERE/gres.conf.in" >"$STATE/etc/gres.conf"
mkdir -p /etc/slurm
if [[ -e /etc/slurm/slurm.conf || -L /etc/slurm/slurm.conf ]] \
  && [[ "$(readlink /etc/slurm/slurm.conf || true)" != "$SLURM_CONF" ]]; then
  say "/etc/slurm/slurm.conf exists and is not this test cluster's: not replacing it"
  exit 4
fi
ln -sfn "$SLURM_CONF" /etc/slurm/slurm.conf

# --- daemons ----------------------------------------------------------------------------------
started=$SECONDS
# -c: a clean start (no jobs or node state from an earlier cluster in $STATE)
if ! slurmctld -c -f "$SLURM_CONF"; then
  say "slurmctld did not start (an earlier one still stopping?); its log:"
  tail -n 30 "$STATE/slurmctld.log" >&2 || true
  exit 4
fi
for _ in $(seq 100); do
  scontrol ping >/dev/null 2>&1 && break
  sleep 0.2
done
if ! scontrol ping >/dev/null 2>&1; then
  say "slurmctld did not answer; its log:"
  tail -n 30 "$STATE/slurmctld.log" >&2 || true
  exit 4
fi
if ! slurmd -f "$SLURM_CONF"; then
  say "slurmd did not start; its log:"
  tail -n 30 "$STATE/slurmd.log" >&2 || true
  exit 4
fi
state=""
for _ in $(seq 120); do
  state="$(node_state)"
  [[ "$state" == idle ]] && break
  if [[ "$state" =~ ^(down|drain|drng|inval|fail)$ ]]; then
    scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
  fi
  sleep 0.5
done
if [[ "$state" != idle ]]; then
  say "node $host is '$state', not idle; the logs:"
  tail -n 20 "$STATE/slurmctld.log" "$STATE/slurmd.log" >&2 || true
  exit 4
fi
say "up in $((SECONDS - started)) s: node $host ($cpus CPUs, $mem_mb MB, 1 fake GPU)," \
  "partitions $PARTITION (default) and $GPU_PARTITION"
echo "export SLURM_CONF=$SLURM_CONF"
