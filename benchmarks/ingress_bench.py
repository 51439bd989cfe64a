"""Benchmark of the ingress-nginx parser against a plain per-line regex loop.

Usage::

    python benchmarks/ingress_bench.py [--lines N] [--keep] [--check]

Generates N (default 1,000,000) realistic ingress-nginx controller log lines: mostly
``upstreaminfo`` access lines like the seed's, with about 1% edge cases (multi-upstream
retries, IPv6 clients, escaped quotes, requests without upstream, klog and nginx ``[error]``
lines) and about 0.05% lines cut at a random byte offset (what log rotation, kubelet line
splitting and copy-paste leave: an unbalanced ``"``; half of them go on as a line of their
own). It does so twice, once with the kubelet prefix and once without, and measures on each
file:

* lines/s of ``pa.parse.ingress(path)`` end to end (file → conformed DataFrame), the best
  of three runs;
* lines/s of a plain per-line ``re`` loop building the same columns via
  ``schema.INGRESS.conform``, and the ratio of the two;
* the DataFrame's memory (``memory_usage(deep=True)``) per million lines;
* the parser's peak RSS per million lines, measured in a fresh subprocess.

It prints a table with each measure, its target and PASS/FAIL. The exit status is 0 (it is
a report), unless ``--check`` is given: then 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import panda_analysis as pa
from panda_analysis import schema
from panda_analysis.parse._common import route_template

TARGET_LINES_PER_S = 800_000
TARGET_RATIO = 12.0
CUT_SHARE = 0.0005  # lines cut at a random byte offset
TARGET_FRAME_MB = 300.0
TARGET_RSS_MB = 1000.0

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# ---------------------------------------------------------------- data
def _requests(rng: random.Random) -> list[tuple[str, str, str, int, int]]:
    """(method, target, upstream name, status, body bytes) choices, weighted by repetition."""
    out = [
        ("POST", "/prisma/api/prisma-210-1000/api/push-to-rabbit", "webapp-webapp-pz-web-webapp-ui-80", 201, 450),
        ("GET", "/assets/sounds/alert_sound.mp3", "webapp-webapp-pz-web-webapp-ui-80", 206, 48213),
        ("GET", "/focus-server/live_metadata", "panda-panda-focus-server-5000", 200, 1184),
        ("POST", "/focus-server/configure", "panda-panda-focus-server-5000", 503, 96),
        ("POST", "/focus-server/configure", "panda-panda-focus-server-5000", 200, 41),
        ("GET", "/", "webapp-webapp-pz-web-webapp-ui-80", 200, 1520),
        (
            "GET",
            "/prisma/api/prisma-210-1000/api/alerts?limit=50&severity=3",
            "webapp-webapp-pz-web-webapp-ui-80",
            200,
            8812,
        ),
    ]
    for _ in range(400):
        job = f"{rng.randint(1, 60)}-{rng.randint(1, 12)}"
        out.append(
            ("GET", f"/focus-server/metadata/{job}", "panda-panda-focus-server-5000", rng.choice((200, 404)), 230)
        )
    for _ in range(200):
        start = rng.randint(1, 2000)
        out.append(
            (
                "GET",
                f"/focus-server/channels?start={start}&end={start + 50}",
                "panda-panda-focus-server-5000",
                200,
                2048,
            )
        )
    return out


def _stamp(second: int) -> tuple[str, str]:
    """Kubelet prefix seconds part and nginx $time_local for second `second` after 2025-11-13 12:00 UTC."""
    base = pd.Timestamp("2025-11-13T12:00:00Z") + pd.Timedelta(seconds=second)
    kubelet = base.strftime("%Y-%m-%dT%H:%M:%S")
    local = f"{base.day:02d}/{_MONTHS[base.month - 1]}/{base.year}:{base.strftime('%H:%M:%S')} +0000"
    return kubelet, local


def _cut(line: str, rng: random.Random) -> str:
    """``line`` (ending in a newline) cut at a random byte offset; half the time its tail goes on as a line of its own."""
    data = line.encode("utf-8")
    at = rng.randrange(1, len(data) - 1)
    head = data[:at].decode("utf-8", errors="ignore")
    if rng.random() < 0.5:
        return head + "\n"
    return head + "\n" + data[at:].decode("utf-8", errors="ignore")


def generate(path: Path, n: int, *, seed: int = 7, kubelet: bool = True, cut: float = CUT_SHARE) -> None:
    """Write `n` realistic ingress-nginx controller log lines to `path` (a share `cut` of them cut short)."""
    rng = random.Random(seed)
    cuts = random.Random(seed + 1)
    choices = _requests(rng)
    agents = [
        "python-requests/2.32.5",
        "python-requests/2.31.0",
        "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
        "kube-probe/1.29",
    ]
    clients = [f"10.42.0.{i}" for i in range(12)] + ["10.42.1.7", "10.42.2.3"]
    pods = [f"10.42.1.{i}" for i in range(2, 12)]
    per_second = 400
    with path.open("w", encoding="utf-8") as out:

        def write(line: str) -> None:
            out.write(_cut(line, cuts) if cut and cuts.random() < cut else line)

        second = -1
        stamp = local = ""
        for i in range(n):
            if i % per_second == 0:
                second += 1
                stamp, local = _stamp(second)
            nanos = rng.randrange(10**9)  # drawn either way: both files hold the same requests
            prefix = f"{stamp}.{nanos:09d}Z " if kubelet else ""
            roll = rng.random()
            if roll < 0.002:
                write(
                    f'{prefix}I1113 {local[12:20]}.{rng.randrange(10**6):06d}       7 controller.go:190] "Configuration changes detected, backend reload required"\n'
                )
                continue
            if roll < 0.004:
                write(
                    f"{prefix}2025/11/13 {local[12:20]} [error] 41#41: *{rng.randrange(10**6)} upstream prematurely closed connection "
                    f'while reading response header from upstream, client: 10.42.0.0, server: _, request: "POST /focus-server/configure HTTP/1.1", '
                    f'upstream: "http://10.42.2.17:5000/configure", host: "10.10.10.100"\n'
                )
                continue
            method, target, upstream, status, size = rng.choice(choices)
            client = rng.choice(clients)
            agent = rng.choice(agents)
            pod = rng.choice(pods)
            rtime = f"{rng.random() * 0.3:.3f}"
            addr, ulen, utime, ustatus = f"{pod}:80", str(size), rtime, str(status)
            referer = "-"
            if roll < 0.006:  # a retry on another upstream
                addr = f"{rng.choice(pods)}:80, {pod}:80"
                ulen, utime, ustatus = f"0, {size}", f"0.004, {rtime}", f"502, {status}"
            elif roll < 0.007:  # IPv6 client
                client = rng.choice(("2001:db8::1", "::1", "fd00:10:42::7"))
            elif roll < 0.008:  # quotes escaped by nginx
                agent = "Mozilla/5.0 \\x22quoted\\x22 agent"
                referer = "http://10.10.10.100/prisma/?q=\\x22x\\x22"
            elif roll < 0.010:  # no upstream: client closed, or bad request
                status, size = rng.choice(((499, 0), (400, 150)))
                addr = ulen = utime = ustatus = "-"
                upstream = ""
            write(
                f'{prefix}{client} - - [{local}] "{method} {target} HTTP/1.1" {status} {size} "{referer}" "{agent}" '
                f"{rng.randint(300, 1200)} {rtime} [{upstream}] [] {addr} {ulen} {utime} {ustatus} {rng.getrandbits(128):032x}\n"
            )


# ---------------------------------------------------------------- the plain baseline
_LINE = re.compile(
    r'^(?:(\d{4}-\d\d-\d\dT\S+Z) )?(\S+) - (\S+) \[([^\]]+)\] "([^"]*)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"'
    r"(?: (\d+|-) (\S+) \[([^\]]*)\] \[([^\]]*)\] ((?:\S+(?:, | : ))*\S+) ((?:\S+(?:, | : ))*\S+) "
    r"((?:\S+(?:, | : ))*\S+) ((?:\S+(?:, | : ))*\S+)(?: (\S+))?)?$"
)
_SPLIT = re.compile(", | : ")
_COLUMNS = (
    "line_no",
    "remote_addr",
    "remote_user",
    "time_local",
    "method",
    "path",
    "query",
    "route",
    "protocol",
    "status",
    "body_bytes",
    "referer",
    "user_agent",
    "request_length_bytes",
    "request_time_s",
    "proxy_upstream_name",
    "proxy_alternative_upstream_name",
    "upstream_addr",
    "upstream_response_length",
    "upstream_response_time",
    "upstream_status",
    "upstream_count",
    "upstream_response_length_bytes",
    "upstream_response_time_s",
    "upstream_status_code",
    "request_id",
)


def _dash(value: str | None) -> str | None:
    return None if value in ("-", "") else value


def _last_int(value: str | None) -> int | None:
    if value is None:
        return None
    last = _SPLIT.split(value)[-1]
    return int(last) if last.isdigit() else None


def baseline(path: Path) -> pd.DataFrame:
    """A plain per-line regex loop building the same frame (what one writes first)."""
    rows = []
    unparsed = 0
    routes: dict[str, str | None] = {}
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line_no, line in enumerate(lines, start=1):
            match = _LINE.match(line.rstrip("\n"))
            if match is None:
                unparsed += 1
                continue
            (
                _,
                addr,
                user,
                local,
                request,
                status,
                body,
                referer,
                agent,
                req_len,
                req_time,
                upstream,
                alternative,
                u_addr,
                u_len,
                u_time,
                u_status,
                req_id,
            ) = match.groups()
            method = target = protocol = path_part = query = route = None
            pieces = request.split(" ")
            if len(pieces) == 3:
                method, target, protocol = pieces
                path_part, sep, query = target.partition("?")
                query = query if sep else None
                if path_part not in routes:
                    routes[path_part] = route_template(path_part)
                route = routes[path_part]
            if "\\x22" in agent:
                agent = agent.replace("\\x22", '"')
            if "\\x22" in referer:
                referer = referer.replace("\\x22", '"')
            count = time_s = None
            if u_addr is not None:
                count = 0 if u_addr == "-" else len(_SPLIT.split(u_addr))
                times = [float(t) for t in _SPLIT.split(u_time) if t != "-"]
                time_s = sum(times) if times else None
            rows.append(
                (
                    line_no,
                    addr,
                    _dash(user),
                    local,
                    method,
                    path_part,
                    query,
                    route,
                    protocol,
                    int(status),
                    None if body == "-" else int(body),
                    _dash(referer),
                    _dash(agent),
                    None if req_len in (None, "-") else int(req_len),
                    None if req_time in (None, "-") else float(req_time),
                    _dash(upstream),
                    _dash(alternative),
                    _dash(u_addr),
                    _dash(u_len),
                    _dash(u_time),
                    _dash(u_status),
                    count,
                    _last_int(u_len),
                    time_s,
                    _last_int(u_status),
                    _dash(req_id),
                )
            )
    df = pd.DataFrame.from_records(rows, columns=list(_COLUMNS))
    df["ts"] = pd.to_datetime(df["time_local"], format="%d/%b/%Y:%H:%M:%S %z", utc=True)
    df["source"] = str(path)
    df["log_format"] = "upstreaminfo"
    return schema.INGRESS.conform(df, unparsed=unparsed)


# ---------------------------------------------------------------- measures
def _peak_rss_mb(path: Path) -> float:
    """Peak RSS of a fresh interpreter running the parser (its own high-water mark, VmHWM)."""
    code = (
        "import resource, sys, panda_analysis as pa\n"
        "df = pa.parse.ingress(sys.argv[1])\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    with open('/proc/self/status') as status:\n"
        "        peak = next(int(l.split()[1]) for l in status if l.startswith('VmHWM:'))\n"
        "except (OSError, StopIteration):\n"
        "    pass\n"
        "print(peak)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True)
    return int(done.stdout.split()[-1]) / 1024  # KiB → MiB


def _timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def _measure(path: Path, n: int) -> tuple[list[tuple[str, str, str, bool | None]], str]:
    """The table rows for one file, and a line comparing the rows both parsers read."""
    best = None
    for _ in range(3):  # the best of three: the first also warms caches and the allocator
        df, seconds = _timed(pa.parse.ingress, path)
        best = seconds if best is None else min(best, seconds)
    frame_mb = df.memory_usage(deep=True).sum() / 1e6
    rows, unparsed = len(df), df.attrs["unparsed"]
    del df
    base, base_s = _timed(baseline, path)
    base_rows, base_unparsed = len(base), base.attrs["unparsed"]
    del base
    rss_mb = _peak_rss_mb(path)

    per_million = 1e6 / n
    fast = n / best
    slow = n / base_s
    ratio = fast / slow
    results = [
        ("parser lines/s", f"{fast:,.0f}", f">= {TARGET_LINES_PER_S:,}", fast >= TARGET_LINES_PER_S),
        ("baseline (re loop) lines/s", f"{slow:,.0f}", "", None),
        ("ratio parser / re loop", f"{ratio:.1f}x", f">= {TARGET_RATIO:.0f}x", ratio >= TARGET_RATIO),
        (
            "DataFrame MB per 1M lines",
            f"{frame_mb * per_million:,.0f}",
            f"<= {TARGET_FRAME_MB:.0f}",
            frame_mb * per_million <= TARGET_FRAME_MB,
        ),
        (
            "peak RSS MB per 1M lines",
            f"{rss_mb * per_million:,.0f}",
            f"<= {TARGET_RSS_MB:.0f}",
            rss_mb * per_million <= TARGET_RSS_MB,
        ),
    ]
    rows_line = f"rows: parser {rows:,} (+{unparsed} unparsed), re loop {base_rows:,} (+{base_unparsed} unparsed)"
    return results, rows_line


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines to generate (default 1,000,000)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files and print their paths")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="ingress_bench_"))
    table: list[tuple[str, str, str, bool | None]] = []
    for kubelet in (True, False):
        label = "kubelet prefix" if kubelet else "no prefix"
        path = tmp / f"controller-{'kubelet' if kubelet else 'plain'}.log"
        _, gen_s = _timed(lambda p=path, k=kubelet: generate(p, args.lines, kubelet=k))
        size_mb = path.stat().st_size / 1e6
        print(
            f"generated {args.lines:,} lines ({size_mb:.0f} MB, {label}, {CUT_SHARE:.2%} cut) in {gen_s:.1f}s: {path}"
        )
        results, rows_line = _measure(path, args.lines)
        print(f"{label}: {rows_line}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
        table += [(f"{name} ({label})", value, target, ok) for name, value, target, ok in results]
        if not args.keep:
            path.unlink()
    width = max(len(row[0]) for row in table)
    print(f"{'measure':<{width}} {'value':>14} {'target':>12}  result")
    for name, value, target, ok in table:
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        print(f"{name:<{width}} {value:>14} {target:>12}  {verdict}")
    if args.keep:
        print(f"kept {tmp}")
    else:
        tmp.rmdir()
    missed = [name for name, _, _, ok in table if ok is False]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
