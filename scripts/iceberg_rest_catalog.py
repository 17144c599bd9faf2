#!/usr/bin/env python3
"""A small Iceberg REST catalog server: the local stand-in for `catalog = "rest"` in tests.

  iceberg_rest_catalog.py --db /tmp/x/catalog.db --warehouse s3://bucket/warehouse \
      [--port 0] [--property s3.endpoint=http://127.0.0.1:5055 ...] \
      [--token SECRET] [--credential CLIENT_ID:CLIENT_SECRET]

Prints `listening on http://127.0.0.1:PORT` on stdout once it serves (port 0: a free one), on
127.0.0.1 only, until killed (stop it by its PID). Backed by pyiceberg's SqlCatalog (name
`default`) on the SQLite file `--db`; `--property` entries go to that catalog (its FileIO: S3
endpoint and credentials of the warehouse). Needs pyiceberg (the moto venv of
`scripts/local-aws`, $KINESINK_MOTO_PYTHON, has pyiceberg 0.10.0).

Implements, with pyiceberg's own REST and table-update models (the REST spec's shapes):
  GET  /v1/config                           {"defaults": {}, "overrides": {}}
  POST /v1/oauth/tokens                     client_credentials grant (with --credential)
  GET|POST /v1/namespaces                   list (no paging) / create
  GET|HEAD|DELETE /v1/namespaces/{ns}       load / exists / drop
  GET|POST /v1/namespaces/{ns}/tables       list / create (no staged create)
  GET|HEAD|DELETE /v1/namespaces/{ns}/tables/{t}   load / exists / drop
  POST /v1/namespaces/{ns}/tables/{t}       commit: SqlCatalog.commit_table checks every
      requirement (assert-table-uuid, assert-ref-snapshot-id, ...) against the current
      metadata, writes the new metadata file and swaps the table's metadata pointer with a
      conditional UPDATE; a failed requirement or a lost swap answers 409
      CommitFailedException. Requests are served one at a time (one lock around the catalog),
      so check and swap are atomic here even without SQLite's conditional UPDATE.
Errors use the spec's body {"error": {"message", "type", "code"}}: 404 NoSuchTableException /
NoSuchNamespaceException, 409 AlreadyExistsException / CommitFailedException, 400
BadRequestException, 401 NotAuthorizedException (with --token or --credential, a request
without the bearer token), 500 for anything else.

Not implemented: the `prefix` path segment, paging, namespace property updates, rename,
register, views, multi-table transactions, metrics reports, staged creates, purge of data
files, vended credentials, SigV4.
"""
import argparse
import json
import secrets
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pydantic import ValidationError
from pyiceberg.catalog.rest import (
    ConfigResponse,
    CreateTableRequest,
    ListNamespaceResponse,
    ListTableResponseEntry,
    ListTablesResponse,
    NamespaceResponse,
    TableResponse,
)
from pyiceberg.catalog.rest.response import ErrorResponse, ErrorResponseMessage, TokenResponse
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NamespaceNotEmptyError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.table import CommitTableRequest, CommitTableResponse

# Exceptions of pyiceberg as REST errors: (HTTP status, the spec's error type).
ERRORS = [
    (NoSuchTableError, 404, "NoSuchTableException"),
    (NoSuchNamespaceError, 404, "NoSuchNamespaceException"),
    (TableAlreadyExistsError, 409, "AlreadyExistsException"),
    (NamespaceAlreadyExistsError, 409, "AlreadyExistsException"),
    (NamespaceNotEmptyError, 409, "NamespaceNotEmptyException"),
    (CommitFailedException, 409, "CommitFailedException"),
    (ValidationError, 400, "BadRequestException"),
    (ValueError, 400, "BadRequestException"),
]


class RestError(Exception):
    """A REST error answer: status, the spec's error type, message."""

    def __init__(self, code, kind, message):
        super().__init__(message)
        self.code, self.kind = code, kind


def namespace_of(segment):
    """A namespace path segment (levels joined by 0x1F, URL-encoded) as a tuple."""
    return tuple(urllib.parse.unquote(segment).split("\x1f"))


def dump(model):
    """A pyiceberg model as the spec's JSON (aliases, no nulls)."""
    return model.model_dump_json(by_alias=True, exclude_none=True)


def with_partition_field_ids(body):
    """iceberg-rust sends an unbound partition spec (no field ids), pyiceberg's PartitionSpec
    requires them: number them as a catalog would (1000, 1001, ...); the catalog reassigns ids."""
    spec = body.get("partition-spec")
    if isinstance(spec, dict):
        for i, field in enumerate(spec.get("fields", [])):
            field.setdefault("field-id", 1000 + i)
    for key in ("location", "partition-spec", "write-order"):
        body.setdefault(key, None)
    return body


