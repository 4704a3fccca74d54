#!/usr/bin/env bash
# Single-node throwaway Slurm cluster for mmrun tests.
#
#   test/slurm/cluster.sh up       install (if needed), configure, start, wait for idle node
#   test/slurm/cluster.sh status   show daemons / sinfo / squeue
#   test/slurm/cluster.sh down     cancel jobs, stop only the daemons `up` started, drop state
#   test/slurm/cluster.sh down --purge   ... and delete the whole private directory
#   test/slurm/cluster.sh env      print the export line clients need
#
# Everything (config, state, spool, logs, pid files, munge socket) lives in
# $MMRUN_SLURM_DIR (default /tmp/mmrun-slurm). Clients only need
#   export SLURM_CONF=$MMRUN_SLURM_DIR/etc/slurm.conf
# (also written to $MMRUN_SLURM_DIR/env.sh). The munge socket path is carried
# in slurm.conf (AuthInfo=socket=...), so no other variable is needed.
#
# Must run as root (installs packages, runs slurmd). No systemd required.
# Tunables (env): MMRUN_SLURM_DIR, MMRUN_SLURM_CPUS (2), MMRUN_SLURM_MEM_MB
# (auto), MMRUN_SLURMCTLD_PORT (6817), MMRUN_SLURMD_PORT (6818),
# MMRUN_SLURM_KILLWAIT (30), MMRUN_SLURM_UP_TIMEOUT (60),
# MMRUN_SLURM_CRED_EXPIRE (5 = minimum; requeue delay), MMRUN_SLURM_SCHED_INTERVAL (2),
# MMRUN_SLURM_PROCTRACK (proctrack/pgid; or proctrack/linuxproc).
set -euo pipefail

DIR="${MMRUN_SLURM_DIR:-/tmp/mmrun-slurm}"
CPUS="${MMRUN_SLURM_CPUS:-2}"
CTLD_PORT="${MMRUN_SLURMCTLD_PORT:-6817}"
SLURMD_PORT="${MMRUN_SLURMD_PORT:-6818}"
KILLWAIT="${MMRUN_SLURM_KILLWAIT:-30}"
UP_TIMEOUT="${MMRUN_SLURM_UP_TIMEOUT:-60}"
CRED_EXPIRE="${MMRUN_SLURM_CRED_EXPIRE:-5}"
SCHED_INTERVAL="${MMRUN_SLURM_SCHED_INTERVAL:-2}"
PROCTRACK="${MMRUN_SLURM_PROCTRACK:-proctrack/pgid}"
MUNGE_KEY=/etc/munge/munge.key

ETC="$DIR/etc"
CONF="$ETC/slurm.conf"
RUN="$DIR/run"      # pid files of daemons we started
LOG="$DIR/log"
STATE="$DIR/state"  # StateSaveLocation
SPOOL="$DIR/spool"  # SlurmdSpoolDir
MUNGE_DIR="$DIR/munge"
MUNGE_SOCK="$MUNGE_DIR/munge.socket"

