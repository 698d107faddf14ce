#!/usr/bin/env python3
"""`make bench`: the W1-W4 workloads against a local DynamoDB (dynalite by
default, moto with BENCH_DYNAMODB=moto) and S3 (moto), one table.

Run by scripts/bench.sh (which builds the release binaries and the
`workloads` bench tool and starts dynalite and moto). It measures without
touching the code under test:

- a counting reverse proxy per service between `local-server` and its
  upstream (DynamoDB, S3) records each request (its `X-Amz-Target`, start, end, response bytes, and a Query's
  `ScannedCount`): requests, sequential depth (the longest chain of requests
  each starting after the previous one ended), pages, items scanned, bytes;
- CPU of the serving process per export: the on-CPU nanoseconds of all its
  threads (`/proc/<pid>/task/*/schedstat`) before and after each export
  (exports run one at a time); `/proc/<pid>/stat` utime+stime over all runs
  as a cross-check (10 ms ticks);
- peak RSS: `VmHWM` of `/proc/<pid>/status`, a fresh server per workload;
- wall time of each export, from the request to the last byte of the answer;
- leads per 1 MB Query page: the `ScannedCount` of one Query of the
  organization's partition without a `Limit` (DynamoDB, and the local
  DynamoDB, end a page at 1 MB of items read);
- W4: `lead-export` started against a stand-in Runtime API on loopback, the
  time from just before spawning it to its first
  `GET /2018-06-01/runtime/invocation/next`.

Environment: BENCH_DYNAMODB_ENDPOINT and BENCH_S3_ENDPOINT (required),
BENCH_DYNAMODB (its name for the table: dynalite, moto), BENCH_BUILD (the
build profile, for the table), BENCH_BIN (release binaries),
BENCH_TOOL (the `workloads` bench binary), BENCH_FILTER_LIMITS (the
`filter_limits` bench binary), BENCH_LEADS (default 50000), BENCH_RUNS
(default 5), BENCH_DEEP_RUNS (runs of W2's deep range, default 3: on moto
each takes minutes, moto reads the whole partition for every Query page),
BENCH_TIMEOUT (seconds one export may take, default 1800),
BENCH_SEED_CONCURRENCY (default 16), BENCH_ONLY (a comma-separated subset
of page,w1,w2,w3,w4,filter to run; default all), BENCH_PAGES (pages of W2's
paged search, default 10).
"""

import base64
import hashlib
import hmac
import http.client
import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

LEADS = int(os.environ.get("BENCH_LEADS", "50000"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
DEEP_RUNS = int(os.environ.get("BENCH_DEEP_RUNS", "3"))
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "1800"))
# Seconds the proxy waits before forwarding each request (to see what the
# server spends while it waits; default none).
PROXY_DELAY = float(os.environ.get("BENCH_PROXY_DELAY", "0"))
ONLY = set(filter(None, os.environ.get("BENCH_ONLY", "page,w1,w2,w3,w4,filter").split(",")))
SEED_CONCURRENCY = int(os.environ.get("BENCH_SEED_CONCURRENCY", "16"))
DYNAMODB = os.environ["BENCH_DYNAMODB_ENDPOINT"]
S3 = os.environ["BENCH_S3_ENDPOINT"]
BACKEND = os.environ.get("BENCH_DYNAMODB", "DynamoDB")
BUILD = os.environ.get("BENCH_BUILD", "release")
BIN = os.environ["BENCH_BIN"]
TOOL = os.environ["BENCH_TOOL"]
FILTER_LIMITS = os.environ.get("BENCH_FILTER_LIMITS")
ORG = "org-bench"
SEED = 11
SECRET = "bench-secret-" + "x" * 40
TABLE, BUCKET, CURSORS = "leads-bench", "lead-exports-bench", "cursors-bench"
# W2 paged: the first pages of a search, in order (startIndex 0, 1,000, ...).
PAGES = int(os.environ.get("BENCH_PAGES", "10"))
ROUTE = "/api/v1/operations/export"
# Leads in a 1 MB Query page, as measured by `page_size` (an estimate until then).
PAGE_LEADS = [500]
ALL_FIELDS = [
    "name", "emails", "phones", "linkedinUrl", "city", "postalCode", "country", "jobTitle",
    "seniority", "departments", "functions", "industry", "skills", "languages",
    "companyName", "companyLegalName", "companyWebsite", "companyLinkedin", "companyPhone",
    "companyCity", "companyPostalCode", "companyCountry", "companyIndustry",
    "companyHeadcount", "companyRevenue", "companyFoundedYear", "companySummary",
]
# W2: two filters matching about half of the demo leads (6 of the 10 demo
# places, 9 of the 11 seniorities), so that startIndex 20,000 of 50,000 leads
# still finds 1,000 matches.
W2_FILTERS = {"contact": {
    "location": {"any": {"include": ["United States", "Germany", "France"]}},
    "seniority": {"any": {"exclude": ["Intern", "Entry"]}},
}}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- the proxy

