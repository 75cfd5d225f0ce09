#!/usr/bin/env bash
# Starts Redis and N silos on this machine (distinct ports), waits until every /healthz is ready, and stops them
# cleanly (SIGTERM: each silo leaves the cluster) on Ctrl-C or `cluster.sh stop`.
#
#   deploy/cluster.sh start [N]    # default 3 silos; HTTP on 5001.., silo 11111.., gateway 30000..; Redis 6379
#   deploy/cluster.sh stop
#   deploy/cluster.sh run [N]      # start, then wait; Ctrl-C stops everything
#   deploy/cluster.sh roll         # a rolling restart of the running silos, one at a time: SIGTERM (its conversations
#                                  # move to the others with their KV), wait for the exit, start it again, wait until
#                                  # ready, then the next; the cluster serves throughout
#
# Environment: REDIS_PORT (6379), HTTP_BASE (5001), SILO_BASE (11111), GATEWAY_BASE (30000), MODEL (default model),
# CONFIGURATION (Release), STATE_DIR (deploy/.run: pid and log files, and Redis' data in $STATE_DIR/redis),
# REDIS_FSYNC (everysec | always): Redis keeps an append-only file; `everysec` loses at most the last second of
# acknowledged turns if the Redis process or machine crashes (a clean stop or restart loses nothing), `always` loses
# none at the cost of one fsync per write.
# REDIS_PASSWORD: Redis requires it (requirepass), and the silos get it in AUTOGLM_REDIS (`password=...`). It goes to
# redis-server on stdin and to redis-cli through REDISCLI_AUTH, so it never shows in the process list; no `,` (it is
# a StackExchange.Redis connection string), quotes, backslashes or spaces.
# TLS between silos: export Orleans__Tls__CertificatePath (and Orleans__Tls__CertificatePassword, ...) before
# starting; every silo inherits it (see README, "Transport security").
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${STATE_DIR:-$ROOT/deploy/.run}"
REDIS_PORT="${REDIS_PORT:-6379}"
REDIS_FSYNC="${REDIS_FSYNC:-everysec}"
HTTP_BASE="${HTTP_BASE:-5001}"
SILO_BASE="${SILO_BASE:-11111}"
GATEWAY_BASE="${GATEWAY_BASE:-30000}"
REDIS_PASSWORD="${REDIS_PASSWORD:-}"
CONFIGURATION="${CONFIGURATION:-Release}"
SILO_DLL="$ROOT/src/Silo/bin/$CONFIGURATION/net10.0/linux-x64/AutoGlm.Orleans.Silo.dll"

