#!/usr/bin/env bash
# Issue 23's whole-worker target in ONE invocation: `kinesink run --until-caught-up` reading the
# fake Kinesis vs DuckDB (threads=1), records per CPU-second of each whole process, on four data
# shapes generated from fixed seeds; interleaved rounds, medians, every run's rows checked.
#
#   bench/worker_vs_duckdb.sh                          # 3 rounds, default sizes
#   bench/worker_vs_duckdb.sh --rounds 5 --shapes strings small --cpu 1
#
# Builds release binaries of the worker and the fake Kinesis (unless KINESINK_BIN and FAKE_BIN
# are given), starts the local stand-ins (the DynamoDB one keeps the leases). Figures, command
# and machine are kept in bench/RESULTS.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kinesink/target}"
if [[ -z "${FAKE_BIN:-}" ]]; then
  echo "==> building the release fake Kinesis" >&2
  cargo build --quiet --release --locked -p kinesink-integration-tests --bin fake-kinesis
  FAKE_BIN="$CARGO_TARGET_DIR/release/fake-kinesis"
fi
BENCH_PYTHON_MODULES="duckdb, pyarrow"
source bench/release_and_python.sh
status="$(scripts/local-aws status 2>&1 || true)"
if grep -qE "stopped|not answering" <<<"$status"; then
  trap 'scripts/local-aws down >/dev/null 2>&1' EXIT
fi
scripts/local-aws up >&2
eval "$(scripts/local-aws env)"
"$PYTHON" bench/worker_vs_duckdb.py --kinesink "$KINESINK_BIN" --fake "$FAKE_BIN" "$@"
