#!/usr/bin/env python3
"""`make side-by-side`: the Rust export (`local-server`) and the Python/boto3
reference handler (`scripts/reference/`) side by side, one run, one table.

Starts dynalite (DynamoDB, both tables) and moto (S3: `workloads seed`
creates the export bucket, and `local-server` is configured with one; no
export of this run goes through it), seeds the same `SIDE_LEADS` demo leads
(default 8,000, seed 1, organization `org-side`) into the Rust table through
the crate's own `workloads seed` and into the reference's table from the same
generator (`examples/demo_leads.rs`, JSON Lines, written with boto3), checks
that both tables hold the same lead ids, starts both servers, then runs each
workload `SIDE_RUNS` times (default 5, after one unmeasured warm-up each),
alternating which server goes first, one export at a time.

Per export: the serving process's CPU (on-CPU ns of all its threads, from
`/proc/<pid>/task/*/schedstat`, read before the request and 50 ms after the
last byte) and the wall time (request sent to last byte read, a new
connection each time, no gzip). Both CSVs are parsed and must hold the same
rows in the same order (the run fails otherwise).

Workloads (all 27 fields):
- manual: the first 1,000 ids in generation order (random in id order);
- bulk 1,000, two filters (`make bench`'s W2 filter), startIndex 0;
- the same filter, a deep, partially filled page: startIndex = the matches
  minus 600, rounded down to a hundred (600 to 699 rows);
- the same deep range with the organization's data version bumped before
  each Rust export (`workloads bump`), so it cannot start from a position
  checkpoint and reads from the partition's first key, as the Python does.

Environment: SIDE_LEADS (8000), SIDE_RUNS (5), SIDE_PROFILE (`release`;
`simulate` for a quick build, `debug`; `profiling` is the release build
with symbols, for SIDE_PERF), SIDE_PERF (a path: `perf record -g` samples
`local-server` during the runs of workload SIDE_PERF_WORKLOAD (its number
in the table from 1; default 1, the manual export), warm-up excluded, and
`inferno` renders the samples as a flame graph SVG at that path; the
figures of a profiled run carry perf's overhead). `cargo build` runs first either way
(nothing to do when the binaries are fresh). As a cross-check of the
per-export CPU, each server's `/proc/<pid>/stat` utime + stime (clock ticks)
over the whole measuring phase is printed beside the sum of its per-export
figures (warm-ups included). The raw samples go to
`.local/side-by-side/result.json`, logs beside it.
"""

import csv
import http.client
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".local" / "side-by-side"
ORG = "org-side"
SEED = 1
W2_FILTERS = {"contact": {
    "location": {"any": {"include": ["United States", "Germany", "France"]}},
    "seniority": {"any": {"exclude": ["Intern", "Entry"]}},
}}
sys.path.insert(0, str(ROOT / "scripts" / "reference"))

CHILDREN = []


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def fail(msg):
    log(f"side-by-side: FAILED: {msg}")
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(name, argv, env, ready):
    logf = open(OUT / f"{name}.log", "w")
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=logf, stderr=subprocess.STDOUT,
                            start_new_session=True)
    CHILDREN.append(proc)
    for _ in range(300):
        if proc.poll() is not None:
            fail(f"{name} exited ({proc.returncode}); see {OUT / (name + '.log')}")
        if ready():
            return proc
        time.sleep(0.1)
    fail(f"{name} did not answer in 30 s")


def stop_children():
    for proc in reversed(CHILDREN):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def answers(port, path="/"):
    """A check: does 127.0.0.1:`port` answer a GET of `path` (any status)?"""
    def check():
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return True
        except (OSError, http.client.HTTPException):
            return False
    return check


def build(profile):
    """The paths of the four executables, built for `profile`."""
    flags = {"release": ["--release"], "debug": [], "dev": []}.get(profile,
                                                                    ["--profile", profile])
    targets = ["--bin", "local-server", "--bin", "dev-token", "--bench", "workloads",
               "--example", "demo_leads"]
    log(f"cargo build ({profile}) ...")
    cmd = ["cargo", "build", "--message-format=json", *flags, *targets]
    done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        fail(f"{' '.join(cmd)} exited {done.returncode}")
    exes = {}
    for line in done.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable"):
            exes[msg["target"]["name"]] = msg["executable"]
    missing = {"local-server", "dev-token", "workloads", "demo_leads"} - exes.keys()
    if missing:
        fail(f"cargo built no executable for {sorted(missing)}")
    return exes