start() {
  local n="${1:-3}"
  mkdir -p "$STATE_DIR"
  if [[ ! -f "$SILO_DLL" ]]; then
    dotnet build "$ROOT/src/Silo" -c "$CONFIGURATION" >/dev/null
  fi

  case "$REDIS_FSYNC" in
    everysec|always) ;;
    *) echo "REDIS_FSYNC must be everysec or always (got $REDIS_FSYNC)" >&2; exit 2 ;;
  esac
  local redis_conf=""
  if [[ -n "$REDIS_PASSWORD" ]]; then
    if [[ "$REDIS_PASSWORD" =~ [,\"\\[:space:]] ]]; then
      echo "REDIS_PASSWORD must not contain ',', quotes, backslashes or spaces" >&2; exit 2
    fi
    redis_conf="requirepass \"$REDIS_PASSWORD\""
  fi
  mkdir -p "$STATE_DIR/redis"
  # AOF, not RDB snapshots: every acknowledged turn is in the log (see REDIS_FSYNC above for what a crash may lose).
  # The trailing '-' reads more configuration from stdin: the password, kept off the command line.
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$STATE_DIR/redis" --save '' \
    --appendonly yes --appendfsync "$REDIS_FSYNC" - <<<"$redis_conf" >"$STATE_DIR/redis.log" 2>&1 &
  echo $! >"$STATE_DIR/redis.pid"
  # PONG only once the append-only file is loaded (LOADING before), and only to an authenticated client.
  local pong=""
  for _ in $(seq 1 100); do
    if [[ "$(env ${REDIS_PASSWORD:+"REDISCLI_AUTH=$REDIS_PASSWORD"} redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" == "PONG" ]]; then
      pong=1
      break
    fi
    sleep 0.1
  done
  if [[ -z "$pong" ]]; then
    echo "redis-server did not answer on port $REDIS_PORT; see $STATE_DIR/redis.log" >&2
    stop
    exit 1
  fi

  for i in $(seq 0 $((n - 1))); do
    launch_silo "$i"
  done

  for i in $(seq 0 $((n - 1))); do
    wait_ready "$i" || { stop; exit 1; }
  done
}

redis_connection() {
  local connection="127.0.0.1:$REDIS_PORT"
  [[ -n "$REDIS_PASSWORD" ]] && connection="$connection,password=$REDIS_PASSWORD"
  echo "$connection"
}

launch_silo() {
  local i="$1" model_args=()
  if [[ -n "${MODEL:-}" ]]; then
    model_args=(--model "$MODEL")
  fi
  AUTOGLM_REDIS="$(redis_connection)" dotnet "$SILO_DLL" \
    --silo-port $((SILO_BASE + i)) --gateway-port $((GATEWAY_BASE + i)) --http-port $((HTTP_BASE + i)) \
    "${model_args[@]}" >>"$STATE_DIR/silo$i.log" 2>&1 &
  echo $! >"$STATE_DIR/silo$i.pid"
}

wait_ready() {
  local i="$1" url="http://localhost:$((HTTP_BASE + $1))/healthz"
  for _ in $(seq 1 120); do
    if curl -sf "$url" >/dev/null 2>&1; then
      echo "silo $i ready: http://localhost:$((HTTP_BASE + i)) (metrics /metrics, dashboard /dashboard)"
      return 0
    fi
    sleep 0.5
  done
  echo "silo $i did not become ready ($url); see $STATE_DIR/silo$i.log" >&2
  return 1
}

# Waits up to 30 s for a process to exit after SIGTERM (the drain: moves, then running turns), then kills it.
stop_pid() {
  local pid="$1"
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
  kill -KILL "$pid" 2>/dev/null || true
}

roll() {
  shopt -s nullglob
  local pidfiles=("$STATE_DIR"/silo*.pid)
  if [[ ${#pidfiles[@]} -lt 2 ]]; then
    echo "roll needs a running cluster of 2 or more silos (start it with: $0 start N)" >&2; exit 2
  fi
  for pidfile in "${pidfiles[@]}"; do
    local i="${pidfile##*/silo}"; i="${i%.pid}"
    echo "silo $i: draining (its conversations move with their KV)"
    stop_pid "$(cat "$pidfile")"
    launch_silo "$i"
    wait_ready "$i" || exit 1
  done
  echo "rolled ${#pidfiles[@]} silos"
}

stop() {
  shopt -s nullglob
  # Silos first (SIGTERM: they stop taking turns, let running ones finish within Conversations:ShutdownDeadline,
  # and leave the membership table), Redis last (SIGTERM: it flushes its append-only file).
  for pidfile in "$STATE_DIR"/silo*.pid; do
    kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
  done
  for pidfile in "$STATE_DIR"/silo*.pid; do
    stop_pid "$(cat "$pidfile")"
    rm -f "$pidfile"
  done
  if [[ -f "$STATE_DIR/redis.pid" ]]; then
    kill -TERM "$(cat "$STATE_DIR/redis.pid")" 2>/dev/null || true
    rm -f "$STATE_DIR/redis.pid"
  fi
  echo "stopped"
}

case "${1:-run}" in
  start) start "${2:-3}" ;;
  stop) stop ;;
  roll) roll ;;
  run)
    start "${2:-3}"
    trap stop INT TERM
    echo "Ctrl-C stops the cluster"
    while true; do sleep 1; done
    ;;
  *) echo "usage: $0 start [N] | stop | run [N] | roll" >&2; exit 2 ;;
esac
