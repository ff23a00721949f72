"""--input-spop end to end (issue 6): Debian's HAProxy sends each request to doppel over SPOP,
doppel ACKs at once and mirrors it with --output-http. Loopback only; the test starts HAProxy,
the servers and doppel on ports it picks, and stops them.

- what the mirror receives is byte for byte what the production backend received (both are
  recording servers, tests/e2e/recorder.py), for every method, bodies with NULs, 15 KB,
  HTTP/1.0, chunked (rebuilt with Content-Length);
- arg_id/arg_ts become the message id and timestamp;
- a body HAProxy cut at its buffer is counted and not sent;
- a mirror target that is down or never answers does not slow production (wrk through the
  frontend without SPOE and the one with it, in the same test) and doppel's memory stays
  bounded;
- health checks (option spop-check), and an agent that goes away;
- hostile frames get an AGENT-DISCONNECT with the right status code, and doppel lives on.

Every wait is bounded: doppel's --stats lines (every 100 ms) and HAProxy's stats socket say when
something happened."""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

import dp
import recorder as R

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("haproxy", "nginx", "wrk")),
    reason="needs haproxy, nginx and wrk (make deps)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout, what):
    """Polls <cond> until true, at most <timeout> s; <what> (text, or a function giving it)
    says what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for "
                                 f"{what() if callable(what) else what}")
        time.sleep(0.05)


# ---- SPOP, as HAProxy speaks it (doc/SPOE.txt) ----

def varint(i):
    if i < 240:
        return bytes([i])
    out = [(i & 0xFF) | 240]
    i = (i - 240) >> 4
    while i >= 128:
        out.append((i & 0xFF) | 128)
        i = (i - 128) >> 7
    out.append(i)
    return bytes(out)


def get_varint(b, p):
    v = b[p]
    p += 1
    if v < 240:
        return v, p
    r = 4
    while True:
        c = b[p]
        p += 1
        v += c << r
        r += 7
        if c < 128:
            return v, p


def sstr(b):
    return varint(len(b)) + b


def kv_str(k, v):
    return sstr(k) + b"\x08" + sstr(v)


def kv_u32(k, v):
    return sstr(k) + b"\x03" + varint(v)


def frame(ftype, payload=b"", sid=0, fid=0, flags=1):
    f = bytes([ftype]) + struct.pack(">I", flags) + varint(sid) + varint(fid) + payload
    return struct.pack(">I", len(f)) + f


def hello(versions=b"2.0", mfs=16380, caps=b"pipelining,async", healthcheck=False):
    p = kv_str(b"supported-versions", versions) + kv_u32(b"max-frame-size", mfs) + \
        kv_str(b"capabilities", caps)
    if healthcheck:
        p += sstr(b"healthcheck") + b"\x11"
    return frame(1, p)


def notify(sid, fid, method=b"GET", path=b"/", hdrs=((b"host", b"a"),), body=b""):
    hb = b"".join(sstr(n) + sstr(v) for n, v in hdrs) + b"\x00\x00"
    args = [(b"arg_method", b"\x08" + sstr(method)), (b"arg_path", b"\x08" + sstr(path)),
            (b"arg_ver", b"\x08" + sstr(b"1.1")), (b"arg_hdrs", b"\x09" + sstr(hb)),
            (b"arg_body", b"\x09" + sstr(body))]
    msg = sstr(b"mirror") + bytes([len(args)]) + b"".join(sstr(k) + v for k, v in args)
    return frame(3, msg, sid, fid)


class Peer:
    """A connection to the agent, as HAProxy: send bytes, read whole frames."""

    def __init__(self, port, timeout=5):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.s.close()

    def send(self, data):
        self.s.sendall(data)

    def frame(self, timeout=5):
        """(type, flags, stream-id, frame-id, payload) of the next frame, or None at EOF."""
        self.s.settimeout(timeout)
        while len(self.buf) < 4 or len(self.buf) < 4 + struct.unpack(">I", self.buf[:4])[0]:
            b = self.s.recv(65536)
            if not b:
                assert self.buf == b"", f"EOF inside a frame: {self.buf!r}"
                return None
            self.buf += b
        n = struct.unpack(">I", self.buf[:4])[0]
        f = self.buf[4:4 + n]
        self.buf = self.buf[4 + n:]
        sid, p = get_varint(f, 5)
        fid, p = get_varint(f, p)
        return f[0], struct.unpack(">I", f[1:5])[0], sid, fid, f[p:]


def kv_items(payload):
    out = {}
    p = 0
    while p < len(payload):
        n, p = get_varint(payload, p)
        name = payload[p:p + n]
        p += n
        t = payload[p] & 0x0F
        p += 1
        if t in (2, 3, 4, 5):
            v, p = get_varint(payload, p)
        elif t in (8, 9):
            n, p = get_varint(payload, p)
            v = payload[p:p + n]
            p += n
        elif t == 1:
            v = bool(payload[p - 1] & 0x10)
        else:
            raise AssertionError(f"type {t}")
        out[name.decode()] = v
    return out


# ---- the processes ----

class Doppel:
    """doppel --input-spop 127.0.0.1:PORT <args>, stats every 100 ms, stderr in a file."""

    def __init__(self, tmp, args, binary=None, port=None, asan=""):
        self.port = port or free_port()
        self.errfile = tmp / f"doppel-{self.port}-{time.monotonic_ns()}.err"
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" + asan,
                   UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
        with open(self.errfile, "wb") as ef:
            self.p = subprocess.Popen(
                [binary or dp.binary(), "--verbose", "1", "--stats", "--stats-interval", "100ms",
                 "--input-spop", f"127.0.0.1:{self.port}", *map(str, args)],
                stdout=subprocess.DEVNULL, stderr=ef, env=env)
        _started.append(self.p)
        wait_for(lambda: "event=listen" in self.err() or self.p.poll() is not None, 20,
                 "doppel to listen")
        assert self.p.poll() is None, self.err()

    def err(self):
        return self.errfile.read_bytes().decode(errors="replace")

    def stats(self, label="input-spop#0"):
        return dp.summary(self.err(), tag="stats").get(label, {})

    def rss_kb(self):
        for line in Path(f"/proc/{self.p.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            self.p.wait(timeout=30)
        err = self.err()
        assert self.p.returncode == 0, f"exit {self.p.returncode}\n{err[-4000:]}"
        assert "AddressSanitizer" not in err and "runtime error" not in err, err[-4000:]
        return dp.summary(err)


class HAProxy:
    """fe_plain (no SPOE) and fe_mirror (SPOE to the agent) in front of one backend."""

    def __init__(self, tmp, prod_port, agent_port, extra_global="", extra_fe="",
                 extra_args="", processing="500ms", check=True):
        self.tmp = tmp
        self.plain = free_port()
        self.mirror = free_port()
        self.sock = tmp / "haproxy.sock"
        (tmp / "spoe.cfg").write_text(f"""[mirror]
