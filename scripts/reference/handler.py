"""A reference export handler in plain Python and boto3, for comparison.

What a competent team would write for the same endpoint, without the Rust
crate's optimizations: `POST /api/v1/operations/export` for the subset of the
contract (docs/contract.md) that `scripts/side-by-side.py` exercises.

- Auth: an HS256 JWT checked by hand with `hmac` (PyJWT is not in the venv):
  signature, `exp` required, `nbf` honoured, the organization from the
  `org_id` claim (`JWT_ORG_CLAIM`), the key from `JWT_SECRET`.
- `manual`: `includedIds` (deduplicated, order kept), BatchGetItem in chunks
  of 100, `UnprocessedKeys` retried with a short backoff.
- `bulk`: a Query of the organization's partition in lead-id order (pages
  of 1 MB, no FilterExpression), the filter evaluated in Python, `startIndex`
  matches skipped, `targetCount` taken, then the Query stops. Filter keys:
  `contact.location` (hierarchical) and `contact.seniority` (canonical
  slugs), `any`/`all` x `include`/`exclude`, as docs/filters.md describes
  them. Any other key is a 400. No `excludedIds`/`includedIds`, no position
  checkpoints.
- CSV with the `csv` module: the 27 columns and labels of the contract, CRLF,
  minimal quoting, the formula guard of docs/formats.md; answered inline,
  never gzip, never through S3. No `format` options, no audit record.

Its table is its own (`REFERENCE_TABLE`, default `reference-leads`): each
item is the lead document as native DynamoDB attributes (boto3's
serializer), keyed by `orgId` and `leadId`, as a boto3 handler typically
stores it.

`lambda_handler(event, context)` takes an API Gateway HTTP API (payload 2.0)
event; `scripts/reference/server.py` serves it over HTTP.
"""

import base64
import csv
import datetime
import hashlib
import hmac
import io
import json
import os
import time
import unicodedata

import boto3
from boto3.dynamodb.conditions import Key

TABLE_NAME = os.environ.get("REFERENCE_TABLE", "reference-leads")
JWT_SECRET = os.environ.get("JWT_SECRET", "").encode()
ORG_CLAIM = os.environ.get("JWT_ORG_CLAIM", "org_id")

# (field id, header label), in the contract's order.
FIELDS = [
    ("name", "Name"),
    ("emails", "Email(s)"),
    ("phones", "Phone(s)"),
    ("linkedinUrl", "LinkedIn URL"),
    ("city", "City"),
    ("postalCode", "Postal Code"),
    ("country", "Country"),
    ("jobTitle", "Job Title"),
    ("seniority", "Seniority"),
    ("departments", "Departments"),
    ("functions", "Functions"),
    ("industry", "Industry (Person)"),
    ("skills", "Skills"),
    ("languages", "Languages"),
    ("companyName", "Company Name"),
    ("companyLegalName", "Company Legal Name"),
    ("companyWebsite", "Company Website"),
    ("companyLinkedin", "Company LinkedIn"),
    ("companyPhone", "Company Phone(s)"),
    ("companyCity", "Company City (HQ)"),
    ("companyPostalCode", "Company Postal Code (HQ)"),
    ("companyCountry", "Company Country (HQ)"),
    ("companyIndustry", "Company Industry"),
    ("companyHeadcount", "Company Headcount"),
    ("companyRevenue", "Company Revenue"),
    ("companyFoundedYear", "Company Founded Year"),
    ("companySummary", "Company Summary"),
]
LABELS = dict(FIELDS)
DEFAULT_FIELDS = ["name", "emails", "phones", "linkedinUrl", "city", "country",
                  "jobTitle", "companyName"]
MAX_IDS = 10_000

_dynamodb = boto3.resource("dynamodb")
_table = _dynamodb.Table(TABLE_NAME)


class HttpError(Exception):
    def __init__(self, status, body, headers=None):
        super().__init__(body)
        self.status, self.body, self.headers = status, body, headers or {}


def error(status, code, message, headers=None):
    return HttpError(status, {"error": {"code": code, "message": message}}, headers)


# --- auth ------------------------------------------------------------------

