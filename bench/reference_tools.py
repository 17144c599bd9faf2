"""The reference tools of the benchmarks, one run per process: DuckDB and pyarrow turning
newline-delimited JSON events into partitioned files, single-threaded.

    python bench/reference_tools.py duckdb|pyarrow EVENTS OUT --format parquet|ndjson \
        --partition-by event_type,country

Prints one JSON line: {"seconds": ..., "output_bytes": ..., "version": ...}; "seconds" covers the
transformation only (not the interpreter start or the imports). Run as a separate process so
that the benchmark driver never loads DuckDB or pyarrow itself: a worker forked from a driver
that had would inherit the driver's resident memory into its peak-RSS figure (ru_maxrss counts
the image before exec).
"""

import argparse
import json
import os
import time

# The reference schema of kinesink.example.toml, in the order of the sample events.
COLUMNS = [("event_id", "string"), ("customer_id", "string"), ("event_type", "string"), ("ts", "timestamp"),
           ("price", "double"), ("quantity", "int"), ("page", "string"), ("country", "string"),
           ("user_agent", "string"), ("session_ms", "bigint")]


def output_bytes(root):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)


def duckdb_copy(events, out, fmt, partition_cols):
    import duckdb
    con = duckdb.connect()
    con.execute("SET threads=1")
    types = {"string": "VARCHAR", "timestamp": "TIMESTAMP", "double": "DOUBLE", "int": "INTEGER", "bigint": "BIGINT"}
    columns = "{" + ", ".join(f"{n}: '{types[t]}'" for n, t in COLUMNS) + "}"
    options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT json, COMPRESSION gzip"
    started = time.perf_counter()
    con.execute(f"""COPY (SELECT * FROM read_json('{events}', format='newline_delimited', columns={columns}))
                    TO '{out}' ({options}, PARTITION_BY ({', '.join(partition_cols)}))""")
    return time.perf_counter() - started, duckdb.__version__


def pyarrow_dataset(events, out, fmt, partition_cols):
    import pyarrow as pa
    import pyarrow.json as pj
    import pyarrow.parquet as pq
    if fmt != "parquet":
        raise SystemExit("pyarrow is the reference for Parquet output only")
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    types = {"string": pa.string(), "timestamp": pa.timestamp("us", tz="UTC"), "double": pa.float64(),
             "int": pa.int32(), "bigint": pa.int64()}
    schema = pa.schema([(n, types[t]) for n, t in COLUMNS])
    started = time.perf_counter()
    table = pj.read_json(events, read_options=pj.ReadOptions(use_threads=False),
                         parse_options=pj.ParseOptions(explicit_schema=schema))
    pq.write_to_dataset(table, out, partition_cols=partition_cols, compression="zstd", use_threads=False)
    return time.perf_counter() - started, pa.__version__


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("engine", choices=["duckdb", "pyarrow"])
    p.add_argument("events")
    p.add_argument("out")
    p.add_argument("--format", choices=["parquet", "ndjson"], default="parquet")
    p.add_argument("--partition-by", default="event_type,country")
    args = p.parse_args()
    run = {"duckdb": duckdb_copy, "pyarrow": pyarrow_dataset}[args.engine]
    seconds, version = run(args.events, args.out, args.format, args.partition_by.split(","))
    print(json.dumps({"seconds": seconds, "output_bytes": output_bytes(args.out), "version": version}))


if __name__ == "__main__":
    main()
