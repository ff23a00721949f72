"""A tiny HTTP/1.x test server for the replay tests: records the exact bytes of every request it
receives and answers as the test says.

    with Recorder(handler) as rec:       # listens on 127.0.0.1:<rec.port>
        ...                              # doppel --output-http http://127.0.0.1:<rec.port>
    rec.requests                         # [Request], in arrival order (raw bytes kept exactly)

Requests are framed as RFC 9112 §6.3 says for requests: Transfer-Encoding chunked (extensions and
trailers kept in the raw bytes), else Content-Length, else no body. Several requests on one
connection (keep-alive) are read one after another. A handler gets each Request and returns a
Reply: the bytes to send (a list of pieces, floats in it are pauses in seconds), then what to do
with the connection ("keep", "close", "rst", "hang"). Handlers for the usual behaviours are below.

Every loop is bounded: sockets have short timeouts and check the stop flag; close() stops the
accept loop, shuts every connection and joins every thread (within a few seconds), and reports a
thread that would not stop or a handler that raised.
"""
import socket
import struct
import threading
import time

IO_TIMEOUT = 0.05     # socket timeout: how often the loops look at the stop flag
MAX_LIFETIME = 120.0  # no thread lives longer than this, whatever happens


class Request:
    def __init__(self, raw, head_len, conn_id, seq):
        self.raw = raw                      # the exact bytes received for this request
        self.conn_id = conn_id              # which connection (0, 1, ... in accept order)
        self.seq = seq                      # its index on that connection
        head = raw[:head_len].decode("latin-1")
        lines = head.split("\n")
        self.request_line = lines[0].rstrip("\r")
        parts = self.request_line.split(" ")
        self.method = parts[0]
        self.target = parts[1] if len(parts) > 1 else ""
        self.version = parts[2] if len(parts) > 2 else ""
        self.headers = []
        for line in lines[1:]:
            line = line.rstrip("\r")
            if not line:
                continue
            name, _, value = line.partition(":")
            self.headers.append((name, value.strip()))
        self.body = raw[head_len:]          # as received (still chunked when it was)
        self.response = b""                 # the exact bytes the server sent back

    def header(self, name, default=None):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return default

    def wants_close(self):
        conn = (self.header("Connection") or "").lower()
        if "close" in conn:
            return True
        return self.version == "HTTP/1.0" and "keep-alive" not in conn


class Reply:
    def __init__(self, pieces=(), then="keep"):
        if isinstance(pieces, (bytes, bytearray)):
            pieces = [bytes(pieces)]
        self.pieces = list(pieces)
        self.then = then  # keep | close | rst | hang


class _Incomplete(Exception):
    pass


def _line(buf, pos):
    end = buf.find(b"\n", pos)
    if end < 0:
        raise _Incomplete
    return buf[pos:end + 1], end + 1


def frame_request(buf):
    """(request length, head length) of the first request in <buf>, or None when incomplete."""
    try:
        hend = -1
        pos = 0
        while True:  # the head ends at the first empty line
            line, pos = _line(buf, pos)
            if line in (b"\r\n", b"\n") and pos > len(line):
                hend = pos
                break
        head = buf[:hend].decode("latin-1").lower()
        te = cl = None
        for hl in head.split("\n")[1:]:
            name, _, value = hl.partition(":")
            if name.strip() == "transfer-encoding":
                te = value.strip()
            elif name.strip() == "content-length" and cl is None:
                cl = int(value.strip())
        if te is not None and te.split(",")[-1].strip() == "chunked":
            pos = hend
            while True:
                line, pos = _line(buf, pos)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    break
                if len(buf) < pos + size + 2:
                    raise _Incomplete
                pos += size
                _, pos = _line(buf, pos)  # the CRLF after the data
            while True:  # trailers, up to the empty line
                line, pos = _line(buf, pos)
                if line in (b"\r\n", b"\n"):
                    return pos, hend
        n = cl or 0
        if len(buf) < hend + n:
            raise _Incomplete
        return hend + n, hend
    except _Incomplete:
        return None


