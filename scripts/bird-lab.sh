#!/usr/bin/env bash
# BIRD backbone lab: a core route reflector and three RSUs in network
# namespaces, running BIRD with config/bird/core.conf and
# config/bird/rsu.conf. Routes are added to the RSUs' kernel tables the way
# the v2xd rsu daemon adds them (proto 201, metric = attachment sequence)
# and the time until the core's kernel table follows is measured:
#   add      route added on r1 -> core kernel route via r1
#   takeover same prefix added on r2 with a higher metric -> core via r2
#   withdraw last RSU deletes the route -> route gone from the core
#   kill -9  r2's BIRD killed -> r2's routes gone from the core
#   hang     r2's BIRD stopped (SIGSTOP) -> gone after the BGP hold time
#   rejoin   r2's BIRD restarted / resumed -> routes back in the core
# It also checks that an older attachment (lower metric) arriving late and
# the removal of the old RSU's route leave the core on the newest RSU.
# Each measurement is taken RUNS times (default 5); min/median/max are
# printed. Exits non-zero if a check fails.
#
# Usage (as root): scripts/bird-lab.sh
# env: RUNS=5, KEEP=0, BIRD_CONF_DIR=config/bird (where core.conf, rsu.conf are)
# KEEP=1 leaves the lab running after the measurements until Enter is
# pressed (inspect with: birdc -s $WORK/core.ctl show route all).
# Needs iproute2 and bird2 (installed with apt-get if missing).
set -euo pipefail

RUNS=${RUNS:-5}
KEEP=${KEEP:-0}
HERE=$(cd "$(dirname "$0")/.." && pwd)
CONF_DIR=${BIRD_CONF_DIR:-"$HERE/config/bird"}   # env override: BIRD_CONF_DIR
NS_CORE=birdlab-core
RSUS=(1 2 3)
AS=65077
POLL=0.005            # polling interval of the core's kernel table, seconds

[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
command -v ip >/dev/null || { echo "iproute2 is missing" >&2; exit 1; }
if ! command -v bird >/dev/null || ! command -v birdc >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq bird2 >/dev/null
  # The package's own service is not wanted; this script runs its own.
  if [ -d /run/systemd/system ]; then systemctl disable --now bird >/dev/null 2>&1 || true; fi
fi

WORK=$(mktemp -d /tmp/birdlab.XXXXXX)
NODES=(core "${RSUS[@]/#/r}")

ns() { echo "birdlab-$1"; }
now_us() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }
ms() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }   # us -> ms, 1 decimal

# Stops the BIRD of one node: only the pid from that node's pidfile, and
# only if it is still a bird started with this lab's config.
stop_bird() {
  local pidf="$WORK/$1.pid" pid
  [ -s "$pidf" ] || return 0
  pid=$(cat "$pidf")
  if grep -qs "$WORK/$1.conf" "/proc/$pid/cmdline"; then
    kill -CONT "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    # (an exited bird may linger as a zombie: its cmdline is then empty)
    for _ in $(seq 50); do grep -qs "$WORK/$1.conf" "/proc/$pid/cmdline" || break; sleep 0.05; done
    if grep -qs "$WORK/$1.conf" "/proc/$pid/cmdline"; then kill -9 "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$pidf"
}

