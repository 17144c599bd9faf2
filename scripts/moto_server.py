"""moto's server (the DynamoDB, S3, Glue and S3 Tables stand-in of scripts/local-aws) with the
fixes kinesink's tests need, applied before it starts. Both are answers of moto 5.2.5's S3 Tables
that aws-sdk-s3tables (used by iceberg-rust's S3 Tables catalog) cannot read:

- GetTable and ListTables answer `"managedByService": false`, a JSON boolean, where the S3 Tables
  API has a string naming the AWS service that manages the table, absent for a table of one's
  own. The SDK refuses the boolean ("expected ValueString or ValueNull"), so every table load
  failed. Tables here are never managed by a service: the value is made null (read as absent).
- UpdateTableMetadataLocation answers `"namespace": "<name>"` and `"tableArn"`, where the API has
  a list of names and `tableARN`. The SDK refuses the string ("expected start array or null"),
  so every commit failed after its swap had landed. The answer is given the API's shape.

Everything else, versionToken checks included (the compare-and-swap of a commit), is moto's own.

Usage (as scripts/local-aws runs it): python scripts/moto_server.py -H 127.0.0.1 -p PORT
"""

import json
import sys

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

from moto.server import main  # noqa: E402  (after the fixes, as moto loads its backends lazily)

if __name__ == "__main__":
    sys.argv[0] = "moto_server"
    sys.exit(main())
