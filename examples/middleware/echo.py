#!/usr/bin/env python3
"""echo.py: a doppel / GoReplay middleware that passes every message through unchanged.

    doppel --input-file in.gor --middleware 'python3 examples/middleware/echo.py' ...

The protocol (README.md): doppel writes one line per message to our stdin, the lowercase hex of
"<meta line>\\n<payload>", and reads lines of the same form from our stdout. A message we do not
write back is dropped; logs go to stderr. This file is the template the other Python examples
follow: it decodes every line, so that changing messages means editing handle() only.

Lines have no length limit here (a 10 MB message is a 20 MB line): input is read in large
chunks and split by hand, not with a line scanner that has a maximum token size. Payloads are
bytes, never text: NULs and any other byte pass untouched.
"""
import os
import sys


def handle(mtype, meta, payload):
    """Returns the messages to emit for one message, as (meta, payload) pairs.

    <mtype> is b"1" (request), b"2" (original response) or b"3" (replayed response);
    <meta> is the meta line without its LF: b"TYPE ID TIMESTAMP LATENCY".
    """
    return [(meta, payload)]


def encode(meta, payload):
    return (meta + b"\n" + payload).hex().encode() + b"\n"


def lines(fd=0, chunk=1 << 20):
    """Yields lists of complete lines (without the LF), one list per read."""
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


def main():
    out = sys.stdout.buffer
    for batch in lines():
        for line in batch:
            line = line.rstrip(b"\r")
            if not line:
                continue
            try:
                record = bytes.fromhex(line.decode("ascii"))
            except ValueError:
                print("echo.py: skipping a line that is not hex", file=sys.stderr)
                continue
            meta, _, payload = record.partition(b"\n")
            for m, p in handle(meta[:1], meta, payload):
                out.write(encode(m, p))
        out.flush()  # once per read: a batch of lines costs one write


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
