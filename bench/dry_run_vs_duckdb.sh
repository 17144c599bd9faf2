#!/usr/bin/env bash
# Issue 23's main speed target in ONE invocation: `kinesink dry-run` (release build) vs DuckDB
# (threads=1) turning JSON lines into zstd Parquet partitioned by two keys, on four data shapes
# generated from fixed seeds (sample events, high-cardinality strings, wide records with nested
# types, small records); interleaved rounds, medians, each engine one process timed start to
# exit (wall, CPU, page faults, peak RSS), every run's rows checked.
#
#   bench/dry_run_vs_duckdb.sh                          # 3 rounds, default sizes
#   taskset -c 1 bench/dry_run_vs_duckdb.sh --rounds 5 --shapes strings small
#
# Needs python3 with duckdb and pyarrow: the bench venv ($HOME/.cache/kinesink/bench-venv, made
# by bench/run) or the stand-ins' venv ($KINESINK_MOTO_PYTHON, `scripts/local-aws env`).
# Figures, command and machine are kept in bench/RESULTS.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BENCH_PYTHON_MODULES="duckdb, pyarrow"
source bench/release_and_python.sh
"$PYTHON" bench/dry_run_vs_duckdb.py --kinesink "$KINESINK_BIN" "$@"
