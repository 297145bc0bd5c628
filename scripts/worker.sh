#!/usr/bin/env bash
# Runs the withdrawguard worker in the background for the demo.
#   scripts/worker.sh start | stop | status
# pid in .local/run/worker.pid, log in .local/logs/worker.log; `start` waits for /ready.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PIDFILE="$ROOT/.local/run/worker.pid"
LOG="$ROOT/.local/logs/worker.log"
PORT="${WG_WEB_PORT:-6066}"
TIMEOUT="${WG_WORKER_TIMEOUT:-120}"
mkdir -p "$ROOT/.local/run" "$ROOT/.local/logs"

alive() {
  [[ -f $PIDFILE ]] && kill -0 "$(<"$PIDFILE")" 2>/dev/null \
    && tr '\0' ' ' <"/proc/$(<"$PIDFILE")/cmdline" | grep -q "withdrawguard worker"
}

case "${1:-}" in
  start)
    if alive; then echo "worker: already up (pid $(<"$PIDFILE"))"; exit 0; fi
    echo "worker: starting (log: $LOG)"
    cd "$ROOT"
    WG_DATA_DIR="${WG_DATA_DIR:-$ROOT/.local/worker}" nohup "$ROOT/.venv/bin/withdrawguard" worker \
      >>"$LOG" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    deadline=$((SECONDS + TIMEOUT))
    until curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1; do
      if ! alive; then echo "worker: exited during start-up; read $LOG" >&2; exit 1; fi
      if ((SECONDS >= deadline)); then echo "worker: not ready after ${TIMEOUT}s; read $LOG" >&2; exit 1; fi
      sleep 0.5
    done
    echo "worker: ready on http://127.0.0.1:$PORT (pid $(<"$PIDFILE"))"
    ;;
  stop)
    if ! alive; then rm -f "$PIDFILE"; exit 0; fi
    pid=$(<"$PIDFILE"); kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && { echo "worker: did not stop in 30s; killing"; kill -KILL "$pid"; }
    rm -f "$PIDFILE"; echo "worker: stopped (pid $pid)"
    ;;
  status)
    if alive; then printf '%-6s up\n' worker; else printf '%-6s down\n' worker; fi
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
