#!/usr/bin/env python3
"""token_rewrite.py: GoReplay's token idea. Learns which token the replay target issued in place
of each token the original server issued, and rewrites the requests that use them.

    doppel --input-raw :80 --input-raw-track-response --output-http http://staging \\
           --output-http-track-response \\
           --middleware 'python3 examples/middleware/token_rewrite.py'

Why: a login replayed against another server gets another session token. Requests recorded
afterwards still carry the original token, which the replay target does not know.

How:
  * A response hands out a token in its "X-Token: <token>" header field (the same convention
    as examples/lua/token_rewrite.lua; another field with --header NAME). Optionally, the token
    is taken from the body instead: --json FIELD reads a JSON object's member
    ({"token": "abc"} with --json token), --plain-body takes a body that is nothing but the
    token (GoReplay's own example; letters, digits and -._~+/=, at most 512 bytes). Chunked and
    gzip bodies are decoded first.
  * The original response (type 2) and the replayed response (type 3) of one request share its
    id, in either order: their two tokens form one pair, original -> replayed. (Type 2 needs
    --input-raw-track-response when capturing, type 3 --output-http-track-response.)
  * Requests (type 1) carrying an original token get the replayed one instead, where tokens
    are presented: an "Authorization: Bearer <token>" header field, and a "token=<token>" query
    parameter (GoReplay's example). Neither change touches the body: Content-Length holds.
  * Every message is echoed (responses too, so outputs still see them); a request with an
    unknown token passes unchanged. A request replayed before the login's replayed response
    came back cannot be rewritten: replay a little slower, or order by session.
Memory is bounded: at most 100000 pending ids and 100000 learned tokens (oldest go first).
"""
import gzip
import json
import os
import re
import sys
import zlib
from collections import OrderedDict

MAX_ENTRIES = 100_000
TOKEN_RE = re.compile(rb"[A-Za-z0-9._~+/=-]{1,512}")


class Lru(OrderedDict):
    def put(self, k, v):
        self[k] = v
        self.move_to_end(k)
        if len(self) > MAX_ENTRIES:
            self.popitem(last=False)


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


def split_head(payload):
    """(head lines without the start line, body); head names lowercased for lookups."""
    end = payload.find(b"\r\n\r\n")
    if end < 0:
        return None, b""
    lines_ = payload[:end].split(b"\r\n")[1:]
    headers = {}
    for h in lines_:
        name, _, value = h.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return headers, payload[end + 4:]


def dechunk(body):
    out = bytearray()
    pos = 0
    while True:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            break
        try:
            size = int(body[pos:eol].split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        out += body[eol + 2: eol + 2 + size]
        pos = eol + 2 + size + 2
    return bytes(out)


def response_token(payload, how):
    """The token a response hands out, or None. <how>: ("header", b"x-token"),
    ("json", "token") or ("plain", None)."""
    headers, body = split_head(payload)
    if headers is None:
        return None
    kind, name = how
    if kind == "header":
        value = headers.get(name)
        return value if value and TOKEN_RE.fullmatch(value) else None
    if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
        body = dechunk(body)
    if headers.get(b"content-encoding", b"").lower() == b"gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error):
            return None
    body = body.strip()
    if kind == "json":
        try:
            value = json.loads(body).get(name)
        except (ValueError, AttributeError):
            return None
        return value.encode() if isinstance(value, str) and value else None
    return body if TOKEN_RE.fullmatch(body) else None


def rewrite_request(payload, tokens):
    """The request with known original tokens replaced, and how many were replaced."""
    end = payload.find(b"\r\n\r\n")
    if end < 0:
        return payload, 0
    head, rest = payload[:end], payload[end:]
    lines_ = head.split(b"\r\n")
    n = 0
    # the query: token=<value>
    parts = lines_[0].split(b" ")
    if len(parts) >= 3 and b"?" in parts[1]:
        path, _, query = parts[1].partition(b"?")
        params = query.split(b"&")
        for i, p in enumerate(params):
            name, eq, value = p.partition(b"=")
            if eq and name == b"token" and value in tokens:
                params[i] = name + b"=" + tokens[value]
                n += 1
        parts[1] = path + b"?" + b"&".join(params)
        lines_[0] = b" ".join(parts)
    # the header: Authorization: Bearer <value>
    for i in range(1, len(lines_)):
        name, colon, value = lines_[i].partition(b":")
        if colon and name.strip().lower() == b"authorization":
            scheme, _, tok = value.strip().partition(b" ")
            if scheme.lower() == b"bearer" and tok.strip() in tokens:
                lines_[i] = name + b": " + scheme + b" " + tokens[tok.strip()]
                n += 1
    return b"\r\n".join(lines_) + rest, n


def main():
    how = ("header", b"x-token")
    args = sys.argv[1:]
    if args[:1] == ["--header"] and len(args) == 2:
        how = ("header", os.fsencode(args[1]).lower())
    elif args[:1] == ["--json"] and len(args) == 2:
        how = ("json", args[1])
    elif args == ["--plain-body"]:
        how = ("plain", None)
    elif args:
        print("usage: token_rewrite.py [--header NAME | --json FIELD | --plain-body]",
              file=sys.stderr)
        sys.exit(2)
    original = Lru()  # id -> token the original server issued (type 2)
    replayed = Lru()  # id -> token the replay target issued (type 3)
    tokens = Lru()    # original token -> replayed token
    rewritten = 0
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
            mtype = fields[0]
            mid = fields[1] if len(fields) > 1 else b""
            if mtype == b"1" and tokens:
                new, n = rewrite_request(payload, tokens)
                if n:
                    rewritten += n
                    line = (meta + b"\n" + new).hex().encode()
            elif mtype in (b"2", b"3"):
                tok = response_token(payload, how)
                if tok is not None:
                    mine, other = (original, replayed) if mtype == b"2" else (replayed, original)
                    if mid in other:
                        pair = (tok, other.pop(mid)) if mtype == b"2" else (other.pop(mid), tok)
                        tokens.put(pair[0], pair[1])  # (tokens are secrets: not logged)
                    else:
                        mine.put(mid, tok)
            out.write(line + b"\n")
        out.flush()
    print(f"token_rewrite.py: {len(tokens)} tokens learned, {rewritten} rewritten",
          file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
