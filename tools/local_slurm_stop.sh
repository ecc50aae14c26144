#!/usr/bin/env bash
# Stop the one-node cluster started by tools/local_slurm.sh: cancel its jobs, then stop
# slurmd, slurmctld and (only if local_slurm.sh started it) munged, each by its recorded PID.
#   --daemons-only  stop slurmd and slurmctld only (used when slurm.conf changes)
#   --purge         also remove the state dir and the managed /etc/slurm/slurm.conf
set -uo pipefail
STATE=${LOCAL_SLURM_DIR:-/tmp/local-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# managed by painmrs tools/local_slurm.sh"
log() { echo "[local_slurm_stop] $*" >&2; }

stop_pidfile() { # name pidfile
    local name=$1 pf=$2 pid
    [ -s "$pf" ] || return 0
    pid=$(cat "$pf")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name ($pid) still alive, SIGKILL"
            kill -KILL "$pid"
        fi
        log "$name ($pid) stopped"
    fi
    rm -f "$pf"
}

if [ -s "$STATE/slurmctld.pid" ] && kill -0 "$(cat "$STATE/slurmctld.pid")" 2>/dev/null; then
    jobs=$(squeue -h -o %i 2>/dev/null || true)
    if [ -n "$jobs" ]; then
        log "cancelling jobs: $(echo $jobs)"
        scancel $jobs 2>/dev/null || true
        for _ in $(seq 50); do [ -z "$(squeue -h -t R,CG -o %i 2>/dev/null)" ] && break; sleep 0.2; done
    fi
fi
stop_pidfile slurmd "$STATE/slurmd.pid"
stop_pidfile slurmctld "$STATE/slurmctld.pid"
[ "${1:-}" = --daemons-only ] && exit 0
if [ -s "$STATE/munged.pid" ] && [ -s /run/munge/munged.pid ] \
    && [ "$(cat "$STATE/munged.pid")" = "$(cat /run/munge/munged.pid)" ]; then
    stop_pidfile munged "$STATE/munged.pid"
elif [ -s /run/munge/munged.pid ] && kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null; then
    log "munged was not started by local_slurm.sh: leaving it running"
fi
if [ "${1:-}" = --purge ]; then
    if grep -qsF "$MARK" "$CONF"; then
        rm -f "$CONF"
        log "removed $CONF"
    fi
    if [ -d "$STATE/spool/ctld" ]; then # only a directory that looks like ours
        rm -rf "$STATE"
        log "removed $STATE"
    fi
fi
exit 0
