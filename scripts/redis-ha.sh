#!/usr/bin/env bash
# Redis beyond one node, on this machine, with Debian's redis-server: a 3-master Redis
# Cluster, and a master + 2 replicas watched by 3 sentinels. For trying WG_REDIS_MODE=cluster
# and WG_REDIS_MODE=sentinel locally, and for tests/integration/test_redis_ha.py.
#
#   scripts/redis-ha.sh up-cluster | up-sentinel | down | status
#
#   WG_HA_DIR            data, configs, logs and pids (default .local/redis-ha)
#   WG_HA_CLUSTER_PORT   first of the 3 cluster ports (default 7101; each node also uses
#                        its port + 10000 for the cluster bus)
#   WG_HA_SENTINEL_PORT  master port (default 7201); the replicas use +1 and +2, the
#                        sentinels +10, +11, +12
#   WG_HA_PASSWORD       when set, the data nodes ask for it (requirepass, masterauth,
#                        sentinel auth-pass); the sentinels themselves ask for none
#   WG_HA_DOWN_AFTER_MS  sentinel down-after-milliseconds (default 1000)
#
# `up-*` is idempotent (a running node is left alone); `down` stops exactly the processes
# this script started under WG_HA_DIR (by pid) and removes WG_HA_DIR's data.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${WG_HA_DIR:-$ROOT/.local/redis-ha}"
CLUSTER_PORT="${WG_HA_CLUSTER_PORT:-7101}"
SENTINEL_PORT="${WG_HA_SENTINEL_PORT:-7201}"
PASSWORD="${WG_HA_PASSWORD:-}"
DOWN_AFTER_MS="${WG_HA_DOWN_AFTER_MS:-1000}"
MASTER_NAME=wg-registry
TIMEOUT=30

say() { printf 'redis-ha: %s\n' "$*"; }
die() { printf 'redis-ha: error: %s\n' "$*" >&2; exit 1; }

for v in CLUSTER_PORT SENTINEL_PORT DOWN_AFTER_MS; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "WG_HA_${v} must be a number, got '${!v}'"
done
command -v redis-server >/dev/null || die "redis-server is missing: run scripts/stack.sh up (it installs Debian's redis-server) or apt-get install redis-server"

# redis-cli takes the data nodes' password from the environment, never the command line
# (and sends an empty one if the variable is set but empty); the sentinels have none.
if [[ -n $PASSWORD ]]; then export REDISCLI_AUTH="$PASSWORD"; else unset REDISCLI_AUTH; fi
cli() { local port=$1; shift; redis-cli -h 127.0.0.1 -p "$port" "$@"; }
sentinel_cli() { local port=$1; shift; env -u REDISCLI_AUTH redis-cli -h 127.0.0.1 -p "$port" "$@"; }

