#!/usr/bin/env bash
# How the system scales out on a Redis Cluster bus (BENCHMARKS.md, "Scaling out"):
# starts a 6-node Redis Cluster (3 masters, 3 replicas) on loopback ports 7101-7106, a
# fresh PostgreSQL database `chat_scale`, one user service, one sender and three
# receivers (4005-4007), each its own process, release build, rate limits off. Then, for
# 1, 2 and 3 receivers, one `chat-bench fanout` run with its subscribers spread over
# that many receivers, and what each part of the system spent during the send phase:
# messages on the bus and bytes through Redis per chat message, CPU per message of the
# sender, Redis and PostgreSQL, CPU per delivery of the receivers — and the bus messages
# a receiver that no subscriber uses received (none, on sharded pub/sub).
#
#   bench/scaling.sh                      # rate 200 msg/s, 20 s, 100 chats × 10, 1,000 subscribers
#   RATE=400 DURATION=30s bench/scaling.sh
#   bench/scaling.sh failover             # a master killed under load: the cost of a failover
#
# Needs redis-server and redis-cli (7 or later), psql, curl, jq and bc.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_ADMIN="${BENCH_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432}"
RATE="${RATE:-200}"
DURATION="${DURATION:-20s}"
CHATS="${CHATS:-100}"
PARTICIPANTS="${PARTICIPANTS:-10}"
SUBSCRIBERS="${SUBSCRIBERS:-1000}"
NODES=(7101 7102 7103 7104 7105 7106)
RECEIVERS=(4005 4006 4007)
export CHAT_RATE_LIMITS=off

cargo build --release -j2 -p chat-stack -p chat-bench
target="${CARGO_TARGET_DIR:-target}/release"
dir=$(mktemp -d /tmp/chat-scaling.XXXXXX)
pids=()
stop() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for port in "${NODES[@]}"; do redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap stop EXIT

echo "==> Redis Cluster on ${NODES[*]}"
for port in "${NODES[@]}"; do
    mkdir -p "$dir/redis-$port"
    redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
        --cluster-config-file nodes.conf --cluster-node-timeout 3000 --dir "$dir/redis-$port" \
        --save "" --appendonly no --daemonize yes --pidfile "$dir/redis-$port.pid" \
        --logfile "$dir/redis-$port.log"
done
for port in "${NODES[@]}"; do
    until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
done
redis-cli --cluster create $(printf '127.0.0.1:%s ' "${NODES[@]}") --cluster-replicas 1 \
    --cluster-yes >"$dir/cluster-create.log"
until redis-cli -p "${NODES[0]}" cluster info | grep -q cluster_state:ok; do sleep 0.2; done
cluster=$(printf 'redis://127.0.0.1:%s,' "${NODES[@]}")
cluster=${cluster%,}

echo "==> PostgreSQL database chat_scale, user 4001, sender 4002, receivers ${RECEIVERS[*]}"
psql "$PG_ADMIN/postgres" -q -c "DROP DATABASE IF EXISTS chat_scale WITH (FORCE)" -c "CREATE DATABASE chat_scale"
common=(--database-url "$PG_ADMIN/chat_scale" --redis-cluster "$cluster" --bus-prefix "scale$$"
    --jwt-secret "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" --data-dir "$dir/data")
serve() { # service port
    "$target/chat" serve "$1" --port "$2" "${common[@]}" >"$dir/$1-$2.log" 2>&1 &
    pids+=($!)
    eval "pid_$2=$!"
    until curl -sf -o /dev/null "http://127.0.0.1:$2/readyz"; do sleep 0.2; done
}
serve user 4001
serve sender 4002
for port in "${RECEIVERS[@]}"; do serve receiver "$port"; done

