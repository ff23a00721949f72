"""Pairing after capture gaps, on pcaps the test writes: a response is paired with its request
by order, and by sequence numbers once a gap made order unreliable."""
import struct

import dp


def pcap(frames):
    out = struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1)
    for i, f in enumerate(frames):
        out += struct.pack("<IIII", 1700000000 + i, 0, len(f), len(f)) + f
    return out


def segment(src, dst, sport, dport, seq, ack, payload, flags=0x18):
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0, 64, 6, 0,
                     bytes(src), bytes(dst))
    eth = b"\x00" * 12 + b"\x08\x00"
    return eth + ip + tcp + payload


def exchange_frames(drop):
    """Three sequential exchanges on one connection; <drop> names the frames left out."""
    c, s = [10, 0, 0, 1], [10, 0, 0, 2]
    cseq, sseq = 1000, 50000
    frames = [segment(c, s, 40000, 80, cseq - 1, 0, b"", 0x02),
              segment(s, c, 80, 40000, sseq - 1, cseq, b"", 0x12)]
    for i in range(3):
        req = f"GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        resp = f"HTTP/1.1 20{i} OK\r\nContent-Length: 1\r\n\r\n{i}".encode()
        if ("req", i) not in drop:
            frames.append(segment(c, s, 40000, 80, cseq, sseq, req))
        if ("resp", i) not in drop:
            frames.append(segment(s, c, 80, 40000, sseq, cseq + len(req), resp))
        cseq += len(req)
        sseq += len(resp)
    return frames


def capture(tmp_path, frames):
    f = tmp_path / "gap.pcap"
    f.write_bytes(pcap(frames))
    r = dp.run("--input-raw", f, "--input-raw-track-response", "--output-stdout", check=0)
    return [(m.split()[0], m.split()[1], p.split(b"\r\n")[0]) for m, p in dp.records(r.stdout)], \
        dp.summary(r.err)["input-raw#0"]


def test_lost_request_leaves_its_response_unpaired(tmp_path):
    recs, c = capture(tmp_path, exchange_frames({("req", 1)}))
    reqs = {line: id_ for t, id_, line in recs if t == b"1"}
    resps = {line: id_ for t, id_, line in recs if t == b"2"}
    assert list(reqs) == [b"GET /0 HTTP/1.1", b"GET /2 HTTP/1.1"]
    assert resps[b"HTTP/1.1 200 OK"] == reqs[b"GET /0 HTTP/1.1"]
    assert resps[b"HTTP/1.1 202 OK"] == reqs[b"GET /2 HTTP/1.1"]
    assert resps[b"HTTP/1.1 201 OK"] not in reqs.values()
    assert c["unpaired_responses"] == 1 and c["unanswered_requests"] == 0 and c["gaps"] == 1


def test_lost_response_skips_its_request(tmp_path):
    recs, c = capture(tmp_path, exchange_frames({("resp", 1)}))
    reqs = {line: id_ for t, id_, line in recs if t == b"1"}
    resps = {line: id_ for t, id_, line in recs if t == b"2"}
    assert list(resps) == [b"HTTP/1.1 200 OK", b"HTTP/1.1 202 OK"]
    assert resps[b"HTTP/1.1 200 OK"] == reqs[b"GET /0 HTTP/1.1"]
    assert resps[b"HTTP/1.1 202 OK"] == reqs[b"GET /2 HTTP/1.1"]
    assert c["unpaired_responses"] == 0 and c["unanswered_requests"] == 1


def test_ids_follow_goreplay_scheme(tmp_path):
    recs, _ = capture(tmp_path, exchange_frames(set()))
    # client port 40000 (9c40), server port 80 (0050), client IP 10.0.0.1, request Ack
    assert [id_[:16] for _, id_, _ in recs] == [b"9c4000500a000001"] * 6
    assert recs[0][1] == b"9c4000500a000001" + b"%08x" % 50000