# A pid file names a live node of ours only if that pid runs redis-server on its port.
alive() {
  local pidfile=$1 port=$2 pid
  [[ -f $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "redis-server.*:$port"
}

wait_until() { # what command...
  local what=$1; shift
  local deadline=$((SECONDS + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what not ready within ${TIMEOUT}s; logs in $DIR"
    sleep 0.2
  done
}

auth_lines() {
  [[ -z $PASSWORD ]] && return
  printf 'requirepass "%s"\nmasterauth "%s"\n' "$PASSWORD" "$PASSWORD"
}

start_node() { # name port [extra config lines...]
  local name=$1 port=$2; shift 2
  local d="$DIR/$name"
  if alive "$d/pid" "$port"; then say "$name already up on $port (pid $(<"$d/pid"))"; return; fi
  mkdir -p "$d"
  {
    printf 'port %s\nbind 127.0.0.1\ndir "%s"\npidfile "%s/pid"\nlogfile "%s/log"\n' \
      "$port" "$d" "$d" "$d"
    printf 'daemonize yes\nsave ""\nappendonly no\n'
    auth_lines
    printf '%s\n' "$@"
  } >"$d/redis.conf"
  chmod 600 "$d/redis.conf"
  redis-server "$d/redis.conf"
  wait_until "$name" cli "$port" ping
  say "$name up on 127.0.0.1:$port (pid $(<"$d/pid"))"
}

up_cluster() {
  local ports=() i
  for i in 0 1 2; do
    ports+=("$((CLUSTER_PORT + i))")
    start_node "cluster-$i" "$((CLUSTER_PORT + i))" "cluster-enabled yes" \
      "cluster-config-file nodes.conf" "cluster-node-timeout 2000"
  done
  if cli "${ports[0]}" cluster info | grep -q '^cluster_state:ok'; then
    say "cluster already formed"; return
  fi
  local seeds=()
  for i in "${ports[@]}"; do seeds+=("127.0.0.1:$i"); done
  redis-cli --cluster create "${seeds[@]}" --cluster-yes \
    >"$DIR/cluster-create.log" 2>&1 || die "cluster create failed; read $DIR/cluster-create.log"
  for i in "${ports[@]}"; do
    wait_until "cluster state on $i" bash -c \
      "redis-cli -p $i cluster info | grep -q '^cluster_state:ok'"
  done
  say "cluster ok: ${seeds[*]}"
}

up_sentinel() {
  local master=$SENTINEL_PORT i
  start_node sentinel-master "$master"
  for i in 1 2; do
    start_node "sentinel-replica-$i" "$((master + i))" "replicaof 127.0.0.1 $master"
    wait_until "replica $i in sync" bash -c "redis-cli \
      -p $((master + i)) info replication | grep -q 'master_link_status:up'"
  done
  for i in 0 1 2; do
    local port=$((SENTINEL_PORT + 10 + i)) d="$DIR/sentinel-$i"
    if alive "$d/pid" "$port"; then say "sentinel-$i already up on $port"; continue; fi
    mkdir -p "$d"
    {
      printf 'port %s\nbind 127.0.0.1\ndir "%s"\npidfile "%s/pid"\nlogfile "%s/log"\n' \
        "$port" "$d" "$d" "$d"
      printf 'daemonize yes\nsentinel monitor %s 127.0.0.1 %s 2\n' "$MASTER_NAME" "$master"
      printf 'sentinel down-after-milliseconds %s %s\n' "$MASTER_NAME" "$DOWN_AFTER_MS"
      printf 'sentinel failover-timeout %s 10000\n' "$MASTER_NAME"
      printf 'sentinel parallel-syncs %s 1\n' "$MASTER_NAME"
      [[ -n $PASSWORD ]] && printf 'sentinel auth-pass %s "%s"\n' "$MASTER_NAME" "$PASSWORD"
    } >"$d/sentinel.conf"
    chmod 600 "$d/sentinel.conf"
    redis-server "$d/sentinel.conf" --sentinel
    wait_until "sentinel-$i" sentinel_cli "$port" ping
    say "sentinel-$i up on 127.0.0.1:$port (pid $(<"$d/pid"))"
  done
  for i in 0 1 2; do
    wait_until "sentinel-$i to see the replica and the other sentinels" bash -c \
      "env -u REDISCLI_AUTH redis-cli -p $((SENTINEL_PORT + 10 + i)) sentinel ckquorum $MASTER_NAME | grep -q '^OK'"
  done
  say "sentinel ok: master $MASTER_NAME at 127.0.0.1:$master, replicas on +1 +2, sentinels 127.0.0.1:$((SENTINEL_PORT + 10))-$((SENTINEL_PORT + 12))"
}

down() {
  [[ -d $DIR ]] || { say "nothing under $DIR"; return; }
  local pidfile pid
  for pidfile in "$DIR"/*/pid; do
    [[ -f $pidfile ]] || continue
    pid=$(<"$pidfile")
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null \
       && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q redis-server; then
      kill -CONT "$pid" 2>/dev/null || true  # a test may have stopped it
      kill "$pid"
      local deadline=$((SECONDS + 10))
      while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
      say "stopped $(basename "$(dirname "$pidfile")") (pid $pid)"
    fi
  done
  rm -rf "$DIR"
}

status() {
  local rc=0 d port
  for d in "$DIR"/*/; do
    [[ -f $d/pid ]] || continue
    port=$(awk '$1 == "port" {print $2}' "$d"/*.conf)
    if alive "$d/pid" "$port"; then say "$(basename "$d") up on $port"
    else say "$(basename "$d") down"; rc=1; fi
  done
  return $rc
}

case "${1:-}" in
  up-cluster) mkdir -p "$DIR"; up_cluster ;;
  up-sentinel) mkdir -p "$DIR"; up_sentinel ;;
  down) down ;;
  status) status ;;
  *) die "usage: scripts/redis-ha.sh up-cluster | up-sentinel | down | status" ;;
esac
