#!/usr/bin/env bash
# A local three-node Apache Kafka cluster (KRaft) from the same Maven jars as the single
# broker of scripts/stack.sh, and a Redis beside it: what the three-broker faults of
# tests/faults/test_cluster_faults.py run on, and a way to try a replicated deployment.
#
#   scripts/kafka-cluster.sh up | down | status | bootstrap
#   scripts/kafka-cluster.sh stop N | start N | kill N | pause N | resume N
#   scripts/kafka-cluster.sh leader TOPIC PARTITION | wait-insync
#
# Each node is broker and controller (process.roles=broker,controller) and the three
# controllers are a static quorum of three voters: as a small production cluster runs,
# and the harder case, since a broker fault is then a controller fault too (one voter of
# three down leaves a majority). Topics get replication factor 3 and min.insync.replicas
# 2 from the broker defaults (deploy/kafka/cluster.properties.template).
#
#   stop N    SIGTERM (controlled shutdown: leaderships move first), waits for the exit
#   start N   starts node N, waits until it is registered and every partition is back in
#             sync (no under-replicated partition), as an operator does in a rolling restart
#   kill N    SIGKILL, waits for the exit
#   pause N   SIGSTOP (frozen: its sessions expire); resume N: SIGCONT
#   leader    the node id leading TOPIC's PARTITION
#
#   WG_CLUSTER_DIR             data, configs, logs, pids (default .local/cluster)
#   WG_CLUSTER_PORT            client port of node 1 (default 29092; nodes 2, 3: +1, +2)
#   WG_CLUSTER_CONTROLLER_PORT controller port of node 1 (default 29192; +1, +2)
#   WG_CLUSTER_REDIS_PORT      the Redis beside it (default 29379)
#   WG_CLUSTER_HEAP            each node's JVM heap (default -Xms256m -Xmx512m)
#   WG_CLUSTER_TIMEOUT         seconds to wait for a node or for in-sync (default 180)
#
# `up` is idempotent; `down` stops exactly the processes this script started under
# WG_CLUSTER_DIR (by pid) and removes its data.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${WG_CLUSTER_DIR:-$ROOT/.local/cluster}"
PORT="${WG_CLUSTER_PORT:-29092}"
CONTROLLER_PORT="${WG_CLUSTER_CONTROLLER_PORT:-29192}"
REDIS_PORT="${WG_CLUSTER_REDIS_PORT:-29379}"
HEAP="${WG_CLUSTER_HEAP:--Xms256m -Xmx512m}"
TIMEOUT="${WG_CLUSTER_TIMEOUT:-180}"
PY="${WG_PYTHON:-$ROOT/.venv/bin/python}"
LIBS="$ROOT/.local/kafka/libs"
NODES=(1 2 3)

say() { printf 'kafka-cluster: %s\n' "$*"; }
die() { printf 'kafka-cluster: error: %s\n' "$*" >&2; exit 1; }

for v in PORT CONTROLLER_PORT REDIS_PORT TIMEOUT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "WG_CLUSTER_${v} must be a number, got '${!v}'"
done
[[ -x $PY ]] || die "no Python at $PY: run 'make venv' first"