spoe-agent mirror-agent
    messages mirror
    use-backend spoe_agents
    option var-prefix spoe
    option set-on-error err
    timeout hello      500ms
    timeout idle       30s
    timeout processing {processing}

spoe-message mirror
    args arg_method=method arg_path=url arg_ver=req.ver arg_hdrs=req.hdrs_bin arg_body=req.body {extra_args}
    event on-frontend-http-request
""")
        (tmp / "haproxy.cfg").write_text(f"""global
    nbthread 2
    maxconn 4000
    stats socket {self.sock} mode 600 level admin
{extra_global}
defaults
    mode http
    timeout connect 2s
    timeout client  30s
    timeout server  30s
    timeout http-request 10s

frontend fe_plain
    bind 127.0.0.1:{self.plain}
    default_backend be_prod

frontend fe_mirror
    bind 127.0.0.1:{self.mirror}
    option http-buffer-request
    filter spoe engine mirror config {tmp}/spoe.cfg
    http-response set-header X-Spoe-Err %[var(txn.spoe.err)] if {{ var(txn.spoe.err) -m found }}
{extra_fe}
    default_backend be_prod

backend be_prod
    server prod 127.0.0.1:{prod_port}

backend spoe_agents
    mode tcp
    balance roundrobin
    {"option spop-check" if check else ""}
    timeout connect 1s
    timeout server  3m
    server agent1 127.0.0.1:{agent_port} {"check inter 200ms rise 1 fall 1" if check else ""}
