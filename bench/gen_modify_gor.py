#!/usr/bin/env python3
"""Writes the requests of bench/modify_rate.sh: gen_modify_gor.py OUT N

N GETs, three kinds of target in turn (/api/v1/users, /static, /api/v1/orders), five header
fields each (X-User-Id from 0 to 976), ids 0 to N-1, timestamps 1 us apart. Deterministic.
"""
import sys

SEP = b"\n\xf0\x9f\x90\xb5\xf0\x9f\x99\x88\xf0\x9f\x99\x89\n"
PATHS = [b"/api/v1/users/%d?page=2&user_id=%d", b"/static/app.%d.js?v=%d",
         b"/api/v1/orders/%d?id=%d"]


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    with open(path, "wb") as f:
        for i in range(n):
            p = PATHS[i % 3] % (i, i % 977)
            req = (b"GET " + p + b" HTTP/1.1\r\nHost: shop.example.com\r\n"
                   b"User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: */*\r\n"
                   b"X-User-Id: %d\r\nCookie: session=abcdef%d\r\n\r\n" % (i % 977, i))
            f.write(b"1 %024x %d 0\n" % (i, 1700000000000000000 + i * 1000) + req + SEP)


if __name__ == "__main__":
    main()
