#!/usr/bin/env bash
# A multi-host deployment on one machine: every server on a "host" of its own (a Linux
# network namespace with one address, joined to the others by a veth link on a bridge),
# so a host can be cut off the way a machine drops off a network.
#
#   scripts/topology.sh up        start everything; prints the URLs (also in $DIR/env)
#   scripts/topology.sh down      stop everything it started and remove its namespaces
#   scripts/topology.sh cut HOST  take HOST's link down (nothing reaches it, nor leaves)
#   scripts/topology.sh heal HOST bring it back
#   scripts/topology.sh hosts     the hosts and their addresses
#
# Hosts: pg1 (PostgreSQL primary), pg2 (its streaming replica), redis1..redis6 (a Redis
# Cluster of 3 masters and 3 replicas; a replica takes over however long it was cut off
# from its master, since the bus keeps no data in Redis, only passes it on), user1-2, sender1-2, receiver1-3 (the `chat`
# binary's `serve`, receivers reading from the replica). The machine itself sits on the
# bridge at .1 and reaches every host.
#
# Settings (environment): TOPOLOGY_DIR (state, logs, data; /tmp/chat-topology),
# TOPOLOGY_NAME (prefix of namespace and link names, at most 6 characters; ct),
# TOPOLOGY_SUBNET (the first three parts of a private /24 it takes; 10.213.0),
# TOPOLOGY_TTL (seconds any process it starts may live; 3600), CHAT_BIN (the binary;
# target/served/chat, else target/release/chat, else target/debug/chat),
# CHAT_RATE_LIMITS (passed on; load tests set it to off).
#
# Needs root, iproute2, PostgreSQL's server binaries, redis-server and redis-cli.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${TOPOLOGY_DIR:-/tmp/chat-topology}"
NAME="${TOPOLOGY_NAME:-ct}"
SUBNET="${TOPOLOGY_SUBNET:-10.213.0}"
TTL="${TOPOLOGY_TTL:-3600}"
BRIDGE="${NAME}-br"

# host → last part of its address
declare -A HOSTS=(
    [pg1]=11 [pg2]=12
    [redis1]=21 [redis2]=22 [redis3]=23 [redis4]=24 [redis5]=25 [redis6]=26
    [user1]=31 [user2]=32
    [sender1]=41 [sender2]=42
    [receiver1]=51 [receiver2]=52 [receiver3]=53
)
ORDER=(pg1 pg2 redis1 redis2 redis3 redis4 redis5 redis6 user1 user2 sender1 sender2 receiver1 receiver2 receiver3)
REDIS_PORT=7000
PG_PORT=5432
declare -A SERVICE_PORT=([user]=4001 [sender]=4002 [receiver]=4005)

say() { echo "==> $*" >&2; }
die() { echo "topology: $*" >&2; exit 2; }

addr() { echo "$SUBNET.${HOSTS[$1]}"; }
ns() { echo "$NAME-$1"; }
# The machine's end of a host's link (interface names hold at most 15 characters).
link() { echo "$NAME-v${HOSTS[$1]}"; }

