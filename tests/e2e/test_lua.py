"""--lua FILE and --lua-drop-on-error end to end (issue 5, "Embedded Lua 5.4"): the examples in
examples/lua/, the exit summary's lua_* counters, errors with their line, the instruction and
memory limits on the real binary, the stage's place in the pipeline (after the modifiers and
--prettify-http), and the token-rewrite example against its middleware twin."""
import json
import random
import resource
import shutil
import time

import pytest

import dp

EXAMPLES = dp.ROOT / "examples" / "lua"
TS0 = 1_700_000_000_000_000_000





def script(tmp_path, src, name="hook.lua"):
    p = tmp_path / name
    p.write_text(src)
    return p


def gor_file(tmp_path, recs, name="in.gor"):
    p = tmp_path / name
    p.write_bytes(b"".join(recs))
    return p


def requests(n, path="/"):
    return [dp.request(i, path=path, ts=TS0 + i) for i in range(n)]


def run_lua(src_file, lua, *extra, check=0, timeout=60):
    return dp.run("--input-file", f"{src_file}|max", "--lua", lua, *extra, "--output-stdout",
                  check=check, timeout=timeout)


def lua_ctr(r):
    s = dp.summary(r.err)
    dp.check_invariants(s)
    mods = s.get("modifiers", {})
    assert "lua_calls" in mods, r.err
    return {k: mods[k] for k in ("lua_calls", "lua_changed", "lua_dropped", "lua_errors")}


def test_set_header_example(tmp_path):
    src = gor_file(tmp_path, requests(1000))
    r = run_lua(src, EXAMPLES / "set_header.lua")
    recs = dp.records(r.stdout)
    assert len(recs) == 1000
    for i, (meta, payload) in enumerate(recs):
        assert meta == f"1 {i:024x} {TS0 + i} 0".encode()  # the meta line stays as it was
        assert payload == (f"GET /?n={i} HTTP/1.1\r\nX-Doppel-Replay: 1\r\n"
                           "Host: example.com\r\n\r\n").encode()
    assert lua_ctr(r) == {"lua_calls": 1000, "lua_changed": 1000, "lua_dropped": 0,
                          "lua_errors": 0}


