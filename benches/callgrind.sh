#!/usr/bin/env bash
# Instructions per Axum request, per mode, with valgrind's callgrind: deterministic, so one run
# is the figure (wall-clock means on a shared 2-core machine swing between runs).
#
#   bash benches/callgrind.sh            # every mode
#   bash benches/callgrind.sh bare full  # some modes (the table needs bare and floor)
#   bash benches/callgrind.sh --grpc     # one unary Tonic call: bare, server layer, client layer
#                                        # (each also metrics only)
#   bash benches/callgrind.sh --jsonrpc  # one jsonrpsee call: bare, HTTP layer + RPC middleware
#   bash benches/callgrind.sh --client   # one request through the HTTP client layer
#
# Each mode runs `profile_http` twice, with 2,000 and 12,000 requests; the difference over
# 10,000 is the cost of one request with start-up, the first requests and shutdown cancelled.
# The SDK's export thread wakes at slightly different points from run to run (a few hundred
# instructions a request either way, now and then), so each mode is the median of three.
# Needs valgrind. Modes: see benches/examples/profile_http.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "callgrind.sh needs valgrind" >&2; exit 1; }
base=bare floor_mode=floor label="Axum, per request"
if [ "${1:-}" = --grpc ]; then
    set -- grpc_bare grpc_server grpc_client grpc_server_hinted grpc_client_hinted grpc_server_metrics grpc_client_metrics grpc_floor
    base=grpc_bare floor_mode=grpc_floor label="Tonic unary call"
elif [ "${1:-}" = --client ]; then
    set -- client_bare client client_hinted client_metrics client_floor
    base=client_bare floor_mode=client_floor label="HTTP client layer, per request"
elif [ "${1:-}" = --jsonrpc ]; then
    set -- jsonrpc_bare jsonrpc_traced jsonrpc_traced_hinted jsonrpc_traced_metrics jsonrpc_floor
    base=jsonrpc_bare floor_mode=jsonrpc_floor label="JSON-RPC call (jsonrpsee)"
fi
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(bare minimal full hinted parented parented_hinted metrics unsampled blind floor)
cargo build --quiet --profile profiling -p towerlight-benches --example profile_http
bin="${CARGO_TARGET_DIR:-target}/profiling/examples/profile_http"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

instructions() { # mode requests -> total instructions
    valgrind --tool=callgrind --callgrind-out-file="$out/$1.$2" "$bin" "$2" "$1" >/dev/null 2>&1
    awk '/^summary:/ { print $2; exit }' "$out/$1.$2"
}

per_request() { # mode -> instructions of one request
    echo $(( ($(instructions "$1" 12000) - $(instructions "$1" 2000)) / 10000 ))
}

declare -A per
for m in "${modes[@]}"; do
    per[$m]=$( { per_request "$m"; per_request "$m"; per_request "$m"; } | sort -n | sed -n 2p)
done

bare=${per[$base]:-}
floor=${per[$floor_mode]:-}
echo "| $label | instructions | overhead vs bare | overhead / SDK floor |"
echo "|---|---:|---:|---:|"
for m in "${modes[@]}"; do
    n=${per[$m]}
    if [ "$m" = "$base" ] || [ "$m" = "$floor_mode" ] || [ -z "$bare" ]; then
        echo "| $m | $n | – | – |"
        continue
    fi
    over=$((n - bare))
    ratio=–
    [ -n "$floor" ] && ratio=$(awk -v o="$over" -v f="$floor" 'BEGIN { printf "%.2f×", o / f }')
    echo "| $m | $n | +$over | $ratio |"
done
