"""Live capture on loopback: nginx started by the test, real clients, doppel --input-raw on lo.
Needs root (packet capture) and nginx; both are there in CI (make deps, run as root)."""
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

import dp

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nginx") is None,
                                reason="needs root and nginx")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def nginx(tmp_path):
    port, port2 = free_port(), free_port()
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_bytes(b"hello\n")
    (tmp_path / "www" / "big.bin").write_bytes(os.urandom(200000))
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
daemon off;
master_process off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {tmp_path}/access.log;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {tmp_path}/www;
        # proxied, so that nginx reads the whole body (and answers 100 Continue first)
        location /echo {{ client_max_body_size 10m; proxy_pass http://127.0.0.1:{port2}/ok; }}
    }}
    server {{
        listen 127.0.0.1:{port2};
        location = /ok {{ return 200 "ok\\n"; }}
    }}
}}
""")
    p = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp_path)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield port
    p.terminate()
    p.wait(timeout=10)


def start_capture(port, out, *extra):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    p = subprocess.Popen([dp.binary(), "--input-raw", f"lo:{port}", "--input-raw-track-response",
                          "--output-file", str(out), "--output-file-append", *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    time.sleep(2.0)  # pcap activation under ASan can take over a second
    assert p.poll() is None, p.stderr.read().decode()
    return p


def stop_capture(p):
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=20)
    err = err.decode(errors="replace")
    assert p.returncode == 0, err
    return err


def exchange(port, data, read_until_close=True):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += b
    s.close()
    return got


def test_live_pipelining_head_and_upload(nginx, tmp_path):
    out = tmp_path / "cap.gor"
    p = start_capture(nginx, out)
    pipelined = b"".join(f"GET /index.html?n={i} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
                         for i in range(3))
    exchange(nginx, pipelined + b"HEAD /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    body = os.urandom(300000)
    subprocess.run(["curl", "-s", "-o", "/dev/null", "-H", "Expect: 100-continue",
                    "--data-binary", "@-", f"http://127.0.0.1:{nginx}/echo"], input=body,
                   check=True)
    exchange(nginx, b"GET /big.bin HTTP/1.0\r\n\r\n")
    err = stop_capture(p)
    recs = dp.records(out.read_bytes())
    reqs = [pl for m, pl in recs if m.startswith(b"1 ")]
    resps = [pl for m, pl in recs if m.startswith(b"2 ")]
    assert [r.split(b"\r\n")[0] for r in reqs] == [
        b"GET /index.html?n=0 HTTP/1.1", b"GET /index.html?n=1 HTTP/1.1",
        b"GET /index.html?n=2 HTTP/1.1", b"HEAD /index.html HTTP/1.1",
        b"POST /echo HTTP/1.1", b"GET /big.bin HTTP/1.0"]
    assert reqs[4].endswith(b"\r\n\r\n" + body)  # the 100-continue upload, whole
    statuses = [r.split(b"\r\n")[0] for r in resps]
    assert statuses == [b"HTTP/1.1 200 OK"] * 4 + [b"HTTP/1.1 100 Continue", b"HTTP/1.1 200 OK",
                                                   b"HTTP/1.1 200 OK"]
    assert resps[3].endswith(b"\r\n\r\n")  # HEAD: headers only
    assert resps[-1].endswith((tmp_path / "www" / "big.bin").read_bytes())  # close-delimited
    # Every request and its responses share an id, and the ids of requests differ.
    ids = [m.split()[1] for m, _ in recs if m.startswith(b"1 ")]
    assert len(set(ids)) == len(ids)
    s = dp.summary(err)
    dp.check_invariants(s)
    assert s["input-raw#0"]["dropped_incomplete"] == 0


def test_live_keepalive_thousand_requests(nginx, tmp_path):
    out = tmp_path / "cap.gor"
    p = start_capture(nginx, out)
    s = socket.create_connection(("127.0.0.1", nginx))
    for i in range(1000):
        s.sendall(f"GET /index.html?i={i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        got = b""
        while not got.endswith(b"hello\n"):
            got += s.recv(4096)
    s.close()
    err = stop_capture(p)
    recs = dp.records(out.read_bytes())
    reqs = [pl.split(b"\r\n")[0] for m, pl in recs if m.startswith(b"1 ")]
    c = dp.summary(err)["input-raw#0"]
    assert reqs == [f"GET /index.html?i={i} HTTP/1.1".encode() for i in range(1000)], str(c)
    assert sum(1 for m, _ in recs if m.startswith(b"2 ")) == 1000, c
    assert c["kernel_drops"] == 0 and c["ring_drops"] == 0, c
