#!/usr/bin/env bash
# benches/compare.sh: zoom-offboard against what admins use today, on the same simulated account.
#
# Each variant gets a fresh `zoom-offboard sim` (Pro plan: 30 Light requests/s in one-second
# windows, latency 50-150 ms, loopback only) and the same 600 active users; the simulator's
# ground truth (GET /_sim/state) says who was actually revoked and how many 429s were answered.
# Prints one Markdown table. Needs: a release build (cargo build --release), curl, python3.
#
#   benches/compare.sh                       # all variants, about three minutes
#   ZOOM_OFFBOARD_BIN=path benches/compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${ZOOM_OFFBOARD_BIN:-target/release/zoom-offboard}
N=${COMPARE_USERS:-600}  # users
CEILING=30        # Pro plan, Light label, per second
LATENCY=50..150   # ms
SEED=5
[ -x "$BIN" ] || { echo "compare.sh: $BIN not found; run cargo build --release" >&2; exit 2; }
command -v python3 >/dev/null || { echo "compare.sh: python3 is needed" >&2; exit 2; }

work=$(mktemp -d)
SIM_PID=""
# `zoom-offboard sim` stops on Ctrl-C (SIGINT); SIGTERM only cancels the revoke machinery it
# does not use, so it is the fallback, and SIGKILL after three seconds the last resort.
stop_sim() {
    if [ -n "$SIM_PID" ]; then
        kill -INT "$SIM_PID" 2>/dev/null || true
        local i
        for i in $(seq 1 30); do
            kill -0 "$SIM_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SIM_PID" 2>/dev/null || true
        wait "$SIM_PID" 2>/dev/null || true
        SIM_PID=""
    fi
}
cleanup() { stop_sim; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# 600 active users with Zoom-like ids, the same for every variant.
python3 - "$work" "$N" <<'PY'
import sys, random
work, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(5)
abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
ids = ["".join(rng.choice(abc) for _ in range(22)) for _ in range(n)]
with open(f"{work}/users.csv", "w") as f:
    f.write("id,email,status\n")
    for i, u in enumerate(ids, 1):
        f.write(f"{u},user{i:04}@example.com,active\n")
with open(f"{work}/ids.txt", "w") as f:
    f.write("".join(u + "\n" for u in ids))
PY

# Starts a fresh simulator; sets BASE (…/v2), ADDR (host:port) and TOKEN from its banner.
start_sim() {
    stop_sim
    : >"$work/sim.out"
    "$BIN" sim --port 0 --plan pro --users-file "$work/users.csv" --latency-ms "$LATENCY" \
        --seed "$SEED" >"$work/sim.out" 2>"$work/sim.err" &
    SIM_PID=$!
    local i
    for i in $(seq 1 100); do
        grep -q '^Serving until' "$work/sim.out" && break
        kill -0 "$SIM_PID" 2>/dev/null || { cat "$work/sim.err" >&2; exit 2; }
        sleep 0.1
    done
    BASE=$(sed -n 's/^base URL: *//p' "$work/sim.out")
    TOKEN=$(sed -n 's/^export ZOOM_ACCESS_TOKEN=//p' "$work/sim.out")
    ADDR=${BASE#http://}; ADDR=${ADDR%%/*}
    case "$ADDR" in 127.0.0.1:*) ;; *) echo "compare.sh: simulator not on 127.0.0.1: $BASE" >&2; exit 2 ;; esac
    [ -n "$TOKEN" ] || { echo "compare.sh: no token in the simulator banner" >&2; exit 2; }
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

# One table row from the simulator's ground truth: variant, wall seconds.
row() {
    curl -s "http://$ADDR/_sim/state" >"$work/state.json"
    python3 - "$work" "$N" "$CEILING" "$1" "$2" <<'PY'
import json, sys
work, n, ceiling, name, wall = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
state = json.load(open(f"{work}/state.json"))
ids = [l.strip() for l in open(f"{work}/ids.txt") if l.strip()]
rev = state["revocations"]
revoked = sum(1 for u in ids if rev.get(u, 0) > 0)
calls = [r for r in state["requests"] if r["method"] == "DELETE" and r["path"].endswith("/token")]
throttled = sum(1 for r in calls if r["status"] == 429)
ideal = n / ceiling
share = 100.0 * throttled / max(1, len(calls))
print(f"| {name} | {wall:.1f} | {ideal / wall:.2f} | {revoked} | {n - revoked} | {throttled} | {len(calls)} | {share:.1f}% |")
PY
}

echo "compare.sh: $N users, simulated Pro plan ($CEILING/s), latency $LATENCY ms; ideal $((N / CEILING)) s" >&2
ROWS=()

# (a) The seed's own command, one user after another.
start_sim
t0=$(now)
while read -r id; do
    curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $TOKEN" "$BASE/users/$id/token" || true
done <"$work/ids.txt"
ROWS+=("$(row 'curl, sequential `while read` loop' "$(since "$t0")")")
echo "${ROWS[-1]}" >&2

# (b) The same curl fanned out, 16 at a time: without retries, with --retry 5, with -f --retry 5.
fan_out() { # label, extra curl flags...
    local label=$1 t0
    shift
    start_sim
    t0=$(now)
    xargs -P 16 -I '{}' curl -s -o /dev/null "$@" -X DELETE -H "Authorization: Bearer $TOKEN" \
        "$BASE/users/{}/token" <"$work/ids.txt" || true
    ROWS+=("$(row "$label" "$(since "$t0")")")
    echo "${ROWS[-1]}" >&2
}
fan_out 'curl, `xargs -P 16`, no retry'
fan_out 'curl, `xargs -P 16`, `--retry 5` (no `-f`)' --retry 5
fan_out 'curl, `xargs -P 16`, `-f --retry 5`' -f --retry 5

# (c), (d) zoom-offboard at the plan's ceiling and at its default rate (80% of it).
offboard() { # label, extra flags...
    local label=$1
    shift
    start_sim
    local t0
    t0=$(now)
    env -i ZOOM_ACCESS_TOKEN="$TOKEN" "$BIN" revoke "$work/ids.txt" --yes --plan pro \
        --base-url "$BASE" --config /dev/null --report "$work/report-$RANDOM.csv" \
        --no-progress -q "$@" || true
    ROWS+=("$(row "$label" "$(since "$t0")")")
    echo "${ROWS[-1]}" >&2
}
offboard "zoom-offboard \`--rate $CEILING\`" --rate "$CEILING"
offboard "zoom-offboard, default rate ($((CEILING * 8 / 10))/s)"
stop_sim

echo "| variant | wall s | efficiency ($N / $CEILING/s ÷ wall) | revoked (sim) | left unrevoked | 429s | DELETE calls | 429 share |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
