#!/usr/bin/env bash
# Demonstrates / measures the Slurm behaviours mmrun relies on, against the
# cluster started by test/slurm/cluster.sh up.
#
#   test/slurm/demo.sh [array|signal|requeue|selfrequeue|norequeue|all]   (default: all)
#
# Each section prints measured facts and ends with PASS or FAIL. Exit status is
# non-zero if any check failed. Event timestamps are written by the jobs to
# files under $WORK so the demo can compute delays between events.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
DIR="${MMRUN_SLURM_DIR:-/tmp/mmrun-slurm}"
export SLURM_CONF="${SLURM_CONF:-$DIR/etc/slurm.conf}"
export PATH="$PATH:/usr/sbin:/sbin"
WORK="${DEMO_WORK:-$DIR/demo.$$}"
mkdir -p "$WORK"
cd "$WORK" || exit 1

FAILS=0
say() { printf '\n=== %s\n' "$*"; }
ok() { printf '  PASS: %s\n' "$*"; }
bad() { printf '  FAIL: %s\n' "$*"; FAILS=$((FAILS + 1)); }
now() { date +%s.%N; }
dt() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; } # dt <from> <to>

[ -f "$SLURM_CONF" ] && sinfo -h >/dev/null 2>&1 || { echo "cluster not up; run $HERE/cluster.sh up" >&2; exit 1; }

# Wait until `squeue -j <id>` shows nothing (covers whole arrays: pass the array job id).
# This is the sacct-free way to wait: there is no slurmdbd, so `sacct` does not work here
# (AccountingStorageType=accounting_storage/none).
wait_gone() { # wait_gone <jobid> <timeout_s>
  local id=$1 to=$2 t0=$SECONDS
  while [ -n "$(squeue -h -j "$id" -o %i 2>/dev/null)" ]; do
    [ $((SECONDS - t0)) -ge "$to" ] && { echo "  timeout waiting for $id" >&2; return 1; }
    sleep 0.5
  done
}
# Wait until job (or array task id like 12_1) is in state $2.
wait_state() { # wait_state <jobid> <STATE> <timeout_s>
  local t0=$SECONDS s
  while :; do
    s=$(squeue -h -j "$1" -o %T 2>/dev/null | head -n1)
    [ "$s" = "$2" ] && return 0
    [ $((SECONDS - t0)) -ge "$3" ] && { echo "  timeout waiting for $1 to be $2 (is '$s')" >&2; return 1; }
    sleep 0.2
  done
}
jobfield() { scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1; }

# ---------------------------------------------------------------------------
demo_array() {
  say "array: sbatch --array=0-3, 1 CPU each, on a 2-CPU node"
  mkdir -p "$WORK/array"
  cat >"$WORK/array.sh" <<'EOF'
#!/bin/bash
#SBATCH --ntasks=1 --cpus-per-task=1 --time=5
f="$W/array/task-$SLURM_ARRAY_TASK_ID"
env | grep '^SLURM_' | sort >"$f.env"
echo "start $(date +%s.%N)" >"$f.times"
for i in 1 2 3 4; do echo "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT iter $i" >>"$f.out"; sleep 1; done
echo "end $(date +%s.%N)" >>"$f.times"
EOF
  local t0 a maxrun=0 n
  t0=$(now)
  a=$(W="$WORK" sbatch --parsable --export=ALL,W="$WORK" -o "$WORK/array/slurm-%A_%a.out" --array=0-3 "$WORK/array.sh") || { bad "sbatch failed"; return; }
  echo "  array job id: $a"
  # sample squeue while it runs to see how many tasks are RUNNING at once
  while [ -n "$(squeue -h -j "$a" -o %i)" ]; do
    n=$(squeue -h -j "$a" -t RUNNING -o %i | wc -l)
    [ "$n" -gt "$maxrun" ] && maxrun=$n
    sleep 0.2
  done
  echo "  all 4 tasks gone from squeue after $(dt "$t0" "$(now)")s; max RUNNING seen by squeue: $maxrun"
  # interval overlap from the tasks' own timestamps
  local maxov
  maxov=$(cat "$WORK"/array/task-*.times | awk '{print $2, ($1=="start")?1:-1}' | sort -n |
    awk '{c+=$2; if (c>m) m=c} END {print m+0}')
  echo "  max concurrently running tasks (from task timestamps): $maxov"
  [ "$maxov" = 2 ] && ok "2 tasks ran concurrently, never more" || bad "expected concurrency 2, got $maxov"
  local i good=1
  for i in 0 1 2 3; do
    local e="$WORK/array/task-$i.env"
    [ -f "$e" ] || { bad "task $i never ran"; good=0; continue; }
    local tid tcnt ajid jid rc
    tid=$(sed -n 's/^SLURM_ARRAY_TASK_ID=//p' "$e")
    tcnt=$(sed -n 's/^SLURM_ARRAY_TASK_COUNT=//p' "$e")
    ajid=$(sed -n 's/^SLURM_ARRAY_JOB_ID=//p' "$e")
    jid=$(sed -n 's/^SLURM_JOB_ID=//p' "$e")
    rc=$(sed -n 's/^SLURM_RESTART_COUNT=//p' "$e")
    echo "  task $i: SLURM_ARRAY_TASK_ID=$tid SLURM_ARRAY_TASK_COUNT=$tcnt SLURM_ARRAY_JOB_ID=$ajid SLURM_JOB_ID=$jid SLURM_RESTART_COUNT=${rc:-<unset>} | $(tail -n1 "$WORK/array/task-$i.out")"
    [ "$tid" = "$i" ] && [ "$tcnt" = 4 ] && [ "$ajid" = "$a" ] && [ -n "$jid" ] || good=0
  done
  [ "$good" = 1 ] && ok "array env vars correct (SLURM_RESTART_COUNT unset on first run)" || bad "array env vars wrong"
  echo "  all SLURM_* vars of task 1:"; sed 's/^/    /' "$WORK/array/task-1.env" | grep -E 'ARRAY|JOB_ID=|RESTART|CPUS|SUBMIT_DIR|JOB_NAME|NTASKS' || true
}

