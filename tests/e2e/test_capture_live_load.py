"""Live capture on loopback under load and with awkward bodies: wrk at full speed against nginx
(doppel's requests counted against nginx's access log), a chunked upload, 5 MB uploads with and
without 100-continue, IPv6, and hundreds of connections. nginx and the clients are real; what
curl sent and received is taken from its --trace, so captured records are compared byte for
byte with the wire. Needs root (packet capture), nginx, wrk and curl (make deps, run as root).

doppel is started with --verbose 1 and --stats every 100 ms, stderr to a file: the test waits
for its "event=capture" line instead of sleeping, and before stopping it waits (bounded) until
the stats show the messages the clients exchanged, so that no wait is a guess."""
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import dp

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or any(shutil.which(t) is None for t in ("nginx", "wrk", "curl")),
    reason="needs root, nginx, wrk and curl")

HELLO = b"hello\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture
def nginx(tmp_path):
    """nginx on 127.0.0.1:PORT (and [::1]:PORT when the host has it), access log in a file;
    /echo is proxied so that nginx reads (and de-chunks) the whole request body."""
    port, port2 = free_port(), free_port()
    v6 = have_ipv6_loopback()
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_bytes(HELLO)
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
daemon off;
master_process off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log {tmp_path}/access.log;
    client_max_body_size 10m;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    server {{
        listen 127.0.0.1:{port};
        {f"listen [::1]:{port};" if v6 else ""}
        root {tmp_path}/www;
        location /echo {{ proxy_pass http://127.0.0.1:{port2}/ok; }}
    }}
    server {{
        listen 127.0.0.1:{port2};
        access_log off;
        location = /ok {{ return 200 "ok\\n"; }}
    }}
}}
""")
    p = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp_path)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            assert p.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "error.log").read_text()
            time.sleep(0.02)
    yield SimpleNamespace(port=port, v6=v6, dir=tmp_path, access_log=tmp_path / "access.log")
    p.terminate()
    p.wait(timeout=10)


class Capture:
    """doppel --input-raw <addr> --input-raw-track-response --output-file <out>."""

    def __init__(self, addr, out, errfile):
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1",
                   UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
        self.errfile = errfile
        with open(errfile, "wb") as ef:
            self.p = subprocess.Popen(
                [dp.binary(), "--verbose", "1", "--stats", "--stats-interval", "100ms",
                 "--input-raw", addr, "--input-raw-track-response",
                 "--output-file", str(out), "--output-file-append"],
                stdout=subprocess.DEVNULL, stderr=ef, env=env)
        # The kernel keeps every packet from the moment the handle is open (pcap activation
        # under ASan can take over a second).
        if not self._wait(lambda err: "event=capture device=" in err, 15):
            raise AssertionError(f"no event=capture within 15 s:\n{self.err()}")

    def err(self):
        return self.errfile.read_bytes().decode(errors="replace")

    def _wait(self, cond, timeout):
        deadline = time.monotonic() + timeout
        while True:
            err = self.err()
            if cond(err):
                return True
            assert self.p.poll() is None, f"doppel exited {self.p.returncode}:\n{err}"
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)

    def settle(self, messages, timeout=5):
        """Waits (at most <timeout> s) until doppel's stats show <messages> received: the
        packets of the last exchange have passed the ring before SIGINT. A shortfall is left
        for the test's exact assertions to report."""
        def done(err):
            st = dp.summary(err, tag="stats").get("input-raw#0")
            return st is not None and st["received"] >= messages
        self._wait(done, timeout)

    def stop(self):
        self.p.send_signal(signal.SIGINT)
        self.p.wait(timeout=30)
        err = self.err()
        assert self.p.returncode == 0, err
        return err


@pytest.fixture
def capture(tmp_path):
    started = []

    def start(addr, out):
        c = Capture(addr, out, tmp_path / f"doppel{len(started)}.err")
        started.append(c)
        return c
    yield start
    for c in started:
        if c.p.poll() is None:
            c.p.kill()
            c.p.wait(timeout=10)


