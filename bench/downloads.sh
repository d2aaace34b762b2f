#!/usr/bin/env bash
# The memory a download costs: starts the embedded default (`chat up --no-web`, a data
# folder of its own), uploads one 20 MB file, has 50 clients download it at once (each
# at most 20 MB/s) and prints the process's resident memory before and its peak after.
#
#   bench/downloads.sh [path/to/chat]     # default: the release build
set -euo pipefail
bin="${1:-${CARGO_TARGET_DIR:-target}/release/chat}"
dir=$(mktemp -d /tmp/chat-downloads.XXXXXX)
cd "$dir"
"$bin" up --no-web --data-dir "$dir" --database-url "sqlite://$dir/chat.db" >log 2>&1 &
server=$!
trap 'kill -INT $server; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
until curl -sf -o /dev/null localhost:4005/healthz; do sleep 0.2; done

gql() { # port, query, then curl's other arguments
    curl -s "localhost:$1/graphql" -H 'content-type: application/json' \
        -d "{\"query\": \"$2\"}" "${@:3}"
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
token=$(gql 4001 'mutation { register(input: {username: \"downloads\", email: \"d@example.com\", displayName: \"D\", password: \"correct horse battery\"}) { token } }' |
    field '["data"]["register"]["token"]')
chat=$(gql 4002 'mutation { createChat(input: {kind: GROUP, name: \"files\", participantIds: []}) { id } }' \
    -H "authorization: Bearer $token" |
    field '["data"]["createChat"]["id"]')
head -c 20000000 /dev/urandom >big.bin
file=$(curl -s -X POST "localhost:4002/files?chatId=$chat&name=big.bin" \
    -H "authorization: Bearer $token" --data-binary @big.bin | field '["id"]')

echo "before: $(grep VmRSS /proc/$server/status)"
clients=()
for _ in $(seq 1 50); do
    curl -s --limit-rate 20M -o /dev/null -w '%{size_download}\n' \
        "localhost:4005/files/$file" -H "authorization: Bearer $token" >>sizes &
    clients+=($!)
done
wait "${clients[@]}"
echo "downloaded (bytes × clients): $(sort sizes | uniq -c | tr -s ' ')"
echo "peak: $(grep VmHWM /proc/$server/status)"