def _b64decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_token(authorization, secret=None, now=None):
    """The organization of a valid `Bearer` HS256 token, else a 401/403."""
    secret = JWT_SECRET if secret is None else secret
    unauthorized = error(401, "UNAUTHORIZED", "Invalid or missing bearer token",
                         {"WWW-Authenticate": "Bearer"})
    if not authorization or not authorization.startswith("Bearer "):
        raise unauthorized
    try:
        header_b64, payload_b64, signature_b64 = authorization[7:].strip().split(".")
        header = json.loads(_b64decode(header_b64))
        expected = hmac.new(secret, f"{header_b64}.{payload_b64}".encode(),
                            hashlib.sha256).digest()
        if header.get("alg") != "HS256" or not hmac.compare_digest(
                expected, _b64decode(signature_b64)):
            raise unauthorized
        claims = json.loads(_b64decode(payload_b64))
    except (ValueError, TypeError, AttributeError):
        raise unauthorized from None
    now = time.time() if now is None else now
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, (int, float)) or exp <= now:
        raise unauthorized
    if isinstance(nbf, (int, float)) and nbf > now:
        raise unauthorized
    org = claims.get(ORG_CLAIM)
    if not isinstance(org, str) or not org or len(org) > 1024:
        raise error(403, "FORBIDDEN", f"The token carries no organization ({ORG_CLAIM} claim)")
    return org


# --- filters (docs/filters.md) -----------------------------------------------

def norm(s):
    """NFKD, combining marks dropped, lowercase, whitespace collapsed, trimmed."""
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c)).lower()
    return " ".join(s.split())


SENIORITY = {
    "c suite": "c_suite", "csuite": "c_suite", "cxo": "c_suite",
    "c level": "c_suite", "clevel": "c_suite",
    "vp": "vp", "vice president": "vp", "v p": "vp",
    "mid level": "mid_level", "midlevel": "mid_level", "mid": "mid_level",
    "entry level": "entry", "entry": "entry",
    "co founder": "founder", "cofounder": "founder",
}


def seniority_slug(s):
    key = norm(s)
    if "_" in key or "-" in key:
        key = norm(key.replace("_", " ").replace("-", " "))
    return SENIORITY.get(key, key.replace(" ", "_"))


def location_parts(lead):
    """The lead's city, state, state code, country and country code, split
    at commas and normalized."""
    parts = set()
    for key in ("city", "state", "stateCode", "country", "countryCode"):
        value = lead.get(key)
        if value:
            parts.update(p for p in (norm(c) for c in value.split(",")) if p)
    return parts


def _location_hit(term, parts):
    wanted = [p for p in (norm(c) for c in term.split(",")) if p]
    return bool(wanted) and all(w in parts for w in wanted)


def _seniority_hit(term, slug):
    term = seniority_slug(term)
    return bool(term) and term == slug


def _lists(path, spec):
    """[(all, include, terms)] of an `any`/`all` x `include`/`exclude` filter."""
    if not isinstance(spec, dict):
        raise error(400, "VALIDATION_ERROR", f"{path} must be an object")
    out = []
    for quant, parts in spec.items():
        if quant not in ("any", "all") or not isinstance(parts, dict):
            raise error(400, "VALIDATION_ERROR", f"{path}.{quant}: unknown key")
        for kind, terms in parts.items():
            if kind not in ("include", "exclude") or not isinstance(terms, list) \
                    or not all(isinstance(t, str) for t in terms):
                raise error(400, "VALIDATION_ERROR", f"{path}.{quant}.{kind}: unsupported")
            if terms:
                out.append((quant == "all", kind == "include", terms))
    return out