port_of() { echo $((PORT + $1 - 1)); }
controller_port_of() { echo $((CONTROLLER_PORT + $1 - 1)); }
bootstrap() { local n out=(); for n in "${NODES[@]}"; do out+=("127.0.0.1:$(port_of "$n")"); done; local IFS=,; echo "${out[*]}"; }
voters() { local n out=(); for n in "${NODES[@]}"; do out+=("$n@127.0.0.1:$(controller_port_of "$n")"); done; local IFS=,; echo "${out[*]}"; }
node_dir() { echo "$DIR/node-$1"; }
probe() { "$PY" "$ROOT/scripts/cluster_probe.py" "$@"; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

node_arg() {
  [[ ${1:-} =~ ^[1-3]$ ]] || die "a node number 1, 2 or 3 is needed, got '${1:-}'"
}

# A pid file names a live node of ours only if that pid runs the expected program with
# this node's config.
alive() { # pidfile pattern
  local pid
  [[ -f $1 ]] || return 1
  pid=$(<"$1")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2"
}
node_alive() { alive "$(node_dir "$1")/pid" "kafka.Kafka $(node_dir "$1")/server.properties"; }

wait_until() { # what command...
  local what=$1; shift
  local deadline=$((SECONDS + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what not within ${TIMEOUT}s; logs under $DIR"
    sleep 0.5
  done
}

jars() {
  if [[ -f $LIBS/.resolved ]] && [[ $LIBS/.resolved -nt $ROOT/deploy/kafka/pom.xml ]]; then return; fi
  command -v mvn >/dev/null || die "Maven is needed to fetch the Kafka jars (apt-get install maven)"
  say "resolving the Kafka jars from Maven Central into $LIBS"
  mkdir -p "$ROOT/.local/logs"
  rm -rf "$LIBS"
  mvn -q -B -f "$ROOT/deploy/kafka/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$LIBS" -DincludeScope=runtime >"$ROOT/.local/logs/maven.log" 2>&1 \
    || die "Maven could not resolve the Kafka jars; read $ROOT/.local/logs/maven.log"
  touch "$LIBS/.resolved"
}

java_cmd() { # args...: java with the jars and the broker logging config
  java -Dlog4j2.configurationFile="$ROOT/deploy/kafka/log4j2.properties" -cp "$LIBS/*" "$@"
}

configure() { # node
  local n=$1 d; d=$(node_dir "$1")
  mkdir -p "$d/data"
  sed -e "s#@NODE_ID@#$n#" -e "s#@DATA_DIR@#$d/data#" -e "s#@PORT@#$(port_of "$n")#" \
      -e "s#@CONTROLLER_PORT@#$(controller_port_of "$n")#" -e "s#@VOTERS@#$(voters)#" \
      "$ROOT/deploy/kafka/cluster.properties.template" >"$d/server.properties"
  if [[ ! -f $d/data/meta.properties ]]; then
    java_cmd kafka.tools.StorageTool format --ignore-formatted -t "$(<"$DIR/cluster-id")" \
      -c "$d/server.properties" >>"$d/log" 2>&1 || die "formatting node $n failed; read $d/log"
  fi
}

launch() { # node: start the process, no waiting
  local n=$1 d; d=$(node_dir "$1")
  if node_alive "$n"; then say "node $n already up (pid $(<"$d/pid"))"; return; fi
  port_busy "$(port_of "$n")" && die "port $(port_of "$n") is taken by a process this script did not start; set WG_CLUSTER_PORT"
  configure "$n"
  # shellcheck disable=SC2086 # the heap options are meant to split into words
  nohup java $HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$ROOT/deploy/kafka/log4j2.properties" -cp "$LIBS/*" \
    kafka.Kafka "$d/server.properties" >>"$d/log" 2>&1 </dev/null &
  echo $! >"$d/pid"
  say "node $n starting on 127.0.0.1:$(port_of "$n") (pid $!, log $d/log)"
}

wait_insync() {
  wait_until "every partition in sync (no under-replicated partition)" probe insync "$(bootstrap)"
  say "every partition in sync"
}

redis_up() {
  local d="$DIR/redis"
  if alive "$d/pid" "redis-server.*:$REDIS_PORT"; then return; fi
  command -v redis-server >/dev/null || die "redis-server is missing: apt-get install redis-server"
  port_busy "$REDIS_PORT" && die "port $REDIS_PORT is taken by a process this script did not start; set WG_CLUSTER_REDIS_PORT"
  mkdir -p "$d"
  nohup redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$d" --save "" \
    --appendonly yes --daemonize no --logfile "" >>"$d/log" 2>&1 </dev/null &
  echo $! >"$d/pid"
  wait_until "redis on $REDIS_PORT" redis-cli -p "$REDIS_PORT" ping
  say "redis up on 127.0.0.1:$REDIS_PORT (pid $!)"
}

up() {
  jars
  mkdir -p "$DIR"
  [[ -f $DIR/cluster-id ]] || java_cmd kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1 >"$DIR/cluster-id"
  local n
  for n in "${NODES[@]}"; do launch "$n"; done
  wait_until "three brokers registered" probe brokers "$(bootstrap)" 3
  redis_up
  wait_insync
  say "cluster up: bootstrap $(bootstrap), redis redis://127.0.0.1:$REDIS_PORT/0"
}

signal_node() { # node signal
  local n=$1 d; d=$(node_dir "$1")
  node_alive "$n" || die "node $n is not running"
  kill "-$2" "$(<"$d/pid")"
}

wait_exit() { # node seconds
  local pid; pid=$(<"$(node_dir "$1")/pid")
  local deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

stop_node() { # node: graceful
  local n=$1 pid
  node_alive "$n" || { say "node $n not running"; return; }
  pid=$(<"$(node_dir "$n")/pid")
  kill -CONT "$pid" 2>/dev/null || true  # a paused node cannot shut down
  kill -TERM "$pid"
  if ! wait_exit "$n" "$TIMEOUT"; then say "node $n did not stop in ${TIMEOUT}s; killing"; kill -KILL "$pid"; wait_exit "$n" 30 || true; fi
  say "node $n stopped (pid $pid)"
}

start_node() { # node: start and wait until back in sync
  launch "$1"
  wait_until "three brokers registered" probe brokers "$(bootstrap)" 3
  wait_insync
}

down() {
  [[ -d $DIR ]] || { say "nothing under $DIR"; return; }
  local n pid stopping=()
  # All at once: stopped one by one, the last node waits for a controller quorum that
  # has gone, and is killed after WG_CLUSTER_TIMEOUT.
  for n in "${NODES[@]}"; do
    if node_alive "$n"; then
      pid=$(<"$(node_dir "$n")/pid"); kill -CONT "$pid" 2>/dev/null || true; kill -TERM "$pid"
      stopping+=("$n")
    fi
  done
  for n in "${stopping[@]}"; do
    pid=$(<"$(node_dir "$n")/pid")
    if ! wait_exit "$n" 60; then say "node $n did not stop in 60s; killing"; kill -KILL "$pid"; fi
    say "node $n stopped (pid $pid)"
  done
  if alive "$DIR/redis/pid" "redis-server.*:$REDIS_PORT"; then
    pid=$(<"$DIR/redis/pid"); kill "$pid"; say "redis stopped (pid $pid)"
  fi
  rm -rf "$DIR"
}

status() {
  local rc=0 n
  for n in "${NODES[@]}"; do
    if node_alive "$n"; then say "node $n up on $(port_of "$n") (pid $(<"$(node_dir "$n")/pid"))"
    else say "node $n down"; rc=1; fi
  done
  if alive "$DIR/redis/pid" "redis-server.*:$REDIS_PORT"; then say "redis up on $REDIS_PORT"
  else say "redis down"; rc=1; fi
  if ((rc == 0)); then probe insync "$(bootstrap)" && say "no under-replicated partition" || rc=1; fi
  return $rc
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  bootstrap) bootstrap ;;
  stop) node_arg "${2:-}"; stop_node "$2" ;;
  start) node_arg "${2:-}"; start_node "$2" ;;
  kill) node_arg "${2:-}"; signal_node "$2" KILL; wait_exit "$2" 60; say "node $2 killed" ;;
  pause) node_arg "${2:-}"; signal_node "$2" STOP; say "node $2 paused" ;;
  resume) node_arg "${2:-}"; signal_node "$2" CONT; say "node $2 resumed" ;;
  leader) [[ $# -eq 3 ]] || die "usage: leader TOPIC PARTITION"; probe leader "$(bootstrap)" "$2" "$3" ;;
  wait-insync) wait_insync ;;
  *) die "usage: scripts/kafka-cluster.sh up|down|status|bootstrap|stop N|start N|kill N|pause N|resume N|leader TOPIC PARTITION|wait-insync" ;;
esac