# ---------------------------------------------------------------------------
# A job that logs every signal it receives (batch shell) plus a child process.
# It does NOT exit on USR1/TERM so we see TERM at the time limit and the SIGKILL
# KillWait seconds later.
write_sigjob() {
  cat >"$WORK/sigjob.sh" <<'EOF'
#!/bin/bash
ev="$W/sig-$SLURM_JOB_ID.ev"
echo "$(date +%s.%N) start restart=${SLURM_RESTART_COUNT:-unset}" >>"$ev"
for s in USR1 USR2 TERM INT HUP CONT; do trap "echo \"\$(date +%s.%N) $s shell\" >>$ev" $s; done
# a child process that also reports the signals it gets
bash -c "for s in USR1 TERM CONT; do trap \"echo \\\$(date +%s.%N) \$s child >>$ev\" \$s; done; while :; do sleep 0.2; done" &
# sleep in short slices so bash runs traps promptly
while :; do sleep 0.2; done
EOF
}

demo_signal() {
  write_sigjob
  local j1 j2 ev t0 tu tt tk ts
  say "signal (fast path): scancel --batch --signal=USR1 <job> (what a test can use to fake a preemption warning)"
  j1=$(sbatch --parsable --export=ALL,W="$WORK" -o "$WORK/sig-%j.out" --time=2 "$WORK/sigjob.sh")
  ev="$WORK/sig-$j1.ev"
  wait_state "$j1" RUNNING 30
  # NB: squeue says RUNNING ~1 s before the batch script actually starts; a signal sent in
  # that window is lost. Wait for the script's own "start" marker (+ time to install traps).
  local i; for i in $(seq 1 100); do grep -q start "$ev" 2>/dev/null && break; sleep 0.1; done
  echo "  script started $(dt "$(squeue -h -j "$j1" -o %S | xargs -I{} date -d {} +%s)" "$(awk '{print $1; exit}' "$ev")")s after its squeue StartTime (1 s resolution)"
  sleep 0.5
  ts=$(now); scancel --batch --signal=USR1 "$j1"; sleep 1
  tu=$(awk '$2=="USR1" && $3=="shell"{print $1; exit}' "$ev")
  [ -n "$tu" ] && ok "USR1 reached batch shell $(dt "$ts" "$tu")s after scancel -b -s USR1" || bad "scancel -b -s USR1 not delivered"
  grep -q 'USR1 child' "$ev" && bad "child also got USR1 with --batch" || ok "child did not get it (--batch = batch shell only)"
  ts=$(now); scancel "$j1"; wait_gone "$j1" 60
  echo "  plain scancel: events:"; awk -v t0="$ts" '$2 != "start" && $1 >= t0 {printf "    %+6.1fs  %s %s\n", $1 - t0, $2, $3}' "$ev"
  echo "  (job gone from squeue $(dt "$ts" "$(now)")s after scancel: shell ignores TERM -> SIGKILL after KillWait)"

  say "signal: sbatch --time=1 --signal=B:USR1@N (1-minute limit), batch shell ignores signals"
  # two jobs side by side: @50 and @20 (both < 60s granularity)
  j1=$(sbatch --parsable --export=ALL,W="$WORK" -o "$WORK/sig-%j.out" --time=1 --signal=B:USR1@50 "$WORK/sigjob.sh")
  j2=$(sbatch --parsable --export=ALL,W="$WORK" -o "$WORK/sig-%j.out" --time=1 --signal=B:USR1@20 "$WORK/sigjob.sh")
  echo "  jobs: $j1 (@50)  $j2 (@20); waiting up to ~2.5 min for time limit + KillWait"
  wait_gone "$j1" 200; wait_gone "$j2" 200
  for j in "$j1" "$j2"; do
    ev="$WORK/sig-$j.ev"
    t0=$(awk '$2=="start"{print $1; exit}' "$ev")
    echo "  job $j events (seconds after batch script start):"
    awk -v t0="$t0" '{printf "    +%6.1fs  %s %s\n", $1 - t0, $2, $3}' "$ev"
    tu=$(awk '$2=="USR1" && $3=="shell"{print $1; exit}' "$ev")
    [ -n "$tu" ] && ok "job $j: USR1 reached batch shell at +$(dt "$t0" "$tu")s (limit 60s)" || bad "job $j: no USR1"
    grep -q 'USR1 child' "$ev" && bad "job $j: child also got USR1 (B: should signal only the shell)" || ok "job $j: child did not get USR1 (B: = batch shell only)"
    echo "    final state: $(jobfield "$j" JobState) Reason=$(jobfield "$j" Reason) ExitCode=$(jobfield "$j" ExitCode)"
  done
}

