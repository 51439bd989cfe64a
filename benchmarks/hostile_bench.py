"""Peak memory on hostile evidence (issue #11): sparse logs, huge members, huge JSON lines.

Usage::

    python benchmarks/hostile_bench.py [--ingress-mib N] [--sparse-gib G] [--only CASE,...] [--check]

Each case builds a bundle in a temporary directory (sparse files cost no disk) and runs the
parser or the command in a fresh interpreter, which prints its own peak RSS (``VmHWM``).
Every figure is read in this one run and printed next to the same interpreter's baseline
(importing the package and parsing an empty bundle), as a ratio:

* ``sparse focus`` / ``sparse ingress`` / ``sparse analyzer``: a G GiB (default 2) sparse
  log of NUL bytes, no newline, then one real line: ``pa.parse.frames`` must not hold it
  (peak over baseline under 64 MiB, i.e. a ratio to the file size near 0);
* ``diagnose sparse``: ``panda-analysis diagnose --json`` on that bundle, end to end;
* ``big ingress``: an N MiB (default 1024, as big as a tar member may be) access log with
  dirty lines in it (cut mid-field, odd quotes, a 1 MB user agent, NUL bytes, banners):
  target peak RSS at most 1.5 GB (issue #12), shown next to the resulting frame's own
  memory (``memory_usage(deep=True)``, which counts the ``source`` column's shared block once
  per chunk, so it overstates what the frame holds); the file itself is never held whole and
  the pieces' columns are folded into the frame as they come;
* ``one 300 MB line``: a Focus log and an access log each holding one 300 MB line (a
  record header, then one character repeated) before a real line: ``pa.parse.frames`` keeps
  at most 256 KiB of it (cut before it is held, the rest read and dropped), the row is kept
  and its text marked ``…[truncated N …]``, and the real line after it is read (peak over
  baseline under 192 MiB whatever the line's size: the access-log reader's pieces in flight);
* ``tar.gz member under the cap``: a ``.tar.gz`` bundle whose Focus log member is just
  under the 1 GiB member cap (NUL bytes, one line, then the seed 002 error line; a few MB
  compressed): ``panda-analysis diagnose --json`` on the archive end to end (unpacked to
  disk, streamed while read) within 1.5 GB, with the seed's fiber finding;
* ``snapshot 5k queues``: one RabbitMQ management snapshot line holding 5,000 queues (several
  MB on one line, as a busy broker gives): every queue becomes a row (checked), peak over
  baseline reported;
* ``long hostile lines``: every log parser on one 200 KB line of a repeated character or
  token after each header shape: the slowest case must parse within a second (a
  backtracking regex is quadratic there);
* ``serve limitBytes``: ``serve-bundle`` answering ``limitBytes=100`` and ``tailLines=5`` on the
  sparse log: the server's peak RSS over its own idle RSS.

The exit status is 0 (a report) unless ``--check`` is given: then 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingress_bench import generate

from panda_analysis.bundle import TarLimits

MANIFEST = {"format": "panda-bundle/1", "created_at": "2025-11-13T12:30:00Z", "source": "hostile_bench"}
FOCUS = "logs/panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server.log"
INGRESS = "logs/kube-system/ingress-nginx-controller-55694fd6ff-rqgp9/controller.log"
ANALYZER = "logs/panda/grpc-job-20-1-h7x2k/baby-analyzer.log"
FOCUS_LINE = (
    "2025-11-08T13:18:00.414756434Z 2025-11-08T13:18:00+0000 ERROR pz.focus_server Cannot configure job - "
    "validation failed: Cannot proceed: Missing required fiber metadata fields: prr\n"
)
SPARSE_EXTRA_MIB = 64  # allowed peak over the baseline for a sparse file of any size
# allowed peak over the baseline for one huge line: the access-log reader's 16 MiB pieces in
# flight (two workers, their decoded copies), whatever the line's size (+117 MiB for a 100 MB
# line and for a 600 MB one)
LONG_LINE_EXTRA_MIB = 192
#: The cases, in the order they run (``--only`` picks some).
CASES = ("sparse", "big-ingress", "long-line", "tar", "snapshot", "hostile-lines")
BIG_PEAK_MIB = 1.5e9 / 2**20  # allowed peak RSS for a big access log: 1.5 GB (issue #12)

LONG_LINE_S = 1.0  # allowed parse time of one 200 KB hostile line (a quadratic regex takes tens of seconds)

# every log parser on one long line of a repeated character or token after each header shape:
# a pattern that backtracks quadratically shows here (the RabbitMQ connection pattern took 30 s)
_LONG_LINES = """
import io, json, time, panda_analysis as pa
shapes = ["", "2025-11-08T13:18:00.1Z ", "2025-11-08 13:18:00,123 - pz - ERROR - ",
          "2025-11-08 13:12:24.748786+00:00 [info] <0.1.0> ", "[INFO] ", 'INFO:     10.0.0.1:1 - "',
          '10.42.0.0 - - [08/Nov/2025:13:18:00 +0000] "GET /']