class Recorder:
    """See the module's docstring. <handler>(request) -> Reply; <on_accept> (optional):
    "rst" resets every connection as soon as it is accepted, "close" closes it, bytes are sent
    at once (then requests are served as usual)."""

    def __init__(self, handler=None, on_accept=None, host="127.0.0.1"):  # or "::1"
        self.handler = handler or ok()
        self.on_accept = on_accept
        self.requests = []
        self.conns = 0
        self.errors = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._socks = []
        self._threads = []
        self._born = time.monotonic()
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._ls = socket.socket(fam, socket.SOCK_STREAM)
        self._ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._ls.bind((host, 0))
        self._ls.listen(512)
        self._ls.settimeout(IO_TIMEOUT)
        self.port = self._ls.getsockname()[1]
        self.hostport = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        self.url = f"http://{self.hostport}"
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self._acceptor = t

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _alive(self):
        return not self._stop.is_set() and time.monotonic() - self._born < MAX_LIFETIME

    def _accept_loop(self):
        while self._alive():
            try:
                s, _ = self._ls.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            with self._lock:
                cid = self.conns
                self.conns += 1
            if self.on_accept in ("rst", "close"):
                if self.on_accept == "rst":
                    _linger0(s)
                s.close()
                continue
            s.settimeout(IO_TIMEOUT)
            if isinstance(self.on_accept, bytes):  # a greeting, before any request
                try:
                    s.sendall(self.on_accept)
                except OSError:
                    pass
            t = threading.Thread(target=self._serve, args=(s, cid), daemon=True)
            with self._lock:
                self._socks.append(s)
                self._threads.append(t)
            t.start()

    def _serve(self, s, cid):
        buf = b""
        seq = 0
        try:
            while self._alive():
                fr = frame_request(buf)
                if fr is None:
                    try:
                        b = s.recv(65536)
                    except socket.timeout:
                        continue
                    except OSError:
                        return
                    if not b:
                        return
                    buf += b
                    continue
                n, hlen = fr
                req = Request(buf[:n], hlen, cid, seq)
                buf = buf[n:]
                seq += 1
                with self._lock:
                    self.requests.append(req)
                rep = self.handler(req)
                for piece in rep.pieces:
                    if isinstance(piece, (int, float)):
                        self._stop.wait(piece)
                        continue
                    req.response += piece
                    try:
                        s.sendall(piece)
                    except OSError:
                        return
                if rep.then == "keep":
                    continue
                if rep.then == "rst":
                    _linger0(s)
                    return
                if rep.then == "hang":  # read (and drop) until the peer or the test stops
                    while self._alive():
                        try:
                            if not s.recv(65536):
                                return
                        except socket.timeout:
                            continue
                        except OSError:
                            return
                return  # close
        except Exception as e:  # a bug in a handler: reported by close()
            self.errors.append(repr(e))
        finally:
            try:
                s.close()
            except OSError:
                pass

    def close(self):
        self._stop.set()
        self._ls.close()
        self._acceptor.join(5)
        with self._lock:
            socks = list(self._socks)
            threads = list(self._threads)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + 5
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        stuck = [t for t in threads if t.is_alive()] + (
            [self._acceptor] if self._acceptor.is_alive() else [])
        assert not stuck, f"recorder threads did not stop: {stuck}"
        assert not self.errors, f"recorder handler errors: {self.errors}"

    def raws(self):
        with self._lock:
            return [r.raw for r in self.requests]


def _linger0(s):
    """The next close() sends RST instead of FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# ---- responses ----

def response(status=200, reason="OK", headers=(), body=b"", version="HTTP/1.1", length=True):
    h = f"{version} {status} {reason}\r\n"
    for name, value in headers:
        h += f"{name}: {value}\r\n"
    if length:
        h += f"Content-Length: {len(body)}\r\n"
    return h.encode() + b"\r\n" + body


def _body_for(req):
    """A body that says which request this answers (its first line), so tests can match."""
    return f"ok {req.request_line}\n".encode()


# ---- handlers: request -> Reply ----

def ok(body=None, then=None, delay=0.0, extra_headers=()):
    """200 with a Content-Length body; the connection kept unless the request asked to close
    (or <then> says otherwise). <delay>: seconds before answering."""
    def h(req):
        b = body if body is not None else _body_for(req)
        if req.method == "HEAD":
            data = response(headers=extra_headers, body=b)[:-len(b)] if b else response()
        else:
            data = response(headers=extra_headers, body=b)
        close = then or ("close" if req.wants_close() else "keep")
        return Reply(([delay] if delay else []) + [data], close)
    return h


def close_after_each(say_so=True):
    """Answers, then closes: with "Connection: close" (<say_so>), or silently, as a server
    whose keep-alive timeout is shorter than the client's."""
    def h(req):
        hdr = [("Connection", "close")] if say_so else []
        return Reply(response(headers=hdr, body=_body_for(req)), "close")
    return h


def never():
    """Reads the request and never answers (keeps the connection until the peer closes)."""
    return lambda req: Reply([], "hang")


def rst_after_read():
    return lambda req: Reply([], "rst")


def slow(delay):
    return ok(delay=delay)


def redirects(chain, final=None):
    """<chain>: {path: (status, Location)}; any other path gets 200 whose body names the method
    and the body length received, e.g. b"GET /final body=0\\n"."""
    def h(req):
        path = req.target.split("?")[0]
        if path in chain:
            status, loc = chain[path]
            return Reply(response(status, "Moved", [("Location", loc)], b""),
                         "close" if req.wants_close() else "keep")
        b = f"{req.method} {req.target} body={len(req.body)}\n".encode()
        return Reply(response(body=b), "close" if req.wants_close() else "keep")
    return h


def continue_then_ok():
    """HTTP/1.1 100 Continue, then a 200 (both on the wire, in that order)."""
    def h(req):
        return Reply([b"HTTP/1.1 100 Continue\r\n\r\n", response(body=_body_for(req))],
                     "close" if req.wants_close() else "keep")
    return h


CHUNKED = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
           b"5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Sum: 31\r\n\r\n")


def chunked_trailers():
    """A chunked response with a chunk extension and a trailer field, sent in three pieces."""
    def h(req):
        return Reply([CHUNKED[:40], 0.01, CHUNKED[40:90], 0.01, CHUNKED[90:]],
                     "close" if req.wants_close() else "keep")
    return h


def http10_close(body=b"close-delimited body\n" * 50):
    """An HTTP/1.0 response without Content-Length: the body ends when the server closes."""
    def h(req):
        return Reply([b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n", body[:100], 0.01,
                      body[100:]], "close")
    return h


def head_no_body(length=12345):
    """HEAD answered with the Content-Length of the GET and no body (as RFC 9110 §9.3.2)."""
    def h(req):
        return Reply(f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n".encode(),
                     "close" if req.wants_close() else "keep")
    return h


def garbage():
    """Not HTTP at all."""
    return lambda req: Reply(b"\x00\x01SSH-2.0-garbage\r\n\r\n", "hang")


def by_path(routes, default=None):
    """Dispatches on the path's first segment: {"/head": handler, ...}."""
    default = default or ok()

    def h(req):
        path = req.target.split("?")[0]
        for prefix, hd in routes.items():
            if path.startswith(prefix):
                return hd(req)
        return default(req)
    return h
