#!/usr/bin/env bash
# Shutdown drain with many open partitions (issue 23): one shard of N records, each its own
# partition (`partition_query = {k: .event_id}`), read by `kinesink run` (release build) against
# the stand-ins (`scripts/local-aws up`) with a 900 s interval so nothing is cut before the
# stop; then SIGTERM. Prints the worker's peak RSS before the stop and the seconds from SIGTERM
# to exit, and checks the output: N records delivered in N objects.
#
#   bench/shutdown_drain.sh 10000            # NDJSON gzip
#   bench/shutdown_drain.sh 10000 parquet
#   WAIT=30 bench/shutdown_drain.sh 20000    # seconds to let the worker read before the stop
#   DEST=file bench/shutdown_drain.sh 10000 parquet   # objects into a local directory (file://)
#
# The drain against moto is bound by moto's own PUT rate (one Python process, ~250 conditional
# PUTs per second here), not by the worker: see bench/RESULTS.md. DEST=file measures the
# worker's own drain: the same encoding and flush protocol, objects written to local files.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
eval "$(scripts/local-aws env)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kinesink/target}"
if [[ -z "${KINESINK_BIN:-}" ]]; then
  cargo build --quiet --release --locked -p kinesink --bin kinesink
  KINESINK_BIN="$CARGO_TARGET_DIR/release/kinesink"
fi
N=${1:?usage: bench/shutdown_drain.sh PARTITIONS [json|parquet]}
FMT=${2:-json}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
S=drain-$RANDOM$RANDOM
"$KINESINK_MOTO_PYTHON" - "$S" <<'PY'
import os, sys, boto3
k = boto3.client("kinesis", endpoint_url=os.environ["AWS_ENDPOINT_URL_KINESIS"], region_name="us-east-1")
k.create_stream(StreamName=sys.argv[1], ShardCount=1)
k.get_waiter("stream_exists").wait(StreamName=sys.argv[1], WaiterConfig={"Delay": 0.2})
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"], region_name="us-east-1")
try:
    s3.create_bucket(Bucket="drain-bench")
except Exception:
    pass
PY
"$KINESINK_BIN" produce --stream "$S" --count "$N" --id-prefix "$S" >/dev/null
if [[ "$FMT" == parquet ]]; then
  FORMAT=$'[format]\ntype = "parquet"\nschema = "event_id string, event_type string, price double"'
else
  FORMAT=$'[format]\ncompression = "gzip"'
fi
cat >"$WORK/k.toml" <<TOML
name = "drain"
[source]
stream = "$S"
initial_position = "trim_horizon"
max_records = 10000
[leases]
table = "$S"
[processing]
partition_query = "{k: .event_id}"
[destination]
$(if [[ "${DEST:-s3}" == file ]]; then echo "url = \"file://$WORK/dest\""; else printf 'url = "s3://drain-bench/%s"\nforce_path_style = true' "$S"; fi)
prefix = "data/!{partitionKeyFromQuery:k}/"
error_output_prefix = "errors/!{firehose:error-output-type}/"
buffer_interval_s = 900
buffer_size_mib = 128
max_active_partitions = $((N + 10))
$FORMAT
TOML
RUST_LOG=info "$KINESINK_BIN" run --config "$WORK/k.toml" >"$WORK/out" 2>"$WORK/err" &
P=$!
sleep "${WAIT:-20}"
RSS=$(awk '/VmHWM/ {print $2}' "/proc/$P/status")
T0=$(date +%s.%N)
kill -TERM "$P"
wait "$P"
T1=$(date +%s.%N)
DELIVERED=$(grep -o 'delivered [0-9]* records' "$WORK/out" | awk '{print $2}')
OBJECTS=$(grep -o 'in [0-9]* objects' "$WORK/out" | awk '{print $2}')
echo "partitions=$N format=$FMT destination=${DEST:-s3} peak_rss_before_stop_mib=$((RSS / 1024)) drain_seconds=$(python3 -c "print(round($T1 - $T0, 2))") delivered=$DELIVERED objects=$OBJECTS"
[[ "$DELIVERED" == "$N" && "$OBJECTS" == "$N" ]] || { echo "expected $N records in $N objects (were they all read before the stop? raise WAIT)" >&2; exit 1; }
