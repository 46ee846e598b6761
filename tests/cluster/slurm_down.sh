#!/usr/bin/env bash
# Stop the single-node SLURM that tests/cluster/slurm_up.sh started: cancel its jobs, stop
# slurmd and slurmctld by their pid files (and munge, when slurm_up.sh started it), remove the
# /etc/slurm/slurm.conf link it made, and remove $HERBSEG_SLURM_DIR (default /tmp/herbseg-slurm)
# unless HERBSEG_SLURM_KEEP=1.
set -euo pipefail

STATE="${HERBSEG_SLURM_DIR:-/tmp/herbseg-slurm}"
export SLURM_CONF="$STATE/etc/slurm.conf"

stop_pidfile() {
  local pidfile="$1" pid
  [[ -s "$pidfile" ]] || return 0
  pid="$(cat "$pidfile")"
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -9 "$pid" 2>/dev/null || true
}

if [[ -f "$SLURM_CONF" ]]; then
  scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
fi
stop_pidfile "$STATE/slurmd.pid"
stop_pidfile "$STATE/slurmctld.pid"
if [[ "$(readlink /etc/slurm/slurm.conf 2>/dev/null || true)" == "$SLURM_CONF" ]]; then
  rm -f /etc/slurm/slurm.conf
fi
if [[ -f "$STATE/munge.started" ]]; then
  /etc/init.d/munge stop >/dev/null 2>&1 || true
fi
if [[ "${HERBSEG_SLURM_KEEP:-0}" != 1 ]]; then
  rm -rf "$STATE"
fi
echo "slurm_down: stopped" >&2