""")
        self.log = tmp / "haproxy.log"
        with open(self.log, "wb") as lf:
            self.p = subprocess.Popen(["haproxy", "-db", "-f", str(tmp / "haproxy.cfg")],
                                      stdout=lf, stderr=subprocess.STDOUT)
        _started.append(self.p)
        wait_for(lambda: self.sock.exists() or self.p.poll() is not None, 10, "haproxy")
        assert self.p.poll() is None, self.log.read_text()

    def cmd(self, c):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.sock))
            s.sendall(c.encode() + b"\n")
            out = b""
            while True:
                b = s.recv(65536)
                if not b:
                    return out.decode()
                out += b

    def agent_status(self):
        for line in self.cmd("show stat").splitlines():
            f = line.split(",")
            if len(f) > 17 and f[0] == "spoe_agents" and f[1] == "agent1":
                return f[17]
        return ""

    def wait_agent(self, up=True, timeout=10):
        wait_for(lambda: self.agent_status().startswith("UP" if up else "DOWN"), timeout,
                 f"agent {'UP' if up else 'DOWN'} in haproxy ({self.agent_status()})")

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            self.p.wait(timeout=10)


_started = []  # every server process a test starts: killed after the test whatever happens


@pytest.fixture(autouse=True)
def _reap_servers():
    yield
    while _started:
        p = _started.pop()
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)


def start_nginx(tmp, port):
    """nginx answering 200 "ok" to any method on 127.0.0.1:<port>; access log in a file."""
    d = tmp / f"nginx-{port}"
    d.mkdir()
    conf = d / "nginx.conf"
    conf.write_text(f"""
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok\\n"; }}
    }}
}}
""")
    p = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(d)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _started.append(p)
    wait_for(lambda: _connects(port) or p.poll() is not None, 10, "nginx")
    assert p.poll() is None, (d / "error.log").read_text()
    p.access_log = d / "access.log"
    return p


def _connects(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def exchange(port, raw, timeout=10):
    """Sends <raw> on a new connection; returns the response (head bytes, body bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        buf = b""
        while b"\r\n\r\n" not in buf:
            b = s.recv(65536)
            assert b, f"closed before a response: {buf!r}"
            buf += b
        head, _, body = buf.partition(b"\r\n\r\n")
        m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        n = 0 if raw.startswith(b"HEAD ") else int(m.group(1)) if m else 0
        while len(body) < n:
            b = s.recv(65536)
            assert b, "closed inside the body"
            body += b
        return head, body


def wrk(url, seconds=3, conns=16):
    """(requests/s, p50 ms, p99 ms, non-2xx count, total requests) of a wrk run."""
    r = subprocess.run(["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", url],
                       capture_output=True, text=True, timeout=seconds + 30)
    out = r.stdout

    def ms(tok):
        v = float(re.match(r"[\d.]+", tok).group(0))
        return v / 1000 if tok.endswith("us") else v * 1000 if tok.endswith("s") and \
            not tok.endswith("ms") else v

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return rps, p50, p99, int(bad.group(1)) if bad else 0, total


# ---- tests ----

BIN = bytes(range(256)) * 4                      # every byte value, NULs included
BIG = bytes((i * 131 + 7) % 256 for i in range(15 * 1024))
JSON = b'{"user": "ana", "items": [1, 2, 3], "ok": true}'

CASES = [  # (name, request bytes): the path is /case/<name>
    ("get", b"GET /case/get?q=1&r=%20x HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: t\r\n"
            b"Accept: */*\r\nX-Multi: a\r\nX-Multi: b\r\nCookie: s=1; t=2\r\n\r\n"),
    ("post_json", b"POST /case/post_json HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(JSON) + JSON),
    ("post_bin", b"POST /case/post_bin HTTP/1.1\r\nHost: a\r\nContent-Type: "
                 b"application/octet-stream\r\nContent-Length: %d\r\n\r\n" % len(BIN) + BIN),
    ("post_15k", b"POST /case/post_15k HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n"
                 % len(BIG) + BIG),
    ("put", b"PUT /case/put HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"),
    ("patch", b"PATCH /case/patch HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
              b"Content-Length: 11\r\n\r\n{\"a\":null}\n"),
    ("delete", b"DELETE /case/delete HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n\r\nid=42\r\n"),
    ("head", b"HEAD /case/head HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("options", b"OPTIONS /case/options HTTP/1.1\r\nHost: a\r\nOrigin: http://b\r\n\r\n"),
    ("purge", b"PURGE /case/purge HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("propfind", b"PROPFIND /case/propfind HTTP/1.1\r\nHost: a\r\nDepth: 1\r\n"
                 b"Content-Length: 0\r\n\r\n"),
    ("http10", b"GET /case/http10 HTTP/1.0\r\nHost: a\r\nUser-Agent: old\r\n\r\n"),
    ("http10_post", b"POST /case/http10_post HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc"),
    ("chunked", b"POST /case/chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                b"X-After: 1\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
]


def ok_says_close():
    """200, and "Connection: close" when the request wants the connection closed (an
    HTTP/1.0 request without keep-alive), as nginx does; output-http then does not reuse it."""
    def h(req):
        close = req.wants_close()
        hdr = [("Connection", "close")] if close else []
        body = f"ok {req.request_line}\n".encode()
        data = R.response(headers=hdr, body=body)
        if req.method == "HEAD":
            data = data[:-len(body)]
        return R.Reply(data, "close" if close else "keep")
    return h


def by_case(reqs):
    out = {}
    for r in reqs:
        m = re.match(r"/case/([a-z0-9_]+)", r.target)
        if m:
            out.setdefault(m.group(1), []).append(r)
    return out


def dechunk(body):
    out = b""
    while True:
        line, _, body = body.partition(b"\r\n")
        n = int(line.split(b";")[0], 16)
        if n == 0:
            return out
        out += body[:n]
        body = body[n + 2:]


FATES = ("mirrored", "queue_drops", "truncated_bodies", "bad_framing", "bad_messages",
         "too_large", "nomem_drops")


def check_spop_invariants(summary):
    """Every message has one fate (docs/haproxy.md), every NOTIFY its ACK, and the pipeline
    received what was mirrored."""
    c = summary["input-spop#0"]
    assert c["messages"] == sum(c[k] for k in FATES), c
    # every NOTIFY is ACKed, but those refused with a DISCONNECT (malformed)
    assert c["acks"] <= c["frames_notify"] <= c["acks"] + c["malformed"], c
    assert c["received"] == c["mirrored"], c
    assert sum(v for k, v in c.items() if k.startswith("disconnect_tx_")) == c["disconnects_tx"]
    assert sum(v for k, v in c.items() if k.startswith("disconnect_rx_")) == c["disconnects_rx"]
    dp.check_invariants(summary)


def expected_mirror(prod):
    """What the mirror must receive, from what the production backend received: the same bytes,
    except what HAProxy adds on its server side after the SPOE event (keep-alive on an HTTP/1.0
    request), and a chunked request comes with Content-Length in place of Transfer-Encoding
    (HAProxy hands the agent the de-chunked body; docs/haproxy.md)."""
    head, _, body = prod.raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    out = [lines[0]]
    chunked = False
    for line in lines[1:]:
        name = line.split(b":", 1)[0].lower()
        if prod.version == "HTTP/1.0" and line.lower() == b"connection: keep-alive":
            continue
        if name == b"transfer-encoding":
            chunked = True
            continue
        out.append(line)
    if chunked:
        body = dechunk(body)
        first_te = [i for i, line in enumerate(lines[1:], 1)
                    if line.lower().startswith(b"transfer-encoding:")][0]
        out.insert(first_te, b"content-length: %d" % len(body))
    return b"\r\n".join(out) + b"\r\n\r\n" + body


def test_spoe_mirror_is_byte_faithful(tmp_path):
    with R.Recorder(ok_says_close()) as prod, R.Recorder(ok_says_close()) as mirror:
        d = Doppel(tmp_path, ["--output-http", mirror.url, "--http-original-host"])
        h = None
        try:
            # req.body holds what fits in tune.bufsize (16 KB by default, headers included):
            # 32 KB lets a 15 KB body through whole (docs/haproxy.md)
            h = HAProxy(tmp_path, prod.port, d.port, extra_global="    tune.bufsize 32768")
            h.wait_agent(up=True)
            for name, raw in CASES:
                head, body = exchange(h.mirror, raw)
                assert head.startswith(b"HTTP/1.1 200"), (name, head)
                assert b"x-spoe-err" not in head.lower(), (name, head)
            wait_for(lambda: len(by_case(mirror.requests)) == len(CASES), 15,
                     lambda: f"the mirror to get {len(CASES)} requests "
                     f"(has {sorted(by_case(mirror.requests))}, {d.stats()}, "
                     f"{d.stats('output-http#0')})")
            got_prod = by_case(prod.requests)
            got_mirror = by_case(mirror.requests)
            for name, _ in CASES:
                assert len(got_prod[name]) == 1 and len(got_mirror[name]) == 1, name
                want = expected_mirror(got_prod[name][0])
                assert got_mirror[name][0].raw == want, \
                    f"{name}:\nprod   {got_prod[name][0].raw[:400]!r}\nmirror " \
                    f"{got_mirror[name][0].raw[:400]!r}"
            # HEAD, OPTIONS, PURGE and PROPFIND as they were; HTTP/1.0 stays 1.0
            assert got_mirror["http10"][0].version == "HTTP/1.0"
            assert got_mirror["purge"][0].method == "PURGE"
            assert got_mirror["post_15k"][0].body == BIG
            assert got_mirror["post_bin"][0].body == BIN
        finally:
            if h:
                h.stop()
            s = d.stop()
    c = s["input-spop#0"]
    check_spop_invariants(s)
    assert c["messages"] == c["mirrored"] == len(CASES), c
    assert c["acks"] == c["frames_notify"] == len(CASES), c
    assert c["malformed"] == 0 and c["queue_drops"] == 0 and c["truncated_bodies"] == 0, c
    assert s["output-http#0"]["delivered"] == len(CASES), s


def test_spoe_ids_timestamps_and_truncated_bodies(tmp_path):
    """arg_id (unique-id, with a space the id cannot keep) and arg_ts (date(0,ms)); a body
    HAProxy cut at tune.bufsize is counted and not sent, the production request goes on."""
    out = tmp_path / "mirror.gor"
    prod_port = free_port()
    prod = start_nginx(tmp_path, prod_port)
    d = Doppel(tmp_path, ["--output-file", out, "--output-file-append"])
    h = None
    try:
        h = HAProxy(tmp_path, prod_port, d.port, extra_fe='    unique-id-format "req %{+X}rt"\n',
                    extra_args="arg_id=unique-id arg_ts=date(0,ms)")
        h.wait_agent(up=True)
        t0 = time.time_ns()
        for i in range(5):
            head, _ = exchange(h.mirror, b"GET /id/%d HTTP/1.1\r\nHost: a\r\n\r\n" % i)
            assert head.startswith(b"HTTP/1.1 200"), head
        t1 = time.time_ns()
        big = b"x" * 100000  # far more than tune.bufsize: HAProxy hands over a prefix
        head, _ = exchange(h.mirror, b"POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n"
                           b"\r\n" % len(big) + big)
        assert head.startswith(b"HTTP/1.1 200"), head
        wait_for(lambda: d.stats().get("messages", 0) >= 6, 10,
                 lambda: f"6 messages ({d.stats()})")
    finally:
        if h:
            h.stop()
        s = d.stop()
        prod.terminate()
        prod.wait(timeout=10)
    c = s["input-spop#0"]
    check_spop_invariants(s)
    assert c["mirrored"] == 5 and c["truncated_bodies"] == 1, c
    recs = dp.records(out.read_bytes())
    assert len(recs) == 5
    for meta, payload in recs:
        f = meta.decode().split(" ")
        assert f[0] == "1"
        # "req %{+X}rt": the space became "_"
        assert re.fullmatch(r"req_[0-9A-F]+", f[1]), f
        ts = int(f[2])
        assert t0 - 1_000_000_000 <= ts <= t1 + 1_000_000_000, (t0, ts, t1)
        assert ts % 1_000_000 == 0  # milliseconds, as date(0,ms) gives
        assert payload.startswith(b"GET /id/")
    assert len({m for m, _ in recs}) == 5


@pytest.mark.parametrize("target", ["down", "never_answers"])
def test_spoe_dead_mirror_does_not_slow_production(tmp_path, target):
    """A mirror target that refuses connections, or accepts and never answers: production
    through the SPOE frontend keeps its throughput and latency (compared with the frontend
    without SPOE, in the same test), every request is ACKed, what the output cannot take is
    counted, and doppel's memory stays bounded."""
    prod_port = free_port()
    prod = start_nginx(tmp_path, prod_port)
    hang = R.Recorder(R.never()) if target == "never_answers" else None
    url = hang.url if hang else f"http://127.0.0.1:{free_port()}"
    binary = os.environ.get("DOPPEL_RELEASE") or dp.binary()
    # ASan's quarantine of freed memory (256 MB) would hide what the bound is about
    d = Doppel(tmp_path, ["--output-http", url, "--output-http-timeout", "2s"], binary=binary,
               asan=":quarantine_size_mb=8")
    h = None
    try:
        h = HAProxy(tmp_path, prod_port, d.port)
        h.wait_agent(up=True)
        wrk(f"http://127.0.0.1:{h.mirror}/", seconds=1)  # warm up: connections, pools
        rss0 = d.rss_kb()
        plain = wrk(f"http://127.0.0.1:{h.plain}/")
        spoe = wrk(f"http://127.0.0.1:{h.mirror}/")
        plain2 = wrk(f"http://127.0.0.1:{h.plain}/")
        rss1 = d.rss_kb()
        head, _ = exchange(h.mirror, b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
        assert b"x-spoe-err" not in head.lower(), head  # HAProxy saw no SPOE error
        c = d.stats()
    finally:
        if h:
            h.stop()
        s = d.stop()
        prod.terminate()
        prod.wait(timeout=10)
        if hang:
            hang.close()
    info = f"plain {plain} {plain2}, spoe {spoe}, rss {rss0}->{rss1} kB, {c}"
    print(info)
    best_plain = max(plain[0], plain2[0])
    assert spoe[3] == 0 and plain[3] == 0, info           # no errors through HAProxy
    # Bounds, not the benchmark's goal (bench/spoe.sh): on 2 shared cores wrk, HAProxy, nginx
    # and doppel compete, and a sanitized doppel is several times slower. HAProxy's
    # spoa-mirror fell to ~0.1 of the plain rate here, with 500 ms stalls.
    image = Path(binary).read_bytes()
    sanitized = b"__asan_init" in image or b"__tsan_init" in image
    assert spoe[0] >= (0.3 if sanitized else 0.4) * best_plain, info
    assert spoe[1] < 5, info                               # p50 in ms
    assert rss1 - rss0 < 64 * 1024, info                   # bounded, whatever the target does
    ci = s["input-spop#0"]
    assert ci["acks"] == ci["frames_notify"] >= spoe[4], (ci, spoe)
    assert ci["messages"] == ci["mirrored"] + ci["queue_drops"], ci
    check_spop_invariants(s)
    if target == "never_answers":
        assert ci["queue_drops"] > 0, ci                   # the output filled up and said so
    else:
        assert s["output-http#0"]["failed"] > 0, s         # refused, and counted
    assert ci["conns_total"] > 1, ci                       # HAProxy's threads, many connections


def test_spoe_health_checks_and_agent_restart(tmp_path):
    """option spop-check marks the agent UP; when doppel stops, the check fails and production
    still flows; when it comes back on the same port, mirroring resumes."""
    with R.Recorder(R.ok()) as prod, R.Recorder(R.ok()) as mirror:
        d = Doppel(tmp_path, ["--output-http", mirror.url])
        h = None
        try:
            h = HAProxy(tmp_path, prod.port, d.port, processing="200ms")
            h.wait_agent(up=True)
            wait_for(lambda: d.stats().get("health_checks", 0) >= 2, 10, "health checks")
            s1 = d.stop()
            h.wait_agent(up=False)
            t = time.monotonic()
            head, _ = exchange(h.mirror, b"GET /while-down HTTP/1.1\r\nHost: a\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200") and time.monotonic() - t < 1.0, head
            d = Doppel(tmp_path, ["--output-http", mirror.url], port=d.port)
            h.wait_agent(up=True)
            head, _ = exchange(h.mirror, b"GET /back HTTP/1.1\r\nHost: a\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            wait_for(lambda: any(r.target == "/back" for r in mirror.requests), 10,
                     "the mirror to get /back")
        finally:
            if h:
                h.stop()
            s2 = d.stop()
    check_spop_invariants(s1)
    check_spop_invariants(s2)
    assert s1["input-spop#0"]["health_checks"] >= 2
    assert s1["input-spop#0"]["malformed"] == 0
    assert not any(r.target == "/while-down" for r in mirror.requests)
    assert s2["input-spop#0"]["mirrored"] >= 1


def disconnect_status(fr):
    assert fr is not None and fr[0] == 102, fr  # AGENT-DISCONNECT
    items = kv_items(fr[4])
    assert isinstance(items.get("message"), bytes) and items["message"], items
    return items["status-code"]


def test_spoe_hostile_frames_get_disconnect(tmp_path):
    """Garbage, wrong versions, cut and oversized frames: an AGENT-DISCONNECT with the status
    code of doc/SPOE.txt §3.5, and the connection closed; doppel serves the next one."""
    d = Doppel(tmp_path, ["--output-null"])
    try:
        good = hello()
        bad_msg = frame(3, sstr(b"mirror") + b"\x05" + sstr(b"arg_method") + b"\x08\x09GET", 1, 1)
        cases = [
            ("http instead of spop", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 3),
            ("short frame", struct.pack(">I", 3) + b"\x01\0\0", 4),
            ("notify before hello", notify(1, 1), 4),
            ("version 1.0 only", hello(versions=b"1.0"), 8),
            ("no max-frame-size", frame(1, kv_str(b"supported-versions", b"2.0") +
                                       kv_str(b"capabilities", b"")), 6),
            ("max-frame-size 100", hello(mfs=100), 9),
            ("reserved type", frame(1, sstr(b"x") + b"\x0b"), 4),
            ("broken notify", good + bad_msg, 4),
            ("fragment", good + frame(3, b"", 1, 1, flags=0), 10),
            ("frame over max-frame-size", good + struct.pack(">I", 16381) + b"\x03" * 64, 3),
            ("agent frame", good + frame(103, b"", 1, 1), 4),
            ("second hello", good + good, 4),
        ]
        for what, data, status in cases:
            with Peer(d.port) as c:
                c.send(data)
                fr = c.frame()
                if data.startswith(good) and data != good:
                    assert fr[0] == 101, (what, fr)  # the AGENT-HELLO first
                    fr = c.frame()
                assert disconnect_status(fr) == status, what
                assert c.frame() is None, what  # then closed
        # a health check: AGENT-HELLO, then closed
        with Peer(d.port) as c:
            c.send(hello(caps=b"", healthcheck=True))
            fr = c.frame()
            assert fr[0] == 101 and kv_items(fr[4])["version"] == b"2.0", fr
            assert c.frame() is None
        # HAPROXY-DISCONNECT: answered with status 0
        with Peer(d.port) as c:
            c.send(good + frame(2, kv_u32(b"status-code", 0) + kv_str(b"message", b"bye")))
            assert c.frame()[0] == 101
            assert disconnect_status(c.frame()) == 0
            assert c.frame() is None
        # cut in the middle, then closed by the peer: nothing to answer, nothing breaks
        with Peer(d.port) as c:
            c.send(good[:10])
        with Peer(d.port) as c:
            c.send(good + notify(1, 1)[:20])
            assert c.frame()[0] == 101
        # silence after connecting: status 2 (timeout) after 5 s
        with Peer(d.port, timeout=10) as c:
            t = time.monotonic()
            assert disconnect_status(c.frame(timeout=10)) == 2
            assert 4 < time.monotonic() - t < 8
        # and a well-behaved peer is served: pipelined NOTIFYs, each ACKed with its ids
        with Peer(d.port) as c:
            c.send(good)
            fr = c.frame()
            assert fr[0] == 101 and kv_items(fr[4])["max-frame-size"] == 16380
            c.send(notify(7, 1) + notify(7, 2) + notify(300, 5000))
            acks = [c.frame()[:4] for _ in range(3)]
            assert acks == [(103, 1, 7, 1), (103, 1, 7, 2), (103, 1, 300, 5000)], acks
        wait_for(lambda: d.stats().get("mirrored", 0) >= 3, 5, "3 mirrored")
    finally:
        s = d.stop()
    c = s["input-spop#0"]
    check_spop_invariants(s)
    assert c["malformed"] >= 12 and c["timeouts"] == 1 and c["health_checks"] == 1, c
    assert c["disconnects_rx"] == 1, c
    assert sum(v for k, v in c.items() if k.startswith("disconnect_tx_")) == c["disconnects_tx"]
    assert c["disconnect_tx_3"] == 2 and c["disconnect_tx_10"] == 1 and c["disconnect_rx_0"] == 1
    assert c["conns"] == 0, c