class Recorder:
    """The requests the proxy forwarded since the last reset."""

    def __init__(self):
        self.lock = threading.Lock()
        self.records = []

    def add(self, record):
        with self.lock:
            self.records.append(record)

    def take(self):
        with self.lock:
            out, self.records = self.records, []
        return out


RECORDER = Recorder()


class Proxy(http.server.BaseHTTPRequestHandler):
    """Forwards to `UPSTREAM` (a subclass per service sets it)."""

    protocol_version = "HTTP/1.1"
    UPSTREAM = None

    def log_message(self, *args):
        pass

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(self):
        start = time.monotonic()
        body = self._body()
        if PROXY_DELAY:
            time.sleep(PROXY_DELAY)
        # Content-Length once, whatever its case (Node's HTTP server, under
        # dynalite, refuses a request that carries it twice).
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("transfer-encoding", "connection", "content-length")}
        headers["Content-Length"] = str(len(body))
        if not hasattr(self, "upstream"):
            self.upstream = http.client.HTTPConnection(self.UPSTREAM.hostname,
                                                       self.UPSTREAM.port)
        self.upstream.request(self.command, self.path, body=body, headers=headers)
        resp = self.upstream.getresponse()
        data = resp.read()
        target = self.headers.get("X-Amz-Target", "")
        target = target.split(".")[-1] if target else f"S3 {self.command}"
        scanned = None
        if target == "Query" and resp.status == 200:
            try:
                scanned = json.loads(data).get("ScannedCount")
            except ValueError:
                pass
        if resp.status >= 400:
            log(f"  {target} answered {resp.status}: {data[:300]!r}")
        # Recorded before the answer goes back: once the server has its
        # answer, the export's record is in, not racing the next export's.
        RECORDER.add({"target": target, "start": start, "end": time.monotonic(),
                      "bytes": len(data), "scanned": scanned, "status": resp.status})
        self.send_response_only(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _forward


def start_proxy(upstream):
    handler = type("UpstreamProxy", (Proxy,), {"UPSTREAM": urllib.parse.urlsplit(upstream)})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def depth(records):
    """The longest chain of requests each starting after the previous ended."""
    records = sorted(records, key=lambda r: r["start"])
    best = []
    for i, r in enumerate(records):
        best.append(1 + max([best[j] for j in range(i) if records[j]["end"] <= r["start"]],
                            default=0))
    return max(best, default=0)


# ------------------------------------------------------------ the processes

def env(**extra):
    e = dict(os.environ)
    for k in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "INLINE_MAX_BYTES"):
        e.pop(k, None)
    e.update(AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing",
             AWS_SECRET_ACCESS_KEY="testing", LEADS_TABLE=TABLE,
             EXPORTS_BUCKET=BUCKET, CURSORS_TABLE=CURSORS, JWT_SECRET=SECRET)
    e.update(extra)
    return e


def endpoints(dynamodb=DYNAMODB, s3=S3):
    """The environment naming each service's endpoint."""
    return {"AWS_ENDPOINT_URL_DYNAMODB": dynamodb, "AWS_ENDPOINT_URL_S3": s3}