chars = ["x", ":", '"', "1", "[", " ", "-", "a:1 ", "=", "'", "job ", "1-", "<0.", "\\\\x", "%", "/", "a.b", "E", "(", ",", "->"]
worst = (0.0, "", "", "")
cases = 0
for family in ("focus", "analyzer", "rabbitmq_log", "ingress", "other_logs"):
    for shape in shapes:
        for char in chars:
            line = shape + char * (200_000 // len(char))
            started = time.perf_counter()
            getattr(pa.parse, family)(io.StringIO(line + "\\n"))
            took = time.perf_counter() - started
            cases += 1
            worst = max(worst, (took, family, shape[:24], char))
print(json.dumps({"s": worst[0], "family": worst[1], "shape": worst[2], "char": worst[3], "cases": cases}))
"""

_PEAK = """
def _peak_mib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
"""


def _run_python(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object last."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK + code, *args], capture_output=True, text=True, check=False, timeout=3600
    )
    if done.returncode != 0:
        msg = f"benchmark child failed ({done.returncode}):\n{done.stderr[-3000:]}"
        raise RuntimeError(msg)
    return json.loads(done.stdout.strip().splitlines()[-1])


_FRAMES = """
import json, sys, panda_analysis as pa
frames = pa.parse.frames(pa.load_bundle(sys.argv[1]))
rows = {name: len(df) for name, df in frames.items() if len(df)}
unparsed = {name: int(df.attrs.get("unparsed", 0)) for name, df in frames.items() if df.attrs.get("unparsed")}
frame_mib = sum(df.memory_usage(deep=True).sum() for _, df in frames.items()) / 2**20
print(json.dumps({"peak": _peak_mib(), "rows": rows, "unparsed": unparsed, "frame_mib": frame_mib}))
"""

_CUT_LINES = """
import json, sys, panda_analysis as pa
frames = pa.parse.frames(pa.load_bundle(sys.argv[1]))
columns = [(name, frames[name][col].astype("string")) for name, col in (("focus", "message"), ("ingress", "path"))
           if len(frames[name])]
marked = {name: int(text.str.contains("[truncated", regex=False).fillna(False).sum()) for name, text in columns}
longest = {name: int(text.str.len().max()) for name, text in columns}
real = bool(frames["focus"]["message"].astype("string").str.contains("Missing required fiber", regex=False).any())
print(json.dumps({"peak": _peak_mib(), "rows": {n: len(frames[n]) for n in ("focus", "ingress")}, "marked": marked,
                  "longest": longest, "real_line_read": real,
                  "unparsed": {n: int(frames[n].attrs.get("unparsed", 0)) for n in ("focus", "ingress")}}))
"""

_DIAGNOSE = """
import json, sys, contextlib, io
from panda_analysis import cli
out = io.StringIO()
with contextlib.redirect_stdout(out):
    status = cli.main(["diagnose", sys.argv[1], "--json"])
codes = sorted({f["code"] for f in json.loads(out.getvalue())})
print(json.dumps({"peak": _peak_mib(), "status": status, "codes": codes}))
"""


def _bundle(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True)
    (root / "manifest.json").write_text(json.dumps(MANIFEST), encoding="utf-8")
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def _sparse(path: Path, size: int, tail: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.truncate(size)
        handle.seek(size)
        handle.write(b"\n" + tail)


def _dirty_lines() -> bytes:
    """Lines that real access logs hold besides the access lines (each kind a few times)."""
    agent = "Mozilla/5.0 " + "A" * (1 << 20)
    lines = [
        '10.42.0.7 - - [13/Nov/2025:12:00:01 +0000] "GET /focus-server/live_metadata HTTP/1.1" 200 1184 "-" "python-requ',  # cut
        '10.42.0.7 - - [13/Nov/2025:12:00:01 +0000] "GET /x"y" HTTP/1.1" 400 0 "-" "curl/8.5.0" 80 0.000 [] [] - - - - 00ff',
        f'10.42.0.7 - - [13/Nov/2025:12:00:01 +0000] "GET / HTTP/1.1" 200 1520 "-" "{agent}" 300 0.001 [webapp-80] [] 10.42.1.2:80 1520 0.001 200 ab12',
        "\x00\x00\x00\x00 binary junk \x00",
        "-------------------------------------------------------------------------------",
        "NGINX Ingress controller",
        "  Release:       v1.9.4",
        "W1113 12:00:01.000000       7 controller.go:1214] Service \"panda/panda\" does not have any active Endpoint.",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")


def _big_ingress(path: Path, mib: int) -> None:
    """About ``mib`` MiB of access lines (ingress_bench's generator) with dirty lines between pieces."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    generate(part, 200_000)
    block = part.read_bytes()
    part.unlink()
    dirty = _dirty_lines()
    with path.open("wb") as out:
        written = 0
        while written < mib * 2**20:
            out.write(block)
            out.write(dirty)
            written += len(block) + len(dirty)


def _one_long_line(path: Path, head: bytes, size: int, tail: bytes) -> None:
    """``head``, then ``size`` bytes of one repeated character, then a line end and ``tail``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = b"x" * (8 << 20)
    with path.open("wb") as out:
        out.write(head)
        left = size
        while left > 0:
            out.write(block[: min(left, len(block))])
            left -= len(block)
        out.write(b"\n" + tail)


def _member_tar(archive: Path, member_bytes: int) -> None:
    """A ``.tar.gz`` bundle (manifest + a Focus log of ``member_bytes``: NULs, then a real line)."""
    staging = archive.parent / "tar-staging"
    log = staging / FOCUS
    _sparse(log, member_bytes - len(FOCUS_LINE) - 1, FOCUS_LINE.encode())
    (staging / "manifest.json").write_text(json.dumps(MANIFEST), encoding="utf-8")
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        tar.add(staging / "manifest.json", arcname="manifest.json")
        tar.add(log, arcname=FOCUS)
    shutil.rmtree(staging)


def _snapshot_line(queues: int) -> bytes:
    rows = [
        {
            "name": f"grpc-job-{i // 10}-{i % 10}", "vhost": "/", "messages": i % 7, "messages_ready": i % 7,
            "messages_unacknowledged": 0, "consumers": i % 2, "state": "running", "durable": False,
            "auto_delete": False, "arguments": {}, "node": "rabbit@rabbitmq-panda-0",
            "message_stats": {"publish": i, "publish_details": {"rate": 0.0}},
        }
        for i in range(queues)
    ]
    snapshot = {"at": "2025-11-13T12:00:00Z", "overview": {"rabbitmq_version": "3.12.13"}, "queues": rows, "consumers": []}
    return (json.dumps(snapshot, separators=(",", ":")) + "\n").encode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _vm_hwm(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def _vm_rss(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def _serve_case(bundle: Path, pod_path: str) -> dict:
    """Peak RSS of serve-bundle answering limitBytes / tailLines on the sparse log."""
    port = _free_port()
    kubeconfig = bundle.parent / "serve-kubeconfig"
    proc = subprocess.Popen(
        [sys.executable, "-m", "panda_analysis", "serve-bundle", str(bundle), "--port", str(port), "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{base}/version", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        idle = _vm_rss(proc.pid)
        _, namespace, pod, container = pod_path.removesuffix(".log").split("/")
        url = f"{base}/api/v1/namespaces/{namespace}/pods/{pod}/log?container={container}"
        started = time.perf_counter()
        got = urllib.request.urlopen(f"{url}&limitBytes=100", timeout=120).read()
        tail = urllib.request.urlopen(f"{url}&tailLines=1", timeout=120).read()
        seconds = time.perf_counter() - started
        return {"peak": _vm_hwm(proc.pid), "idle": idle, "bytes": len(got), "tail": tail.decode(errors="replace"), "s": seconds}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ingress-mib", type=int, default=1024, help="size of the big access log (default 1024)")
    parser.add_argument("--sparse-gib", type=float, default=2.0, help="size of the sparse logs (default 2)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--only", default=",".join(CASES), help=f"comma-separated cases to run (default all: {','.join(CASES)})"
    )
    args = parser.parse_args(argv)
    chosen = {c.strip() for c in args.only.split(",") if c.strip()}
    if chosen - set(CASES):
        parser.error(f"unknown case(s) {', '.join(sorted(chosen - set(CASES)))}; cases are {', '.join(CASES)}")

    def want(case: str) -> bool:
        return case in chosen

    work = Path(tempfile.mkdtemp(prefix="panda-hostile-bench-"))
    results: list[tuple[str, str, str, bool]] = []

    def record(name: str, measured: str, target: str, ok: bool) -> None:
        """Keep a case's result for the table and show what it measured now."""
        results.append((name, measured, target, ok))
        print(measured, flush=True)
    try:
        empty = _bundle(work / "empty", {})
        base = _run_python(_FRAMES, str(empty))["peak"]
        print(f"baseline (import + empty bundle): {base:.0f} MiB peak RSS", flush=True)

        if want("sparse"):
            sparse_size = int(args.sparse_gib * 2**30)
            for name, rel in (("sparse focus", FOCUS), ("sparse ingress", INGRESS), ("sparse analyzer", ANALYZER)):
                root = _bundle(work / name.replace(" ", "-"), {})
                _sparse(root / rel, sparse_size, FOCUS_LINE.encode())
                started = time.perf_counter()
                got = _run_python(_FRAMES, str(root))
                took = time.perf_counter() - started
                over = got["peak"] - base
                ok = over <= SPARSE_EXTRA_MIB
                record(name, f"{sparse_size / 2**30:.1f} GiB file: peak {got['peak']:.0f} MiB = baseline + {over:.0f} MiB "
                     f"({over / (sparse_size / 2**20):.4f}x the file; {took:.1f} s; unparsed {got['unparsed']})",
                     f"<= baseline + {SPARSE_EXTRA_MIB} MiB", ok)
                if name == "sparse focus":
                    started = time.perf_counter()
                    diag = _run_python(_DIAGNOSE, str(root))
                    over = diag["peak"] - base
                    record("diagnose sparse", f"exit {diag['status']}, codes {diag['codes']}: peak {diag['peak']:.0f} MiB = baseline + "
                         f"{over:.0f} MiB ({time.perf_counter() - started:.1f} s)",
                         f"<= baseline + {SPARSE_EXTRA_MIB} MiB", over <= SPARSE_EXTRA_MIB and diag["status"] in (0, 1))
                    try:
                        served = _serve_case(root, FOCUS)
                    except (OSError, RuntimeError, StopIteration) as err:
                        record("serve limitBytes", f"could not run: {err}", "-", False)
                    else:
                        over = served["peak"] - served["idle"]
                        ok = served["bytes"] == 100 and "Missing required fiber metadata" in served["tail"] and over <= SPARSE_EXTRA_MIB
                        record(
                            "serve limitBytes", f"{served['bytes']} bytes, tail {served['tail'].strip()[:40]!r}…: peak {served['peak']:.0f} MiB "
                            f"= idle + {over:.0f} MiB ({served['s']:.2f} s)", f"100 bytes, <= idle + {SPARSE_EXTRA_MIB} MiB", ok,
                        )

        if want("big-ingress"):
            root = _bundle(work / "big-ingress", {})
            started = time.perf_counter()
            _big_ingress(root / INGRESS, args.ingress_mib)
            size_mib = (root / INGRESS).stat().st_size / 2**20
            print(f"generated a {size_mib:.0f} MiB access log in {time.perf_counter() - started:.0f} s", flush=True)
            started = time.perf_counter()
            got = _run_python(_FRAMES, str(root))
            took = time.perf_counter() - started
            frame = got["frame_mib"]
            ratio = (got["peak"] - base) / max(frame, 1)
            ok = got["peak"] <= BIG_PEAK_MIB
            record("big ingress", f"{size_mib:.0f} MiB file, {got['rows'].get('ingress', 0)} requests, {got['unparsed']} unparsed: "
                 f"peak {got['peak']:.0f} MiB ({got['peak'] * 2**20 / 1e9:.2f} GB) = baseline + {ratio:.2f}x the "
                 f"{frame:.0f} MiB frame ({took:.0f} s)",
                 f"peak RSS <= 1.5 GB ({BIG_PEAK_MIB:.0f} MiB)", ok)
            shutil.rmtree(root)

        if want("long-line"):
            root = _bundle(work / "long-line", {})
            long_bytes = 300 * 10**6
            _one_long_line(root / FOCUS, b"2025-11-08T13:17:59+0000 INFO pz.focus_server ", long_bytes, FOCUS_LINE.encode())
            _one_long_line(
                root / INGRESS, b'10.42.0.7 - - [08/Nov/2025:13:18:00 +0000] "GET /', long_bytes,
                b'10.42.0.7 - - [08/Nov/2025:13:18:01 +0000] "GET /focus-server/live_metadata HTTP/1.1" 200 1184 "-" '
                b'"python-requests/2.31.0" 300 0.001 [panda-focus-server-5000] [] 10.42.1.2:5000 1184 0.001 200 ab12\n',
            )
            started = time.perf_counter()
            got = _run_python(_CUT_LINES, str(root))
            over = got["peak"] - base
            ok = over <= LONG_LINE_EXTRA_MIB and got["real_line_read"] and got["marked"].get("focus", 0) == 1
            record("one 300 MB line", f"Focus + access log, one {long_bytes / 1e6:.0f} MB line each: rows {got['rows']}, "
                 f"marked cut {got['marked']}, longest kept {got['longest']} chars, unparsed {got['unparsed']}, the line "
                 f"after it read: {got['real_line_read']}; peak {got['peak']:.0f} MiB = baseline + {over:.0f} MiB "
                 f"({time.perf_counter() - started:.1f} s)",
                 f"<= baseline + {LONG_LINE_EXTRA_MIB} MiB, the row kept and marked", ok)
            shutil.rmtree(root)

        if want("tar"):
            archive = work / "member.tar.gz"
            member = TarLimits().max_member_bytes - (64 << 10)
            started = time.perf_counter()
            _member_tar(archive, member)
            packed = time.perf_counter() - started
            started = time.perf_counter()
            diag = _run_python(_DIAGNOSE, str(archive))
            ok = diag["peak"] <= BIG_PEAK_MIB and diag["status"] in (0, 1) and "FIBER_METADATA_MISSING" in diag["codes"]
            record("tar.gz member under the cap", f"{archive.stat().st_size / 2**20:.1f} MiB archive, one {member / 2**30:.3f} GiB "
                 f"member (packed in {packed:.0f} s): exit {diag['status']}, codes {diag['codes']}, peak {diag['peak']:.0f} MiB "
                 f"= baseline + {diag['peak'] - base:.0f} MiB ({time.perf_counter() - started:.1f} s)",
                 "peak RSS <= 1.5 GB, FIBER_METADATA_MISSING found", ok)
            archive.unlink()

        if want("snapshot"):
            line = _snapshot_line(5000)
            root = _bundle(work / "snapshot", {"rabbitmq/snapshots.jsonl": line})
            got = _run_python(_FRAMES, str(root))
            over = got["peak"] - base
            ok = got["rows"].get("queues", 0) == 5000
            record("snapshot 5k queues", f"one {len(line) / 2**20:.1f} MiB line: {got['rows'].get('queues', 0)} queue rows; "
                 f"peak baseline + {over:.0f} MiB ({over / (len(line) / 2**20):.1f}x the line)", "5000 rows", ok)

        if want("hostile-lines"):
            slowest = _run_python(_LONG_LINES)
            ok = slowest["s"] <= LONG_LINE_S
            record("long hostile lines", f"{slowest['cases']} cases (every log family x line shape x one character repeated "
                 f"over 200 KB): slowest {slowest['s']:.3f} s ({slowest['family']}, {slowest['shape']!r} x {slowest['char']!r})",
                 f"<= {LONG_LINE_S} s each (no super-linear pattern)", ok)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print()
    width = max(len(r[0]) for r in results)
    for name, measured, target, ok in results:
        print(f"{'PASS' if ok else 'FAIL'}  {name:<{width}}  {measured}   [target {target}]")
    failed = [r for r in results if not r[3]]
    return 1 if (failed and args.check) else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