def compile_filter(filters):
    """A predicate over lead documents for the supported filter keys."""
    if filters is None:
        filters = {}
    if not isinstance(filters, dict):
        raise error(400, "VALIDATION_ERROR", "selection.filters must be an object")
    checks = []
    for section, keys in filters.items():
        if section != "contact" or not isinstance(keys, dict):
            raise error(400, "VALIDATION_ERROR", f"filters.{section}: not supported here")
        for key, spec in keys.items():
            path = f"filters.contact.{key}"
            if key == "location":
                for all_, include, terms in _lists(path, spec):
                    checks.append(("location", all_, include, terms))
            elif key == "seniority":
                for all_, include, terms in _lists(path, spec):
                    checks.append(("seniority", all_, include, terms))
            else:
                raise error(400, "VALIDATION_ERROR", f"{path}: not supported here")

    def matches(lead):
        parts = slug = None
        for kind, all_, include, terms in checks:
            if kind == "location":
                if parts is None:
                    parts = location_parts(lead)
                hits = (_location_hit(t, parts) for t in terms)
            else:
                if slug is None:
                    value = lead.get("seniority")
                    slug = seniority_slug(value) if value else ""
                hits = (bool(slug) and _seniority_hit(t, slug) for t in terms)
            found = all(hits) if all_ else any(hits)
            if found != include:
                return False
        return True

    return matches


# --- cells and CSV (docs/contract.md, docs/formats.md) -------------------------

def _join(values):
    return ", ".join(values) if values else ""


def cell(field, lead):
    company = lead.get("company") or {}
    if field == "name":
        first, last = (lead.get("firstName") or "").strip(), (lead.get("lastName") or "").strip()
        return f"{first} {last}" if first and last else first or last
    if field in ("emails", "phones", "departments", "functions", "skills"):
        return _join(lead.get(field))
    if field == "languages":
        return _join([l["language"] for l in lead.get("languages") or []
                      if l.get("language") is not None])
    if field == "companyWebsite":
        if company.get("websiteUrl"):
            return company["websiteUrl"]
        return f"https://{company['domain']}" if company.get("domain") else ""
    if field == "companyPhone":
        return _join(company.get("phones"))
    if field == "companyFoundedYear":
        year = company.get("foundedYear")
        return "" if year is None else str(year)
    if field.startswith("company"):
        key = {"companyName": "name", "companyLegalName": "legalName",
               "companyLinkedin": "linkedinUrl", "companyCity": "city",
               "companyPostalCode": "postalCode", "companyCountry": "country",
               "companyIndustry": "industry", "companyHeadcount": "headcount",
               "companyRevenue": "revenue", "companySummary": "summary"}[field]
        return company.get(key) or ""
    return lead.get(field) or ""


_SAFE_AFTER_SIGN = set("0123456789 +-().,/")


def escape_formula(value):
    """A leading `'` on a cell a spreadsheet would run as a formula."""
    rest = value.lstrip(" ")
    if not rest:
        return value
    first = rest[0]
    if first in "=@\t\r\n":
        return "'" + value
    if first in "+-" and not set(rest[1:]) <= _SAFE_AFTER_SIGN:
        return "'" + value
    return value


def render_csv(fields, leads):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([LABELS[f] for f in fields])
    for lead in leads:
        writer.writerow([escape_formula(cell(f, lead)) for f in fields])
    return buf.getvalue().encode("utf-8")


# --- reads ---------------------------------------------------------------------

def get_leads(org, ids):
    """The leads of `ids` (in that order; missing ones skipped)."""
    found = {}
    for i in range(0, len(ids), 100):
        request = {TABLE_NAME: {"Keys": [{"orgId": org, "leadId": lead_id}
                                         for lead_id in ids[i:i + 100]]}}
        for attempt in range(8):
            response = _dynamodb.batch_get_item(RequestItems=request)
            for item in response["Responses"].get(TABLE_NAME, []):
                found[item["leadId"]] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(min(0.05 * 2 ** attempt, 1.0))
        else:
            raise error(503, "SERVICE_UNAVAILABLE", "The export service is temporarily "
                        "unavailable; retry after the delay in Retry-After", {"Retry-After": "2"})
    return [found[i] for i in ids if i in found]


def query_range(org, matches, start, count):
    """Leads `[start, start + count)` among the org's matches, in id order."""
    out, seen = [], 0
    kwargs = {"KeyConditionExpression": Key("orgId").eq(org)}
    while True:
        page = _table.query(**kwargs)
        for item in page["Items"]:
            if matches(item):
                if seen >= start:
                    out.append(item)
                    if len(out) == count:
                        return out
                seen += 1
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# --- the handler -----------------------------------------------------------------

def _int(value, path, lo, hi):
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or value != int(value) or not lo <= value <= hi:
        raise error(400, "VALIDATION_ERROR", f"{path} must be between {lo} and {hi}")
    return int(value)