log() { printf '[slurm-cluster] %s\n' "$*" >&2; }
die() { printf '[slurm-cluster] ERROR: %s\n' "$*" >&2; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (installs packages, runs slurmd)"; }

host_short() { hostname -s; }

pid_alive() { # pid_alive <name>: true if $RUN/<name>.pid holds a live process with the right comm
  local f="$RUN/$1.pid" pid comm
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  [ -d "/proc/$pid" ] || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
  [ "$comm" = "$1" ]
}

port_busy() { # port_busy <port>
  # /proc/net/tcp{,6}: local_address column is hex ip:port; state 0A = LISTEN
  local hex; hex=$(printf '%04X' "$1")
  awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" {found=1} END {exit !found}' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

export_line() { printf 'export SLURM_CONF=%s\n' "$CONF"; }

install_pkgs() {
  # daemons live in /usr/sbin, which may not be on PATH for non-login shells
  export PATH="$PATH:/usr/sbin:/sbin"
  local b missing=()
  for b in munged munge unmunge slurmctld slurmd sbatch sinfo squeue scontrol scancel; do
    command -v "$b" >/dev/null 2>&1 || missing+=("$b")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing slurm-wlm + munge via apt (missing: ${missing[*]})"
    local t0=$SECONDS
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null || die "apt-get update failed"
    # --no-install-recommends: recommends pull ~30 extra packages (mail, docs) we don't need.
    # Package postinsts try to start services; /usr/sbin/policy-rc.d (exit 101) or the
    # absence of systemd prevents that; we start our own daemons below anyway.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null \
      || die "apt-get install slurm-wlm munge failed"
    log "installed in $((SECONDS - t0))s"
  fi
  for b in munged slurmctld slurmd sbatch sinfo scontrol; do
    command -v "$b" >/dev/null || die "$b not found after install"
  done
}

ensure_munge_key() {
  id munge >/dev/null 2>&1 || die "user 'munge' missing (munge package not installed correctly?)"
  if [ ! -s "$MUNGE_KEY" ]; then
    log "creating munge key $MUNGE_KEY"
    install -d -o munge -g munge -m 0700 /etc/munge
    if command -v mungekey >/dev/null; then
      mungekey --create --keyfile="$MUNGE_KEY" --force
    else
      dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
    fi
  fi
  # munged refuses keys that are group/world readable or not owned by its user
  chown munge:munge "$MUNGE_KEY"
  chmod 0400 "$MUNGE_KEY"
}

detect_mem_mb() {
  if [ -n "${MMRUN_SLURM_MEM_MB:-}" ]; then echo "$MMRUN_SLURM_MEM_MB"; return; fi
  # RealMemory must not exceed what slurmd detects, or the node is drained
  # ("Low RealMemory"). Use 80% of MemTotal, capped at 4096 MB.
  local kb mb
  kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
  mb=$((kb * 8 / 10 / 1024))
  [ "$mb" -gt 4096 ] && mb=4096
  [ "$mb" -lt 256 ] && mb=256
  echo "$mb"
}

write_config() {
  local host mem
  host=$(host_short)
  mem=$(detect_mem_mb)
  # fresh start: keep the previous run's logs in log.prev for debugging
  if [ -d "$LOG" ]; then rm -rf "$LOG.prev"; mv "$LOG" "$LOG.prev"; fi
  mkdir -p "$ETC" "$RUN" "$LOG" "$STATE" "$SPOOL"
  chmod 0755 "$DIR" "$ETC"
  cat >"$CONF" <<EOF
# Generated by test/slurm/cluster.sh -- single-node test cluster for mmrun.
ClusterName=mmrun
SlurmctldHost=${host}(127.0.0.1)
SlurmctldPort=${CTLD_PORT}
SlurmdPort=${SLURMD_PORT}
SlurmUser=root
SlurmdUser=root

# munge with a private socket so we never collide with a system munged
AuthType=auth/munge
CredType=cred/munge
# cred_expire also sets how long a requeued job must wait before it may start
# again (Slurm default 120 s); shortened so requeue tests don't take minutes.
AuthInfo=socket=${MUNGE_SOCK},cred_expire=${CRED_EXPIRE}

# No systemd / no cgroup delegation needed. pgid (not linuxproc): linuxproc loses
# children whose parent (the batch shell) already exited, leaving orphans running
# after the job ended; pgid signals the whole process group of the batch script.
ProctrackType=${PROCTRACK}
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# Completed-job records (one line per job) readable without slurmdbd
JobCompType=jobcomp/filetxt
JobCompLoc=${LOG}/jobcomp.log
MpiDefault=none
# mailutils is not installed (no-install-recommends); silence "Configured MailProg is invalid"
MailProg=/bin/true

# Per-CPU scheduling so two 1-CPU array tasks run side by side
SchedulerType=sched/backfill
# Defaults are sched_interval=60, bf_interval=30: a job whose BeginTime passed
# (e.g. a requeued one) waits for the next periodic pass. Poll faster.
SchedulerParameters=sched_interval=${SCHED_INTERVAL},bf_interval=${SCHED_INTERVAL}
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU

# Requeue support (jobs are requeueable by default; scontrol requeue works)
JobRequeue=1
# Node comes back by itself after a slurmd restart
ReturnToService=2
# Trust the NodeName line below even if hardware detection differs (e.g. 1-CPU CI box)
SlurmdParameters=config_overrides
KillWait=${KILLWAIT}
# Keep finished jobs visible to 'scontrol show job' for 5 min (default 300)
MinJobAge=300

StateSaveLocation=${STATE}
SlurmdSpoolDir=${SPOOL}
SlurmctldPidFile=${RUN}/slurmctld.daemonpid
SlurmdPidFile=${RUN}/slurmd.daemonpid
SlurmctldLogFile=${LOG}/slurmctld.log
SlurmdLogFile=${LOG}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info

NodeName=${host} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${mem} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF
  chmod 0644 "$CONF"
  export_line >"$DIR/env.sh"
}

start_munged() {
  if pid_alive munged; then log "munged already running (pid $(cat "$RUN/munged.pid"))"; return; fi
  install -d -o munge -g munge -m 0755 "$MUNGE_DIR"  # munged requires o+x on the socket dir
  rm -f "$MUNGE_SOCK" "$MUNGE_SOCK.lock"
  log "starting munged (socket $MUNGE_SOCK)"
  # run as the munge user (like the packaged unit); -F keeps it in the foreground so $! is its pid
  setsid runuser -u munge -- munged -F \
    --socket="$MUNGE_SOCK" --key-file="$MUNGE_KEY" \
    --pid-file="$MUNGE_DIR/munged.pid" --log-file="$MUNGE_DIR/munged.log" \
    --seed-file="$MUNGE_DIR/munged.seed" \
    </dev/null >>"$LOG/munged.out" 2>&1 9>&- &  # 9>&-: don't leak the up/down lock to daemons
  local launcher=$!
  # runuser forks; find the real munged (child of runuser) for the pid file
  local i pid=""
  for i in $(seq 1 50); do
    if [ -S "$MUNGE_SOCK" ]; then
      pid=$(pgrep -P "$launcher" -x munged || true)
      [ -n "$pid" ] || pid=$(cat "$MUNGE_DIR/munged.pid" 2>/dev/null || true)
      [ -n "$pid" ] && break
    fi
    kill -0 "$launcher" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$pid" ] || { tail -n 20 "$LOG/munged.out" "$MUNGE_DIR/munged.log" 2>/dev/null >&2 || true; die "munged did not start"; }
  echo "$pid" >"$RUN/munged.pid"
  echo "$launcher" >"$RUN/munged.launcher.pid"
  # sanity check: a credential round-trip through our socket
  munge -S "$MUNGE_SOCK" -n </dev/null | unmunge -S "$MUNGE_SOCK" >/dev/null \
    || die "munge round-trip failed (see $MUNGE_DIR/munged.log)"
}

start_daemon() { # start_daemon slurmctld|slurmd
  local name=$1
  if pid_alive "$name"; then log "$name already running (pid $(cat "$RUN/$name.pid"))"; return; fi
  log "starting $name"
  local args=(-D -f "$CONF")
  # -c: start slurmctld with clean state (no jobs left over from a previous run)
  [ "$name" = slurmctld ] && args+=(-c -i)
  [ "$name" = slurmd ] && args+=(-N "$(host_short)")
  SLURM_CONF="$CONF" setsid "$name" "${args[@]}" </dev/null >>"$LOG/$name.out" 2>&1 9>&- &
  echo $! >"$RUN/$name.pid"
  sleep 0.3
  pid_alive "$name" || { tail -n 30 "$LOG/$name.out" "$LOG/$name.log" 2>/dev/null >&2 || true; die "$name exited immediately (logs above)"; }
}

wait_idle() {
  local host state t0=$SECONDS
  host=$(host_short)
  while :; do
    state=$(SLURM_CONF="$CONF" sinfo -h -n "$host" -o '%T' 2>/dev/null | head -n1 || true)
    case "$state" in
      idle|mixed|allocated) log "node $host is $state after $((SECONDS - t0))s"; return 0 ;;
      drain*|down*|fail*|*invalid*)
        # a previous run may have left it drained/down; try to resume once
        SLURM_CONF="$CONF" scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    if [ $((SECONDS - t0)) -ge "$UP_TIMEOUT" ]; then
      SLURM_CONF="$CONF" sinfo -R >&2 || true
      tail -n 30 "$LOG/slurmctld.log" "$LOG/slurmd.log" >&2 2>/dev/null || true
      die "node $host not idle after ${UP_TIMEOUT}s (state='${state}')"
    fi
    for n in slurmctld slurmd munged; do
      pid_alive "$n" || { tail -n 30 "$LOG/$n.out" "$LOG/$n.log" >&2 2>/dev/null || true; die "$n died while waiting for node"; }
    done
    sleep 0.5
  done
}

