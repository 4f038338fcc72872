#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for the SLURM test (tests/e2e/test_slurm.py) and for trying the
# profile by hand:  .ci/slurm.sh install | start | stop | status
# munge + slurmctld + slurmd, no accounting database (run snakemake with --slurm-status-command squeue);
# completed jobs are recorded in $SLURM_HOME/log/jobcomp.txt. Every state, log and pid file lives under
# $SLURM_HOME (default /tmp/cscniche-slurm) except /etc/slurm/slurm.conf and /run/munge. Daemons run as root
# and are stopped by the PIDs this script recorded. Notes: ../shared/notes/slurm-single-node.md.
set -euo pipefail
B=${SLURM_HOME:-/tmp/cscniche-slurm}
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

install() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && return 0
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q munge slurmctld slurmd slurm-client
}

config() {
  local cpus mem
  cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # the machine's cores: nproc reads OpenMP's limits
  mem=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) * 8 / 10 ))
  cat <<CONF
ClusterName=cscniche
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$B/state/ctld
SlurmdSpoolDir=$B/state/d
SlurmctldPidFile=$B/run/slurmctld.pid
SlurmdPidFile=$B/run/slurmd.pid
SlurmctldLogFile=$B/log/slurmctld.log
SlurmdLogFile=$B/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$B/log/jobcomp.txt
SlurmctldDebug=info
SlurmdDebug=info
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
}

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
  mkdir -p "$B/state/ctld" "$B/state/d" "$B/log" "$B/run"
  $SUDO mkdir -p /run/munge /etc/slurm
  $SUDO chown munge:munge /run/munge
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    $SUDO runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
    cp /run/munge/munged.pid "$B/run/munged.pid" 2>/dev/null || true
  fi
  config | $SUDO tee /etc/slurm/slurm.conf >/dev/null
  alive "$B/run/slurmctld.pid" || $SUDO /usr/sbin/slurmctld
  alive "$B/run/slurmd.pid" || $SUDO /usr/sbin/slurmd -N localhost
  for _ in $(seq 100); do sinfo -h -o %t 2>/dev/null | grep -qx idle && break; sleep 0.3; done
  sinfo -h -o %t | grep -qx idle || { echo "SLURM node did not become idle; see $B/log" >&2; exit 1; }
  # a controller left running elsewhere on this machine holds the port: this one then exits at once
  sleep 1
  alive "$B/run/slurmctld.pid" || {
    echo "slurmctld did not stay up (another SLURM controller on this machine?); see $B/log/slurmctld.log" >&2
    exit 1
  }
  sinfo
}

stop() {
  scancel --user="$(id -un)" 2>/dev/null || true
  for pidfile in "$B/run/slurmd.pid" "$B/run/slurmctld.pid" "$B/run/munged.pid"; do
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    $SUDO kill "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { echo "pid $pid ($pidfile) did not exit, sending KILL"; $SUDO kill -9 "$pid"; }
    rm -f "$pidfile"
  done
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) sinfo && squeue --states=all ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
