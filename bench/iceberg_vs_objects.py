#!/usr/bin/env python3
"""Iceberg path vs plain-object Parquet path (issue 19's throughput target), ONE invocation.

`kinesink dry-run` of the same records file with the same [format] section (zstd Parquet, the
same schema), partitioned by event_type each in its own way: once into plain Parquet objects
(`partition_query = "{event_type: .event_type}"`, `prefix = "data/type=!{partitionKeyFromQuery:
event_type}/"`) and once into an Iceberg table (SQL catalog on SQLite, `file://` warehouse,
`partition_spec = "event_type"`, the table created by the run; the Iceberg destination takes no
partition_query), no AWS. Rounds are interleaved (plain, iceberg, plain, iceberg, ...) so
that noise from other processes hits both sides alike; both are timed the same way (wall
clock of the process, and its user+system CPU from wait4). Each run's output is checked:
records in = rows out + records in the error output (plain: Parquet rows read by pyarrow;
Iceberg: `total-records` of the table's current snapshot summary, read from the catalog's
metadata file), and every 1,000th input line is not JSON so that the error output is not empty.

Shapes: `sample` (kinesink's sample events, 10 columns), `strings` (high-cardinality strings:
every row unique ids, URLs, user agents; 9 columns) and `wide` (84 columns: 40 strings of low
cardinality, 30 bigints, 12 doubles). Prints, per shape, the medians and the ratio
iceberg records/s / plain records/s (target >= 0.90).

    bench/iceberg_vs_objects.sh                       # builds release, then runs this
    python3 bench/iceberg_vs_objects.py --kinesink target/release/kinesink --rounds 5
"""
import argparse
import glob
import gzip
import json
import os
import random
import shutil
import sqlite3
import statistics
import string
import subprocess
import sys
import tempfile
import time

SAMPLE_SCHEMA = ("event_id string, customer_id string, event_type string, ts timestamp, price double, "
                 "quantity int, page string, country string, user_agent string, session_ms bigint")
STRINGS_SCHEMA = ("event_id string, event_type string, ts timestamp, user_id string, url string, "
                  "referrer string, user_agent string, search string, n bigint")
WIDE_STRINGS, WIDE_INTS, WIDE_DOUBLES = 40, 30, 12
WIDE_SCHEMA = ", ".join(
    ["event_id string", "event_type string", "ts timestamp"]
    + [f"s{i} string" for i in range(WIDE_STRINGS)]
    + [f"i{i} bigint" for i in range(WIDE_INTS)]
    + [f"d{i} double" for i in range(WIDE_DOUBLES)])
TYPES = ["view", "click", "add_to_cart", "purchase", "search", "login", "logout", "share"]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def with_bad_lines(lines, path):
    """Writes `lines` to `path`, every 1,000th replaced by a line that is not JSON."""
    n = 0
    with open(path, "w") as f:
        for i, line in enumerate(lines):
            f.write(f"not json {i}\n" if i % 1000 == 999 else line + "\n")
            n += 1
    return n


def sample_lines(kinesink, count):
    out = subprocess.run([kinesink, "sample-events", "--count", str(count)], check=True,
                         capture_output=True, text=True).stdout
    return out.splitlines()


def rand_text(rng, n):
    return "".join(rng.choices(string.ascii_letters + string.digits, k=n))


def strings_lines(count):
    rng = random.Random(19)
    for i in range(count):
        yield json.dumps({
            "event_id": f"e-{i}-{rand_text(rng, 12)}",
            "event_type": TYPES[i % len(TYPES)],
            "ts": f"2026-12-03T{(i // 3600000) % 24:02d}:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}Z",
            "user_id": rand_text(rng, 24),
            "url": "https://shop.example/" + "/".join(rand_text(rng, 8) for _ in range(4)),
            "referrer": "https://" + rand_text(rng, 10) + ".example/?q=" + rand_text(rng, 16),
            "user_agent": f"Mozilla/5.0 ({rand_text(rng, 20)}) Build/{rng.randrange(10**9)}",
            "search": " ".join(rand_text(rng, rng.randrange(3, 9)) for _ in range(rng.randrange(1, 5))),
            "n": rng.randrange(10**12),
        }, separators=(",", ":"))


def wide_lines(count):
    rng = random.Random(84)
    words = [rand_text(rng, 6) for _ in range(50)]
    for i in range(count):
        row = {"event_id": f"w-{i}", "event_type": TYPES[i % len(TYPES)],
               "ts": f"2026-12-03T10:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}Z"}
        for k in range(WIDE_STRINGS):
            row[f"s{k}"] = words[(i * (k + 1)) % len(words)]
        for k in range(WIDE_INTS):
            row[f"i{k}"] = (i * 7919 + k * 104729) % 1_000_003
        for k in range(WIDE_DOUBLES):
            row[f"d{k}"] = round(((i + k) % 10007) / 7.0, 3)
        yield json.dumps(row, separators=(",", ":"))


def config(side, schema, work):
    common = f'''name = "bench"
[source]
stream = "bench"
[destination]
url = "s3://unused-by-dry-run"
error_output_prefix = "errors/!{{firehose:error-output-type}}/"
'''
    fmt = f'''[format]
type = "parquet"
compression = "zstd"
schema = "{schema}"
'''
    if side == "plain":
        # The plain path partitions by a jq query (Firehose dynamic partitioning); the Iceberg
        # path by its table's spec (it refuses a partition_query).
        return (common.replace("[destination]", '[processing]\npartition_query = "{event_type: .event_type}"\n[destination]')
                + 'prefix = "data/type=!{partitionKeyFromQuery:event_type}/"\n' + fmt)
    return common + f'''[destination.iceberg]
catalog = "sql"
catalog_uri = "sqlite://{work}/catalog.db"
warehouse = "file://{work}/warehouse"
database = "bench"
table = "events"
partition_spec = "event_type"
''' + fmt