def test_filter_example(tmp_path):
    recs = [
        dp.record(1, "a" * 24, TS0, "GET /api/orders?page=2 HTTP/1.1\r\nHost: x\r\n\r\n"),
        dp.record(1, "b" * 24, TS0 + 1, "POST /api/orders HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"),
        dp.record(1, "c" * 24, TS0 + 2, "GET /health HTTP/1.1\r\n\r\n"),
        dp.record(1, "d" * 24, TS0 + 3, "GET / HTTP/1.1\r\nX-Synthetic: yes\r\n\r\n"),
        dp.record(2, "a" * 24, TS0 + 4, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]
    r = run_lua(gor_file(tmp_path, recs), EXAMPLES / "filter.lua")
    out = dp.records(r.stdout)
    assert [m.split()[1] for m, _ in out] == [b"a" * 24, b"a" * 24]
    assert lua_ctr(r) == {"lua_calls": 4, "lua_changed": 0, "lua_dropped": 3, "lua_errors": 0}


def token_records():
    """A login whose original (2) and replayed (3) responses hand out different tokens, then
    requests that present the original token; the second login's responses come 3-then-2."""
    req = "GET {} HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer {}\r\n\r\n"
    return [
        dp.record(1, "1" * 24, TS0, "POST /login HTTP/1.1\r\nHost: api\r\nContent-Length: 0\r\n\r\n"),
        dp.record(2, "1" * 24, TS0 + 1, "HTTP/1.1 200 OK\r\nX-Token: orig-aaa\r\nContent-Length: 0\r\n\r\n"),
        dp.record(3, "1" * 24, TS0 + 2, "HTTP/1.1 200 OK\r\nX-Token: new-bbb\r\nContent-Length: 0\r\n\r\n"),
        dp.record(1, "2" * 24, TS0 + 3, req.format("/me", "orig-aaa")),
        dp.record(1, "3" * 24, TS0 + 4, req.format("/me", "unknown")),
        dp.record(3, "4" * 24, TS0 + 5, "HTTP/1.1 200 OK\r\nX-Token: new-ddd\r\nContent-Length: 0\r\n\r\n"),
        dp.record(2, "4" * 24, TS0 + 6, "HTTP/1.1 200 OK\r\nX-Token: orig-ccc\r\nContent-Length: 0\r\n\r\n"),
        dp.record(1, "5" * 24, TS0 + 7, req.format("/orders", "orig-ccc")),
        dp.record(1, "6" * 24, TS0 + 8, req.format("/orders", "orig-aaa")),
        dp.record(1, "7" * 24, TS0 + 9, "GET /feed?token=orig-ccc&n=1 HTTP/1.1\r\nHost: api\r\n\r\n"),
    ]


def test_token_rewrite_example(tmp_path):
    r = run_lua(gor_file(tmp_path, token_records()), EXAMPLES / "token_rewrite.lua")
    reqs = {m.split()[1][:1]: p for m, p in dp.records(r.stdout) if m.startswith(b"1 ")}
    assert b"Authorization: Bearer new-bbb\r\n" in reqs[b"2"]
    assert b"Authorization: Bearer unknown\r\n" in reqs[b"3"]
    assert b"Authorization: Bearer new-ddd\r\n" in reqs[b"5"]
    assert b"Authorization: Bearer new-bbb\r\n" in reqs[b"6"]
    assert reqs[b"7"].startswith(b"GET /feed?token=new-ddd&n=1 HTTP/1.1\r\n")
    c = lua_ctr(r)
    assert c["lua_changed"] == 4 and c["lua_errors"] == 0 and c["lua_dropped"] == 0


MIDDLEWARE_TWIN = dp.ROOT / "examples" / "middleware" / "token_rewrite.py"
TWIN_ARGS = {"header": "", "json": " --json token", "plain": " --plain-body"}


def random_token_traffic(seed, mode):
    """Logins whose responses (2 and 3, in either order, chunked or not) hand out tokens the
    way <mode> reads them, valid or not, and requests presenting them in every way the
    examples look at, well-formed or not."""
    rnd = random.Random(seed)
    chars = "abcXYZ019._~+/=-"

    def tok():
        return "".join(rnd.choice(chars) for _ in range(rnd.randint(1, 12)))

    def chunked(b):
        out = b""
        while b:
            n = rnd.randint(1, len(b))
            out += b"%x\r\n" % n + b[:n] + b"\r\n"
            b = b[n:]
        return out + b"0\r\n\r\n"

    def body(t):
        return rnd.choice([
            t, f"  \n{t}\t\r\n", json.dumps({"token": t, "x": [1, {"token": "nested"}]}),
            json.dumps({"a": 1.5e3, "token": t, "b": None}, ensure_ascii=rnd.random() < .5),
            '{"token": "dup", "token": "%s"}' % t, '{"token": "%s"' % t,
            '{"token": "\\u00e9%s\\ud83d\\ude00"}' % t, '{"token": 5}', '"%s"' % t,
            '{"tok\\u0065n": "%s", "z": -0.1E-2, "n": [], "o": {}}' % t,
            json.dumps({"token": t}) + " x"]).encode()

    recs, known = [], []
    for i in range(300):
        rid = "%024x" % rnd.randint(0, 60)
        if rnd.random() < 0.4:
            a, b = tok(), tok()
            known.append(a)
            for typ, t in rnd.sample([(2, a), (3, b)], 2):
                head = "HTTP/1.1 200 OK\r\n"
                if mode == "header":
                    head += rnd.choice([f"X-Token: {t}\r\n", f"x-token:{t}  \r\n",
                                        f"X-Token: {t} bad\r\n", "", "X-Token: \r\n"])
                b_ = body(t)
                if rnd.random() < .3:
                    payload = (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + chunked(b_)
                else:
                    payload = (head + f"Content-Length: {len(b_)}\r\n\r\n").encode() + b_
                recs.append(dp.record(typ, rid, TS0 + i, payload))
        else:
            t = rnd.choice(known) if known and rnd.random() < .8 else tok()
            q = rnd.choice(["", f"?token={t}", f"?a=1&token={t}&token={t}", f"?token={t}&b",
                            f"?x=token={t}", "?token", f"?token={t}?x=1"])
            h = rnd.choice(["", f"Authorization: Bearer {t}\r\n",
                            f"authorization: bearer  {t} \r\n", f"Authorization: Basic {t}\r\n",
                            f"Authorization: Bearer\t{t}\r\n", f"Authorization: BEARER {t}\r\n"])
            recs.append(dp.record(1, rid, TS0 + i, f"GET /p{q} HTTP/1.1\r\nHost: a\r\n{h}\r\n"))
    return recs


@pytest.mark.skipif(not MIDDLEWARE_TWIN.exists() or shutil.which("python3") is None,
                    reason="examples/middleware/token_rewrite.py pending")
@pytest.mark.parametrize("mode", ["header", "json", "plain"])
def test_token_rewrite_same_as_middleware(tmp_path, mode):
    """The Lua example and its middleware twin give the same bytes, message for message, for
    each way of finding the token (the Lua script's TOKEN_FROM, the twin's flags)."""
    src = gor_file(tmp_path, token_records() + random_token_traffic(5, mode))
    lua = script(tmp_path, (EXAMPLES / "token_rewrite.lua").read_text().replace(
        'local TOKEN_FROM = "header"', f'local TOKEN_FROM = "{mode}"'), "token_rewrite.lua")
    mw = dp.run("--input-file", f"{src}|max", "--middleware",
                f"python3 {MIDDLEWARE_TWIN}{TWIN_ARGS[mode]}", "--output-stdout", timeout=60)
    assert mw.returncode == 0, mw.err
    r = run_lua(src, lua)
    assert lua_ctr(r)["lua_errors"] == 0
    mine, twin = sorted(dp.records(r.stdout)), sorted(dp.records(mw.stdout))
    assert len(mine) == len(twin) == len(dp.records(src.read_bytes()))
    assert mine == twin
    assert lua_ctr(r)["lua_changed"] > 0


def test_syntax_error_names_file_and_line(tmp_path):
    bad = script(tmp_path, "function on_request(m)\n  m:set_header('A', 'b'\nend\n")
    start = time.monotonic()
    r = run_lua(gor_file(tmp_path, requests(1)), bad, check=None)
    assert r.returncode != 0
    assert f"{bad.name}:3:" in r.err, r.err  # (Lua shortens long paths from the left)
    assert time.monotonic() - start < 10
    assert r.stdout == b""


def test_missing_script(tmp_path):
    r = run_lua(gor_file(tmp_path, requests(1)), tmp_path / "nope.lua", check=None)
    assert r.returncode != 0
    assert "nope.lua" in r.err and "No such file" in r.err, r.err


def test_no_hook_is_an_error(tmp_path):
    r = run_lua(gor_file(tmp_path, requests(1)), script(tmp_path, "x = 1\n"), check=None)
    assert r.returncode != 0
    assert "defines none of on_request, on_response, on_replay" in r.err, r.err


ERRORING = """function on_request(m)
  m:set_header('X-Half', 'done')
  if m:path():find('n=1', 1, true) then
    error('odd one')
  end
end
"""


def test_runtime_error_keeps_message(tmp_path):
    lua = script(tmp_path, ERRORING)
    r = run_lua(gor_file(tmp_path, requests(3)), lua)
    out = dp.records(r.stdout)
    assert len(out) == 3
    assert b"X-Half" in out[0][1] and b"X-Half" in out[2][1]
    assert out[1][1] == b"GET /?n=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"  # unchanged
    assert f"{lua.name}:4: odd one" in r.err, r.err
    assert lua_ctr(r) == {"lua_calls": 3, "lua_changed": 2, "lua_dropped": 0, "lua_errors": 1}


def test_runtime_error_drops_with_flag(tmp_path):
    lua = script(tmp_path, ERRORING)
    r = run_lua(gor_file(tmp_path, requests(3)), lua, "--lua-drop-on-error")
    out = dp.records(r.stdout)
    assert [p.split(b" ")[1] for _, p in out] == [b"/?n=0", b"/?n=2"]
    assert lua_ctr(r) == {"lua_calls": 3, "lua_changed": 2, "lua_dropped": 1, "lua_errors": 1}


def test_error_log_is_rate_limited(tmp_path):
    lua = script(tmp_path, "function on_request(m) error('always') end\n")
    r = run_lua(gor_file(tmp_path, requests(2500)), lua)
    assert len(dp.records(r.stdout)) == 2500
    logged = [l for l in r.err.splitlines() if " lua_error hook=" in l]
    assert len(logged) == 10 + 2, logged  # the first 10, then errors 1000 and 2000
    assert lua_ctr(r)["lua_errors"] == 2500


def test_endless_hook_does_not_hang(tmp_path):
    lua = script(tmp_path, "function on_request(m)\n  while true do end\nend\n")
    start = time.monotonic()
    r = run_lua(gor_file(tmp_path, requests(3)), lua, timeout=120)
    assert time.monotonic() - start < 60
    assert len(dp.records(r.stdout)) == 3
    assert "instruction limit" in r.err and f"{lua.name}:2:" in r.err, r.err
    assert lua_ctr(r)["lua_errors"] == 3


def test_memory_is_bounded(tmp_path):
    # Every call keeps 4 MiB more in a global: past 256 MiB each call fails, and doppel's
    # memory stays bounded (the cap plus ASan's overhead, far below what 400 calls would take).
    lua = script(tmp_path, "keep = {}\n"
                 "local kib = string.rep('x', 1024)\n"
                 "function on_request(m)\n"
                 "  keep[#keep + 1] = string.rep(kib, 4096)\n"
                 "end\n")
    r = run_lua(gor_file(tmp_path, requests(400)), lua, timeout=120)
    maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far
    c = lua_ctr(r)
    assert c["lua_calls"] == 400 and 320 <= c["lua_errors"] <= 345, c
    assert "memory limit (256 MiB) exceeded" in r.err
    assert len(dp.records(r.stdout)) == 400
    assert maxrss < 1_200_000  # KiB: 400 * 4 MiB would be 1.6 GiB


def test_binary_safe_bodies(tmp_path):
    lua = script(tmp_path, "function on_request(m)\n"
                 "  m:set_body(m:body() .. '\\0tail\\255')\n"
                 "end\n")
    body = b"a\x00b\r\n\x00"
    rec = dp.record(1, "e" * 24, TS0,
                    b"POST /up HTTP/1.1\r\nContent-Length: 6\r\n\r\n" + body)
    r = run_lua(gor_file(tmp_path, [rec]), lua)
    (_, payload), = dp.records(r.stdout)
    assert payload == b"POST /up HTTP/1.1\r\nContent-Length: 12\r\n\r\n" + body + b"\x00tail\xff"


def test_runs_after_modifiers_and_prettify(tmp_path):
    # middleware -> modifiers -> prettify -> Lua: the hook sees --http-set-header's field and a
    # de-chunked body with Content-Length.
    lua = script(tmp_path, "function on_request(m)\n"
                 "  m:set_header('X-Seen', (m:header('X-Mod') or 'none') .. ',' ..\n"
                 "    (m:header('Content-Length') or 'none') .. ',' ..\n"
                 "    (m:header('Transfer-Encoding') or 'none'))\n"
                 "end\n")
    rec = dp.record(1, "f" * 24, TS0, b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"3\r\nabc\r\n0\r\n\r\n")
    r = run_lua(gor_file(tmp_path, [rec]), lua, "--http-set-header", "X-Mod: yes",
                "--prettify-http")
    (_, payload), = dp.records(r.stdout)
    assert b"X-Seen: yes,3,none\r\n" in payload, payload


KEPT = """local prev
function on_request(m)
  local ok = pcall(function() return prev and prev:path() end)
  m:set_header('X-Prev', prev == nil and 'none' or (ok and 'usable' or 'refused'))
  prev = m
  if m:path():find('n=2', 1, true) then
    m:set_body(string.rep('z', 5000))
    assert(prev:path() == '/?n=2')
    error('after edits')
  end
end
"""


def test_kept_message_refused_and_edits_undone(tmp_path):
    # A message kept in an upvalue is refused in every later call; an error after edits (one
    # that grows the message) lets the original bytes through, the meta line included.
    src = gor_file(tmp_path, requests(4))
    r = run_lua(src, script(tmp_path, KEPT))
    out = dp.records(r.stdout)
    assert [p.split(b"\r\n")[1] for _, p in out] == [
        b"X-Prev: none", b"X-Prev: refused", b"Host: example.com", b"X-Prev: refused"]
    assert out[2] == dp.records(src.read_bytes())[2]
    assert "hook.lua:9: after edits" in r.err, r.err
    assert lua_ctr(r) == {"lua_calls": 4, "lua_changed": 3, "lua_dropped": 0, "lua_errors": 1}