cmd_up() {
  need_root
  local t0=$SECONDS
  install_pkgs
  ensure_munge_key
  if pid_alive slurmctld || pid_alive slurmd; then
    [ -f "$CONF" ] || die "daemons running but $CONF missing; run '$0 down' first"
    log "cluster already (partly) running; keeping existing config"
  else
    write_config
  fi
  # preflight: fail before starting anything if a port is taken by someone else
  if ! pid_alive slurmctld && port_busy "$CTLD_PORT"; then
    die "port $CTLD_PORT (slurmctld) is already in use by another process; set MMRUN_SLURMCTLD_PORT"
  fi
  if ! pid_alive slurmd && port_busy "$SLURMD_PORT"; then
    die "port $SLURMD_PORT (slurmd) is already in use by another process; set MMRUN_SLURMD_PORT"
  fi
  trap 'log "up failed; daemons that did start are still running: run \"$0 down\" to clean up"' ERR
  start_munged
  start_daemon slurmctld
  start_daemon slurmd
  wait_idle
  log "up in $((SECONDS - t0))s. Clients need:"
  export_line
  log "(also in $DIR/env.sh; logs in $LOG)"
}

our_stepds() { # slurmstepd processes belonging to this cluster (they hold our slurmd.log open)
  local p
  for p in $(pgrep -x slurmstepd 2>/dev/null || true); do
    if ls -l "/proc/$p/fd" 2>/dev/null | grep -q -- "$LOG/slurmd.log"; then echo "$p"; fi
  done
}