MON_PID=
cleanup() {
  local n
  if [ -n "$MON_PID" ]; then kill "$MON_PID" 2>/dev/null || true; wait "$MON_PID" 2>/dev/null || true; fi
  for n in "${NODES[@]}"; do stop_bird "$n"; done
  for n in "${NODES[@]}"; do ip netns del "$(ns "$n")" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_bird() {
  ip netns exec "$(ns "$1")" bird -c "$WORK/$1.conf" -s "$WORK/$1.ctl" -P "$WORK/$1.pid"
}

# ---- topology --------------------------------------------------------------
# core: c-rN = 10.99.N.1/24, fd99:N::1/64     rN: core = 10.99.N.2/24, fd99:N::2/64
for n in "${NODES[@]}"; do
  ip netns del "$(ns "$n")" 2>/dev/null || true   # leftovers of an aborted run
  ip netns add "$(ns "$n")"
  ip -n "$(ns "$n")" link set lo up
  ip netns exec "$(ns "$n")" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
done
TUN_KIND=dummy
for i in "${RSUS[@]}"; do
  r=$(ns "r$i")
  ip -n "$NS_CORE" link add "c-r$i" type veth peer name core netns "$r"
  ip -n "$NS_CORE" addr add "10.99.$i.1/24" dev "c-r$i"
  ip -n "$NS_CORE" addr add "fd99:$i::1/64" dev "c-r$i" nodad
  ip -n "$r" addr add "10.99.$i.2/24" dev core
  ip -n "$r" addr add "fd99:$i::2/64" dev core nodad
  ip -n "$NS_CORE" link set "c-r$i" up
  ip -n "$r" link set core up
  ip -n "$r" route add default via "10.99.$i.1"
  ip -n "$r" -6 route add default via "fd99:$i::1"
  # Stand-in for the daemon's TUN device: a dummy link, or where the kernel
  # has no dummy driver a persistent TUN device without a reader (its routes
  # show as "linkdown", which BIRD learns all the same).
  if ! ip -n "$r" link add tun-rsu type dummy 2>/dev/null; then
    ip -n "$r" tuntap add dev tun-rsu mode tun
    TUN_KIND="tun (no carrier)"
  fi
  ip -n "$r" link set tun-rsu up
done

# ---- BIRD ------------------------------------------------------------------
# Per-node values as BIRD constants in a small file that includes the
# shipped config unchanged.
cat >"$WORK/core.conf" <<EOF
log "$WORK/core.log" all;
define ROUTER_ID   = 10.99.0.1;
define RSU_RANGE4  = 10.99.0.0/16;
define BACKBONE_AS = $AS;
include "$CONF_DIR/core.conf";
EOF
for i in "${RSUS[@]}"; do
  cat >"$WORK/r$i.conf" <<EOF
log "$WORK/r$i.log" all;
define ROUTER_ID   = 10.99.$i.2;
define LOCAL_ADDR4 = 10.99.$i.2;
define LOCAL_ADDR6 = fd99:$i::2;
define CORE_ADDR4  = 10.99.$i.1;
define BACKBONE_AS = $AS;
include "$CONF_DIR/rsu.conf";
EOF
done
for n in "${NODES[@]}"; do bird -p -c "$WORK/$n.conf"; done
for n in "${NODES[@]}"; do start_bird "$n"; done

established() { birdc -s "$WORK/core.ctl" show protocols 2>/dev/null | grep -c Established || true; }
wait_sessions() {   # wait_sessions COUNT: all RSU sessions up at the core
  local end=$((SECONDS + 30))
  until [ "$(established)" -ge "$1" ]; do
    [ $SECONDS -lt $end ] || { echo "BGP sessions did not come up" >&2; birdc -s "$WORK/core.ctl" show protocols >&2; exit 1; }
    sleep 0.05
  done
}
T0=$(now_us)
wait_sessions ${#RSUS[@]}
echo "$(bird --version 2>&1), TUN stand-in: $TUN_KIND," \
  "${#RSUS[@]} BGP sessions up $(ms $(( $(now_us) - T0 ))) ms after start"

# ---- measuring -------------------------------------------------------------
# Two clocks per measurement, both started just before the command that
# triggers the change (which itself costs ~1 ms to spawn):
#  poll  the core's kernel table read with `ip route show` every POLL s
#        until it shows the change (resolution ~POLL + 2 ms per poll);
#  mon   the timestamp `ip -ts monitor route` in the core namespace put on
#        the kernel's notification of the change (sub-millisecond).
MON="$WORK/core-monitor.txt"
ip -n "$NS_CORE" -ts monitor route >"$MON" 2>/dev/null &
MON_PID=$!
sleep 0.2

core_route() {  # core_route FAMILY PREFIX: the core's kernel route for it
  ip -n "$NS_CORE" "-$1" route show "$2" 2>/dev/null | grep -v '^$' || true
}
# wait_core FAMILY PREFIX REGEX|-: polls until the core's route for PREFIX
# matches REGEX (or, for -, is gone); prints the ms since T0. 10 s timeout.
wait_core() {
  local out deadline=$((T0 + 10000000))
  while :; do
    out=$(core_route "$1" "$2")
    if [ "$3" = - ]; then [ -z "$out" ] && break; else [[ $out =~ $3 ]] && break; fi
    if [ "$(now_us)" -gt $deadline ]; then echo "timeout"; return 0; fi
    sleep $POLL
  done
  ms $(( $(now_us) - T0 ))
}
# mon_ms LINE REGEX: ms from T0 to the first monitor line at or after LINE
# that matches REGEX.
mon_ms() {
  local line t
  for _ in $(seq 100); do
    line=$(tail -n "+$1" "$MON" | grep -a -E -m1 -- "$2" || true)
    if [ -n "$line" ]; then
      t=$(date -d "$(sed -E 's/^\[([^]]+)\].*/\1/' <<<"$line")" +%s%6N)
      ms $(( 10#$t - T0 )); return
    fi
    sleep 0.01
  done
  echo "timeout"
}
mon_line() { echo $(( $(wc -l <"$MON") + 1 )); }
# hold_core FAMILY PREFIX REGEX MS: true if the core's route matches REGEX
# at every poll for MS milliseconds.
hold_core() {
  local end=$(( $(now_us) + $4 * 1000 )) out
  while [ "$(now_us)" -lt $end ]; do
    out=$(core_route "$1" "$2")
    [[ $out =~ $3 ]] || { echo "  core route was: '${out:-none}'" >&2; return 1; }
    sleep $POLL
  done
}
rsu_ip() { local r=$1; shift; ip -n "$(ns "r$r")" "$@"; }

declare -A POLLED MONITORED   # measurement name -> space-separated values (ms)
NAMES=()
FAILS=0
# measure NAME FAMILY PREFIX REGEX|- -- COMMAND...: runs COMMAND and
# records how long until the core's route for PREFIX matches REGEX (- for
# gone). The monitor is searched for the core's route line (or its
# "Deleted" line).
measure() {
  local name=$1 f=$2 p=$3 want=$4 l a b pre re
  shift 5
  pre=${p%/*}; pre=${pre//./\\.}
  if [ "$want" = - ]; then re="^\[[^]]*\] Deleted $pre "; else re="^\[[^]]*\] $pre $want"; fi
  l=$(mon_line)
  T0=$(now_us); "$@"
  a=$(wait_core "$f" "$p" "$want")
  b=$(mon_ms "$l" "$re")
  printf '  %-24s poll %8s ms   monitor %8s ms\n' "$name" "$a" "$b"
  [[ " ${NAMES[*]} " == *" $name "* ]] || NAMES+=("$name")
  if [ "$a" = timeout ]; then FAILS=$((FAILS + 1)); else POLLED[$name]+="$a "; fi
  [ "$b" = timeout ] || MONITORED[$name]+="$b "
}
check() { if "${@:2}"; then echo "  ok: $1"; else echo "  FAIL: $1"; FAILS=$((FAILS + 1)); fi; }

scenario() {  # scenario FAMILY PREFIX ADDRFMT (printf format of an RSU address)
  local f=$1 p=$2 via1 via2
  via1="via $(printf "$3" 1) "; via2="via $(printf "$3" 2) "
  measure "ipv$f add r1" "$f" "$p" "$via1" -- \
    rsu_ip 1 "-$f" route add "$p" dev tun-rsu proto 201 metric 100
  measure "ipv$f takeover r1->r2" "$f" "$p" "$via2" -- \
    rsu_ip 2 "-$f" route add "$p" dev tun-rsu proto 201 metric 101
  rsu_ip 3 "-$f" route add "$p" dev tun-rsu proto 201 metric 99
  check "ipv$f older attachment on r3 (metric 99) does not win" hold_core "$f" "$p" "$via2" 300
  rsu_ip 3 "-$f" route del "$p" dev tun-rsu proto 201 metric 99
  rsu_ip 1 "-$f" route del "$p" dev tun-rsu proto 201 metric 100
  check "ipv$f r1 withdraws, core stays on r2" hold_core "$f" "$p" "$via2" 300
  measure "ipv$f withdraw r2" "$f" "$p" - -- \
    rsu_ip 2 "-$f" route del "$p" dev tun-rsu proto 201 metric 101
}

echo "== add / takeover / withdraw ($RUNS runs)"
for run in $(seq "$RUNS"); do
  echo " run $run"
  scenario 4 10.77.1.5/32 '10.99.%d.2'
  scenario 6 fd77::1:5/128 'fd99:%d::2'
done

echo "== r2's BIRD dies or hangs ($RUNS runs)"
r2pid() { cat "$WORK/r2.pid"; }
for run in $(seq "$RUNS"); do
  echo " run $run"
  rsu_ip 2 -4 route add 10.77.2.7/32 dev tun-rsu proto 201 metric 200
  rsu_ip 2 -6 route add fd77::2:7/128 dev tun-rsu proto 201 metric 200
  T0=$(now_us); x=$(wait_core 4 10.77.2.7/32 'via 10\.99\.2\.2 ')
  x=$(wait_core 6 fd77::2:7/128 'via fd99:2::2 ')
  measure "kill -9 -> gone" 4 10.77.2.7/32 - -- kill -9 "$(r2pid)"
  x=$(wait_core 6 fd77::2:7/128 -)
  check "ipv6 route gone too" test -z "$(core_route 6 fd77::2:7/128)"
  measure "restart -> back" 4 10.77.2.7/32 'via 10\.99\.2\.2 ' -- start_bird r2
  measure "SIGSTOP -> gone (hold)" 4 10.77.2.7/32 - -- kill -STOP "$(r2pid)"
  measure "SIGCONT -> back" 4 10.77.2.7/32 'via 10\.99\.2\.2 ' -- kill -CONT "$(r2pid)"
  rsu_ip 2 -4 route del 10.77.2.7/32 dev tun-rsu proto 201 metric 200
  rsu_ip 2 -6 route del fd77::2:7/128 dev tun-rsu proto 201 metric 200
  T0=$(now_us); x=$(wait_core 4 10.77.2.7/32 -); x=$(wait_core 6 fd77::2:7/128 -)
done
check "all sessions up at the end" test "$(established)" -ge ${#RSUS[@]}

# ---- summary ---------------------------------------------------------------
stats() {  # stats VALUES: "min median max n"
  local v n
  # shellcheck disable=SC2086
  read -r -a v <<<"$(printf '%s\n' $1 | sort -g | tr '\n' ' ')"
  n=${#v[@]}
  [ "$n" -gt 0 ] || { echo "- - - 0"; return; }
  echo "${v[0]} ${v[$((n / 2))]} ${v[$((n - 1))]} $n"
}
echo
echo "== results, ms: poll = ip route show every ${POLL}s; monitor = ip -ts monitor"
printf '%-24s %26s   %26s\n' "" "poll min/median/max" "monitor min/median/max"
for k in "${NAMES[@]}"; do
  read -r a1 a2 a3 an <<<"$(stats "${POLLED[$k]:-}")"
  read -r b1 b2 b3 _ <<<"$(stats "${MONITORED[$k]:-}")"
  printf '%-24s %8s %8s %8s   %8s %8s %8s   n=%s\n' "$k" "$a1" "$a2" "$a3" "$b1" "$b2" "$b3" "$an"
done
echo "checks failed: $FAILS"
if [ "$KEEP" = 1 ]; then
  echo "lab left running; control sockets in $WORK (birdc -s $WORK/core.ctl ...). Enter ends it."
  read -r _
fi
[ "$FAILS" -eq 0 ]
