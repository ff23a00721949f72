"""Helpers for doppel's end-to-end tests: run the real binary, read its summary, build .gor files."""
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("DP_SHARED", ROOT.parent / "shared"))
SEP = "\n🐵🙈🙉\n".encode()


def binary():
    env = os.environ.get("DOPPEL")
    if env:
        return env
    for cand in (ROOT / "build/san/doppel", ROOT / "build/doppel"):
        if cand.exists():
            return str(cand)
    raise RuntimeError("build doppel first (make)")


def run(*args, timeout=30, check=None, input=None, cwd=None):
    """Runs doppel with <args>; returns the CompletedProcess (stdout bytes, stderr text)."""
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    r = subprocess.run([binary(), *map(str, args)], capture_output=True, timeout=timeout,
                       input=input, cwd=cwd, env=env)
    r.err = r.stderr.decode(errors="replace")
    if check is not None:
        assert r.returncode == check, f"exit {r.returncode}, stderr:\n{r.err}"
    return r


def summary(stderr, tag="summary"):
    """Parses 'doppel: summary <label> k=v ...' lines into {label: {k: number}}."""
    out = {}
    for line in stderr.splitlines():
        m = re.match(rf"doppel: {tag} (\S+) (.*)$", line)
        if not m:
            continue
        kv = {}
        for k, v in re.findall(r"(\w+)=(\S+)", m.group(2)):
            try:
                kv[k] = int(v)
            except ValueError:
                kv[k] = float(v)
        out[m.group(1)] = kv
    return out


def check_invariants(stats):
    """DESIGN.md §6: every message has exactly one fate."""
    for label, c in stats.items():
        if "received" in c:  # inputs, and outputs' feedback ("output-http#0:responses")
            assert c["received"] == c["emitted"] + c["filtered"] + c["dropped_limit"], (label, c)
        elif "accepted" in c:
            fates = (c["delivered"] + c["failed"] + c["dropped_limit"] + c["dropped_queue"] +
                     c["dropped_stopped"] + c["pending"])
            assert c["accepted"] == fates, (label, c)
            assert c["pending"] == 0, (label, c)


def record(type_, id_, ts, payload, latency=0, meta=None):
    """One .gor record (bytes)."""
    if isinstance(payload, str):
        payload = payload.encode()
    head = meta if meta is not None else f"{type_} {id_} {ts} {latency}\n".encode()
    return head + payload + SEP


def request(i, path="/", ts=None, body=b""):
    payload = f"GET {path}?n={i} HTTP/1.1\r\nHost: example.com\r\n\r\n".encode() + body
    return record(1, f"{i:024x}", ts if ts is not None else 1700000000000000000 + i, payload)


def records(data):
    """Splits .gor bytes into (meta, payload) pairs; asserts the file ends with a separator."""
    assert data == b"" or data.endswith(SEP), "file does not end with a whole record"
    out = []
    for chunk in data.split(SEP)[:-1]:
        meta, _, payload = chunk.partition(b"\n")
        out.append((meta, payload))
    return out