def curl_trace(path):
    """(sent, received): the bytes of a curl --trace file, headers and data in wire order."""
    sent, recv = bytearray(), bytearray()
    cur, want, start = None, 0, 0
    for line in Path(path).read_bytes().decode("latin-1").splitlines():
        if line[:1] in ("=", "<"):
            assert cur is None or len(cur) - start == want, (line, len(cur) - start, want)
            m = re.match(r"(=> Send|<= Recv) (header|data), (\d+) bytes", line)
            cur = None if m is None else (sent if m.group(1) == "=> Send" else recv)
            if cur is not None:
                want, start = int(m.group(3)), len(cur)
        elif cur is not None:
            off, _, rest = line.partition(": ")  # "0010: 31 2e 31 0d 0a ... 1.1.."
            assert re.fullmatch("[0-9a-f]+", off), line
            cur += bytes.fromhex(rest[:48])
    assert cur is None or len(cur) - start == want
    return bytes(sent), bytes(recv)


def curl(args, trace):
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{local_port}\n",
                        "--trace", str(trace), *map(str, args)],
                       capture_output=True, timeout=30, check=True)
    return r.stdout.decode().split()


def dechunk(body):
    """The data of a chunked body (RFC 9112 §7.1) that ends right after its last chunk and an
    empty trailer section; returns (data, chunk sizes)."""
    data, sizes, i = bytearray(), [], 0
    while True:
        j = body.index(b"\r\n", i)
        size = int(body[i:j], 16)
        i = j + 2
        if size == 0:
            assert body[i:] == b"\r\n", body[i - 5:][:20]
            return bytes(data), sizes
        assert body[i + size:i + size + 2] == b"\r\n", f"chunk at {i} not closed by CRLF"
        data += body[i:i + size]
        sizes.append(size)
        i += size + 2


def by_type(out):
    """(requests, responses): [(id, payload)] of type 1 and {id: [payload, ...]} of type 2,
    in file order."""
    reqs, resps = [], {}
    for meta, payload in dp.records(out.read_bytes()):
        f = meta.split(b" ")
        assert len(f) == 4 and f[0] in (b"1", b"2"), meta
        assert re.fullmatch(rb"[0-9a-f]{24}", f[1]), meta
        if f[0] == b"1":
            reqs.append((f[1].decode(), payload))
        else:
            resps.setdefault(f[1].decode(), []).append(payload)
    return reqs, resps


def assert_counters(err, requests, responses, **more):
    s = dp.summary(err)
    dp.check_invariants(s)
    c = s["input-raw#0"]
    want = dict(requests=requests, responses=responses, received=requests + responses,
                kernel_drops=0, ring_drops=0, dropped_incomplete=0, msgs_truncated=0,
                msgs_malformed=0, unanswered_requests=0, unpaired_responses=0, gaps=0, **more)
    assert {k: c[k] for k in want} == want, c
    return c


def test_live_wrk_load_matches_access_log(nginx, capture, tmp_path):
    out = tmp_path / "cap.gor"
    cap = capture(f"lo:{nginx.port}", out)
    r = subprocess.run(["wrk", "-t1", "-c8", "-d3s", f"http://127.0.0.1:{nginx.port}/index.html"],
                       capture_output=True, timeout=20, check=True)
    truth = nginx.access_log.read_bytes().splitlines()
    cap.settle(2 * len(truth))
    err = cap.stop()
    truth = nginx.access_log.read_bytes().splitlines()  # read again: nothing may follow wrk
    assert len(truth) > 1000, r.stdout.decode()  # the load did happen
    assert all(b'"GET /index.html HTTP/1.1" 200 6 ' in line for line in truth), \
        [line for line in truth if b'" 200 6 ' not in line][:5]
    reqs, resps = by_type(out)
    c = dp.summary(err)["input-raw#0"]
    info = f"access log {len(truth)} lines, wrk: {r.stdout.decode().splitlines()[-2:]}, {c}"
    assert len(reqs) == len(truth), info
    assert all(p == f"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:{nginx.port}\r\n\r\n".encode()
               for _, p in reqs), info
    ids = [i for i, _ in reqs]
    assert len(set(ids)) == len(ids)
    assert sorted(resps) == sorted(ids), info
    for i in ids:
        (p,) = resps[i]
        assert p.startswith(b"HTTP/1.1 200 OK\r\n") and p.endswith(b"\r\n\r\n" + HELLO), p
        assert b"\r\nContent-Length: 6\r\n" in p, p
    assert_counters(err, len(truth), len(truth))


