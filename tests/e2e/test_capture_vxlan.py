"""The vxlan engine: doppel listens on a UDP port for VXLAN datagrams (cloud traffic mirroring)
and cuts the inner TCP traffic into messages. The test sends the datagrams itself, to 127.0.0.1;
no root needed. Also --input-raw-realip-header on that traffic."""
import signal
import socket
import struct
import subprocess
import time

import dp
from test_capture_pairing import segment


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def udp_bound(port):
    for f in ("/proc/net/udp6", "/proc/net/udp"):
        with open(f) as fh:
            if any(line.split()[1].endswith(":%04X" % port) for line in list(fh)[1:]):
                return True
    return False


def vxlan(vni, frame):
    return struct.pack(">BBHI", 0x08, 0, 0, vni << 8) + frame


def conversation(client_ip, cport, path):
    """A whole connection: handshake, one exchange, FIN from both sides."""
    c, s = client_ip, [10, 0, 0, 1]
    cseq, sseq = 1000, 50000
    req = f"GET {path} HTTP/1.1\r\nHost: mirrored\r\n\r\n".encode()
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhey"
    return [segment(c, s, cport, 80, cseq - 1, 0, b"", 0x02),
            segment(s, c, 80, cport, sseq - 1, cseq, b"", 0x12),
            segment(c, s, cport, 80, cseq, sseq, b"", 0x10),
            segment(c, s, cport, 80, cseq, sseq, req),
            segment(s, c, 80, cport, sseq, cseq + len(req), resp),
            segment(c, s, cport, 80, cseq + len(req), sseq + len(resp), b"", 0x11),
            segment(s, c, 80, cport, sseq + len(resp), cseq + len(req) + 1, b"", 0x11),
            segment(c, s, cport, 80, cseq + len(req) + 1, sseq + len(resp) + 1, b"", 0x10)]


def run_vxlan(tmp_path, datagrams, *extra):
    port = free_udp_port()
    out = tmp_path / "out.gor"
    p = subprocess.Popen([dp.binary(), "--input-raw", ":80", "--input-raw-engine", "vxlan",
                          "--input-raw-vxlan-port", str(port), "--input-raw-track-response",
                          "--output-file", str(out), "--output-file-append", *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(200):  # until doppel's socket is bound
            if udp_bound(port):
                break
            time.sleep(0.025)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for d in datagrams:
                s.sendto(d, ("127.0.0.1", port))
        time.sleep(0.5)
    finally:
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=20)
    err = err.decode(errors="replace")
    assert p.returncode == 0, err[-2000:]
    return dp.records(out.read_bytes()), dp.summary(err)["input-raw#0"]


def test_vxlan_engine_cuts_inner_http(tmp_path):
    grams = [vxlan(7, f) for i in range(20)
             for f in conversation([10, 0, 1, i + 1], 40000 + i, f"/c{i}")]
    recs, c = run_vxlan(tmp_path, grams)
    reqs = [p for m, p in recs if m.startswith(b"1 ")]
    resps = [p for m, p in recs if m.startswith(b"2 ")]
    assert sorted(reqs) == sorted(f"GET /c{i} HTTP/1.1\r\nHost: mirrored\r\n\r\n".encode()
                                  for i in range(20))
    assert resps == [b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhey"] * 20
    ids = {}
    for m, _ in recs:
        ids.setdefault(m.split()[1], []).append(m.split()[0])
    assert all(v == [b"1", b"2"] for v in ids.values()) and len(ids) == 20
    assert c["pkts_tcp"] == 160 and c["conns_closed"] == 20 and c["kernel_drops"] == 0
    assert c["requests"] == 20 and c["responses"] == 20


def test_vxlan_vni_filter_and_garbage(tmp_path):
    grams = [vxlan(7, f) for f in conversation([10, 0, 1, 1], 40001, "/seven")]
    grams += [vxlan(8, f) for f in conversation([10, 0, 1, 2], 40002, "/eight")]
    # short, an inner frame cut in its IP header, an inner frame that is not IP
    grams += [b"\x08\x00\x00", vxlan(7, b"\xff" * 12 + b"\x08\x00" + b"\x45" * 6),
              vxlan(7, b"y" * 1400)]
    recs, c = run_vxlan(tmp_path, grams, "--input-raw-vxlan-vni", "7")
    assert [p.split(b"\r\n")[0] for m, p in recs if m.startswith(b"1 ")] == \
        [b"GET /seven HTTP/1.1"]
    assert c["pkts_filtered"] == 8 and c["pkts_malformed"] >= 2 and c["pkts_not_tcp"] == 1


def test_vxlan_realip_header(tmp_path):
    grams = [vxlan(1, f) for f in conversation([192, 0, 2, 33], 40003, "/ip")]
    recs, _ = run_vxlan(tmp_path, grams, "--input-raw-realip-header", "X-Real-IP")
    assert [p for m, p in recs if m.startswith(b"1 ")] == \
        [b"GET /ip HTTP/1.1\r\nX-Real-IP: 192.0.2.33\r\nHost: mirrored\r\n\r\n"]


def test_vxlan_engine_errors():
    r = dp.run("--input-raw", "x.pcap", "--input-raw-engine", "vxlan", "--output-null", check=1)
    assert "vxlan engine listens on UDP" in r.err
    r = dp.run("--input-raw", ":80", "--input-raw-engine", "vxlan", "--input-raw-vxlan-port",
               "70000", "--output-null", check=1)
    assert "--input-raw-vxlan-port 70000: must be 1 to 65535" in r.err
    r = dp.run("--input-raw", "x.pcap", "--input-raw-realip-header", "X Real", "--output-null",
               check=1)
    assert '--input-raw-realip-header "X Real": not a header name' in r.err