check_host_ready() {
    [[ $(id -u) == 0 ]] || die "needs root (network namespaces); run it as root"
    command -v ip >/dev/null || die "needs iproute2 (ip)"
    ip netns add "$NAME-probe" 2>/dev/null || die "this machine does not allow network namespaces (ip netns add failed)"
    ip netns del "$NAME-probe"
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
        die "needs redis-server and redis-cli"
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [[ -x "$PG_BIN/initdb" ]] || die "needs PostgreSQL's server binaries (initdb, postgres)"
    [[ ${#NAME} -le 6 ]] || die "TOPOLOGY_NAME must be at most 6 characters"
}

find_chat() {
    for candidate in "${CHAT_BIN:-}" "$REPO/target/served/chat" "$REPO/target/release/chat" "$REPO/target/debug/chat"; do
        if [[ -n "$candidate" && -x "$candidate" ]]; then echo "$candidate"; return; fi
    done
    die "no chat binary: build it (cargo build -p chat-stack) or set CHAT_BIN"
}

network_up() {
    ip link add "$BRIDGE" type bridge
    ip addr add "$SUBNET.1/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    for host in "${ORDER[@]}"; do
        ip netns add "$(ns "$host")"
        ip link add "$(link "$host")" type veth peer name eth0 netns "$(ns "$host")"
        ip link set "$(link "$host")" master "$BRIDGE" up
        ip -n "$(ns "$host")" addr add "$(addr "$host")/24" dev eth0
        ip -n "$(ns "$host")" link set eth0 up
        ip -n "$(ns "$host")" link set lo up
    done
}

# start NAME HOST USER COMMAND…: in HOST's namespace, as USER, bounded by TTL, in a
# session of its own (so `down` stops it and everything it forked), logging to logs/NAME.
start() {
    local name=$1 host=$2 user=$3
    shift 3
    setsid ip netns exec "$(ns "$host")" runuser -u "$user" -- timeout --kill-after=5 "$TTL" "$@" \
        >"$DIR/logs/$name.log" 2>&1 &
    echo $! >"$DIR/pids/$name"
}

wait_for() {
    local what=$1 seconds=$2
    shift 2
    for _ in $(seq 1 $((seconds * 4))); do
        if "$@" >/dev/null 2>&1; then return; fi
        sleep 0.25
    done
    die "$what did not come up within ${seconds}s (logs in $DIR/logs)"
}

postgres_up() {
    local primary="$DIR/pg1" replica="$DIR/pg2"
    mkdir -p "$primary"
    chown postgres:postgres "$primary"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$primary" -A trust -U postgres --no-sync >"$DIR/logs/initdb.log"
    printf 'host all all %s.0/24 trust\nhost replication all %s.0/24 trust\n' "$SUBNET" "$SUBNET" \
        >>"$primary/pg_hba.conf"
    start postgres-primary pg1 postgres "$PG_BIN/postgres" -D "$primary" -k "" \
        -c "listen_addresses=$(addr pg1)" -c fsync=off -c max_connections=300
    wait_for "the PostgreSQL primary" 60 "$PG_BIN/pg_isready" -U postgres -h "$(addr pg1)" -p $PG_PORT
    runuser -u postgres -- "$PG_BIN/psql" -h "$(addr pg1)" -q -c "CREATE DATABASE chat" postgres
    mkdir -p "$replica"
    chown postgres:postgres "$replica"
    chmod 700 "$replica"
    runuser -u postgres -- "$PG_BIN/pg_basebackup" -h "$(addr pg1)" -U postgres -D "$replica" -R -X stream --checkpoint=fast \
        >"$DIR/logs/basebackup.log" 2>&1
    start postgres-replica pg2 postgres "$PG_BIN/postgres" -D "$replica" -k "" \
        -c "listen_addresses=$(addr pg2)" -c fsync=off -c max_connections=300
    wait_for "the PostgreSQL replica" 60 "$PG_BIN/pg_isready" -U postgres -h "$(addr pg2)" -p $PG_PORT
}

redis_up() {
    local nodes=()
    for i in 1 2 3 4 5 6; do
        local host="redis$i" data="$DIR/redis$i"
        mkdir -p "$data"
        chown redis:redis "$data" 2>/dev/null || chmod 777 "$data"
        start "redis$i" "$host" "$(id -un redis 2>/dev/null || echo root)" redis-server \
            --bind "$(addr "$host")" --port $REDIS_PORT --protected-mode no --dir "$data" \
            --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
            --cluster-replica-validity-factor 0 --repl-diskless-sync-delay 0 \
            --save "" --appendonly no
        nodes+=("$(addr "$host"):$REDIS_PORT")
    done
    for node in "${nodes[@]}"; do
        wait_for "redis at $node" 30 redis-cli -h "${node%:*}" -p $REDIS_PORT ping
    done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$DIR/logs/cluster-create.log" 2>&1
    wait_for "the Redis Cluster" 60 cluster_ok
}

# Every node sees the cluster whole, and every replica has synchronised with its master
# (only then can it take over from it).
cluster_ok() {
    for i in 1 2 3 4 5 6; do
        local host
        host=$(addr "redis$i")
        redis-cli -h "$host" -p $REDIS_PORT cluster info | grep -q cluster_state:ok || return 1
        if redis-cli -h "$host" -p $REDIS_PORT info replication | grep -q role:slave; then
            redis-cli -h "$host" -p $REDIS_PORT info replication | grep -q master_link_status:up || return 1
        fi
    done
}

services_up() {
    local chat secret cluster
    chat=$(find_chat)
    secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    cluster=$(for i in 1 2 3; do printf 'redis://%s:%s,' "$(addr "redis$i")" $REDIS_PORT; done)
    cluster=${cluster%,}
    cat >"$DIR/service.env" <<EOF
DATABASE_URL=postgres://postgres@$(addr pg1):$PG_PORT/chat
CHAT_REDIS_CLUSTER=$cluster
CHAT_JWT_SECRET=$secret
CHAT_ALLOWED_ORIGINS=${CHAT_ALLOWED_ORIGINS:-http://localhost:3000}
CHAT_RATE_LIMITS=${CHAT_RATE_LIMITS:-on}
CHAT_LOG_FORMAT=text
RUST_LOG=${RUST_LOG:-info,sqlx=warn}
EOF
    chmod 600 "$DIR/service.env"
    # The first instance migrates the database alone; the others start together.
    service_up user1 user "$chat"
    wait_for "user1" 120 curl -fsS "http://$(addr user1):${SERVICE_PORT[user]}/readyz"
    for host in user2 sender1 sender2 receiver1 receiver2 receiver3; do
        service_up "$host" "${host%[0-9]}" "$chat"
    done
    for host in user2 sender1 sender2 receiver1 receiver2 receiver3; do
        wait_for "$host" 120 curl -fsS "http://$(addr "$host"):${SERVICE_PORT[${host%[0-9]}]}/readyz"
    done
}

service_up() {
    local host=$1 service=$2 chat=$3 extra=()
    mkdir -p "$DIR/$host"
    if [[ $service == receiver ]]; then
        extra=(--database-read-url "postgres://postgres@$(addr pg2):$PG_PORT/chat")
    fi
    start "$host" "$host" root env $(cat "$DIR/service.env") CHAT_DATA_DIR="$DIR/$host" \
        "$chat" serve "$service" --host "$(addr "$host")" --port "${SERVICE_PORT[$service]}" "${extra[@]}"
}

write_env() {
    local list
    {
        echo "TOPOLOGY_DATABASE_URL=postgres://postgres@$(addr pg1):$PG_PORT/chat"
        echo "TOPOLOGY_REPLICA_URL=postgres://postgres@$(addr pg2):$PG_PORT/chat"
        grep '^CHAT_REDIS_CLUSTER=' "$DIR/service.env" | sed 's/^/TOPOLOGY_/'
        grep '^CHAT_JWT_SECRET=' "$DIR/service.env" | sed 's/^/TOPOLOGY_/'
        for service in user sender receiver; do
            list=$(for host in "${ORDER[@]}"; do
                if [[ $host == "$service"[0-9] ]]; then
                    printf 'http://%s:%s,' "$(addr "$host")" "${SERVICE_PORT[$service]}"
                fi
            done)
            echo "TOPOLOGY_${service^^}_URLS=${list%,}"
        done
    } >"$DIR/env"
}

up() {
    check_host_ready
    [[ -e "$DIR/pids" ]] && die "$DIR holds a topology already: scripts/topology.sh down first"
    ip link show "$BRIDGE" >/dev/null 2>&1 && die "$BRIDGE exists already: scripts/topology.sh down first"
    mkdir -p "$DIR/logs" "$DIR/pids"
    chmod 755 "$DIR"
    trap 'failed_up' EXIT
    say "network: ${#ORDER[@]} hosts on $SUBNET.0/24 (bridge $BRIDGE)"
    network_up
    say "PostgreSQL primary on $(addr pg1), streaming replica on $(addr pg2)"
    postgres_up
    say "Redis Cluster: 3 masters and 3 replicas on redis1..redis6"
    redis_up
    say "services: 2 user, 2 sender, 3 receiver instances"
    services_up
    write_env
    trap - EXIT
    cat "$DIR/env"
}

failed_up() {
    echo "topology: up failed; the end of each log, then everything it started is stopped:" >&2
    tail -n 5 "$DIR"/logs/*.log >&2 || true
    down
}

down() {
    if [[ -d "$DIR/pids" ]]; then
        for pidfile in "$DIR"/pids/*; do
            [[ -e $pidfile ]] || continue
            kill -TERM -- "-$(cat "$pidfile")" 2>/dev/null || true
        done
        sleep 1
        for pidfile in "$DIR"/pids/*; do
            [[ -e $pidfile ]] || continue
            kill -KILL -- "-$(cat "$pidfile")" 2>/dev/null || true
        done
    fi
    for host in "${ORDER[@]}"; do
        local namespace
        namespace=$(ns "$host")
        if ip netns pids "$namespace" >/dev/null 2>&1; then
            ip netns pids "$namespace" | xargs -r kill -KILL 2>/dev/null || true
        fi
        ip netns del "$namespace" 2>/dev/null || true
        ip link del "$(link "$host")" 2>/dev/null || true
    done
    ip link del "$BRIDGE" 2>/dev/null || true
    # Only a folder this script made (never, say, a mistyped TOPOLOGY_DIR=/).
    if [[ -d "$DIR/logs" ]]; then rm -rf "$DIR"; fi
}

host_arg() {
    [[ -n "${1:-}" && -n "${HOSTS[$1]:-}" ]] || die "which host? one of: ${ORDER[*]}"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    cut) host_arg "${2:-}"; ip link set "$(link "$2")" down ;;
    heal) host_arg "${2:-}"; ip link set "$(link "$2")" up ;;
    hosts) for host in "${ORDER[@]}"; do echo "$host $(addr "$host")"; done ;;
    *) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
