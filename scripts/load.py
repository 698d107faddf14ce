#!/usr/bin/env python3
"""`make load`: a bounded load test of the local server over moto.

Starts its own moto and `local-server` (the handler the Lambda runs) on free
ports of 127.0.0.1, imports two organizations' leads (every lead's email
domain and company name name its organization; half the lead ids exist in
both organizations), then sends a fixed number of mixed manual and bulk
requests from concurrent clients, stopping at a time cap. Every CSV row of
every response is checked: the caller's organization only, the rows expected
(exact for manual and unfiltered bulk requests), `X-Export-Count` equal to
the rows. Prints throughput, latency percentiles, errors by status and the
server's memory (VmRSS / VmHWM at start, after the warm-up requests, at the
end). Exits 1 if any check fails. Stops moto and the server on exit and on
Ctrl-C. Standard library only.
"""

import argparse
import csv
import gzip
import http.client
import io
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUTE = "/api/v1/operations/export"
ORGS = ("org-load-a", "org-load-b")
CITIES = (("Berlin", "Germany"), ("Paris", "France"), ("Austin", "United States"), ("Lyon", "France"))
FILTER_CITY = "Berlin"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=2000, help="requests to send (default 2000)")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    p.add_argument("--time-cap", type=float, default=600, help="seconds before the run stops (default 600)")
    p.add_argument("--leads", type=int, default=120, help="leads per organization (default 120)")
    p.add_argument("--warmup", type=int, default=200, help="requests before the baseline RSS (default 200)")
    p.add_argument("--rss-margin-mib", type=float, default=16.0,
                   help="allowed VmRSS growth after the warm-up, MiB (default 16)")
    p.add_argument("--rss-margin-pct", type=float, default=20.0,
                   help="allowed VmRSS growth after the warm-up, percent; the larger margin applies (default 20)")
    p.add_argument("--bin-dir", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug"))
    p.add_argument("--seed", type=int, default=7)
    return p.parse_args()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(check, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {timeout} s")


def answers(port, method="GET", path="/"):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request(method, path)
        c.getresponse().read()
        c.close()
        return True
    except OSError:
        return False


def memory(pid):
    """VmRSS and VmHWM of a process, in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def make_leads(org, n, rng):
    """Leads of one organization: ids shared by both organizations for even
    numbers, own ids for odd ones; email domain and company name name the org."""
    suffix = org[-1]
    leads = []
    for i in range(n):
        lead_id = f"L{i:05d}" if i % 2 == 0 else f"L{i:05d}-{suffix}"
        city, country = CITIES[rng.randrange(len(CITIES))]
        leads.append({
            "id": lead_id,
            "firstName": f"First{i}",
            "lastName": f"Last{i}",
            "emails": [f"{lead_id.lower()}@{org}.example"],
            "city": city,
            "country": country,
            "jobTitle": rng.choice(["Engineer", "VP Sales", "Director, Ops"]),
            "company": {"name": f"{org} Inc", "domain": f"{org}.example"},
        })
    leads.sort(key=lambda lead: lead["id"])
    return leads


def make_requests(n, leads, rng):
    """Deterministic mixed requests: (org, body, gzip, expected ids or None)."""
    out = []
    for k in range(n):
        org = ORGS[k % 2]
        own = leads[org]
        other = leads[ORGS[(k + 1) % 2]]
        own_ids = [lead["id"] for lead in own]
        own_set = set(own_ids)
        foreign_only = [lead["id"] for lead in other if lead["id"] not in own_set]
        kind = rng.random()
        fields = rng.choice([None, ["emails", "companyName"], ["name", "companyName", "emails", "city"]])
        if kind < 0.45:
            ids = rng.sample(own_ids, rng.randint(2, 15))
            noise = rng.sample(foreign_only, rng.randint(0, 3)) + ["no-such-lead"] * rng.randint(0, 1)
            mixed = ids + noise
            rng.shuffle(mixed)
            body = {"selection": {"mode": "manual", "includedIds": mixed}}
            expected = [i for i in mixed if i in own_set]
        elif kind < 0.8:
            count = rng.randint(2, 15)
            start = rng.randint(0, len(own_ids) - count)
            window = own_ids[start:start + count]
            excluded = rng.sample(window, rng.randint(0, 1))
            included = rng.sample(own_ids, rng.randint(0, 2)) + rng.sample(foreign_only, rng.randint(0, 2))
            body = {"selection": {"mode": "bulk", "startIndex": start, "targetCount": count,
                                  "filters": {}, "excludedIds": excluded, "includedIds": included}}
            expected = [i for i in window if i not in excluded]
            for i in included:
                if i in own_set and i not in excluded and i not in expected:
                    expected.append(i)
        else:
            start = rng.randint(0, 5)
            count = rng.randint(2, 8)
            body = {"selection": {"mode": "bulk", "startIndex": start, "targetCount": count,
                                  "filters": {"contact": {"location": {"any": {"include": [FILTER_CITY]}}}}}}
            matching = [lead["id"] for lead in own if lead["city"] == FILTER_CITY]
            expected = matching[start:start + count]
        if fields is not None:
            body["exportFields"] = fields
        out.append((org, json.dumps(body).encode(), rng.random() < 0.3, expected))
    return out


class Client(threading.local):
    conn = None


def send(port, local, token, body, use_gzip, timeout):
    """One POST over this thread's keep-alive connection (reconnecting once)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if use_gzip:
        headers["Accept-Encoding"] = "gzip"
    for attempt in (1, 2):
        if local.conn is None:
            local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            started = time.monotonic()
            local.conn.request("POST", ROUTE, body=body, headers=headers)
            resp = local.conn.getresponse()
            data = resp.read()
            return time.monotonic() - started, resp.status, dict(resp.getheaders()), data
        except (http.client.HTTPException, OSError):
            local.conn.close()
            local.conn = None
            if attempt == 2:
                raise


def check_response(org, expected, status, headers, data):
    """Problems with one response: (kind, detail) pairs, and the wrong-org rows."""
    problems, wrong_org = [], 0
    if status != 200:
        return [("status", f"{status}: {data[:200]!r}")], 0
    headers = {k.lower(): v for k, v in headers.items()}
    if headers.get("content-encoding") == "gzip":
        data = gzip.decompress(data)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    header, rows = rows[0], rows[1:]
    email_col, company_col = header.index("Email(s)"), header.index("Company Name")
    got = []
    for row in rows:
        email, company = row[email_col], row[company_col]
        if not email.endswith(f"@{org}.example") or company != f"{org} Inc":
            wrong_org += 1
        got.append(email.split("@")[0])
    if headers.get("x-export-count") != str(len(rows)):
        problems.append(("count", f"X-Export-Count {headers.get('x-export-count')} for {len(rows)} rows"))
    if got != [i.lower() for i in expected]:
        problems.append(("rows", f"expected {expected}, got {got}"))
    return problems, wrong_org


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    # nearest rank
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def main():
    args = parse_args()
    rng = random.Random(args.seed)
    procs = []

    def stop_all():
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return run(args, rng, procs)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        stop_all()


def run(args, rng, procs):
    os.makedirs(os.path.join(ROOT, ".local"), exist_ok=True)
    moto_port, port = free_port(), free_port()
    env = dict(os.environ)
    for k in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3"):
        env.pop(k, None)
    env.update({
        "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}", "LEADS_TABLE": "load-leads",
        "EXPORTS_BUCKET": "load-exports", "JWT_SECRET": "load-secret", "PORT": str(port),
        "RUST_LOG": env.get("RUST_LOG", "warn"), "SEED": "none",
    })
    venv = os.environ.get("VENV", os.path.join(ROOT, ".venv"))
    moto_log = open(os.path.join(ROOT, ".local", "moto-load.log"), "w")
    procs.append(subprocess.Popen([os.path.join(venv, "bin", "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
                                  stdout=moto_log, stderr=subprocess.STDOUT, env=env))
    wait_until(lambda: answers(moto_port, path="/moto-api/"), "moto")
    binary = lambda name: os.path.join(args.bin_dir, name)  # noqa: E731
    subprocess.run([binary("seed-demo")], env=env, check=True, stdout=subprocess.DEVNULL)
    leads = {org: make_leads(org, args.leads, rng) for org in ORGS}
    started = time.monotonic()
    for org in ORGS:
        path = os.path.join(ROOT, ".local", f"load-{org}.jsonl")
        with open(path, "w") as f:
            f.writelines(json.dumps(lead) + "\n" for lead in leads[org])
        subprocess.run([binary("import-leads"), org, path], env=env, check=True, stdout=subprocess.DEVNULL)
    print(f"imported {args.leads} leads in each of {', '.join(ORGS)} ({time.monotonic() - started:.1f} s)")
    tokens = {org: subprocess.run([binary("dev-token"), org, "86400"], env=env, check=True,
                                  capture_output=True, text=True).stdout.strip() for org in ORGS}
    server_log = open(os.path.join(ROOT, ".local", "load-server.log"), "w")
    server = subprocess.Popen([binary("local-server")], stdout=server_log, stderr=subprocess.STDOUT, env=env)
    procs.append(server)
    wait_until(lambda: answers(port, "POST", ROUTE), "local-server")
    mem_start = memory(server.pid)
    requests = make_requests(args.requests, leads, rng)

    local = Client()
    deadline = time.monotonic() + args.time_cap
    results = []  # (latency, status, problems, wrong_org)
    mem_warm = None
    skipped = 0

    def one(req):
        org, body, use_gzip, expected = req
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            latency, status, headers, data = send(port, local, tokens[org], body, use_gzip, max(1.0, remaining))
        except (http.client.HTTPException, OSError) as e:
            return (deadline - remaining, "connection", [("connection", repr(e))], 0)
        problems, wrong = check_response(org, expected, status, headers, data)
        return (latency, status, problems, wrong)

    print(f"sending {len(requests)} requests from {args.clients} clients to 127.0.0.1:{port} "
          f"(time cap {args.time_cap:.0f} s)")
    t0 = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=args.clients)
    try:
        for fut in as_completed([pool.submit(one, r) for r in requests]):
            r = fut.result()
            if r is None:
                skipped += 1
                continue
            results.append(r)
            if len(results) == args.warmup:
                mem_warm = memory(server.pid)
            if len(results) % 250 == 0:
                print(f"  {len(results)} done, {time.monotonic() - t0:.0f} s", flush=True)
    finally:
        # On Ctrl-C, requests not yet started are dropped.
        pool.shutdown(wait=False, cancel_futures=True)
    elapsed = time.monotonic() - t0
    mem_end = memory(server.pid)

    latencies = sorted(r[0] for r in results if r[1] != "connection")
    by_status = {}
    for r in results:
        by_status[r[1]] = by_status.get(r[1], 0) + 1
    problems = [p for r in results for p in r[2]]
    wrong_org = sum(r[3] for r in results)
    kinds = {}
    for kind, _ in problems:
        kinds[kind] = kinds.get(kind, 0) + 1

    ms = lambda s: f"{s * 1000:.0f} ms"  # noqa: E731
    print()
    print(f"requests      {len(results)} of {len(requests)} in {elapsed:.1f} s, {args.clients} clients"
          f" -> {len(results) / elapsed:.1f} requests/s")
    print(f"latency       p50 {ms(percentile(latencies, 50))}  p90 {ms(percentile(latencies, 90))}"
          f"  p99 {ms(percentile(latencies, 99))}  max {ms(latencies[-1] if latencies else float('nan'))}")
    print("statuses      " + ", ".join(f"{k}: {v}" for k, v in sorted(by_status.items(), key=str)))
    errors = sum(v for k, v in by_status.items() if k != 200)
    print(f"errors        {errors}" + (f" (by status: {', '.join(f'{k}: {v}' for k, v in by_status.items() if k != 200)})" if errors else ""))
    print(f"wrong org     {wrong_org} rows")
    print(f"mismatches    {kinds.get('count', 0)} X-Export-Count, {kinds.get('rows', 0)} row lists")
    fmt = lambda m: f"VmRSS {m['VmRSS'] / 1024:.1f} MiB, VmHWM {m['VmHWM'] / 1024:.1f} MiB"  # noqa: E731
    print(f"server memory start: {fmt(mem_start)}")
    if mem_warm:
        print(f"              after {args.warmup}: {fmt(mem_warm)}")
    print(f"              end: {fmt(mem_end)}")

    failures = []
    if skipped:
        failures.append(f"time cap of {args.time_cap:.0f} s reached: {skipped} requests not sent")
    if errors:
        failures.append(f"{errors} requests did not answer 200")
    if wrong_org:
        failures.append(f"{wrong_org} rows of another organization")
    for kind, count in kinds.items():
        if kind not in ("status",):
            failures.append(f"{count} responses with a {kind} problem, e.g. "
                            + next(d for k, d in problems if k == kind)[:300])
    if mem_warm:
        base = mem_warm["VmRSS"]
        margin = max(args.rss_margin_mib * 1024, base * args.rss_margin_pct / 100)
        growth = mem_end["VmRSS"] - base
        print(f"RSS growth    {growth / 1024:+.1f} MiB after the warm-up (allowed {margin / 1024:.1f} MiB)")
        if growth > margin:
            failures.append(f"VmRSS grew by {growth / 1024:.1f} MiB after the warm-up (allowed {margin / 1024:.1f})")
    else:
        failures.append("fewer requests than the warm-up: no memory baseline")
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
