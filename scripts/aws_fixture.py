#!/usr/bin/env python3
"""Creates and inspects the local stand-ins' resources for the demo, independently of kinesink.

  aws_fixture.py create-stream NAME SHARDS     creates a stream and waits until it is ACTIVE
  aws_fixture.py create-bucket NAME            creates a bucket (no error if it exists)
  aws_fixture.py verify BUCKET ROOT ID_PREFIX N
      reads every object under s3://BUCKET/ROOT back (gzip NDJSON, or Parquet read with DuckDB),
      prints the objects, checks that the events <ID_PREFIX>-0 .. <ID_PREFIX>-(N-1) are each
      delivered exactly once, and for Parquet runs a query over the files.
  aws_fixture.py verify-iceberg CATALOG_DB WAREHOUSE TABLE ID_PREFIX N
      reads the Iceberg table TABLE (SQL catalog in the SQLite file CATALOG_DB) back with
      pyiceberg, checks every event exactly once and queries it.

Uses boto3 with the endpoints of `scripts/local-aws env` (AWS_ENDPOINT_URL_*).
"""
import collections
import gzip
import json
import os
import sys
import tempfile
import time

import boto3


def client(service):
    env = "AWS_ENDPOINT_URL_" + service.upper()
    return boto3.client(service, endpoint_url=os.environ.get(env), region_name=os.environ.get("AWS_REGION", "us-east-1"))


def create_stream(name, shards):
    k = client("kinesis")
    k.create_stream(StreamName=name, ShardCount=int(shards))
    for _ in range(200):
        if k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
            print(f"stream {name} is ACTIVE with {shards} shards")
            return
        time.sleep(0.1)
    sys.exit(f"stream {name} did not become ACTIVE")


def create_bucket(name):
    s3 = client("s3")
    try:
        s3.create_bucket(Bucket=name)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    print(f"bucket {name} ready")


def verify(bucket, root, id_prefix, expected):
    expected = int(expected)
    s3 = client("s3")
    counts = collections.Counter()
    objects = 0
    errors = 0
    parquet_files = []
    workdir = tempfile.mkdtemp(prefix="kinesink-demo-")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key[len(root):].startswith("_kinesink/"):
                continue  # the worker's per-shard progress, not output
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            objects += 1
            if key.endswith(".parquet"):
                path = os.path.join(workdir, key.replace("/", "__"))
                with open(path, "wb") as f:
                    f.write(body)
                parquet_files.append(path)
                print(f"  s3://{bucket}/{key}  {obj['Size']:>8} bytes")
                continue
            if key.endswith(".gz"):
                body = gzip.decompress(body)
            lines = [l for l in body.split(b"\n") if l]
            print(f"  s3://{bucket}/{key}  {obj['Size']:>8} bytes  {len(lines):>6} records")
            if "-failed/" in key[len(root):] or key[len(root):].startswith("errors/"):
                errors += len(lines)
                continue
            for line in lines:
                counts[json.loads(line)["event_id"]] += 1
    if parquet_files:
        import duckdb
        files = "[" + ",".join("'" + p + "'" for p in parquet_files) + "]"
        for (event_id,) in duckdb.sql(f"SELECT event_id FROM read_parquet({files})").fetchall():
            counts[event_id] += 1
        print("\nDuckDB over the Parquet files:")
        print(duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet({files})").select("column_name", "column_type"))
        print(duckdb.sql(f"SELECT event_type, country, count(*) AS events, round(sum(price), 2) AS revenue, "
                         f"min(ts) AS first_ts FROM read_parquet({files}) GROUP BY ALL ORDER BY events DESC LIMIT 8"))
    wanted = {f"{id_prefix}-{i}" for i in range(expected)}
    delivered = sum(counts[i] for i in wanted)
    duplicates = sum(c - 1 for i, c in counts.items() if i in wanted and c > 1)
    missing = sum(1 for i in wanted if counts[i] == 0)
    strangers = sum(c for i, c in counts.items() if i not in wanted)
    print(f"{objects} objects; produced {expected}, delivered {delivered}, duplicates {duplicates}, "
          f"missing {missing}, unexpected {strangers}, error records {errors}")
    if delivered != expected or duplicates or missing or strangers or errors:
        sys.exit("delivery check FAILED")


def verify_iceberg(catalog_db, warehouse, table_name, id_prefix, expected):
    """Reads the Iceberg table back with pyiceberg: every event once, and a query."""
    expected = int(expected)
    from pyiceberg.catalog.sql import SqlCatalog
    endpoint = os.environ["AWS_ENDPOINT_URL_S3"]
    catalog = SqlCatalog("default", uri=f"sqlite:///{catalog_db}", warehouse=warehouse, **{
        "s3.endpoint": endpoint, "s3.access-key-id": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        "s3.secret-access-key": os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        "s3.region": os.environ.get("AWS_REGION", "us-east-1")})
    table = catalog.load_table(table_name)
    print(f"table {table_name} at {table.metadata.location}")
    print(f"  partition spec: {table.spec()}")
    print(f"  snapshots: {len(table.snapshots())}, data files: {len(list(table.scan().plan_files()))}")
    rows = table.scan().to_arrow()
    counts = collections.Counter(rows.column("event_id").to_pylist())
    import duckdb
    events = rows  # noqa: F841 (queried by DuckDB below)
    print(duckdb.sql("SELECT event_type, CAST(ts AS DATE) AS day, count(*) AS events, "
                     "round(sum(price), 2) AS revenue FROM events GROUP BY ALL ORDER BY events DESC LIMIT 8"))
    purchases = table.scan(row_filter="event_type == 'purchase'")
    print(f"  a scan filtered on event_type = 'purchase' plans {len(list(purchases.plan_files()))} files")
    wanted = {f"{id_prefix}-{i}" for i in range(expected)}
    delivered = sum(counts[i] for i in wanted)
    duplicates = sum(c - 1 for i, c in counts.items() if i in wanted and c > 1)
    missing = sum(1 for i in wanted if counts[i] == 0)
    strangers = sum(c for i, c in counts.items() if i not in wanted)
    print(f"produced {expected}, in the table {delivered}, duplicates {duplicates}, "
          f"missing {missing}, unexpected {strangers}")
    if delivered != expected or duplicates or missing or strangers:
        sys.exit("delivery check FAILED")


if __name__ == "__main__":
    commands = {"create-stream": create_stream, "create-bucket": create_bucket, "verify": verify,
                "verify-iceberg": verify_iceberg}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](*sys.argv[2:])
