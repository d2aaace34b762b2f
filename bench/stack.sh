#!/usr/bin/env bash
# Starts the deployment the benchmarks in BENCHMARKS.md measure: a release build, one OS
# process per instance (2 user, 2 sender, 2 receiver), no web tier, PostgreSQL database
# `chat_bench` (dropped and created afresh) and Redis, rate limits off (the load
# generator registers thousands of users from one address). Ctrl-C stops it.
#
#   bench/stack.sh                 # PostgreSQL + Redis
#   bench/stack.sh --embedded      # SQLite + in-process bus, all in one process
set -euo pipefail
cd "$(dirname "$0")/.."
PG_ADMIN="${BENCH_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432}"
export CHAT_RATE_LIMITS=off
cargo build --release -j2 -p chat-stack -p chat-bench
bin="${CARGO_TARGET_DIR:-target}/release/chat"
data=$(mktemp -d /tmp/chat-bench.XXXXXX)
if [ "${1:-}" = "--embedded" ]; then
    exec "$bin" up --no-web --data-dir "$data" --database-url "sqlite://$data/chat.db"
fi
psql "$PG_ADMIN/postgres" -q -c "DROP DATABASE IF EXISTS chat_bench WITH (FORCE)" -c "CREATE DATABASE chat_bench"
exec "$bin" up --processes --no-web --data-dir "$data" \
    --database-url "$PG_ADMIN/chat_bench" --redis-url "${BENCH_REDIS_URL:-redis://127.0.0.1:6379}" \
    --bus-prefix "bench$$"