def tool(*args, **extra):
    out = subprocess.run([TOOL, *map(str, args)], env=env(**extra), check=True,
                         stdout=subprocess.PIPE).stdout
    return json.loads(out)


def token(org):
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    now = int(time.time())
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64(json.dumps({"sub": "bench", "org_id": org, "iat": now,
                             "exp": now + 7200}).encode())
    sig = hmac.new(SECRET.encode(), f"{head}.{claims}".encode(), hashlib.sha256).digest()
    return f"{head}.{claims}.{b64(sig)}"


class Server:
    """A release `local-server` talking to DynamoDB and S3 through the proxies."""

    def __init__(self, proxy):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "local-server")],
            # A local DynamoDB takes far longer than DynamoDB (moto most):
            # no 504 at the Lambda's 25 s.
            env=env(**proxy, PORT=str(self.port), EXPORT_TIMEOUT_SECONDS="900"),
            stdout=open(".local/bench-server.log", "a"), stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("local-server did not start; see .local/bench-server.log")

    def cpu_ns(self):
        total = 0
        task_dir = f"/proc/{self.proc.pid}/task"
        for task in os.listdir(task_dir):
            try:
                with open(f"{task_dir}/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass
        return total

    def cpu_ticks(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def peak_rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def export(self, body):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        data = json.dumps(body)
        RECORDER.take()
        before, start = self.cpu_ns(), time.monotonic()
        conn.request("POST", ROUTE, body=data, headers={
            "Authorization": f"Bearer {token(ORG)}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        payload = resp.read()
        wall, cpu = time.monotonic() - start, self.cpu_ns() - before
        conn.close()
        if resp.status != 200:
            raise SystemExit(f"export answered {resp.status}: {payload[:300]!r}")
        log(f"  export: {wall:.1f} s, CPU {cpu / 1e6:.1f} ms")
        return {"cpu_ms": cpu / 1e6, "wall_s": wall, "records": RECORDER.take(),
                "count": int(resp.getheader("X-Export-Count", "0")), "bytes": len(payload)}

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def runs(server, body, n=RUNS, warm_up=True):
    """A warm-up export, then `n` measured ones; CPU ticks as a cross-check."""
    if warm_up:
        server.export(body)
    ticks = server.cpu_ticks()
    out = [server.export(body) for _ in range(n)]
    tick_ms = (server.cpu_ticks() - ticks) * 1000 / os.sysconf("SC_CLK_TCK") / n
    return out, tick_ms


# ------------------------------------------------------------------ the table

ROWS = []


def spread(values):
    return statistics.median(values), min(values), max(values)


def fmt(x, unit):
    if unit == "ms":
        return f"{x:.1f}"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:,.1f}"
    return f"{int(x):,}"


def row(workload, figure, values, unit, target=None, ok=None):
    """A table row; `ok(median)` decides met / NOT MET where there is a target."""
    med, lo, hi = spread(values) if isinstance(values, list) else (values, values, values)
    text = f"{fmt(med, unit)} {unit}".strip()
    if lo != hi:
        text += f" ({fmt(lo, unit)}–{fmt(hi, unit)})"
    verdict = "" if ok is None else ("met" if ok(med) else "NOT MET")
    ROWS.append((workload, figure, text, target or "", verdict))


def print_table(notes):
    print()
    print("| workload | figure | median (min–max) | target | |")
    print("|---|---|---|---|---|")
    for r in ROWS:
        print("| " + " | ".join(r) + " |")
    print()
    for n in notes:
        print(f"- {n}")


# -------------------------------------------------------------- the workloads

def w1(proxy, notes):
    ids = tool("ids", LEADS, SEED, 1000)
    body = {"selection": {"mode": "manual", "includedIds": ids}, "exportFields": ALL_FIELDS}
    server = Server(proxy)
    try:
        out, tick_ms = runs(server, body)
        rss = server.peak_rss_mb()
    finally:
        server.stop()
    name = "W1 manual 1,000 ids, 27 fields"
    assert all(o["count"] == 1000 for o in out), [o["count"] for o in out]
    batch = [sum(r["target"] == "BatchGetItem" for r in o["records"]) for o in out]
    other = sorted({r["target"] for o in out for r in o["records"]} - {"BatchGetItem"})
    row(name, "BatchGetItem requests", batch, "", "≤ 10", lambda m: m <= 10)
    if other:
        row(name, "other requests: " + ", ".join(other),
            [sum(r["target"] != "BatchGetItem" for r in o["records"]) for o in out], "")
    reads = [[r for r in o["records"] if r["target"] == "BatchGetItem"] for o in out]
    row(name, "sequential depth of the reads (BatchGetItem)", [depth(r) for r in reads], "",
        "1", lambda m: m <= 1)
    row(name, "sequential depth with the audit record", [depth(o["records"]) for o in out], "")
    row(name, "bytes received from DynamoDB", [sum(r["bytes"] for r in o["records"]) for o in out], "B")
    row(name, "CPU of the server per export", [o["cpu_ms"] for o in out], "ms", "≤ 13 ms",
        lambda m: m <= 13)
    row(name, "peak RSS (VmHWM, fresh server)", round(rss, 1), "MB", "≤ 48 MB", lambda m: m <= 48)
    row(name, f"wall time ({BACKEND})", [o["wall_s"] * 1000 for o in out], "ms")
    notes.append(f"W1: CSV {out[0]['bytes']:,} bytes (plain); CPU by /proc/<pid>/stat "
                 f"ticks over the {RUNS} runs: {tick_ms:.0f} ms per export")


def w2(proxy, notes):
    server = Server(proxy)
    try:
        def bulk(start):
            return {"selection": {"mode": "bulk", "startIndex": start, "targetCount": 1000,
                                  "filters": W2_FILTERS}, "exportFields": ALL_FIELDS}
        # 20,000 of 50,000; a smaller BENCH_LEADS scales it, keeping a full range.
        matches = tool("position", LEADS, SEED, json.dumps(bulk(0)))["matches"]
        for start in sorted({0, max(0, min(round(LEADS * 0.4), matches - 1000))}):
            body = bulk(start)
            need = tool("position", LEADS, SEED, json.dumps(body))
            # The deep range runs on the server the first range warmed up.
            log(f"W2 startIndex {start:,} ...")
            out, tick_ms = (runs(server, body) if start == 0
                            else runs(server, body, DEEP_RUNS, warm_up=False))
            name = f"W2 bulk 1,000, two filters, startIndex {start:,}"
            queries = [[r for r in o["records"] if r["target"] == "Query"] for o in out]
            scanned = [sum(r["scanned"] or 0 for r in q) for q in queries]
            page = max(max((r["scanned"] or 0 for r in q), default=0) for q in queries)
            row(name, "Query pages", [len(q) for q in queries], "")
            row(name, "items scanned", scanned, "",
                f"≤ {need['position']:,} + one page ({page:,})",
                lambda m, p=need["position"] + page: m <= p)
            row(name, "bytes received from DynamoDB",
                [sum(r["bytes"] for r in o["records"]) for o in out], "B")
            if start == 0:
                row(name, "CPU of the server per export", [o["cpu_ms"] for o in out], "ms",
                    "≤ 10 ms", lambda m: m <= 10)
            else:
                row(name, "CPU of the server per export", [o["cpu_ms"] for o in out], "ms")
            row(name, f"wall time ({BACKEND})", [o["wall_s"] * 1000 for o in out], "ms")
            notes.append(
                f"W2 startIndex {start:,}: {out[0]['count']:,} rows exported; the last needed "
                f"match is lead {need['position']:,} of {LEADS:,} in id order "
                f"({need['matches']:,} match); CPU by ticks {tick_ms:.0f} ms per export"
                + ("" if start == 0 else f"; {len(out)} runs, no warm-up (the server is warm)"))
        rss = server.peak_rss_mb()
        w2_paged(server, bulk, matches, notes)
    finally:
        server.stop()
    row("W2 (both ranges)", "peak RSS (VmHWM, fresh server)", round(rss, 1), "MB")


def w2_paged(server, bulk, matches, notes):
    """A search paged in order, startIndex 0, 1,000, ... (BENCH_PAGES pages,
    fewer when the matches end), after a data version bump (no checkpoint
    from the ranges above): each page starts where the last one ended."""
    tool("bump", ORG, **endpoints())
    starts = [k * 1000 for k in range(PAGES) if k * 1000 < matches]
    name = f"W2 paged, two filters, startIndex 0, 1,000, …, {starts[-1]:,} in order"
    log(f"{name} ...")
    scanned, pages, exported, cpu, wall = [], [], 0, [], []
    for start in starts:
        out = server.export(bulk(start))
        queries = [r for r in out["records"] if r["target"] == "Query"]
        scanned.append(sum(r["scanned"] or 0 for r in queries))
        pages.append(len(queries))
        exported += out["count"]
        cpu.append(out["cpu_ms"])
        wall.append(out["wall_s"] * 1000)
    last = tool("position", LEADS, SEED, json.dumps(bulk(starts[-1])))["position"]
    total = sum(scanned)
    # What reading from the first key would cost: the last needed position of each page.
    from_first = sum(tool("position", LEADS, SEED, json.dumps(bulk(s)))["position"] for s in starts)
    page = PAGE_LEADS[0]
    row(name, "items scanned, all pages", total, "",
        f"≤ {last:,} + one page per request ({page * len(starts):,})",
        lambda m: m <= last + page * len(starts))
    row(name, "items scanned / leads of the organization", round(total / LEADS, 2), "")
    row(name, "Query pages, all pages", sum(pages), "")
    row(name, "CPU of the server per page", cpu, "ms")
    row(name, f"wall time per page ({BACKEND})", wall, "ms")
    notes.append(
        f"W2 paged: {len(starts)} pages, {exported:,} rows; items scanned per page "
        f"{', '.join(f'{s:,}' for s in scanned)}; the last page's last needed match is lead "
        f"{last:,} of {LEADS:,}; reading each page from the first key would scan at least "
        f"{from_first:,} ({from_first / LEADS:.2f}x the organization)")


def w3(notes):
    out = tool("csv", 100_000, RUNS)
    mb = out["csv_bytes"] / 1e6
    for kind in ("plain", "gzip"):
        med, lo, hi = out[kind]["seconds"]
        name = f"W3 CSV 100,000 rows, 27 fields, {kind}"
        row(name, "MB/s of CSV", [mb / med, mb / hi, mb / lo], "MB/s",
            "≥ 400 MB/s" if kind == "plain" else None,
            (lambda m: m >= 400) if kind == "plain" else None)
        row(name, "rows/s", [1e5 / med, 1e5 / hi, 1e5 / lo], "")
    notes.append(f"W3: {mb:.1f} MB of CSV, {out['gzip_bytes'] / 1e6:.1f} MB gzipped "
                 "(flate2 level fast, one encoder); one thread")


def w4(notes):
    times = []
    for _ in range(RUNS):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        e = env(AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{port}",
                AWS_LAMBDA_FUNCTION_NAME="lead-export", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1024",
                AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
                AWS_LAMBDA_LOG_STREAM_NAME="2026/01/01/[$LATEST]bench",
                AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/lead-export", RUST_LOG="info")
        start = time.perf_counter()
        proc = subprocess.Popen([os.path.join(BIN, "lead-export")], env=e,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        listener.settimeout(10)
        try:
            conn, _ = listener.accept()
            data = b""
            while b"\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            elapsed = time.perf_counter() - start
            if not data.startswith(b"GET /2018-06-01/runtime/invocation/next"):
                raise SystemExit(f"W4: unexpected first request {data[:80]!r}")
            times.append(elapsed * 1000)
            conn.close()
        finally:
            proc.kill()
            proc.wait()
            listener.close()
    row("W4 cold start of lead-export", "spawn to first GET .../invocation/next", times, "ms",
        "≤ 30 ms", lambda m: m <= 30)
    size = os.path.getsize(os.path.join(BIN, "lead-export"))
    row("W4 cold start of lead-export", "release binary size (stripped)",
        round(size / 1e6, 1), "MB", "≤ 12 MB", lambda m: m <= 12)
    notes.append(f"W4: binary {size:,} bytes; stand-in Runtime API: a loopback socket in this "
                 "script (spawn includes Python's fork/exec)")


def largest_filter(notes):
    if not FILTER_LIMITS:
        return
    out = subprocess.run([FILTER_LIMITS, "--json"], check=True, stdout=subprocess.PIPE).stdout
    for line in out.decode().splitlines():
        result = json.loads(line)
        if result["name"] != "largest legal filter":
            continue
        for phase, label in (("parse", "parse + compile"), ("render", "push-down + render"),
                             ("eval", f"evaluate {result['leads']:,} leads")):
            med, lo, hi = result[phase]
            row("largest legal filter", label, [med, lo, hi], "ms")
        notes.append(f"largest legal filter: {result['summary']} "
                     f"(median of {result['runs']} runs)")


def page_size(notes):
    """Leads per 1 MB Query page: one Query of the partition, no Limit."""
    import boto3
    client = boto3.client("dynamodb", endpoint_url=DYNAMODB, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    start = time.monotonic()
    out = client.query(TableName=TABLE, KeyConditionExpression="#pk = :pk",
                       ExpressionAttributeNames={"#pk": "orgId"},
                       ExpressionAttributeValues={":pk": {"S": ORG}})
    wall = (time.monotonic() - start) * 1000
    scanned = out["ScannedCount"]
    full = "LastEvaluatedKey" in out
    if full:
        PAGE_LEADS[0] = scanned
    name = "stored leads"
    if full:
        row(name, f"leads per 1 MB Query page ({BACKEND})", scanned, "",
            "≥ 655 (≤ 1,600 bytes a lead)", lambda m: m >= 655)
        row(name, "bytes per lead (1 MB / leads per page)", round(2**20 / scanned), "B")
    else:
        row(name, f"leads in one Query page ({BACKEND}; the partition, under 1 MB)", scanned, "")
    row(name, f"wall time of that Query ({BACKEND})", wall, "ms")
    notes.append(f"stored leads: {BACKEND} ends a Query page at 1 MB of items read by its "
                 "own size rule; the average by DynamoDB's item-size rule is in "
                 "docs/design.md (the test the_demo_leads_average_at_most_1600_bytes)")


def main():
    os.makedirs(".local", exist_ok=True)
    began = time.monotonic()
    notes = []
    proxy = endpoints(start_proxy(DYNAMODB), start_proxy(S3))
    log(f"seeding {LEADS:,} leads into {BACKEND} ({SEED_CONCURRENCY} batches of 25 in flight) ...")
    seeded = tool("seed", ORG, LEADS, SEED, SEED_CONCURRENCY, **endpoints())
    notes.insert(0, f"data: {LEADS:,} demo leads in {ORG} (DynamoDB: {BACKEND}, S3: moto; "
                    f"{BUILD} build), seeded in "
                    f"{seeded['seconds']:.0f} s ({seeded['seconds'] * 1000 / LEADS:.1f} ms per "
                    f"lead, {SEED_CONCURRENCY} BatchWriteItem of 25 in flight); {RUNS} runs per "
                    "figure after one warm-up")
    if "page" in ONLY:
        page_size(notes)
    for key, name, run in (("w1", "W1", lambda: w1(proxy, notes)),
                           ("w2", "W2", lambda: w2(proxy, notes)),
                           ("w3", "W3", lambda: w3(notes)), ("w4", "W4", lambda: w4(notes)),
                           ("filter", "largest legal filter", lambda: largest_filter(notes))):
        if key in ONLY:
            log(f"{name} ...")
            run()
    build = os.environ.get("BENCH_BUILD_SECONDS")
    notes.append(f"time: {time.monotonic() - began:.0f} s for this run (seeding included)"
                 + (f", after {int(build):,} s of building" if build else ""))
    load = os.getloadavg()
    notes.append(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} at the end; "
                 f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print_table(notes)


if __name__ == "__main__":
    main()
