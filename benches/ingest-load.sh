#!/usr/bin/env bash
# Ingest speed of the desk as a ratio to the machine's ceiling, in one run.
#
# Runs ../shared/bench-limit's reference server (/store-batched-multi: verify,
# parse, group-committed multi-row insert) and then the desk's full webhook
# path, both driven by bench-limit's own load generator with the same
# settings, then the desk again with `replydesk simulate`. For the desk it
# checks that stored events == 200 answers (nothing lost, nothing doubled).
#
# Environment: DURATION (10) WARMUP (2) CONNS (64) RATES ("2000 5000")
#              SYNC (full|normal, the desk's sqlite_synchronous; default full)
#              ROUTER (true|false: whether the desk routes replies while it
#              ingests; false shows the ingest path alone)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LIMIT=${LIMIT:-$ROOT/../shared/bench-limit}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
RATES=${RATES:-"2000 5000"}
SYNC=${SYNC:-full}
ROUTER=${ROUTER:-true}
SECRET=bench-app-secret-5b2f0c1e9d8a   # bench-limit's load generator signs with this

[[ -d "$LIMIT" ]] || { echo "bench-limit not found at $LIMIT"; exit 1; }
echo "building (release)…"
cargo build --release --quiet
CARGO_TARGET_DIR="$ROOT/target/bench-limit" cargo build --release --quiet --manifest-path "$LIMIT/Cargo.toml"
LB="$ROOT/target/bench-limit/release"
DESK="$ROOT/target/release/replydesk"
WORK=$(mktemp -d "$ROOT/target/ingest-load.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT INT TERM

field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }

load() { # $1 url, rest: extra args; prints bench-limit's result line
    local url=$1; shift
    timeout $((WARMUP + DURATION + 60)) "$LB/load" --url "$url" -c "$CONNS" -d "$DURATION" --warmup "$WARMUP" "$@" 2>"$WORK/load.err"
}

answered() { sed -n 's/^total requests answered 200 (warm-up included): //p' "$WORK/load.err"; }

echo "# ingest load $(date -u +%Y-%m-%dT%H:%M:%SZ) — $(nproc) cores, $(rustc --version)"
echo "load: bench-limit's generator, DURATION=${DURATION}s WARMUP=${WARMUP}s CONNS=$CONNS; desk sqlite_synchronous=$SYNC, router=$ROUTER"

# 1. The reference server.
timeout 600 "$LB/server" --addr 127.0.0.1:0 --db "$WORK/limit.db" >"$WORK/limit.out" 2>"$WORK/limit.err" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q '^listening on' "$WORK/limit.out" 2>/dev/null && break; sleep 0.1; done
LADDR=$(sed -n 's/^listening on \([^ ]*\).*/\1/p' "$WORK/limit.out")
REF=$(load "http://$LADDR/store-batched-multi")
echo "reference /store-batched-multi closed: $REF"
REF_RPS=$(field rps <<<"$REF")
kill "${PIDS[-1]}" 2>/dev/null || true

# 2. The desk, full webhook path.
cat >"$WORK/desk.toml" <<TOML
bind = "127.0.0.1:0"
database_url = "sqlite://$WORK/desk.db"
rules_dir = "$ROOT/rules"
data_dir = "$WORK/data"
sqlite_synchronous = "$SYNC"

[workers]
router = $ROUTER

[[channel]]
name = "main"
provider = "meta"
app_secret = "$SECRET"
verify_token = "x"
TOML
RUST_LOG=warn,replydesk=info timeout 900 "$DESK" --config "$WORK/desk.toml" serve 2>"$WORK/desk.err" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q 'addr=' "$WORK/desk.err" 2>/dev/null && break; sleep 0.1; done
DADDR=$(grep -o 'addr=[0-9.:]*' "$WORK/desk.err" | head -1 | cut -d= -f2)
URL="http://$DADDR/webhooks/meta/main"
TOTAL=0
DESK_CLOSED=$(load "$URL" --label desk)
TOTAL=$((TOTAL + $(answered)))
echo "desk closed:      $DESK_CLOSED"
for rate in $RATES; do
    line=$(load "$URL" --rate "$rate" --label desk)
    TOTAL=$((TOTAL + $(answered)))
    echo "desk rate $rate:  $line"
done
SIM=$("$DESK" simulate --url "http://$DADDR" --secret "$SECRET" -c "$CONNS" -d "$DURATION" --warmup "$WARMUP" 2>/dev/null)
TOTAL=$((TOTAL + $(field ok_total <<<"$SIM")))
echo "desk (replydesk simulate) closed: $SIM"
STATS=$("$DESK" --config "$WORK/desk.toml" stats)
STORED=$(field events <<<"$STATS")
if [[ "$ROUTER" == true ]]; then
    # The router yields the writer to webhooks, so under a closed loop it
    # falls behind; what matters is that it catches up once the load ends.
    WAITING=$(field unrouted <<<"$STATS")
    START=$(date +%s.%N)
    while [[ "$(field unrouted <<<"$("$DESK" --config "$WORK/desk.toml" stats)")" -gt 0 ]]; do sleep 0.2; done
    awk -v w="$WAITING" -v s="$START" -v e="$(date +%s.%N)" 'BEGIN { printf "router: %d replies waiting when the load ended, all routed %.1f s later\n", w, e - s }'
fi
if [[ "$STORED" -eq "$TOTAL" ]]; then CHECK="ok ($STORED)"; else CHECK="MISMATCH stored=$STORED answered=$TOTAL"; fi
echo "stored events == 200 answers: $CHECK"
DESK_RPS=$(field rps <<<"$DESK_CLOSED")
echo
echo "| | req/s (closed loop, $CONNS conns) | p50 ms | p99 ms |"
echo "|---|---:|---:|---:|"
echo "| reference /store-batched-multi | $REF_RPS | $(field p50_ms <<<"$REF") | $(field p99_ms <<<"$REF") |"
echo "| desk full ingest | $DESK_RPS | $(field p50_ms <<<"$DESK_CLOSED") | $(field p99_ms <<<"$DESK_CLOSED") |"
awk -v d="$DESK_RPS" -v r="$REF_RPS" 'BEGIN { printf "ratio desk / reference: %.2f\n", d / r }'
[[ "$CHECK" == ok* ]]