class Catalog:
    """The routes over one SqlCatalog, one request at a time."""

    def __init__(self, catalog, token, credential):
        self.catalog, self.token, self.credential = catalog, token, credential
        if credential is not None and token is None:
            self.token = secrets.token_hex(16)  # what /v1/oauth/tokens hands out
        self.lock = threading.Lock()

    def table_response(self, table):
        return dump(TableResponse(**{"metadata-location": table.metadata_location, "metadata": table.metadata}))

    def route(self, method, path, query, headers, body):
        """(status, JSON text or None) for one request."""
        parts = [p for p in path.split("/") if p]
        if parts[:1] != ["v1"]:
            raise RestError(404, "NotFoundException", f"no route {path}")
        parts = parts[1:]
        if parts == ["oauth", "tokens"] and method == "POST":
            return self.oauth_token(body)
        if self.token is not None and headers.get("Authorization") != f"Bearer {self.token}":
            raise RestError(401, "NotAuthorizedException", "missing or wrong bearer token")
        if parts == ["config"] and method == "GET":
            return 200, dump(ConfigResponse(defaults={}, overrides={}))
        with self.lock:
            return self.catalog_route(method, parts, query, body)

    def oauth_token(self, body):
        form = urllib.parse.parse_qs(body.decode())
        given = (form.get("client_id", [""])[0], form.get("client_secret", [""])[0])
        if self.credential is None or form.get("grant_type") != ["client_credentials"] or given != self.credential:
            raise RestError(401, "NotAuthorizedException", "invalid client credentials")
        return 200, dump(
            TokenResponse(
                access_token=self.token,
                token_type="bearer",
                expires_in=3600,
                issued_token_type="urn:ietf:params:oauth:token-type:access_token",
            )
        )

    def catalog_route(self, method, parts, query, body):
        c = self.catalog
        if parts == ["namespaces"]:
            if method == "GET":
                parent = namespace_of(query["parent"][0]) if "parent" in query else ()
                return 200, dump(ListNamespaceResponse(namespaces=c.list_namespaces(parent)))
            if method == "POST":
                request = json.loads(body)
                namespace = tuple(request["namespace"])
                c.create_namespace(namespace, request.get("properties") or {})
                return 200, dump(NamespaceResponse(namespace=namespace, properties=c.load_namespace_properties(namespace)))
        elif len(parts) == 2 and parts[0] == "namespaces":
            namespace = namespace_of(parts[1])
            if method == "GET":
                return 200, dump(NamespaceResponse(namespace=namespace, properties=c.load_namespace_properties(namespace)))
            if method == "HEAD":
                return (204 if c._namespace_exists(namespace) else 404), None
            if method == "DELETE":
                c.drop_namespace(namespace)
                return 204, None
        elif len(parts) == 3 and parts[0] == "namespaces" and parts[2] == "tables":
            namespace = namespace_of(parts[1])
            if method == "GET":
                entries = [ListTableResponseEntry(namespace=t[:-1], name=t[-1]) for t in c.list_tables(namespace)]
                return 200, dump(ListTablesResponse(identifiers=entries))
            if method == "POST":
                request = CreateTableRequest.model_validate(with_partition_field_ids(json.loads(body)))
                if request.stage_create:
                    raise RestError(400, "BadRequestException", "staged creates are not implemented")
                if not c._namespace_exists(namespace):
                    raise NoSuchNamespaceError(f"namespace {namespace} does not exist")
                optional = {"partition_spec": request.partition_spec, "sort_order": request.write_order}
                table = c.create_table(
                    namespace + (request.name,),
                    schema=request.table_schema,
                    location=request.location,
                    properties=request.properties,
                    **{k: v for k, v in optional.items() if v is not None},
                )
                return 200, self.table_response(table)
        elif len(parts) == 4 and parts[0] == "namespaces" and parts[2] == "tables":
            identifier = namespace_of(parts[1]) + (urllib.parse.unquote(parts[3]),)
            if method == "GET":
                return 200, self.table_response(c.load_table(identifier))
            if method == "HEAD":
                return (204 if c.table_exists(identifier) else 404), None
            if method == "DELETE":
                c.drop_table(identifier)
                return 204, None
            if method == "POST":
                request = CommitTableRequest.model_validate_json(body)
                table = c.load_table(identifier)
                response = c.commit_table(table, request.requirements, request.updates)
                return 200, dump(CommitTableResponse(**{"metadata": response.metadata, "metadata-location": response.metadata_location}))
        raise RestError(404, "NotFoundException", f"no route {method} /v1/{'/'.join(parts)}")


def handler_for(catalog):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle_one(self):
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                status, text = catalog.route(self.command, url.path, urllib.parse.parse_qs(url.query), self.headers, body)
            except RestError as e:
                status, text = e.code, error_body(e.code, e.kind, str(e))
            except Exception as e:  # noqa: BLE001 - every failure becomes a REST error answer
                status, kind = next(((code, kind) for cls, code, kind in ERRORS if isinstance(e, cls)), (500, "ServerError"))
                text = error_body(status, kind, f"{type(e).__name__}: {e}")
            data = text.encode() if text is not None else b""
            self.send_response(status)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data and self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_HEAD = do_DELETE = handle_one

        def log_message(self, format, *args):  # quiet: the tests read stdout
            pass

    return Handler


def error_body(code, kind, message):
    return dump(ErrorResponse(error=ErrorResponseMessage(message=message, type=kind, code=code)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="the SQLite file of the catalog (created)")
    parser.add_argument("--warehouse", required=True, help="s3://bucket/prefix or file:///path")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--property", action="append", default=[], help="KEY=VALUE for the SqlCatalog")
    parser.add_argument("--token", help="require this bearer token")
    parser.add_argument("--credential", help="CLIENT_ID:CLIENT_SECRET accepted by /v1/oauth/tokens")
    args = parser.parse_args()
    properties = dict(p.split("=", 1) for p in args.property)
    sql = SqlCatalog("default", uri=f"sqlite:///{args.db}", warehouse=args.warehouse, **properties)
    credential = tuple(args.credential.split(":", 1)) if args.credential else None
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(Catalog(sql, args.token, credential)))
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
