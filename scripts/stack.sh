#!/usr/bin/env bash
# Starts, stops and reports the services withdrawguard needs: Apache Kafka (KRaft,
# single node) and Redis.
#
#   scripts/stack.sh up | down | status
#
# Two ways to run them, chosen by WG_STACK:
#   auto   (default) Docker when `docker compose` can reach an engine, else local
#   docker docker-compose.yml (apache/kafka image and redis)
#   local  the official Kafka jars from Maven Central run with this machine's Java,
#          and Debian's redis-server; data, pids and logs under .local/
#
# `up` is idempotent, `down` stops exactly the processes `up` started (by pid),
# `status` says up or down for each service and exits non-zero if any is down.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
LOGS="$LOCAL/logs"
RUN="$LOCAL/run"
PY="${WG_PYTHON:-$ROOT/.venv/bin/python}"

KAFKA_PORT="${WG_LOCAL_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${WG_LOCAL_KAFKA_CONTROLLER_PORT:-9093}"
REDIS_PORT="${WG_LOCAL_REDIS_PORT:-6379}"
KAFKA_HEAP="${WG_LOCAL_KAFKA_HEAP:--Xms256m -Xmx768m}"
START_TIMEOUT="${WG_STACK_TIMEOUT:-90}"

KAFKA_HOME="$LOCAL/kafka"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_DATA="$KAFKA_HOME/data"
KAFKA_CONF="$KAFKA_HOME/server.properties"
KAFKA_LOG="$LOGS/kafka.log"
KAFKA_PID="$RUN/kafka.pid"
REDIS_DATA="$LOCAL/redis"
REDIS_LOG="$LOGS/redis.log"
REDIS_PID="$RUN/redis.pid"

say() { printf 'stack: %s\n' "$*"; }
die() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }

mode() {
  case "${WG_STACK:-auto}" in
    docker) echo docker ;;
    local) echo local ;;
    auto)
      if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1 \
         && docker info >/dev/null 2>&1; then echo docker; else echo local; fi ;;
    *) die "WG_STACK must be auto, docker or local (got '${WG_STACK}')" ;;
  esac
}