def error_records(out):
    n = 0
    for path in glob.glob(os.path.join(out, "errors", "**", "*"), recursive=True):
        if os.path.isfile(path) and not os.path.basename(path).startswith("."):
            with gzip.open(path, "rt") as f:
                n += sum(1 for line in f if line.strip())
    return n


def plain_rows(out):
    import pyarrow.parquet as pq
    return sum(pq.ParquetFile(p).metadata.num_rows
               for p in glob.glob(os.path.join(out, "data", "**", "*.parquet"), recursive=True))


def table_rows(work):
    """`total-records` of the current snapshot of bench.events, from the catalog's metadata."""
    db = sqlite3.connect(os.path.join(work, "catalog.db"))
    (location,) = db.execute(
        "select metadata_location from iceberg_tables where table_namespace = 'bench' and table_name = 'events'"
    ).fetchone()
    with open(location.removeprefix("file://")) as f:
        metadata = json.load(f)
    current = metadata["current-snapshot-id"]
    snapshot = next(s for s in metadata["snapshots"] if s["snapshot-id"] == current)
    return int(snapshot["summary"]["total-records"])


def one_run(kinesink, side, schema, records, total, root):
    work = tempfile.mkdtemp(prefix=f"ice-bench-{side}-", dir=root)
    cfg = os.path.join(work, "k.toml")
    with open(cfg, "w") as f:
        f.write(config(side, schema, work))
    out = os.path.join(work, "out")
    started = time.perf_counter()
    proc = subprocess.Popen([kinesink, "dry-run", "--input-format", "lines", "--config", cfg,
                             "--input", records, "--output", out],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    stderr = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{side} dry-run failed:\n{stderr[-2000:]}")
    rows = plain_rows(out) if side == "plain" else table_rows(work)
    errors = error_records(out)
    if rows + errors != total:
        raise SystemExit(f"{side}: records in {total} != rows {rows} + error records {errors}")
    shutil.rmtree(work)
    return wall, usage.ru_utime + usage.ru_stime, rows, errors


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kinesink", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--shapes", nargs="*", default=["sample", "strings", "wide"])
    ap.add_argument("--sample-records", type=int, default=1_000_000)
    ap.add_argument("--strings-records", type=int, default=500_000)
    ap.add_argument("--wide-records", type=int, default=150_000)
    ap.add_argument("--workdir", default=None, help="where records files and outputs go (deleted at the end)")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="iceberg-vs-objects-", dir=args.workdir)
    try:
        results = []
        for shape in args.shapes:
            path = os.path.join(root, f"{shape}.jsonl")
            if shape == "sample":
                total = with_bad_lines(sample_lines(args.kinesink, args.sample_records), path)
                schema = SAMPLE_SCHEMA
            elif shape == "strings":
                total = with_bad_lines(strings_lines(args.strings_records), path)
                schema = STRINGS_SCHEMA
            else:
                total = with_bad_lines(wide_lines(args.wide_records), path)
                schema = WIDE_SCHEMA
            size = os.path.getsize(path)
            log(f"{shape}: {total:,} records, {size / 1e6:.0f} MB")
            times = {"plain": [], "iceberg": []}
            cpu = {"plain": [], "iceberg": []}
            checked = {}
            for r in range(args.rounds):
                for side in ("plain", "iceberg") if r % 2 == 0 else ("iceberg", "plain"):
                    wall, used, rows, errors = one_run(args.kinesink, side, schema, path, total, root)
                    times[side].append(wall)
                    cpu[side].append(used)
                    checked[side] = (rows, errors)
                    log(f"  round {r + 1} {side:<8} {wall:6.2f} s wall {used:6.2f} s cpu  rows {rows:,} + errors {errors:,}")
            os.remove(path)
            med = {s: statistics.median(t) for s, t in times.items()}
            med_cpu = {s: statistics.median(t) for s, t in cpu.items()}
            results.append((shape, total, size, med, med_cpu, checked))
        print(f"kinesink dry-run, plain Parquet objects vs Iceberg table (SQL catalog on SQLite, file:// warehouse); "
              f"zstd Parquet partitioned by event_type; medians of {args.rounds} interleaved rounds; "
              f"{os.cpu_count()} cores")
        print(f"{'shape':<9}{'records':>11}{'MB':>6}{'plain s':>9}{'iceberg s':>11}{'plain rec/s':>13}"
              f"{'iceberg rec/s':>15}{'ratio':>7}{'cpu ratio':>11}  checked (rows + errors = in)")
        worst = None
        for shape, total, size, med, med_cpu, checked in results:
            ratio = med["plain"] / med["iceberg"]
            cpu_ratio = med_cpu["plain"] / med_cpu["iceberg"]
            worst = ratio if worst is None else min(worst, ratio)
            print(f"{shape:<9}{total:>11,}{size / 1e6:>6.0f}{med['plain']:>9.2f}{med['iceberg']:>11.2f}"
                  f"{total / med['plain']:>13,.0f}{total / med['iceberg']:>15,.0f}{ratio:>7.3f}{cpu_ratio:>11.3f}"
                  f"  plain {checked['plain'][0]:,}+{checked['plain'][1]:,}, iceberg {checked['iceberg'][0]:,}+{checked['iceberg'][1]:,}")
        print(f"ratio = iceberg records/s / plain records/s (wall); target >= 0.90: "
              f"{'met' if worst >= 0.90 else 'NOT met'} (worst {worst:.3f})")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
