# Sourced by the Python-driven benches (bench/iceberg_vs_objects.sh, bench/dry_run_vs_duckdb.sh):
# sets KINESINK_BIN (the release binary, built unless given) and PYTHON (a python3 that can
# `import $BENCH_PYTHON_MODULES`: the bench venv made by bench/run, or the stand-ins' venv),
# and prints the machine. Run from the repository root.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kinesink/target}"
if [[ -z "${KINESINK_BIN:-}" ]]; then
  echo "==> building the release binary" >&2
  cargo build --quiet --release --locked -p kinesink --bin kinesink
  KINESINK_BIN="$CARGO_TARGET_DIR/release/kinesink"
fi
PYTHON=""
for candidate in "$HOME/.cache/kinesink/bench-venv/bin/python" "${KINESINK_MOTO_PYTHON:-}"; do
  if [[ -n "$candidate" ]] && "$candidate" -c "import $BENCH_PYTHON_MODULES" 2>/dev/null; then PYTHON="$candidate"; break; fi
done
[[ -n "$PYTHON" ]] || { echo "no python with $BENCH_PYTHON_MODULES: run bench/run once, or eval \"\$(scripts/local-aws env)\"" >&2; exit 2; }
echo "==> $(nproc) cores, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2
