#!/usr/bin/env python3
"""The whole worker vs DuckDB per core of CPU, on four data shapes (issue 23), ONE invocation.

The job: the same newline-delimited JSON events -> zstd Parquet files partitioned by two keys.
kinesink: `kinesink run --until-caught-up` reading a 4-shard stream of the project's fake
Kinesis (a release build, preloaded with the shape's lines, one record each; on its own core),
leases in the DynamoDB stand-in, files to a local directory, `buffer_size_mib = 128`,
`buffer_interval_s = 900` (every object cut when the worker has caught up). DuckDB: `COPY
(SELECT * FROM read_json(...)) TO ... (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (...))`,
`SET threads = 1`, reading the same lines from a file.

Both are measured the same way: records per CPU-second (user + system) of the engine's whole
process, start to exit, from wait4; both pinned to the same core (`--cpu`). The worker's
process includes its start, the lease table, the HTTP reads of every record and the fake's
JSON+base64 encoding on the way (the fake's own CPU is not counted: it is the stream). DuckDB's
includes the interpreter and `import duckdb`; the COPY's own seconds are printed too. Rounds
interleave the engines; medians. Every run's output is checked: records in = Parquet rows out +
records in kinesink's error output (DuckDB has none).

    bench/worker_vs_duckdb.sh --rounds 3          # builds release binaries, starts the stand-ins
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from dry_run_vs_duckdb import (DEFAULT_RECORDS, PARTITION_KEYS, SCHEMAS, checked, duckdb_run, log, parquet_rows,
                               timed)
from pipeline import free_port
from iceberg_vs_objects import error_records

HERE = os.path.dirname(os.path.abspath(__file__))


class Fake:
    """A fake-kinesis process preloaded with every line of `events`, pinned to `cpu`."""

    def __init__(self, fake, stream, shards, events, cpu):
        port = free_port()
        cmd = ["taskset", "-c", str(cpu), fake, "--listen", f"127.0.0.1:{port}", "--stream", stream,
               "--shards", str(shards), "--preload-file", events]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.url = f"http://127.0.0.1:{port}"
        for line in self.proc.stdout:
            if "preloaded" in line:
                self.preloaded = int(line.split("preloaded ")[1].split(" ")[0])
                break
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def worker_config(shape, stream, table, fake_url, out):
    a, b = PARTITION_KEYS[shape]
    return f'''name = "bench"
[source]
stream = "{stream}"
endpoint_url = "{fake_url}"
initial_position = "trim_horizon"
max_records = 10000
idle_time_ms = 200
[leases]
table = "{table}"
[processing]
partition_query = "{{a: .{a}, b: .{b}}}"
[destination]
url = "file://{out}"
prefix = "data/a=!{{partitionKeyFromQuery:a}}/b=!{{partitionKeyFromQuery:b}}/"
error_output_prefix = "errors/!{{firehose:error-output-type}}/"
buffer_size_mib = 128
buffer_interval_s = 900
[format]
type = "parquet"
compression = "zstd"
schema = "{SCHEMAS[shape]}"
'''


def one_run(engine, args, shape, events, total, fake, root, round_):
    work = tempfile.mkdtemp(prefix=f"{shape}-{engine}-", dir=root)
    out = os.path.join(work, "out")
    pin = ["taskset", "-c", str(args.cpu)]
    if engine == "kinesink":
        cfg = os.path.join(work, "k.toml")
        with open(cfg, "w") as f:
            f.write(worker_config(shape, fake.stream, f"{fake.stream}-r{round_}", fake.url, out))
        os.environ["RUST_LOG"] = "warn"
        r = timed(pin + [os.path.abspath(args.kinesink), "run", "--until-caught-up", "--config", cfg])
        rows, errors = parquet_rows(os.path.join(out, "data")), error_records(out)
    else:
        r, rows, errors = duckdb_run(shape, events, out, pin)
    checked(engine, shape, r, rows, errors, total)
    shutil.rmtree(work)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kinesink", required=True)
    ap.add_argument("--fake", required=True, help="the fake-kinesis binary")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--shapes", nargs="*", default=list(SCHEMAS))
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every shape's record count")
    ap.add_argument("--cpu", type=int, default=1, help="the core both engines are pinned to (the fake gets the other)")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="worker-vs-duckdb-", dir=args.workdir)
    fake_cpu = 0 if args.cpu != 0 else 1
    try:
        results = []
        for shape in args.shapes:
            count = int(DEFAULT_RECORDS[shape] * args.scale)
            events = os.path.join(root, f"{shape}.jsonl")
            subprocess.run([sys.executable, os.path.join(HERE, "dry_run_vs_duckdb.py"), "--generate", shape, str(count),
                            events, os.path.abspath(args.kinesink)], check=True)
            total = sum(1 for _ in open(events, "rb"))
            mb = os.path.getsize(events) / 1e6
            stream = f"bench-{shape}-{int(time.time())}"
            fake = Fake(os.path.abspath(args.fake), stream, 4, events, fake_cpu)
            fake.stream = stream
            if fake.preloaded != total:
                raise SystemExit(f"the fake preloaded {fake.preloaded} of {total} records")
            log(f"==> {shape}: {total:,} records, {mb:.0f} MB, in a 4-shard fake stream")
            runs = {"kinesink": [], "duckdb": []}
            try:
                for round_ in range(args.rounds):
                    order = ["kinesink", "duckdb"] if round_ % 2 == 0 else ["duckdb", "kinesink"]
                    for engine in order:
                        r = one_run(engine, args, shape, events, total, fake, root, round_)
                        runs[engine].append(r)
                        log(f"  round {round_ + 1} {engine:<8} {r['wall']:6.2f} s wall {r['user']:6.2f} user {r['sys']:5.2f} sys "
                            f"{r['faults']:>8,} faults {r['rss_mib']:7.0f} MiB  rows {r['rows']:,} + errors {r['errors']:,}")
            finally:
                fake.stop()
            med = {e: {k: statistics.median(r[k] for r in rs) for k in ("wall", "cpu", "user", "sys", "faults", "rss_mib")}
                   for e, rs in runs.items()}
            med["duckdb"]["copy_seconds"] = statistics.median(r["copy_seconds"] for r in runs["duckdb"])
            results.append((shape, total, mb, med))
        print(f"kinesink run --until-caught-up (fake Kinesis, 4 shards) vs DuckDB (threads=1) COPY ... PARTITION_BY, zstd "
              f"Parquet, two partition keys; both pinned to core {args.cpu}; medians of {args.rounds} interleaved rounds")
        print(f"{'shape':<8}{'records':>11}{'MB':>6}  {'ours cpu':>9}{'user':>6}{'sys':>6}{'wall':>6}{'RSS MiB':>8}"
              f"  {'duck cpu':>9}{'wall':>6}{'RSS MiB':>8}{'COPY s':>7}  {'rec/cpu-s ours':>15}{'duckdb':>10}{'ratio':>7}")
        for shape, total, mb, med in results:
            o, d = med["kinesink"], med["duckdb"]
            print(f"{shape:<8}{total:>11,}{mb:>6.0f}  {o['cpu']:>9.2f}{o['user']:>6.2f}{o['sys']:>6.2f}{o['wall']:>6.2f}{o['rss_mib']:>8.0f}"
                  f"  {d['cpu']:>9.2f}{d['wall']:>6.2f}{d['rss_mib']:>8.0f}{d['copy_seconds']:>7.2f}"
                  f"  {total / o['cpu']:>15,.0f}{total / d['cpu']:>10,.0f}{d['cpu'] / o['cpu']:>6.2f}x")
        print("ratio = records per CPU-second of the whole worker process / the same for DuckDB's process "
              "(user + system, start to exit). Target >= 0.8x on every shape.")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