def test_live_chunked_upload_byte_for_byte(nginx, capture, tmp_path):
    body = os.urandom(100 * 1024)
    (tmp_path / "body.bin").write_bytes(body)
    out = tmp_path / "cap.gor"
    cap = capture(f"lo:{nginx.port}", out)
    code, _ = curl(["-H", "Transfer-Encoding: chunked", "-H", "Expect:",
                    "--data-binary", f"@{tmp_path / 'body.bin'}",
                    f"http://127.0.0.1:{nginx.port}/echo"], tmp_path / "trace")
    assert code == "200"
    cap.settle(2)
    err = cap.stop()
    sent, recv = curl_trace(tmp_path / "trace")
    reqs, resps = by_type(out)
    assert len(reqs) == 1
    (id_, req), = reqs
    assert req == sent  # the request as curl wrote it to the socket
    head, sep, chunked = req.partition(b"\r\n\r\n")
    assert sep and b"\r\nTransfer-Encoding: chunked" in head and b"Content-Length" not in head
    data, sizes = dechunk(chunked)
    assert data == body and len(sizes) >= 2, sizes  # several chunks, the framing intact
    assert req.endswith(b"\r\n0\r\n\r\n")
    assert resps == {id_: [recv]}
    assert recv.startswith(b"HTTP/1.1 200 OK\r\n") and recv.endswith(b"\r\n\r\nok\n")
    assert_counters(err, 1, 1)


def test_live_5mb_uploads_with_and_without_100_continue(nginx, capture, tmp_path):
    # 5 MB = 5,000,000 bytes: with its head it stays under the default --copy-buffer-size
    # (5mb = 5 MiB); a longer message would be cut there and counted (msgs_truncated).
    body = os.urandom(5 * 1000 * 1000)
    (tmp_path / "body.bin").write_bytes(body)
    out = tmp_path / "cap.gor"
    cap = capture(f"lo:{nginx.port}", out)
    url = f"http://127.0.0.1:{nginx.port}/echo"
    code1, _ = curl(["-H", "Expect: 100-continue", "--data-binary", f"@{tmp_path / 'body.bin'}",
                     url], tmp_path / "trace1")
    code2, _ = curl(["-H", "Expect:", "--data-binary", f"@{tmp_path / 'body.bin'}", url],
                    tmp_path / "trace2")
    assert (code1, code2) == ("200", "200")
    cap.settle(5)
    err = cap.stop()
    reqs, resps = by_type(out)
    assert len(reqs) == 2
    for (id_, req), trace, expect in zip(reqs, ("trace1", "trace2"), (True, False)):
        sent, recv = curl_trace(tmp_path / trace)
        assert req == sent  # head and body, whole
        head, _, got = req.partition(b"\r\n\r\n")
        assert got == body
        assert b"\r\nContent-Length: 5000000" in head
        assert (b"\r\nExpect: 100-continue" in head) == expect
        # The interim 100 Continue is a type-2 record of its own, with the request's id,
        # before the final response. (curl's trace leaves out the empty line that ends it.)
        interim = b"HTTP/1.1 100 Continue\r\n" if expect else b""
        assert recv.startswith(interim)
        final = recv[len(interim):]
        assert resps[id_] == ([CONTINUE] if expect else []) + [final]
        assert final.startswith(b"HTTP/1.1 200 OK\r\n") and final.endswith(b"\r\n\r\nok\n")
    assert len(resps) == 2
    assert_counters(err, 2, 3)