def export(org, body):
    selection = body.get("selection")
    if not isinstance(selection, dict):
        raise error(400, "VALIDATION_ERROR", "selection is required")
    if body.get("format") not in (None, {}):
        raise error(400, "VALIDATION_ERROR", "format: not supported here")
    requested = body.get("exportFields") or DEFAULT_FIELDS
    fields = list(dict.fromkeys(f for f in requested if f in LABELS))
    if not fields:
        raise error(500, "INTERNAL_ERROR", "No valid export fields specified")
    mode = selection.get("mode")
    if mode == "manual":
        ids = selection.get("includedIds")
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            raise error(400, "VALIDATION_ERROR", "selection.includedIds is required")
        if len(ids) > MAX_IDS:
            raise error(400, "VALIDATION_ERROR", f"selection.includedIds holds {len(ids)} ids; "
                        f"at most {MAX_IDS} are allowed")
        leads = get_leads(org, list(dict.fromkeys(ids)))
    elif mode == "bulk":
        if selection.get("excludedIds") or selection.get("includedIds"):
            raise error(400, "VALIDATION_ERROR", "excludedIds/includedIds: not supported here")
        if "filters" not in selection:
            raise error(400, "VALIDATION_ERROR", "selection.filters is required")
        matches = compile_filter(selection["filters"])
        start = _int(selection.get("startIndex", 0), "selection.startIndex", 0, 10**12)
        count = _int(selection.get("targetCount"), "selection.targetCount", 1, 1000)
        leads = query_range(org, matches, start, count)
    else:
        raise error(400, "VALIDATION_ERROR", "selection.mode must be manual or bulk")
    if not leads:
        raise HttpError(400, {"error": "No data to export"}, {"X-Export-Skipped": "0"})
    return render_csv(fields, leads), len(leads)


def _json_response(status, body, headers=None):
    return {"statusCode": status,
            "headers": {"Content-Type": "application/json", **(headers or {})},
            "body": json.dumps(body)}


def lambda_handler(event, context=None):
    """API Gateway HTTP API (payload 2.0) event in, response dict out."""
    method = event.get("requestContext", {}).get("http", {}).get("method", "POST")
    if method != "POST":
        return _json_response(405, {"error": {"code": "METHOD_NOT_ALLOWED", "message":
                              f"method {method} is not allowed; use POST"}}, {"Allow": "POST"})
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    try:
        org = verify_token(headers.get("authorization"))
        raw = event.get("body") or ""
        if event.get("isBase64Encoded"):
            raw = base64.b64decode(raw)
        try:
            body = json.loads(raw)
        except ValueError:
            raise error(400, "VALIDATION_ERROR", "the body is not JSON") from None
        if not isinstance(body, dict):
            raise error(400, "VALIDATION_ERROR", "the body must be a JSON object")
        data, count = export(org, body)
    except HttpError as e:
        return _json_response(e.status, e.body, e.headers)
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    return {
        "statusCode": 200,
        "headers": {
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="lance-prospects-{day}.csv"',
            "X-Export-Count": str(count),
            "X-Export-Skipped": "0",
            "Cache-Control": "no-store",
        },
        "body": data.decode("utf-8"),
    }


# --- the reference table (used by scripts/side-by-side.py) ------------------------

def create_table(client=None, name=TABLE_NAME):
    """Creates the on-demand table keyed by `orgId`/`leadId` if missing."""
    client = client or boto3.client("dynamodb")
    if name not in client.list_tables()["TableNames"]:
        client.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "orgId", "AttributeType": "S"},
                                  {"AttributeName": "leadId", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "orgId", "KeyType": "HASH"},
                       {"AttributeName": "leadId", "KeyType": "RANGE"}])
        client.get_waiter("table_exists").wait(TableName=name)


def put_leads(org, leads, name=TABLE_NAME):
    """Writes lead documents (parsed with `parse_float=Decimal`) as items
    (a session of its own: callable from several threads)."""
    with boto3.session.Session().resource("dynamodb").Table(name).batch_writer() as batch:
        for lead in leads:
            batch.put_item(Item={**lead, "orgId": org, "leadId": lead["id"]})
