#!/usr/bin/env python3
"""gen_idle_pcap: writes a synthetic capture of N concurrent, idle HTTP/1.1 connections.

Used by bench/capture_idle.sh to measure what a tracked TCP connection costs doppel in memory.
Each of the N connections comes from its own client address:port (172.16.0.0/12, ports
40000-40063) to 10.0.0.1:80 and carries, with consistent sequence and acknowledgement numbers:

    SYN, SYN-ACK, ACK, "GET /idle/<i>" (one segment), "200 OK" with Content-Length (one
    segment), the client's ACK of the response

and no FIN or RST, so every connection is still open, and idle, at the end of the file.
Connections start evenly over the first 0.9 s of packet time and each takes ~0.35 ms, so
they interleave like real arrivals; the whole capture spans < 1 s (less than doppel's default
2 s --input-raw-expire). Nothing is sent anywhere: the addresses are just bytes in the file.

Format: classic pcap, nanosecond magic 0xa1b23c4d, LINKTYPE_ETHERNET, IPv4 with correct
header lengths and header checksums; TCP checksums are 0 (as with checksum offload).
The output is the same, byte for byte, for the same N.

    python3 bench/gen_idle_pcap.py OUT [N]      (N defaults to 100000)
"""
import struct
import sys

SERVER_IP = bytes([10, 0, 0, 1])
SERVER_PORT = 80
T0 = 1_700_000_000  # packet time starts here (seconds), fixed so the file is reproducible
SPAN_NS = 900_000_000  # connections start within this window
SYN, ACK, PSH_ACK, SYN_ACK = 0x02, 0x10, 0x18, 0x12  # TCP flags
RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: gen_idle_pcap\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 3\r\n\r\nok\n")

ETH_C2S = bytes.fromhex("020000000001" "020000000002" "0800")  # dst, src, IPv4
ETH_S2C = bytes.fromhex("020000000002" "020000000001" "0800")


def ip_checksum(hdr):
    """RFC 1071 one's-complement sum of the 20-byte IPv4 header (checksum field zero)."""
    s = sum(struct.unpack("!10H", hdr))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def packet(c2s, cip, cport, seq, ack, flags, payload, ip_id):
    """One Ethernet/IPv4/TCP frame. SYN and SYN-ACK carry an MSS option, as real ones do."""
    opts = struct.pack("!BBH", 2, 4, 1460) if flags & SYN else b""
    doff = (20 + len(opts)) // 4
    src, dst = (cip, SERVER_IP) if c2s else (SERVER_IP, cip)
    sport, dport = (cport, SERVER_PORT) if c2s else (SERVER_PORT, cport)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, 65535, 0, 0)
    total = 20 + len(tcp) + len(opts) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ip_id, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", ip_checksum(ip)) + ip[12:]
    return (ETH_C2S if c2s else ETH_S2C) + ip + tcp + opts + payload


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: gen_idle_pcap.py OUT [N]")
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) == 3 else 100_000
    if not 1 <= n <= 1_000_000:
        sys.exit("gen_idle_pcap: N must be in 1..1000000")

    # each connection's packets: (offset from its start in ns, kind as numbered in build())
    steps = ((0, 0), (50_000, 1), (100_000, 2), (110_000, 3), (300_000, 4), (350_000, 5))
    events = []
    for i in range(n):
        start = i * SPAN_NS // n
        for off, kind in steps:
            events.append(((start + off) << 24) | (kind << 21) | i)  # sorts by time, then i
    events.sort()

    def build(i, kind):
        """Packet <kind> of connection <i>: 0 SYN, 1 SYN-ACK, 2 ACK, 3 request, 4 response,
        5 the client's ACK of the response."""
        cip = struct.pack("!I", 0xAC100000 + 1 + i // 64)  # 172.16.0.1 upwards
        cport = 40000 + i % 64
        ciss = (i * 2654435761 + 12345) & 0xFFFFFFFF  # deterministic, spread-out ISNs
        siss = (i * 40503 * 65537 + 777) & 0xFFFFFFFF
        req = b"GET /idle/%d HTTP/1.1\r\nHost: 10.0.0.1\r\nUser-Agent: gen_idle_pcap\r\n" \
              b"Accept: */*\r\n\r\n" % i
        c1, s1 = (ciss + 1) & 0xFFFFFFFF, (siss + 1) & 0xFFFFFFFF
        ipid = (i * 3 + kind) & 0xFFFF
        if kind == 0:
            return packet(True, cip, cport, ciss, 0, SYN, b"", ipid)
        if kind == 1:
            return packet(False, cip, cport, siss, c1, SYN_ACK, b"", ipid)
        if kind == 2:
            return packet(True, cip, cport, c1, s1, ACK, b"", ipid)
        if kind == 3:
            return packet(True, cip, cport, c1, s1, PSH_ACK, req, ipid)
        if kind == 4:
            return packet(False, cip, cport, s1, (c1 + len(req)) & 0xFFFFFFFF, PSH_ACK, RESPONSE,
                          ipid)
        return packet(True, cip, cport, (c1 + len(req)) & 0xFFFFFFFF,
                      (s1 + len(RESPONSE)) & 0xFFFFFFFF, ACK, b"", ipid)

    with open(out, "wb") as f:
        # magic (nanosecond), version 2.4, thiszone, sigfigs, snaplen, LINKTYPE_ETHERNET
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))
        chunk = []
        for ev in events:
            ts, kind, i = ev >> 24, (ev >> 21) & 7, ev & 0x1FFFFF
            frame = build(i, kind)
            chunk.append(struct.pack("<IIII", T0 + ts // 1_000_000_000, ts % 1_000_000_000,
                                     len(frame), len(frame)))
            chunk.append(frame)
            if len(chunk) >= 8192:
                f.write(b"".join(chunk))
                chunk.clear()
        f.write(b"".join(chunk))
    print(f"gen_idle_pcap: {out}: {n} connections, {len(events)} packets")


if __name__ == "__main__":
    main()
