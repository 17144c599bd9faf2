#!/usr/bin/env python3
"""`kinesink dry-run` vs DuckDB on four data shapes (issue 23), ONE invocation.

The job: newline-delimited JSON events -> zstd Parquet files partitioned by two keys, single
core. kinesink: `kinesink dry-run` (release build) with `partition_query` + `prefix` on the two
keys, `buffer_size_mib = 128`, `buffer_interval_s = 900` and the default memory budget (the
issue's conditions for its peak-RSS target). DuckDB: `COPY (SELECT * FROM read_json(...,
columns = <the same schema>)) TO ... (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (...))`
with `SET threads = 1`, in its own Python process.

Both engines are timed the same way: each is one process, timed from its start to its exit
(wall clock, and user + system CPU, minor page faults and peak RSS from wait4); DuckDB's process
includes the interpreter and `import duckdb` (~0.1-0.2 s), so the COPY's own seconds are printed
too. Rounds are interleaved (ours, duckdb, duckdb, ours, ...), medians are reported. Every run's
output is checked: records in = Parquet rows out (read back with pyarrow) + records in kinesink's
error output (DuckDB has none: every line is valid JSON of the schema).

Shapes, each generated from a fixed seed:
  sample   kinesink's sample events (10 columns)
  strings  high-cardinality strings: UUID ids, 20k customers, 100k distinct pages, 200-byte user agents (2k)
  wide     48 columns: 30 scalars, a nested struct, an array, a map and a decimal
  small    ~80-byte records (5 columns)

    bench/dry_run_vs_duckdb.sh                  # builds release, then runs this
    python3 bench/dry_run_vs_duckdb.py --kinesink target/release/kinesink --rounds 3
"""
import argparse
import glob
import json
import os
import random
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time
import uuid

from iceberg_vs_objects import error_records  # error-output records, as that bench counts them

TYPES = ["view", "click", "add_to_cart", "purchase", "search", "login", "logout", "share"]
COUNTRIES = ["DE", "FR", "US", "JP", "BR", "IN", "GB", "ES", "IT", "NL", "SE", "PL", "CA", "MX",
             "AU", "KR", "CN", "ZA", "NG", "AR"]

SCHEMAS = {
    "sample": "event_id string, customer_id string, event_type string, ts timestamp, price double, "
              "quantity int, page string, country string, user_agent string, session_ms bigint",
    "strings": "event_id string, customer_id string, event_type string, country string, ts timestamp, "
               "page string, user_agent string, n bigint",
    "wide": ", ".join(["event_id string", "event_type string", "country string", "ts timestamp"]
                      + [f"s{i} string" for i in range(12)] + [f"i{i} bigint" for i in range(10)]
                      + [f"d{i} double" for i in range(8)]
                      + ["geo struct<city:string,lat:double,lon:double>", "tags array<string>",
                         "attrs map<string,string>", "amount decimal(12,2)"]),
    "small": "id bigint, t string, c string, v double, ts timestamp",
}
PARTITION_KEYS = {"sample": ("event_type", "country"), "strings": ("event_type", "country"),
                  "wide": ("event_type", "country"), "small": ("t", "c")}
DEFAULT_RECORDS = {"sample": 1_000_000, "strings": 1_000_000, "wide": 200_000, "small": 2_000_000}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def rand_text(rng, n, alphabet=string.ascii_letters + string.digits):
    return "".join(rng.choices(alphabet, k=n))


def ts_of(i):
    return f"2026-12-04T{(i // 3_600_000) % 24:02d}:{(i // 60_000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}Z"


def sample_lines(kinesink, count):
    out = subprocess.run([kinesink, "sample-events", "--count", str(count)], check=True,
                         capture_output=True, text=True).stdout
    return out.splitlines()


def strings_lines(count):
    rng = random.Random(2301)
    pages = ["/" + "/".join(rand_text(rng, 6) for _ in range(3)) for _ in range(100_000)]
    agents = [f"Mozilla/5.0 ({rand_text(rng, 40)}) AppleWebKit/537.36 (KHTML, like Gecko) "
              f"{rand_text(rng, 200 - 100)} Safari/537.36" for _ in range(2_000)]
    customers = [f"c-{rand_text(rng, 8)}" for _ in range(20_000)]
    for i in range(count):
        yield json.dumps({
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "customer_id": rng.choice(customers),
            "event_type": rng.choice(TYPES),
            "country": rng.choice(COUNTRIES),
            "ts": ts_of(i),
            "page": rng.choice(pages),
            "user_agent": rng.choice(agents),
            "n": rng.randrange(10**6),
        }, separators=(",", ":"))


