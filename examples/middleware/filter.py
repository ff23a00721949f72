#!/usr/bin/env python3
"""filter.py: drops the requests whose path starts with a prefix, and their responses.

    doppel ... --middleware 'python3 examples/middleware/filter.py /admin'

A request (type 1) whose request-target starts with argv[1] is not echoed, so doppel drops it;
its id is remembered, and the original and replayed responses (types 2 and 3) with that id are
dropped too. Everything else is echoed unchanged. The target is compared as written in the
request line, so "/admin" matches "/admin", "/admin/x" and "/admin?x=1" (and "/administrator":
end the prefix with "/" to avoid that); an absolute-form target ("GET http://host/admin HTTP/1.1")
is compared by its path.

Limits, by design: ids are remembered in a bounded table (the latest 100000 dropped requests),
and a response that reaches the middleware before its request cannot be matched and passes.
Counts go to stderr at the end.
"""
import os
import sys
from collections import OrderedDict

MAX_IDS = 100_000


def lines(fd=0, chunk=1 << 20):
    """Yields lists of complete lines (without the LF), one list per read; no length limit."""
    buf = bytearray()
    scan = 0
    while True:
        data = os.read(fd, chunk)
        if not data:
            if buf:
                yield [bytes(buf)]
            return
        buf += data
        out = []
        start = 0
        while True:
            nl = buf.find(b"\n", scan)
            if nl < 0:
                break
            out.append(bytes(buf[start:nl]))
            start = scan = nl + 1
        del buf[:start]
        scan = len(buf)
        if out:
            yield out


def target_path(payload):
    """The path of a request's target (bytes), or None when there is no request line."""
    end = payload.find(b"\n")
    first = payload[: end if end >= 0 else len(payload)].rstrip(b"\r")
    parts = first.split(b" ")
    if len(parts) < 3:
        return None
    target = parts[1]
    if b"://" in target:  # absolute-form: http://host/path
        rest = target.split(b"://", 1)[1]
        slash = rest.find(b"/")
        target = rest[slash:] if slash >= 0 else b"/"
    return target


def main():
    if len(sys.argv) != 2 or not sys.argv[1]:
        print("usage: filter.py PATH_PREFIX", file=sys.stderr)
        sys.exit(2)
    prefix = os.fsencode(sys.argv[1])
    dropped = OrderedDict()  # ids of dropped requests, oldest first
    n_req = n_resp = 0
    out = sys.stdout.buffer
    for batch in lines():
        for line in batch:
            line = line.rstrip(b"\r")
            if not line:
                continue
            try:
                record = bytes.fromhex(line.decode("ascii"))
            except ValueError:
                continue
            meta, _, payload = record.partition(b"\n")
            fields = meta.split(b" ")
            mid = fields[1] if len(fields) > 1 else b""
            if fields[0] == b"1":
                path = target_path(payload)
                if path is not None and path.startswith(prefix):
                    n_req += 1
                    dropped[mid] = True
                    dropped.move_to_end(mid)
                    if len(dropped) > MAX_IDS:
                        dropped.popitem(last=False)
                    continue
            elif fields[0] in (b"2", b"3") and mid in dropped:
                n_resp += 1
                continue
            out.write(line + b"\n")  # unchanged: echo the line as it came
        out.flush()
    print(f"filter.py: dropped {n_req} requests and {n_resp} responses under "
          f"{sys.argv[1]!r}", file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