descendants() { # descendants <pid>: all descendant pids (depth-first)
  local c
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$c"; descendants "$c"
  done
}

kill_tree() { # kill_tree <pid>: SIGKILL a process and all its descendants
  local pids; pids="$1 $(descendants "$1")"
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
}

stop_pidfile() { # stop_pidfile <name>
  local name=$1 pid i
  if pid_alive "$name"; then
    pid=$(cat "$RUN/$name.pid")
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    if [ -d "/proc/$pid" ]; then log "$name did not exit, SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$RUN/$name.pid"
}

cmd_down() {
  need_root
  export PATH="$PATH:/usr/sbin:/sbin"
  local purge=0; [ "${1:-}" = --purge ] && purge=1
  # 1. tell slurmctld to cancel everything (so it stops scheduling / relaunching)
  if pid_alive slurmctld; then
    local jobs
    jobs=$(SLURM_CONF="$CONF" squeue -h -o '%A' 2>/dev/null | sort -u | tr '\n' ' ' || true)
    if [ -n "${jobs// /}" ]; then
      log "cancelling jobs: $jobs"
      # shellcheck disable=SC2086
      SLURM_CONF="$CONF" scancel $jobs 2>/dev/null || true
    fi
  fi
  # 2. scancel only sends SIGTERM (SIGKILL follows after KillWait, even for
  #    'scancel -s KILL'); don't wait for that: SIGKILL the job processes under each
  #    of our slurmstepds so the stepds finish normally, then kill stragglers.
  local p c i
  for p in $(our_stepds); do
    c=$(descendants "$p")
    # shellcheck disable=SC2086
    [ -n "$c" ] && kill -KILL $c 2>/dev/null || true
  done
  for i in $(seq 1 20); do [ -z "$(our_stepds)" ] && break; sleep 0.25; done
  for p in $(our_stepds); do log "killing leftover slurmstepd $p"; kill_tree "$p"; done
  stop_pidfile slurmd
  stop_pidfile slurmctld
  stop_pidfile munged
  if [ -f "$RUN/munged.launcher.pid" ]; then
    p=$(cat "$RUN/munged.launcher.pid"); [ "$(cat /proc/"$p"/comm 2>/dev/null)" = runuser ] && kill "$p" 2>/dev/null || true
    rm -f "$RUN/munged.launcher.pid"
  fi
  rm -rf "$STATE" "$SPOOL" "$RUN"/*.daemonpid "$MUNGE_SOCK" "$MUNGE_SOCK.lock"
  if [ "$purge" = 1 ]; then
    rm -rf "$DIR"; log "purged $DIR"
  fi
  log "down"
}

cmd_status() {
  export PATH="$PATH:/usr/sbin:/sbin"
  local n rc=0
  for n in munged slurmctld slurmd; do
    if pid_alive "$n"; then echo "$n: running (pid $(cat "$RUN/$n.pid"))"; else echo "$n: stopped"; rc=1; fi
  done
  if [ "$rc" = 0 ]; then
    export_line
    SLURM_CONF="$CONF" sinfo || rc=1
    SLURM_CONF="$CONF" squeue || rc=1
  fi
  return "$rc"
}

lock() { # serialize up/down of the same cluster dir (lock file lives next to it: down --purge removes $DIR)
  exec 9>"$DIR.lock"
  flock -w 300 9 || die "another cluster.sh up/down holds $DIR.lock"
}

case "${1:-}" in
  up) need_root; lock; cmd_up ;;
  down) shift; need_root; lock; cmd_down "$@" ;;
  status) cmd_status ;;
  env) export_line ;;
  *) echo "usage: $0 up|down [--purge]|status|env" >&2; exit 2 ;;
esac