def run_json(argv, env):
    done = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        fail(f"{argv} exited {done.returncode}")
    return json.loads(done.stdout)


def stat_seconds(pid):
    """utime + stime of `pid` (all its threads, dead ones too), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_ns(pid):
    """On-CPU ns of each thread of `pid` (tid -> ns)."""
    out = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                out[task] = int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def export(port, pid, token, body):
    """(cpu seconds, wall seconds, status, headers, body bytes) of one export."""
    payload = json.dumps(body).encode()
    before = cpu_ns(pid)
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", "/api/v1/operations/export", body=payload,
                 headers={"Authorization": f"Bearer {token}",
                          "Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    wall = time.perf_counter() - t0
    conn.close()
    time.sleep(0.05)  # work the server does after the last byte (its log line) counts too
    after = cpu_ns(pid)
    cpu = sum(ns - before.get(tid, 0) for tid, ns in after.items()) / 1e9
    return cpu, wall, resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def flame_graph(data, svg, title):
    """The samples of `perf record` at `data` as a flame graph at `svg`
    (`perf script`, then inferno's collapse and render: `cargo install
    inferno`)."""
    script = subprocess.run(["perf", "script", "-i", str(data)], check=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    folded = subprocess.run(["inferno-collapse-perf"], input=script, check=True,
                            stdout=subprocess.PIPE).stdout
    svg.parent.mkdir(parents=True, exist_ok=True)
    with open(svg, "wb") as out:
        subprocess.run(["inferno-flamegraph", "--title", title, "--width", "1600"],
                       input=folded, check=True, stdout=out)
    log(f"flame graph: {svg} ({len(folded.splitlines()):,} distinct stacks)")


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def rows_of(data):
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def spread(samples):
    return statistics.median(samples), min(samples), max(samples)


def ms(values):
    med, lo, hi = (v * 1000 for v in values)
    return f"{med:,.0f} ({lo:,.0f}-{hi:,.0f})"


def main():
    n = int(os.environ.get("SIDE_LEADS", "8000"))
    runs = int(os.environ.get("SIDE_RUNS", "5"))
    profile = os.environ.get("SIDE_PROFILE", "release")
    OUT.mkdir(parents=True, exist_ok=True)
    exes = build(profile)

    env = dict(os.environ)
    for k in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(k, None)
    dyn_port, moto_port, rust_port, py_port = (free_port() for _ in range(4))
    env.update({
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{dyn_port}",
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{moto_port}",
        "LEADS_TABLE": "side-leads", "AUDIT_TABLE": "side-audit",
        "CURSORS_TABLE": "side-cursors", "EXPORTS_BUCKET": "side-exports",
        "REFERENCE_TABLE": "side-reference-leads",
        "JWT_SECRET": "dev-secret-change-me", "RUST_LOG": "info",
    })
    os.environ.update(env)  # boto3 in this process (seeding, checks) uses the same
    venv_bin = ROOT / ".venv" / "bin"
    python = str(venv_bin / "python") if (venv_bin / "python").exists() else sys.executable
    moto = str(venv_bin / "moto_server") if (venv_bin / "moto_server").exists() \
        else shutil.which("moto_server")

    log(f"dynalite on {dyn_port}, moto (S3) on {moto_port}")
    start("dynalite", ["node", "node_modules/dynalite/cli.js", "--port", str(dyn_port)], env,
          answers(dyn_port))
    start("moto", [moto, "-H", "127.0.0.1", "-p", str(moto_port)], env,
          answers(moto_port, "/moto-api/"))

    # The same leads in both tables.
    t0 = time.time()
    seeded = run_json([exes["workloads"], "seed", ORG, str(n), str(SEED), "8"], env)
    log(f"Rust table: {seeded['leads']:,} leads through `workloads seed` "
        f"({time.time() - t0:.1f} s)")
    dump = subprocess.run([exes["demo_leads"], str(n), str(SEED)], cwd=ROOT,
                          stdout=subprocess.PIPE, text=True, check=True).stdout
    leads = [json.loads(line, parse_float=Decimal) for line in dump.splitlines()]
    import boto3
    import handler as reference
    t0 = time.time()
    reference.create_table(name=env["REFERENCE_TABLE"])
    with ThreadPoolExecutor(8) as pool:  # 8 writers, as `workloads seed` has 8 batches in flight
        list(pool.map(lambda chunk: reference.put_leads(ORG, chunk, name=env["REFERENCE_TABLE"]),
                      [leads[i:i + 500] for i in range(0, len(leads), 500)]))
    log(f"reference table: {len(leads):,} leads from examples/demo_leads.rs "
        f"({time.time() - t0:.1f} s)")
    client = boto3.client("dynamodb")

    def ids_of(table):
        pages = client.get_paginator("query").paginate(
            TableName=table, KeyConditionExpression="orgId = :o",
            ExpressionAttributeValues={":o": {"S": ORG}}, ProjectionExpression="leadId")
        return [item["leadId"]["S"] for page in pages for item in page["Items"]]

    rust_ids, ref_ids = ids_of(env["LEADS_TABLE"]), ids_of(env["REFERENCE_TABLE"])
    if rust_ids != ref_ids or len(rust_ids) != n or set(rust_ids) != {l["id"] for l in leads}:
        fail(f"the tables differ: Rust {len(rust_ids):,} ids, reference {len(ref_ids):,}")
    log(f"both tables hold the same {n:,} lead ids")

    # The workloads.
    fields = [f for f, _ in reference.FIELDS]
    manual = {"selection": {"mode": "manual", "includedIds": [l["id"] for l in leads[:1000]]},
              "exportFields": fields}

    def bulk(start_index):
        return {"selection": {"mode": "bulk", "startIndex": start_index, "targetCount": 1000,
                              "filters": W2_FILTERS}, "exportFields": fields}

    pos = run_json([exes["workloads"], "position", str(n), str(SEED), json.dumps(bulk(0))], env)
    matches = pos["matches"]
    deep = max(0, (matches - 600) // 100 * 100)
    log(f"the filter matches {matches:,} of {n:,} leads; deep range from startIndex {deep:,} "
        f"({min(1000, matches - deep):,} rows)")
    bump = [exes["workloads"], "bump", ORG]
    workloads = [
        ("manual, 1,000 ids, all 27 fields", manual, None, min(1000, n)),
        ("bulk 1,000, two filters, start 0", bulk(0), None, min(1000, matches)),
        (f"bulk, same filters, start {deep:,} ({min(1000, matches - deep)} rows)", bulk(deep),
         None, min(1000, matches - deep)),
        ("the same, checkpoints dropped (data version bumped before each Rust export)",
         bulk(deep), bump, min(1000, matches - deep)),
    ]

    token = subprocess.run([exes["dev-token"], ORG, "86400"], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
    rust = start("local-server", [exes["local-server"]], {**env, "PORT": str(rust_port)},
                 answers(rust_port))
    py = start("reference", [python, "scripts/reference/server.py", str(py_port)], env,
               answers(py_port))
    servers = {"rust": (rust_port, rust.pid), "python": (py_port, py.pid)}

    load_before = loadavg()
    ticks_before = {who: stat_seconds(pid) for who, (_, pid) in servers.items()}
    schedstat_total = {"rust": 0.0, "python": 0.0}
    results = []
    perf_out = os.environ.get("SIDE_PERF")
    perf_at = int(os.environ.get("SIDE_PERF_WORKLOAD", "1")) - 1
    if not 0 <= perf_at < len(workloads):
        fail(f"SIDE_PERF_WORKLOAD must be 1 to {len(workloads)}")
    for index, (name, body, before_rust, expected) in enumerate(workloads):
        samples = {"rust": {"cpu": [], "wall": []}, "python": {"cpu": [], "wall": []}}
        perf = None
        for r in range(runs + 1):  # run 0 is the warm-up
            if perf_out and index == perf_at and r == 1:
                perf = subprocess.Popen(
                    ["perf", "record", "-e", "cpu-clock", "-F", "4999", "-g", "-p",
                     str(rust.pid), "-o", str(OUT / "perf.data")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1)
            order = ["rust", "python"] if r % 2 == 0 else ["python", "rust"]
            answer = {}
            for who in order:
                if who == "rust" and before_rust:
                    subprocess.run(before_rust, cwd=ROOT, env=env, check=True,
                                   stdout=subprocess.DEVNULL)
                port, pid = servers[who]
                cpu, wall, status, headers, data = export(port, pid, token, body)
                schedstat_total[who] += cpu
                if status != 200:
                    fail(f"{name}: {who} answered {status}: {data[:300]!r}")
                answer[who] = (headers, rows_of(data))
                if r > 0:
                    samples[who]["cpu"].append(cpu)
                    samples[who]["wall"].append(wall)
            (rh, rrows), (ph, prows) = answer["rust"], answer["python"]
            if rrows != prows:
                diff = next((i for i, (a, b) in enumerate(zip(rrows, prows)) if a != b),
                            min(len(rrows), len(prows)))
                fail(f"{name}: the CSVs differ: Rust {len(rrows) - 1} rows, Python "
                     f"{len(prows) - 1}; first difference at line {diff + 1}: "
                     f"{rrows[diff] if diff < len(rrows) else None} vs "
                     f"{prows[diff] if diff < len(prows) else None}")
            if len(rrows) - 1 != expected or rh.get("x-export-count") != str(expected):
                fail(f"{name}: {len(rrows) - 1} rows (X-Export-Count "
                     f"{rh.get('x-export-count')}), expected {expected}")
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=60)
            flame_graph(OUT / "perf.data", Path(perf_out), f"{name}: local-server ({profile}), "
                        f"{runs} exports")
        log(f"{name}: {runs} runs each, the same {expected:,} rows from both")
        results.append((name, expected, samples))

    # The table.
    load_after = loadavg()
    ticks = {who: stat_seconds(pid) - ticks_before[who] for who, (_, pid) in servers.items()}
    print(f"\nSide by side, {profile} `local-server` vs the Python/boto3 reference, "
          f"{n:,} leads on dynalite, {runs} runs each (median (min-max), ms; CPU of the "
          f"serving process per export); {os.cpu_count()} CPUs, 1-minute load average "
          f"{load_before} before the exports, {load_after} after\n")
    print("| workload | this project: CPU | wall | Python: CPU | wall | CPU ratio | "
          "wall ratio | CPU ≥ 10× less | wall ≤ 2/3 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, rows, s in results:
        rc, rw = spread(s["rust"]["cpu"]), spread(s["rust"]["wall"])
        pc, pw = spread(s["python"]["cpu"]), spread(s["python"]["wall"])
        cpu_ratio, wall_ratio = pc[0] / rc[0], rw[0] / pw[0]
        print(f"| {name} | {ms(rc)} | {ms(rw)} | {ms(pc)} | {ms(pw)} | {cpu_ratio:.1f}× | "
              f"{wall_ratio:.2f} | {'met' if cpu_ratio >= 10 else 'NOT MET'} | "
              f"{'met' if wall_ratio <= 2 / 3 else 'NOT MET'} |")
    print("\nCPU ratio: Python's median CPU / this project's; wall ratio: this project's "
          "median wall / Python's. Rows: identical in every run.")
    print("\nCross-check, the whole measuring phase (warm-ups included): " + "; ".join(
        f"{who}: per-export schedstat sum {schedstat_total[who]:.2f} s, /proc/<pid>/stat "
        f"{ticks[who]:.2f} s" for who in ("rust", "python")))
    (OUT / "result.json").write_text(json.dumps({
        "profile": profile, "leads": n, "loadavg": [load_before, load_after],
        "cpu_cross_check": {"schedstat_sum": schedstat_total, "proc_stat": ticks}, "runs": runs, "matches": matches, "deep_start": deep,
        "workloads": [{"name": name, "rows": rows, "samples": s} for name, rows, s in results],
    }, indent=1))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        main()
    finally:
        stop_children()