# ---------------------------------------------------------------------------
demo_requeue() {
  say "requeue: scontrol requeue <array>_<task> on a running array task"
  mkdir -p "$WORK/rq"
  cat >"$WORK/rqjob.sh" <<'EOF'
#!/bin/bash
ev="$W/rq/task-$SLURM_ARRAY_TASK_ID.ev"
echo "$(date +%s.%N) start restart=${SLURM_RESTART_COUNT:-unset} job=$SLURM_JOB_ID array=$SLURM_ARRAY_JOB_ID task=$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT" >>"$ev"
echo "output of run with restart=${SLURM_RESTART_COUNT:-unset}"
trap 'echo "$(date +%s.%N) TERM shell" >>"$ev"; [ "$MODE" = exit ] && exit 143' TERM
trap 'echo "$(date +%s.%N) CONT shell" >>"$ev"' CONT
if [ "${SLURM_RESTART_COUNT:-0}" -ge 1 ]; then sleep 2; echo "$(date +%s.%N) done" >>"$ev"; exit 0; fi
# a child process (not a job step) that reports TERM and otherwise keeps running
bash -c "trap 'echo \$(date +%s.%N) TERM child >>$ev' TERM; while :; do sleep 0.2; done" &
while :; do sleep 0.2; done
EOF
  local mode
  for mode in exit ignore; do
    rm -f "$WORK"/rq/*
    local a t0 tr ev tterm tend trest openmode
    # 'exit': shell exits on SIGTERM, default --open-mode (truncate)
    # 'ignore': shell and child ignore SIGTERM (-> SIGKILL after KillWait), --open-mode=append
    if [ "$mode" = exit ]; then openmode=truncate; else openmode=append; fi
    a=$(sbatch --parsable --export=ALL,W="$WORK",MODE=$mode -o "$WORK/rq/out-%a.txt" --open-mode=$openmode --array=0-1 --time=10 "$WORK/rqjob.sh")
    echo "  [$mode-on-TERM, --open-mode=$openmode] array $a"
    wait_state "${a}_1" RUNNING 30 || { bad "task 1 never ran"; continue; }
    sleep 2
    tr=$(now)
    if scontrol requeue "${a}_1"; then ok "scontrol requeue ${a}_1 accepted (no --requeue needed: JobRequeue=1)"; else bad "scontrol requeue ${a}_1 rejected"; fi
    local i st prev=""
    for i in $(seq 1 300); do # print state transitions of the task for up to ~60 s
      st="$(squeue -h -j "${a}_1" -o '%T(%r)' 2>/dev/null) Restarts=$(jobfield "${a}_1" Restarts)"
      [ "$st" != "$prev" ] && echo "    t+$(dt "$tr" "$(now)")s ${a}_1: $st"
      prev=$st
      grep -q restart=1 "$WORK/rq/task-1.ev" 2>/dev/null && break
      sleep 0.2
    done
    scancel "${a}_0"
    wait_gone "$a" 120
    ev="$WORK/rq/task-1.ev"
    echo "  task 1 events (relative to the requeue command):"
    awk -v t0="$tr" '{printf "    %+7.1fs  %s %s %s %s %s\n", $1 - t0, $2, $3, $4, $5, $6}' "$ev"
    tterm=$(awk '$2=="TERM"{print $1; exit}' "$ev")
    trest=$(awk '$2=="start" && $3=="restart=1"{print $1; exit}' "$ev")
    [ -n "$tterm" ] && ok "running task got SIGTERM $(dt "$tr" "$tterm")s after requeue" || bad "no SIGTERM seen"
    grep -q 'TERM child' "$ev" && ok "non-step child process got SIGTERM too (whole job is signalled)" || echo "  child got no SIGTERM (shell exited first?)"
    [ -n "$trest" ] && ok "task restarted with SLURM_RESTART_COUNT=1, $(dt "$tr" "$trest")s after requeue" || bad "task did not restart with SLURM_RESTART_COUNT=1"
    echo "  output file of task 1 after restart (--open-mode=$openmode):"; sed 's/^/    | /' "$WORK/rq/out-1.txt"
  done
}

# ---------------------------------------------------------------------------
demo_selfrequeue() {
  say "self-requeue: trap USR1 -> scontrol requeue \$SLURM_JOB_ID (--time=1 --signal=B:USR1@50)"
  cat >"$WORK/selfrq.sh" <<'EOF'
#!/bin/bash
ev="$W/self-$SLURM_JOB_ID.ev"
echo "$(date +%s.%N) start restart=${SLURM_RESTART_COUNT:-unset}" >>"$ev"
echo "stdout of run restart=${SLURM_RESTART_COUNT:-unset}"
if [ "${SLURM_RESTART_COUNT:-0}" -ge 1 ]; then echo "$(date +%s.%N) done" >>"$ev"; exit 0; fi
on_usr1() {
  echo "$(date +%s.%N) USR1 shell" >>"$ev"
  # $EPOCHREALTIME, not $(date): the requeue's SIGTERM also kills forked helpers like date
  scontrol requeue "$SLURM_JOB_ID"; rc=$?; echo "$EPOCHREALTIME requeue-rc=$rc" >>"$ev"
}
trap on_usr1 USR1
trap 'echo "$(date +%s.%N) TERM shell" >>"$ev"; exit 0' TERM
while :; do sleep 0.2; done
EOF
  local j ev t0 tu tt tr
  j=$(sbatch --parsable --export=ALL,W="$WORK" -o "$WORK/self-%j.out" --time=1 --signal=B:USR1@50 "$WORK/selfrq.sh")
  echo "  job $j"
  wait_gone "$j" 200
  ev="$WORK/self-$j.ev"
  t0=$(awk '$2=="start"{print $1; exit}' "$ev")
  echo "  events (seconds after first start):"
  awk -v t0="$t0" '$1+0 > 0 {printf "    +%6.1fs  %s %s\n", $1 - t0, $2, $3}' "$ev"
  tu=$(awk '$2=="USR1"{print $1; exit}' "$ev")
  tt=$(awk '$2=="TERM"{print $1; exit}' "$ev")
  tr=$(awk '$2=="start" && $3=="restart=1"{print $1; exit}' "$ev")
  # NB: scontrol runs inside the job, so the SIGTERM that the requeue itself triggers can
  # kill scontrol before it exits (rc=143) although the requeue succeeded. Judge by the restart.
  echo "  in-job 'scontrol requeue' exit status: $(sed -n 's/.*requeue-rc=//p' "$ev") (0, or 143 if the requeue's own SIGTERM hit scontrol first)"
  [ -n "$tt" ] && ok "after self-requeue the batch shell got SIGTERM $(dt "$tu" "$tt")s after USR1" || echo "  (no SIGTERM recorded)"
  [ -n "$tr" ] && ok "job restarted (SLURM_RESTART_COUNT=1) $(dt "$tu" "$tr")s after USR1; final: $(jobfield "$j" JobState) Restarts=$(jobfield "$j" Restarts)" || bad "job did not restart"
  echo "  output file:"; sed 's/^/    | /' "$WORK/self-$j.out"
}

# ---------------------------------------------------------------------------
demo_norequeue() {
  say "norequeue: sbatch --no-requeue, then scontrol requeue"
  local j out
  j=$(sbatch --parsable --no-requeue -o /dev/null --time=2 --wrap 'sleep 60')
  wait_state "$j" RUNNING 30
  out=$(scontrol requeue "$j" 2>&1); echo "  scontrol requeue $j -> rc=$? '$out'"
  [ "$(squeue -h -j "$j" -o %T)" = RUNNING ] && ok "--no-requeue job cannot be requeued (still RUNNING)" || bad "--no-requeue job was requeued"
  scancel "$j"; wait_gone "$j" 60
}

T0=$SECONDS
case "${1:-all}" in
  array) demo_array ;;
  signal) demo_signal ;;
  requeue) demo_requeue ;;
  selfrequeue) demo_selfrequeue ;;
  norequeue) demo_norequeue ;;
  all) demo_array; demo_norequeue; demo_requeue; demo_selfrequeue; demo_signal ;;
  *) echo "usage: $0 [array|signal|requeue|selfrequeue|norequeue|all]" >&2; exit 2 ;;
esac
say "done in $((SECONDS - T0))s, failures: $FAILS (work dir $WORK)"
[ "$FAILS" = 0 ]
