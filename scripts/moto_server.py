"""moto's server (the DynamoDB, S3, Glue and S3 Tables stand-in of scripts/local-aws) with the
fixes kinesink's tests need, applied before it starts.

Two are answers of moto 5.2.5's S3 Tables that aws-sdk-s3tables (used by iceberg-rust's S3
Tables catalog) cannot read:

- GetTable and ListTables answer `"managedByService": false`, a JSON boolean, where the S3 Tables
  API has a string naming the AWS service that manages the table, absent for a table of one's
  own. The SDK refuses the boolean ("expected ValueString or ValueNull"), so every table load
  failed. Tables here are never managed by a service: the value is made null (read as absent).
- UpdateTableMetadataLocation answers `"namespace": "<name>"` and `"tableArn"`, where the API has
  a list of names and `tableARN`. The SDK refuses the string ("expected start array or null"),
  so every commit failed after its swap had landed. The answer is given the API's shape.

One is a check moto 5.2.5's Glue leaves out, the compare-and-swap of an Iceberg commit:

- UpdateTable ignores `VersionId`. Real Glue refuses an update whose `VersionId` is not the
  table's current version with HTTP 400 `ConcurrentModificationException` ("Update table failed
  due to concurrent modifications."), which iceberg-rust's Glue catalog sends (the version its
  own reload saw) and reads as a retryable commit conflict. Here the same refusal is given, the
  check and the update under one lock (the server answers requests on several threads). An
  update without `VersionId` is applied as before, as real Glue does.

Everything else, S3 Tables' versionToken checks included, is moto's own.

Usage (as scripts/local-aws runs it): python scripts/moto_server.py -H 127.0.0.1 -p PORT
"""

import json
import sys
import threading

from moto.s3tables import models as s3tables_models
from moto.s3tables import responses as s3tables_responses

_table_init = s3tables_models.Table.__init__


def _table_init_without_a_managing_service(self, *args, **kwargs):
    _table_init(self, *args, **kwargs)
    self.managed_by_service = None


s3tables_models.Table.__init__ = _table_init_without_a_managing_service

_update_metadata_location = s3tables_responses.S3TablesResponse.update_table_metadata_location


def _update_metadata_location_as_the_api_answers(self):
    status, headers, body = _update_metadata_location(self)
    answer = json.loads(body)
    if isinstance(answer.get("namespace"), str):
        answer["namespace"] = [answer["namespace"]]
    if "tableArn" in answer:
        answer["tableARN"] = answer.pop("tableArn")
    return status, headers, json.dumps(answer)


s3tables_responses.S3TablesResponse.update_table_metadata_location = (
    _update_metadata_location_as_the_api_answers
)

from moto.glue import responses as glue_responses  # noqa: E402
from moto.glue.exceptions import GlueClientError  # noqa: E402


class ConcurrentModificationException(GlueClientError):
    """Real Glue's refusal of an UpdateTable whose VersionId is not the table's current one."""

    def __init__(self) -> None:
        super().__init__(
            "ConcurrentModificationException",
            "Update table failed due to concurrent modifications.",
        )


_glue_update_table = glue_responses.GlueResponse.update_table
_glue_update_table_lock = threading.Lock()


def _update_table_at_its_version(self):
    parameters = self.parameters
    expected = parameters.get("VersionId")
    with _glue_update_table_lock:
        if expected is not None:
            table = self.glue_backend.get_table(
                parameters.get("DatabaseName"), parameters["TableInput"]["Name"]
            )
            if str(table._current_version) != str(expected):
                # One line in moto's log per refusal (scripts/local-aws: run/moto.log).
                print(
                    f"glue UpdateTable refused: {table.database_name}.{table.name} is at version"
                    f" {table._current_version}, the update was built on {expected}",
                    file=sys.stderr,
                    flush=True,
                )
                raise ConcurrentModificationException()
        return _glue_update_table(self)


glue_responses.GlueResponse.update_table = _update_table_at_its_version

from moto.server import main  # noqa: E402  (after the fixes, as moto loads its backends lazily)

if __name__ == "__main__":
    sys.argv[0] = "moto_server"
    sys.exit(main())
