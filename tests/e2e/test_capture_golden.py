"""Golden tests: every capture of the public corpus, read with --input-raw FILE, gives the
(method, URI) sequence of requests and the status sequence of responses that tshark's oracle
(.expected.tsv) gives, per connection. Where doppel knowingly differs, DEVIATIONS says why."""
import re
from collections import defaultdict

import pytest

import dp

CORPUS = dp.SHARED / "corpus" / "public"
FILES = sorted(p.name for p in CORPUS.glob("*.pcap*") if not p.name.endswith(".tsv")) \
    if CORPUS.is_dir() else []

# file -> {(cport, sport): (requests, responses)} overrides, with the reason.
DEVIATIONS = {
    # snaplen 96: every segment keeps only 30 payload bytes. tshark reports the request line's
    # first 30 bytes as a request; doppel drops both messages as incomplete (counted) unless
    # --input-raw-allow-incomplete, see test_snaplen_cut_messages_are_incomplete.
    "zeek_communityid_tcp_snaplen96.pcap": {(34855, 80): ([], [])},
}


def port_of(addr):
    return int(addr.rsplit(":", 1)[1])


def oracle(name):
    """{(client port, server port): ([(method, uri)], [status])} from the .expected.tsv."""
    conns = defaultdict(lambda: ([], []))
    for line in (CORPUS / (name + ".expected.tsv")).read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        f = line.split("\t")
        src, dst, kind, method, uri, status = f[3], f[4], f[5], f[6], f[7], f[9]
        if kind == "REQ":
            conns[(port_of(src), port_of(dst))][0].append((method, uri))
        else:
            conns[(port_of(dst), port_of(src))][1].append(int(status))
    return dict(conns)


REQ_LINE = re.compile(rb"^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP/1\.\d\r?\n")
STATUS_LINE = re.compile(rb"^HTTP/1\.\d (\d{3})")


def doppel(name, *extra):
    r = dp.run("--input-raw", str(CORPUS / name), "--input-raw-track-response",
               "--output-stdout", *extra, check=0, timeout=120)
    conns = defaultdict(lambda: ([], []))
    for meta, payload in dp.records(r.stdout):
        typ, id_ = meta.split()[0], meta.split()[1].decode()
        key = (int(id_[0:4], 16), int(id_[4:8], 16))
        if typ == b"1":
            m = REQ_LINE.match(payload)
            assert m, payload[:80]
            conns[key][0].append((m.group(1).decode(), m.group(2).decode()))
        else:
            m = STATUS_LINE.match(payload)
            assert m, payload[:80]
            conns[key][1].append(int(m.group(1)))
    return dict(conns), r


@pytest.mark.parametrize("name", FILES)
def test_corpus_matches_oracle(name):
    want = oracle(name)
    want.update(DEVIATIONS.get(name, {}))
    got, r = doppel(name)
    assert r.returncode == 0, r.err[-2000:]
    dp.check_invariants(dp.summary(r.err))
    want = {k: v for k, v in want.items() if v != ([], [])}
    assert got == want


def test_snaplen_cut_messages_are_incomplete():
    name = "zeek_communityid_tcp_snaplen96.pcap"
    if name not in FILES:
        pytest.skip("corpus not present")
    got, r = doppel(name)
    c = dp.summary(r.err)["input-raw#0"]
    assert got == {} and c["dropped_incomplete"] == 2 and c["gaps"] == 3
    r = dp.run("--input-raw", str(CORPUS / name), "--input-raw-track-response",
               "--input-raw-allow-incomplete", "--output-stdout", check=0)
    recs = dp.records(r.stdout)
    assert [p for _, p in recs] == [b"GET /images/sf.net_box.gif HTT",
                                    b"HTTP/1.1 200 OK\r\nDate: Tue, 16"]


@pytest.mark.parametrize("name", FILES[:6])
def test_corpus_is_deterministic(name):
    a = dp.run("--input-raw", str(CORPUS / name), "--input-raw-track-response",
               "--output-stdout", check=0, timeout=120)
    b = dp.run("--input-raw", str(CORPUS / name), "--input-raw-track-response",
               "--output-stdout", check=0, timeout=120)
    assert a.stdout == b.stdout and a.stdout != b""
