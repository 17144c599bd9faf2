#!/usr/bin/env bash
# JSON lines -> zstd Parquet partitioned by event_type and country, single-threaded:
# kinesink's parquet-writer vs DuckDB (COPY ... PARTITION_BY, SET threads=1) vs pyarrow
# (pyarrow.json.read_json + pyarrow.parquet.write_to_dataset, one thread), on the same
# 1,000,000 sample events with the reference configuration's schema. One invocation runs every
# engine ROUNDS times (interleaved, default 3), keeps each engine's median, and prints
# records/s, output bytes and the ratios. Ends with the 1,000-open-partitions memory figure.
#
#   bench/parquet_vs_duckdb.sh            # events from $EVENTS (default /tmp/events-1m.jsonl)
#
# Needs: python3 (duckdb and pyarrow are pip-installed into $HOME/.cache/kinesink/bench-venv on
# first use), cargo. The events file is made with the project's generator if missing:
#   $HOME/.cache/kinesink/target/debug/kinesink sample-events --count 1000000 > /tmp/events-1m.jsonl
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EVENTS="${EVENTS:-/tmp/events-1m.jsonl}"
ROUNDS="${ROUNDS:-3}"
VENV="$HOME/.cache/kinesink/bench-venv"
TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/kinesink/target}"
KINESINK="${KINESINK_BIN:-$HOME/.cache/kinesink/target/debug/kinesink}"
WORK="$(mktemp -d /tmp/parquet-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

log() { printf '%s\n' "$*" >&2; }

# 1. Events (the generator `kinesink produce` uses).
if [[ ! -s "$EVENTS" ]]; then
  [[ -x "$KINESINK" ]] || { log "no $EVENTS and no generator at $KINESINK (build the kinesink package first)"; exit 2; }
  log "generating 1,000,000 sample events into $EVENTS"
  "$KINESINK" sample-events --count 1000000 > "$EVENTS.tmp" && mv "$EVENTS.tmp" "$EVENTS"
fi
RECORDS=$(wc -l < "$EVENTS" | tr -d ' ')

# 2. Python side (idempotent).
if ! "$VENV/bin/python" -c 'import duckdb, pyarrow' 2>/dev/null; then
  log "installing duckdb and pyarrow into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet duckdb pyarrow
fi

# 3. Our side: the bench example, release build.
log "building the parquet-writer bench (release, target $TARGET)"
(cd "$ROOT" && CARGO_TARGET_DIR="$TARGET" cargo build --quiet --release -p kinesink-parquet-writer \
  --example partitioned_parquet_bench --example open_partitions_memory)
OURS="$TARGET/release/examples/partitioned_parquet_bench"
MEMORY="$TARGET/release/examples/open_partitions_memory"

# 4. Rounds, interleaved so that machine noise hits every engine alike.
declare -A TIMES SIZES
for round in $(seq 1 "$ROUNDS"); do
  for engine in ours-value ours-bytes duckdb pyarrow; do
    out="$WORK/out-$engine-$round"
    case "$engine" in
      ours-*) line=$("$OURS" "$EVENTS" "$out" "${engine#ours-}") ;;
      *) line=$("$VENV/bin/python" "$ROOT/bench/reference_tools.py" "$engine" "$EVENTS" "$out" --partition-by event_type,country) ;;
    esac
    seconds=$(printf '%s' "$line" | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
    bytes=$(find "$out" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
    TIMES[$engine]+="$seconds "
    SIZES[$engine]=$bytes
    log "round $round: $engine ${seconds}s ${bytes} bytes"
    rm -rf "$out"
  done
done

"$VENV/bin/python" - "$RECORDS" "${TIMES[ours-value]}" "${TIMES[ours-bytes]}" "${TIMES[duckdb]}" "${TIMES[pyarrow]}" \
  "${SIZES[ours-value]}" "${SIZES[ours-bytes]}" "${SIZES[duckdb]}" "${SIZES[pyarrow]}" <<'PY'
import statistics, sys, duckdb, pyarrow
records = int(sys.argv[1])
names = ["ours (Value path)", "ours (bytes path)", f"duckdb {duckdb.__version__}", f"pyarrow {pyarrow.__version__}"]
medians = [statistics.median(float(x) for x in t.split()) for t in sys.argv[2:6]]
sizes = [int(s) for s in sys.argv[6:10]]
rate = [records / m for m in medians]
print(f"{records:,} events -> zstd Parquet partitioned by event_type, country; one thread; median of {len(sys.argv[2].split())} rounds")
print(f"{'engine':<22}{'seconds':>9}{'records/s':>12}{'output bytes':>15}")
for n, m, r, s in zip(names, medians, rate, sizes):
    print(f"{n:<22}{m:>9.3f}{r:>12,.0f}{s:>15,}")
for i, who in ((0, "Value path"), (1, "bytes path")):
    print(f"ours ({who}): {rate[i] / rate[2]:.2f}x duckdb, {rate[i] / rate[3]:.2f}x pyarrow records/s; "
          f"output {sizes[i] / sizes[2]:.3f}x duckdb's bytes")
PY

log "memory: 1,000 partitions' encoders open at once"
"$MEMORY" "$EVENTS" 1000 value
