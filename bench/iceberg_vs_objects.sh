#!/usr/bin/env bash
# Issue 19's throughput target in ONE invocation: `kinesink dry-run` (release build) of the same
# records file into plain Parquet objects and into an Iceberg table (SQL catalog on SQLite,
# file:// warehouse, no AWS), interleaved rounds, medians, on three data shapes (sample events,
# high-cardinality strings, 84-column wide records); every run's output checked (records in =
# rows out + error records). Prints the ratio iceberg records/s / plain records/s per shape.
#
#   bench/iceberg_vs_objects.sh                         # 5 rounds, default sizes
#   bench/iceberg_vs_objects.sh --rounds 3 --shapes sample wide
#
# Needs python3 with pyarrow: the bench venv ($HOME/.cache/kinesink/bench-venv, made by
# bench/run) or the stand-ins' venv ($KINESINK_MOTO_PYTHON, `scripts/local-aws env`).
# Figures, command and machine are kept in bench/RESULTS.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kinesink/target}"
if [[ -z "${KINESINK_BIN:-}" ]]; then
  echo "==> building the release binary" >&2
  cargo build --quiet --release --locked -p kinesink --bin kinesink
  KINESINK_BIN="$CARGO_TARGET_DIR/release/kinesink"
fi
PYTHON=""
for candidate in "$HOME/.cache/kinesink/bench-venv/bin/python" "${KINESINK_MOTO_PYTHON:-}"; do
  if [[ -n "$candidate" ]] && "$candidate" -c 'import pyarrow' 2>/dev/null; then PYTHON="$candidate"; break; fi
done
[[ -n "$PYTHON" ]] || { echo "no python with pyarrow: run bench/run once, or eval \"\$(scripts/local-aws env)\"" >&2; exit 2; }
echo "==> $(nproc) cores, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2
"$PYTHON" bench/iceberg_vs_objects.py --kinesink "$KINESINK_BIN" "$@"
