#!/usr/bin/env bash
# Start a one-node SLURM cluster (munge + slurmctld + slurmd) on this machine from Debian's
# packages, without systemd, for the SLURM end-to-end test (tests/test_slurm_e2e.py) and for
# trying profiles/slurm on a laptop. Needs root (apt-get, /etc/slurm, daemons).
#
# Idempotent: while the cluster is up it only re-checks it (well under a second).
# Never fails the caller by default: when SLURM cannot be started (not root, no apt, no
# network, a foreign /etc/slurm/slurm.conf ...) it says why and exits 0, and the SLURM test
# skips. Pass --strict (or LOCAL_SLURM_STRICT=1) to exit 1 instead.
#
#   LOCAL_SLURM_DIR   state dir: spool, logs, PID files (default /tmp/local-slurm)
#   LOCAL_SLURM_MEM   node RealMemory in MB (default 85% of MemTotal)
#
# Stop with tools/local_slurm_stop.sh (stops only the daemons started here, by recorded PID).
set -uo pipefail

STATE=${LOCAL_SLURM_DIR:-/tmp/local-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# managed by painmrs tools/local_slurm.sh"
STRICT=${LOCAL_SLURM_STRICT:-0}
[ "${1:-}" = --strict ] && STRICT=1
log() { echo "[local_slurm] $*" >&2; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
node_ready() {
    case "$(sinfo -h -n localhost -o %T 2>/dev/null)" in
        idle* | mixed* | allocated* | completing*) return 0 ;;
    esac
    return 1
}

gen_conf() {
    local cpus mem
    # Not plain nproc: it obeys OMP_NUM_THREADS, which tools/venv.sh sets to 1 for BLAS, and a
    # 1-CPU node leaves every 2-CPU job pending forever (PartitionConfig).
    cpus=$(getconf _NPROCESSORS_ONLN)
    mem=${LOCAL_SLURM_MEM:-$(awk '/MemTotal/ {printf "%d", $2/1024*0.85}' /proc/meminfo)}
    cat <<CONF_EOF
$MARK
ClusterName=localci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/log/jobcomp.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=300
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF_EOF
}

start_cluster() {
    if [ "$(id -u)" -ne 0 ]; then
        log "not root: cannot install or start SLURM"
        return 1
    fi

    # 1. packages (6 Debian packages, about 8 MB) ---------------------------------------
    if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
        || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
        command -v apt-get >/dev/null || { log "no apt-get: install slurmctld slurmd slurm-client munge yourself"; return 1; }
        log "installing slurmctld slurmd slurm-client munge"
        timeout 300 apt-get update -qq || { log "apt-get update failed"; return 1; }
        DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends \
            slurmctld slurmd slurm-client munge >/dev/null || { log "apt-get install failed"; return 1; }
    fi
    mkdir -p "$STATE"/{spool/ctld,spool/d,log} /etc/slurm || return 1

    # 2. munge (authentication between the SLURM commands and daemons) ----------------------
    if [ ! -s /etc/munge/munge.key ]; then
        log "creating munge key"
        mkdir -p /etc/munge
        mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
            || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    chmod 0755 /run/munge
    if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        log "starting munged"
        runuser -u munge -- /usr/sbin/munged --force || { log "munged did not start"; return 1; }
        for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
        # remember that we started it, so that local_slurm_stop.sh may stop it
        cp /run/munge/munged.pid "$STATE/munged.pid"
    fi
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 || { log "munge does not work"; return 1; }

    # 3. slurm.conf: one node, one partition "debug"; no accounting database (the profile
    #    polls with squeue, and MinJobAge keeps finished jobs visible to it for 5 minutes).
    #    jobcomp/filetxt makes slurmctld append every finished job (id, name, state, node,
    #    times) to $STATE/log/jobcomp.log: the end-to-end test proves from it that each job
    #    of a long run really ran and COMPLETED under SLURM, after squeue has forgotten it. ---
    if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        log "$CONF exists and was not written by this script; not touching it"
        return 1
    fi
    local new_conf
    new_conf=$(gen_conf)
    if [ ! -e "$CONF" ] || [ "$(cat "$CONF")" != "$new_conf" ]; then
        if alive "$STATE/slurmctld.pid" || alive "$STATE/slurmd.pid"; then
            log "slurm.conf changes: restarting the daemons started here"
            bash "$(dirname "$0")/local_slurm_stop.sh" --daemons-only
        fi
        printf '%s\n' "$new_conf" >"$CONF"
    fi

    # 4. daemons --------------------------------------------------------------------------
    if ! alive "$STATE/slurmctld.pid"; then
        log "starting slurmctld"
        slurmctld -c || { log "slurmctld did not start"; return 1; }   # -c: clean job state
    fi
    for _ in $(seq 50); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
    scontrol ping 2>/dev/null | grep -q UP \
        || { log "slurmctld does not answer"; tail -20 "$STATE/log/slurmctld.log" >&2; return 1; }
    if ! alive "$STATE/slurmd.pid"; then
        log "starting slurmd"
        slurmd -N localhost || { log "slurmd did not start"; return 1; }  # name from slurm.conf
    fi

    # 5. wait for the node; resume it if it came up drained/down ----------------------------
    for _ in $(seq 100); do
        node_ready && break
        case "$(sinfo -h -n localhost -o %T 2>/dev/null)" in
            drain* | down*) scontrol update NodeName=localhost State=RESUME 2>/dev/null ;;
        esac
        sleep 0.2
    done
    node_ready || { log "node not ready: $(sinfo -h -n localhost -o '%T %E' 2>&1)"; return 1; }

    # 6. smoke test: a one-task job really runs ---------------------------------------------
    local out
    out=$(timeout 60 srun -t 1 -N1 -n1 echo srun-ok 2>/dev/null)
    [ "$out" = srun-ok ] || { log "srun smoke test failed"; return 1; }
    return 0
}

# Fast path: a cluster already answers with a usable node (idempotent re-run from CI).
# (With a changed slurm.conf, e.g. another LOCAL_SLURM_MEM, fall through and restart.)
if command -v scontrol >/dev/null && scontrol ping 2>/dev/null | grep -q UP && node_ready \
    && { ! grep -qsF "$MARK" "$CONF" || [ "$(cat "$CONF")" = "$(gen_conf)" ]; }; then
    log "already up: $(sinfo -h -o '%P %a %D %T %N %c CPUs %m MB')"
    exit 0
fi
if start_cluster; then
    log "up: $(sinfo -h -o '%P %a %D %T %N %c CPUs %m MB')"
    exit 0
fi
log "SLURM is NOT available; tests marked 'slurm' will be skipped"
[ "$STRICT" = 1 ] && exit 1
exit 0