# A pid file names a live process of ours only if that pid runs the expected program.
alive() {
  local pidfile=$1 pattern=$2 pid
  [[ -f $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

probe() { "$PY" "$ROOT/scripts/probe.py" "$@"; }

wait_for() { # name logfile command...
  local name=$1 log=$2; shift 2
  local deadline=$((SECONDS + START_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "$name did not become ready within ${START_TIMEOUT}s; read $log"
    fi
    sleep 0.5
  done
}

# ---------------------------------------------------------------- local Kafka
kafka_jars() {
  if [[ -f $KAFKA_LIBS/.resolved ]] && [[ $KAFKA_LIBS/.resolved -nt $ROOT/deploy/kafka/pom.xml ]]; then
    return
  fi
  command -v mvn >/dev/null || die "Maven is needed to fetch the Kafka jars (apt-get install maven), or use Docker"
  command -v java >/dev/null || die "Java 17+ is needed to run Kafka (apt-get install openjdk-17-jre-headless), or use Docker"
  say "resolving the Kafka jars from Maven Central into $KAFKA_LIBS"
  rm -rf "$KAFKA_LIBS"
  mvn -q -B -f "$ROOT/deploy/kafka/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$KAFKA_LIBS" -DincludeScope=runtime >"$LOGS/maven.log" 2>&1 \
    || die "Maven could not resolve the Kafka jars; read $LOGS/maven.log"
  touch "$KAFKA_LIBS/.resolved"
}

java_ok() {
  local v
  v=$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')
  [[ ${v%%.*} -ge 17 ]] || die "Kafka 4 needs Java 17 or newer; found Java $v"
}

kafka_up() {
  if alive "$KAFKA_PID" kafka.Kafka; then say "kafka already up (pid $(<"$KAFKA_PID"))"; return; fi
  port_busy "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by a process this stack did not start; stop it or set WG_LOCAL_KAFKA_PORT"
  kafka_jars
  java_ok
  mkdir -p "$KAFKA_DATA"
  sed -e "s#@DATA_DIR@#$KAFKA_DATA#" -e "s#@PORT@#$KAFKA_PORT#" \
      -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#" \
      "$ROOT/deploy/kafka/server.properties.template" >"$KAFKA_CONF"
  local cp="$KAFKA_LIBS/*" log4j="-Dlog4j2.configurationFile=$ROOT/deploy/kafka/log4j2.properties"
  if [[ ! -f $KAFKA_DATA/meta.properties ]]; then
    say "formatting Kafka storage in $KAFKA_DATA"
    java $log4j -cp "$cp" kafka.tools.StorageTool format --ignore-formatted \
      -t "$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)" \
      -c "$KAFKA_CONF" >>"$KAFKA_LOG" 2>&1 || die "formatting Kafka storage failed; read $KAFKA_LOG"
  fi
  say "starting kafka on 127.0.0.1:$KAFKA_PORT (log: $KAFKA_LOG)"
  # shellcheck disable=SC2086 # the heap options are meant to split into words
  nohup java $KAFKA_HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    $log4j -cp "$cp" kafka.Kafka "$KAFKA_CONF" >>"$KAFKA_LOG" 2>&1 </dev/null &
  echo $! >"$KAFKA_PID"
  wait_for kafka "$KAFKA_LOG" probe kafka "127.0.0.1:$KAFKA_PORT"
  say "kafka up (pid $(<"$KAFKA_PID"))"
}

# ---------------------------------------------------------------- local Redis
redis_binary() {
  command -v redis-server >/dev/null && return
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    say "installing Debian's redis-server"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } \
      >"$LOGS/apt-redis.log" 2>&1 || die "apt-get install redis-server failed; read $LOGS/apt-redis.log"
  else
    die "redis-server is missing: run 'sudo apt-get install redis-server' (or use Docker)"
  fi
}

redis_up() {
  if alive "$REDIS_PID" redis-server; then say "redis already up (pid $(<"$REDIS_PID"))"; return; fi
  port_busy "$REDIS_PORT" && die "port $REDIS_PORT is taken by a process this stack did not start; stop it or set WG_LOCAL_REDIS_PORT"
  redis_binary
  mkdir -p "$REDIS_DATA"
  say "starting redis on 127.0.0.1:$REDIS_PORT (log: $REDIS_LOG)"
  nohup redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DATA" \
    --save "" --appendonly yes --daemonize no --logfile "" >>"$REDIS_LOG" 2>&1 </dev/null &
  echo $! >"$REDIS_PID"
  wait_for redis "$REDIS_LOG" probe redis "redis://127.0.0.1:$REDIS_PORT/0"
  say "redis up (pid $(<"$REDIS_PID"))"
}

stop_pid() { # name pidfile pattern
  local name=$1 pidfile=$2 pattern=$3 pid
  if ! alive "$pidfile" "$pattern"; then rm -f "$pidfile"; say "$name not running"; return; fi
  pid=$(<"$pidfile")
  kill -TERM "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then say "$name did not stop in 30s; killing"; kill -KILL "$pid"; fi
  rm -f "$pidfile"
  say "$name stopped (pid $pid)"
}

status_line() { # name ok?
  if [[ $2 == 0 ]]; then printf '%-6s up\n' "$1"; else printf '%-6s down\n' "$1"; fi
}

local_status() {
  local rc=0 k=1 r=1
  alive "$KAFKA_PID" kafka.Kafka && probe kafka "127.0.0.1:$KAFKA_PORT" >/dev/null 2>&1 && k=0
  alive "$REDIS_PID" redis-server && probe redis "redis://127.0.0.1:$REDIS_PORT/0" >/dev/null 2>&1 && r=0
  status_line kafka $k; status_line redis $r
  ((k == 0 && r == 0)) || rc=1
  return $rc
}

# ---------------------------------------------------------------- Docker
compose() { docker compose -f "$ROOT/docker-compose.yml" "$@"; }

docker_up() {
  say "starting kafka and redis with docker compose"
  compose up -d --wait kafka redis
}

docker_status() {
  local rc=0 k=1 r=1
  probe kafka "127.0.0.1:$KAFKA_PORT" >/dev/null 2>&1 && k=0
  probe redis "redis://127.0.0.1:$REDIS_PORT/0" >/dev/null 2>&1 && r=0
  status_line kafka $k; status_line redis $r
  ((k == 0 && r == 0)) || rc=1
  return $rc
}

main() {
  mkdir -p "$LOGS" "$RUN"
  [[ -x $PY ]] || die "no Python at $PY: run 'make venv' first"
  local m; m=$(mode)
  case "${1:-}" in
    up) if [[ $m == docker ]]; then docker_up; else kafka_up; redis_up; fi ;;
    down) if [[ $m == docker ]]; then compose down; else stop_pid kafka "$KAFKA_PID" kafka.Kafka; stop_pid redis "$REDIS_PID" redis-server; fi ;;
    status) if [[ $m == docker ]]; then docker_status; else local_status; fi ;;
    *) die "usage: $0 up|down|status" ;;
  esac
}

main "$@"