# CPU seconds (user + system) of a process so far.
cpu() { awk '{ split($0, a, ") "); split(a[2], f, " "); printf "%.2f", (f[12] + f[13]) / 100 }' "/proc/$1/stat"; }
# PostgreSQL's CPU seconds so far: every server process.
pg_cpu() {
    local total=0
    for pid in $(pgrep -x postgres); do total=$(echo "$total + $(cpu "$pid")" | bc); done
    echo "$total"
}
# A counter from an instance's /metrics.
metric() { curl -sf "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'; }
# A field summed over every Redis node's INFO.
redis_sum() {
    local total=0
    for port in "${NODES[@]}"; do
        # A node killed by the failover run answers nothing: counted as 0.
        value=$( (redis-cli -p "$port" info all 2>/dev/null || true) | tr -d '\r' | awk -F: -v f="$1" '$1 == f { print $2 }')
        total=$(echo "$total + ${value:-0}" | bc)
    done
    echo "$total"
}
snapshot() { # name
    local s="$dir/$1.snapshot"
    {
        echo "sender_cpu=$(cpu "$pid_4002")"
        for port in "${RECEIVERS[@]}"; do
            eval "echo receiver_${port}_cpu=\$(cpu \$pid_$port)"
            echo "receiver_${port}_bus=$(metric "$port" chat_bus_received_total)"
        done
        echo "published=$(metric 4002 chat_bus_published_total)"
        echo "redis_cpu=$(echo "$(redis_sum used_cpu_user) + $(redis_sum used_cpu_sys)" | bc)"
        echo "redis_in=$(redis_sum total_net_input_bytes)"
        echo "redis_out=$(redis_sum total_net_output_bytes)"
        echo "redis_commands=$(redis_sum total_commands_processed)"
        echo "pg_cpu=$(pg_cpu)"
    } >"$s"
}
# The change of `key` between two snapshots.
delta() { # before after key
    echo "$(grep "^$3=" "$dir/$2.snapshot" | cut -d= -f2) - $(grep "^$3=" "$dir/$1.snapshot" | cut -d= -f2)" | bc
}

# One fan-out run over the first $1 receivers, measured from "sending" to the end.
run() { # receivers [label]
    local n=$1 label=${2:-$1} urls
    urls=$(printf 'http://127.0.0.1:%s,' "${RECEIVERS[@]:0:$n}")
    "$target/chat-bench" --users http://127.0.0.1:4001 --senders http://127.0.0.1:4002 \
        --receivers "${urls%,}" --json "$dir/run-$label.json" fanout \
        --rate "$RATE" --duration "$DURATION" --chats "$CHATS" --participants "$PARTICIPANTS" \
        --people $((CHATS * PARTICIPANTS)) --subscribers "$SUBSCRIBERS" >"$dir/run-$label.log" 2>&1 &
    local bench=$!
    until grep -qs "^sending" "$dir/run-$label.log"; do
        kill -0 "$bench" 2>/dev/null || { cat "$dir/run-$label.log"; exit 1; }
        sleep 0.05
    done
    snapshot "before-$label"
    ${ON_SENDING:-true}
    wait "$bench"
    snapshot "after-$label"
    report "$n" "$label"
}

report() { # receivers label
    local n=$1 label=$2 json="$dir/run-$2.json"
    local sent deliveries
    sent=$(jq '.sent' "$json")
    deliveries=$(jq '.deliveries' "$json")
    local receivers_cpu=0 bus_in=0
    echo "--- $n receiver(s) with subscribers: $(jq -c '{sent: .sent, deliveries: .deliveries, lost: .lost, duplicated: .duplicated, p50: .latency_ms.p50, p99: .latency_ms.p99, max: .latency_ms.max}' "$json")"
    for port in "${RECEIVERS[@]}"; do
        local c b
        c=$(delta "before-$label" "after-$label" "receiver_${port}_cpu")
        b=$(delta "before-$label" "after-$label" "receiver_${port}_bus")
        echo "receiver $port: CPU $c s, bus messages received $b"
        receivers_cpu=$(echo "$receivers_cpu + $c" | bc)
        bus_in=$(echo "$bus_in + $b" | bc)
    done
    per() { echo "scale=2; $1 / $2" | bc; }
    echo "bus messages published per chat message: $(per "$(delta "before-$label" "after-$label" published)" "$sent")"
    echo "bus messages received (all receivers) per chat message: $(per "$bus_in" "$sent")"
    echo "Redis commands per chat message: $(per "$(delta "before-$label" "after-$label" redis_commands)" "$sent")"
    echo "Redis bytes in / out per chat message: $(per "$(delta "before-$label" "after-$label" redis_in)" "$sent") / $(per "$(delta "before-$label" "after-$label" redis_out)" "$sent")"
    echo "CPU µs per chat message: sender $(per "$(delta "before-$label" "after-$label" sender_cpu) * 1000000" "$sent"), Redis (6 nodes) $(per "$(delta "before-$label" "after-$label" redis_cpu) * 1000000" "$sent"), PostgreSQL $(per "$(delta "before-$label" "after-$label" pg_cpu) * 1000000" "$sent")"
    echo "receivers' CPU µs per delivery: $(per "$receivers_cpu * 1000000" "$deliveries")"
}

if [ "${1:-}" = failover ]; then
    # The master serving the most partitions' slots is killed 5 s into the send phase;
    # its replica takes over after the node timeout (3 s).
    victim=${NODES[0]}
    kill_master() {
        (sleep 5 && kill -9 "$(cat "$dir/redis-$victim.pid")" && echo "killed the master on $victim at $(date +%T.%N)" >&2) &
    }
    resubscriptions_before=$(for port in "${RECEIVERS[@]:0:2}"; do metric "$port" chat_bus_resubscriptions_total; done | paste -sd+ | bc)
    backfills_before=$(for port in "${RECEIVERS[@]:0:2}"; do metric "$port" chat_hub_backfills_total; done | paste -sd+ | bc)
    NODES_ALIVE=("${NODES[@]:1}")
    ON_SENDING=kill_master run 2 failover || true
    NODES=("${NODES_ALIVE[@]}")
    echo "resubscriptions: $(( $(for port in "${RECEIVERS[@]:0:2}"; do metric "$port" chat_bus_resubscriptions_total; done | paste -sd+ | bc) - resubscriptions_before ))"
    echo "catch-up reads (hub backfills): $(( $(for port in "${RECEIVERS[@]:0:2}"; do metric "$port" chat_hub_backfills_total; done | paste -sd+ | bc) - backfills_before ))"
    exit 0
fi

for n in 1 2 3; do run "$n"; done
