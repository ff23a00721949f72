#!/usr/bin/env python3
"""Writes a .gor file of realistic HTTP traffic: gen_gor.py OUT SIZE_MB

Requests (GET/POST/PUT/DELETE with browser-like headers, JSON bodies up to a few KB) and their
responses, timestamps increasing by 1 ms, GoReplay-style 24-hex ids. Deterministic.
"""
import random
import sys

SEP = "\n🐵🙈🙉\n".encode()


def payloads(rng, n):
    paths = ["/", "/api/v1/users/{}", "/api/v1/orders?page={}&size=20", "/static/js/app.{}.js",
             "/search?q=item+{}&sort=price", "/api/v2/cart/{}/items", "/img/p/{}.jpg"]
    agents = ["Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
              "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15",
              "okhttp/4.12.0", "curl/8.5.0"]
    out = []
    for i in range(n):
        method = rng.choice(["GET"] * 6 + ["POST", "PUT", "DELETE"])
        path = rng.choice(paths).format(rng.randint(1, 10 ** 6))
        body = b""
        hdrs = [f"Host: shop.example.com", f"User-Agent: {rng.choice(agents)}",
                "Accept: application/json, text/plain, */*", "Accept-Language: en-US,en;q=0.8",
                "Accept-Encoding: gzip, deflate, br",
                f"Cookie: sid={rng.getrandbits(128):032x}; theme=dark; ab=b{rng.randint(1, 9)}",
                f"X-Request-Id: {rng.getrandbits(64):016x}", "Connection: keep-alive"]
        if method in ("POST", "PUT"):
            body = ('{"items":[' + ",".join(
                f'{{"sku":"S{rng.randint(1, 99999)}","qty":{rng.randint(1, 5)}}}'
                for _ in range(rng.randint(1, 60))) + "]}").encode()
            hdrs += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        req = (f"{method} {path} HTTP/1.1\r\n" + "\r\n".join(hdrs) + "\r\n\r\n").encode() + body
        rbody = ('{"ok":true,"data":"' + "x" * rng.randint(0, 1500) + '"}').encode()
        resp = (f"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Tue, 25 Nov 2026 10:00:00 GMT\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(rbody)}\r\n"
                f"Connection: keep-alive\r\n\r\n").encode() + rbody
        out.append((req, resp))
    return out


def main():
    out, size_mb = sys.argv[1], int(sys.argv[2])
    rng = random.Random(7)
    pool = payloads(rng, 4000)
    target = size_mb * 1024 * 1024
    ts = 1_764_000_000_000_000_000
    written = 0
    with open(out, "wb") as f:
        buf = []
        while written < target:
            req, resp = pool[rng.randrange(len(pool))]
            rid = f"{rng.getrandbits(96):024x}"
            rec = (f"1 {rid} {ts} 0\n".encode() + req + SEP +
                   f"2 {rid} {ts + 400000} 250000\n".encode() + resp + SEP)
            buf.append(rec)
            written += len(rec)
            ts += 1_000_000
            if len(buf) >= 4096:
                f.write(b"".join(buf))
                buf = []
        f.write(b"".join(buf))


main()