def wide_lines(count):
    rng = random.Random(2302)
    words = [rand_text(rng, rng.randrange(4, 16)) for _ in range(500)]
    cities = [rand_text(rng, 9) for _ in range(300)]
    for i in range(count):
        row = {"event_id": f"w-{i}", "event_type": rng.choice(TYPES), "country": rng.choice(COUNTRIES), "ts": ts_of(i)}
        for k in range(12):
            row[f"s{k}"] = rng.choice(words)
        for k in range(10):
            row[f"i{k}"] = rng.randrange(-10**9, 10**9)
        for k in range(8):
            row[f"d{k}"] = round(rng.uniform(-1e4, 1e4), 4)
        row["geo"] = {"city": rng.choice(cities), "lat": round(rng.uniform(-90, 90), 5), "lon": round(rng.uniform(-180, 180), 5)}
        row["tags"] = [rng.choice(words) for _ in range(rng.randrange(0, 5))]
        row["attrs"] = {rng.choice(words[:20]): rng.choice(words) for _ in range(rng.randrange(0, 4))}
        row["amount"] = f"{rng.randrange(0, 10**8)}.{rng.randrange(100):02d}"
        yield json.dumps(row, separators=(",", ":"))


def small_lines(count):
    rng = random.Random(2303)
    for i in range(count):
        yield json.dumps({"id": 10**9 + i, "t": rng.choice(TYPES), "c": rng.choice(COUNTRIES),
                          "v": round(rng.uniform(0, 1000), 2), "ts": ts_of(i)}, separators=(",", ":"))


def write_lines(lines, path):
    n = 0
    with open(path, "w") as f:
        for line in lines:
            f.write(line + "\n")
            n += 1
    return n


def config(shape):
    a, b = PARTITION_KEYS[shape]
    return f'''name = "bench"
[source]
stream = "bench"
[processing]
partition_query = "{{a: .{a}, b: .{b}}}"
[destination]
url = "s3://unused-by-dry-run"
prefix = "data/a=!{{partitionKeyFromQuery:a}}/b=!{{partitionKeyFromQuery:b}}/"
error_output_prefix = "errors/!{{firehose:error-output-type}}/"
buffer_size_mib = 128
buffer_interval_s = 900
[format]
type = "parquet"
compression = "zstd"
schema = "{SCHEMAS[shape]}"
'''


def duckdb_type(hive):
    """The DuckDB type of a Hive type of SCHEMAS."""
    simple = {"string": "VARCHAR", "timestamp": "TIMESTAMP", "double": "DOUBLE", "int": "INTEGER",
              "bigint": "BIGINT"}
    if hive in simple:
        return simple[hive]
    if hive.startswith("decimal("):
        return hive.upper()
    if hive == "array<string>":
        return "VARCHAR[]"
    if hive == "map<string,string>":
        return "MAP(VARCHAR, VARCHAR)"
    if hive.startswith("struct<"):
        fields = [f.split(":") for f in hive[len("struct<"):-1].split(",")]
        return "STRUCT(" + ", ".join(f"{n} {duckdb_type(t)}" for n, t in fields) + ")"
    raise SystemExit(f"no DuckDB type for {hive}")


def schema_columns(shape):
    """(name, hive type) of SCHEMAS[shape] (types here have no spaces)."""
    columns, depth, current = [], 0, ""
    for ch in SCHEMAS[shape] + ",":
        if ch == "," and depth == 0:
            name, hive = current.strip().split(" ", 1)
            columns.append((name, hive.replace(" ", "")))
            current = ""
            continue
        depth += ch == "<" or ch == "("
        depth -= ch == ">" or ch == ")"
        current += ch
    return columns


def duckdb_child(shape, events, out):
    """Runs in its own process: DuckDB's COPY, one thread; prints its own seconds."""
    import duckdb
    con = duckdb.connect()
    con.execute("SET threads=1")
    columns = "{" + ", ".join(f"'{n}': '{duckdb_type(t)}'" for n, t in schema_columns(shape)) + "}"
    a, b = PARTITION_KEYS[shape]
    started = time.perf_counter()
    con.execute(f"""COPY (SELECT * FROM read_json('{events}', format='newline_delimited', columns={columns}))
                    TO '{out}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY ({a}, {b}))""")
    print(json.dumps({"copy_seconds": time.perf_counter() - started, "version": duckdb.__version__}))


def parquet_rows(root):
    import pyarrow.parquet as pq
    return sum(pq.ParquetFile(p).metadata.num_rows
               for p in glob.glob(os.path.join(root, "**", "*.parquet"), recursive=True))


