"""schemathesis hooks for scripts/schemathesis.sh.

One filter and one check, both about what JSON Schema cannot say:

- `exportFields` ids outside the enum are ignored by the server, as the
  reference does (and none known is the reference's documented 500), so a
  body holding an unknown id string is not sent: the fuzzer would read the
  documented behaviour as accepting invalid data or as a server error.
  tests/spec.rs and src/request.rs test that behaviour.
- A schema-valid body may answer 400 only with "No data to export" or a
  VALIDATION_ERROR about a rule openapi.yaml states in prose (bytes of an
  id, characters of a normalized term, terms in the whole filter, a CSV
  option other than its default with an XLSX export, a CRM preset with no
  column for any requested field).
"""

import pathlib
import re

import schemathesis
import yaml

_SCHEMA = yaml.safe_load((pathlib.Path(__file__).parent.parent / "openapi.yaml").read_text())
FIELD_IDS = frozenset(_SCHEMA["components"]["schemas"]["FieldId"]["enum"])

# Messages of the limits openapi.yaml states only in its descriptions.
UNSTATED_LIMITS = re.compile(
    r"^(selection\.(includedIds|excludedIds)\[\d+\] must be a non-empty id of at most 1024 bytes"
    r"|filters\..*: a term may hold at most 256 characters"
    r"|filters\..*: at most 2000 terms are allowed in the whole filter.*"
    r"|format\.(bom|delimiter|lineEnding): applies to CSV only, and this export is xlsx"
    r"|format\.preset: \"(hubspot|salesforce|pipedrive)\" has no column for any of the exported fields)$"
)


@schemathesis.hook
def filter_case(context, case):
    # A case hook, not a body hook: the coverage phase applies only these.
    body = case.body
    if isinstance(body, dict):
        fields = body.get("exportFields")
        if isinstance(fields, list):
            return not any(isinstance(f, str) and f not in FIELD_IDS for f in fields)
    return True


@schemathesis.check
def schema_valid_bodies_are_refused_only_for_stated_reasons(ctx, response, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return None
    body = response.json()
    if body == {"error": "No data to export"}:
        return None
    message = body.get("error", {}).get("message", "") if isinstance(body.get("error"), dict) else ""
    if UNSTATED_LIMITS.match(message):
        return None
    raise AssertionError(f"a body the schema allows was refused: {message or body}")
