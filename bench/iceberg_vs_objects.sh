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
BENCH_PYTHON_MODULES="pyarrow"
source bench/release_and_python.sh
"$PYTHON" bench/iceberg_vs_objects.py --kinesink "$KINESINK_BIN" "$@"