@pytest.mark.parametrize("where", ["[::1]", "lo"])
def test_live_ipv6_keepalive(nginx, capture, tmp_path, where):
    if not nginx.v6:
        pytest.skip("no ::1 on this host")
    out = tmp_path / "cap.gor"
    cap = capture(f"{where}:{nginx.port}", out)
    urls = [a for i in range(10)
            for a in ("-o", "/dev/null", f"http://[::1]:{nginx.port}/index.html?v6={i}")]
    r = subprocess.run(["curl", "-sS", "-g", "-w", "%{local_port}\n",
                        "--trace", str(tmp_path / "trace"), *urls],
                       capture_output=True, timeout=30, check=True)
    ports = set(r.stdout.split())
    assert len(ports) == 1  # one keep-alive connection
    cport = int(ports.pop())
    # An IPv4 request to the same port: [::1] captures only ::1, lo both families.
    subprocess.run(["curl", "-sS", "-o", "/dev/null", f"http://127.0.0.1:{nginx.port}/index.html"],
                   timeout=30, check=True)
    v4 = where == "lo"
    cap.settle(20 + 2 * v4)
    err = cap.stop()
    sent, recv = curl_trace(tmp_path / "trace")
    reqs, resps = by_type(out)
    if v4:
        assert reqs[-1][1].startswith(b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:")
        assert resps.pop(reqs.pop()[0])[0].endswith(HELLO)
    assert [p.split(b"\r\n")[0] for _, p in reqs] == \
        [f"GET /index.html?v6={i} HTTP/1.1".encode() for i in range(10)]
    assert b"".join(p for _, p in reqs) == sent
    got = [resps[i] for i, _ in reqs]
    assert all(len(g) == 1 and g[0].startswith(b"HTTP/1.1 200 OK\r\n") for g in got), got
    assert b"".join(g[0] for g in got) == recv
    # GoReplay's id: client port, server port, last 4 bytes of the client address (::1),
    # and the request's Ack: each is the previous one plus the response in between.
    ids = [i for i, _ in reqs]
    prefix = f"{cport:04x}{nginx.port:04x}00000001"
    assert all(i.startswith(prefix) for i in ids), (prefix, ids)
    acks = [int(i[16:], 16) for i in ids]
    assert [(b - a) % 2**32 for a, b in zip(acks, acks[1:])] == [len(g[0]) for g in got[:-1]]
    assert_counters(err, 10 + v4, 10 + v4, conns_opened=1 + v4)


def read_response(s):
    got = b""
    while not got.endswith(HELLO):
        b = s.recv(4096)
        assert b, got
        got += b
    return got


def test_live_hundreds_of_connections(nginx, capture, tmp_path):
    n = 200
    out = tmp_path / "cap.gor"
    cap = capture(f"lo:{nginx.port}", out)
    port_of = {}
    for i in range(n):  # short connections, one after the other
        line = f"GET /index.html?seq={i} HTTP/1.1"
        with socket.create_connection(("127.0.0.1", nginx.port), timeout=10) as s:
            port_of[line] = s.getsockname()[1]
            s.sendall(f"{line}\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            read_response(s)
    socks = [socket.create_connection(("127.0.0.1", nginx.port), timeout=10) for _ in range(n)]
    try:  # all open at once
        for i, s in enumerate(socks):
            line = f"GET /index.html?conc={i} HTTP/1.1"
            port_of[line] = s.getsockname()[1]
            s.sendall(f"{line}\r\nHost: x\r\n\r\n".encode())
        for s in socks:
            read_response(s)
    finally:
        for s in socks:
            s.close()
    cap.settle(4 * n)
    err = cap.stop()
    reqs, resps = by_type(out)
    lines = [p.split(b"\r\n")[0].decode() for _, p in reqs]
    assert lines[:n] == [f"GET /index.html?seq={i} HTTP/1.1" for i in range(n)]
    assert sorted(lines[n:]) == sorted(f"GET /index.html?conc={i} HTTP/1.1" for i in range(n))
    ids = [i for i, _ in reqs]
    assert len(set(ids)) == 2 * n
    for (id_, _), line in zip(reqs, lines):
        assert id_[:8] == f"{port_of[line]:04x}{nginx.port:04x}" and id_[8:16] == "7f000001"
        (p,) = resps[id_]
        assert p.startswith(b"HTTP/1.1 200 OK\r\n") and p.endswith(b"\r\n\r\n" + HELLO)
    assert len(resps) == 2 * n
    assert_counters(err, 2 * n, 2 * n, conns_opened=2 * n)