def timed(cmd, stdout=subprocess.DEVNULL):
    """Runs `cmd` (an absolute path first) and measures it. `close_fds=False` lets Python start
    it with posix_spawn (vfork): a forked child's peak RSS would start at the driver's own."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, close_fds=False)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{err[-3000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "user": usage.ru_utime,
            "sys": usage.ru_stime, "faults": usage.ru_minflt, "rss_mib": usage.ru_maxrss / 1024,
            "stdout": out}


def one_run(engine, kinesink, shape, events, total, root):
    work = tempfile.mkdtemp(prefix=f"{shape}-{engine}-", dir=root)
    out = os.path.join(work, "out")
    if engine == "kinesink":
        cfg = os.path.join(work, "k.toml")
        with open(cfg, "w") as f:
            f.write(config(shape))
        r = timed([os.path.abspath(kinesink), "dry-run", "--input-format", "lines", "--config", cfg, "--input", events,
                   "--output", out])
        rows, errors = parquet_rows(os.path.join(out, "data")), error_records(out)
    else:
        r, rows, errors = duckdb_run(shape, events, out)
    checked(engine, shape, r, rows, errors, total)
    shutil.rmtree(work)
    return r


def duckdb_run(shape, events, out, pin=()):
    """DuckDB's COPY of `events` in its own process (`--duckdb-child`, prefixed by `pin`),
    measured by `timed`; returns (measures with the COPY's own seconds, rows out, 0 errors)."""
    r = timed(list(pin) + [sys.executable, os.path.abspath(__file__), "--duckdb-child", shape, events, out],
              stdout=subprocess.PIPE)
    r["copy_seconds"] = json.loads(r["stdout"])["copy_seconds"]
    return r, parquet_rows(out), 0


def checked(engine, shape, r, rows, errors, total):
    """Stops the bench unless rows out + error records = records in; records both in `r`."""
    if rows + errors != total:
        raise SystemExit(f"{engine} {shape}: records in {total} != rows {rows} + error records {errors}")
    r.update(rows=rows, errors=errors)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--duckdb-child":
        duckdb_child(*sys.argv[2:5])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--generate":
        shape, count, path, kinesink = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
        lines = {"sample": lambda: sample_lines(kinesink, count), "strings": lambda: strings_lines(count),
                 "wide": lambda: wide_lines(count), "small": lambda: small_lines(count)}[shape]()
        write_lines(lines, path)
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kinesink", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--shapes", nargs="*", default=list(SCHEMAS))
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every shape's record count")
    ap.add_argument("--workdir", default=None, help="where records files and outputs go (deleted at the end)")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="dry-run-vs-duckdb-", dir=args.workdir)
    try:
        results = []
        for shape in args.shapes:
            count = int(DEFAULT_RECORDS[shape] * args.scale)
            events = os.path.join(root, f"{shape}.jsonl")
            # Generated by a child process: the driver stays small.
            subprocess.run([sys.executable, os.path.abspath(__file__), "--generate", shape, str(count), events,
                            os.path.abspath(args.kinesink)], check=True)
            total = sum(1 for _ in open(events, "rb"))
            mb = os.path.getsize(events) / 1e6
            log(f"==> {shape}: {total:,} records, {mb:.0f} MB")
            runs = {"kinesink": [], "duckdb": []}
            for round_ in range(args.rounds):
                order = ["kinesink", "duckdb"] if round_ % 2 == 0 else ["duckdb", "kinesink"]
                for engine in order:
                    r = one_run(engine, args.kinesink, shape, events, total, root)
                    runs[engine].append(r)
                    log(f"  round {round_ + 1} {engine:<8} {r['wall']:6.2f} s wall {r['user']:6.2f} user {r['sys']:5.2f} sys "
                        f"{r['faults']:>8,} faults {r['rss_mib']:7.0f} MiB  rows {r['rows']:,} + errors {r['errors']:,}")
            med = {e: {k: statistics.median(r[k] for r in rs) for k in ("wall", "cpu", "user", "sys", "faults", "rss_mib")}
                   for e, rs in runs.items()}
            med["duckdb"]["copy_seconds"] = statistics.median(r["copy_seconds"] for r in runs["duckdb"])
            results.append((shape, total, mb, med, runs))
        print(f"kinesink dry-run vs DuckDB (threads=1) COPY ... PARTITION_BY, zstd Parquet, two partition keys; "
              f"medians of {args.rounds} interleaved rounds; each engine one process, timed start to exit")
        print(f"{'shape':<8}{'records':>11}{'MB':>6}  {'ours s':>7}{'user':>6}{'sys':>6}{'faults':>9}{'RSS MiB':>8}"
              f"  {'duck s':>7}{'user':>6}{'sys':>6}{'faults':>9}{'RSS MiB':>8}{'COPY s':>7}  {'ratio':>6}{'cpu':>6}{'vs COPY':>8}")
        for shape, total, mb, med, _ in results:
            o, d = med["kinesink"], med["duckdb"]
            print(f"{shape:<8}{total:>11,}{mb:>6.0f}  {o['wall']:>7.2f}{o['user']:>6.2f}{o['sys']:>6.2f}{o['faults']:>9,.0f}{o['rss_mib']:>8.0f}"
                  f"  {d['wall']:>7.2f}{d['user']:>6.2f}{d['sys']:>6.2f}{d['faults']:>9,.0f}{d['rss_mib']:>8.0f}{d['copy_seconds']:>7.2f}"
                  f"  {d['wall'] / o['wall']:>5.2f}x{d['cpu'] / o['cpu']:>5.2f}x{d['copy_seconds'] / o['wall']:>7.2f}x")
        print("ratio = DuckDB process wall / kinesink process wall (records/s ours / DuckDB's); cpu = the same for "
              "user+system CPU; vs COPY = DuckDB's COPY alone / kinesink's whole process. Target >= 1.3x on every shape.")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
