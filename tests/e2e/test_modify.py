"""GoReplay's own modifier, limiter and prettifier suites, re-created black-box.

Every case of GoReplay 2.0's http_modifier_test.go, http_modifier_settings_test.go,
limiter_test.go and http_prettifier_test.go (and TestEmitterFiltered from emitter_test.go) is
here as: a .gor file built with dp.record() -> doppel --input-file 'in.gor|max' --output-stdout
with the same flags -> the exact .gor bytes expected. Test names carry GoReplay's test names.
REFERENCE.md §3.2-§3.4, §3.10 and §5.4/§5.7 give the semantics; where doppel differs on purpose
(README, modify/modifier.h, modify/prettify.h) the test says so and asserts our behaviour:

  (1) requests with any method get the modifiers (GoReplay passes PROPFIND... untouched);
  (2) --http-rewrite-header applies every rule (GoReplay stops at the first missing header);
  (3) --prettify-http keeps a bad gzip/chunked body unchanged and counts it (GoReplay drops the
      message on a bad gzip header);
  (4) regexes are PCRE2, not RE2.
"""
import gzip
import itertools
import re
import time
from collections import namedtuple

import pytest

import dp

BASE_TS = 1_700_000_000_000_000_000

# GoReplay's test payloads (http_modifier_test.go, test_input.go)
POST = b"POST /post HTTP/1.1\r\nContent-Length: 7\r\nHost: www.w3.org\r\n\r\na=1&b=2"
CHUNKED_POST = (b"POST / HTTP/1.1\r\nHost: www.w3.org\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"4\r\nWiki\r\n5\r\npedia\r\ne\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n")


def post(target=b"/post", extra=b"", host=b"www.w3.org", method=b"POST"):
    """GoReplay's usual request, "POST <target> HTTP/1.1 ... a=1&b=2", <extra> header lines
    (CRLF-terminated) right after the request line."""
    return (method + b" " + target + b" HTTP/1.1\r\n" + extra + b"Content-Length: 7\r\nHost: " +
            host + b"\r\n\r\na=1&b=2")


def fnv32a(b):
    h = 0x811C9DC5
    for c in b:
        h = ((h ^ c) * 0x01000193) & 0xFFFFFFFF
    return h


# ---- running doppel ----

Rec = namedtuple("Rec", "type n payload")  # one .gor record: type, id number, payload


def req(n, payload):
    return Rec(1, n, payload)


def resp(n, payload=b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", type_=2):
    return Rec(type_, n, payload)


def gor(recs):
    """The .gor bytes of <recs>; a record's timestamp follows its position in the list."""
    return b"".join(dp.record(r.type, f"{r.n:024x}", BASE_TS + i * 1000, r.payload)
                    for i, r in enumerate(recs))


_seq = itertools.count()


def run(tmp_path, recs, *flags, timeout=30):
    """doppel --input-file '<recs>|max' --output-stdout <flags>: (CompletedProcess, summary)."""
    src = tmp_path / f"in{next(_seq)}.gor"
    src.write_bytes(gor(recs))
    r = dp.run("--input-file", f"{src}|max", "--output-stdout", *flags, timeout=timeout)
    assert r.returncode == 0, r.err
    s = dp.summary(r.err)
    dp.check_invariants(s)
    return r, s


def expect(tmp_path, recs, flags, out):
    """Runs <recs> through <flags> and asserts the output is exactly the records <out> (each
    keeping the meta line of the input record with the same type and id)."""
    r, s = run(tmp_path, recs, *flags)
    src = {(x.type, x.n): i for i, x in enumerate(recs)}
    want = b"".join(dp.record(o.type, f"{o.n:024x}", BASE_TS + src[(o.type, o.n)] * 1000,
                              o.payload) for o in out)
    assert r.stdout == want, (dp.records(r.stdout), r.err)
    return s


def passed(tmp_path, payloads, *flags):
    """Indexes of the requests <payloads> that come out (unmodified or not)."""
    r, s = run(tmp_path, [req(i, p) for i, p in enumerate(payloads)], *flags)
    out = [int(m.split()[1], 16) for m, _ in dp.records(r.stdout)]
    assert s["input-file#0"]["filtered"] == len(payloads) - len(out)
    return out


def startup_error(*flags, src="/nonexistent.gor"):
    """doppel refuses <flags> at start: exit 1, nothing read or written; returns stderr."""
    r = dp.run("--input-file", src, "--output-stdout", *flags, timeout=10)
    assert r.returncode == 1, r.err
    assert r.stdout == b""
    assert "summary" not in r.err
    return r.err


# ======================================================================================
# http_modifier_test.go
# ======================================================================================

def test_TestHTTPModifierWithoutConfig(tmp_path):
    # No modifier flag: no modifier at all (no counters line), every byte passes.
    recs = [req(1, POST), resp(1), req(2, b"GET / HTTP/1.1\r\n\r\n")]
    r, s = run(tmp_path, recs)
    assert r.stdout == gor(recs)
    assert "modifiers" not in s


def test_TestHTTPModifierHeaderFilters(tmp_path):
    s = expect(tmp_path, [req(1, POST)], ["--http-allow-header", "Host:^www.w3.org$"],
               [req(1, POST)])
    assert s["modifiers"]["dropped_header"] == 0
    s = expect(tmp_path, [req(1, POST)], ["--http-allow-header", "Host:^www.w4.org$"], [])
    assert s["modifiers"]["dropped_header"] == 1 and s["input-file#0"]["filtered"] == 1


def test_TestHTTPModifierHeaderNegativeFilters(tmp_path):
    p = post(host=b"www.w4.org")
    expect(tmp_path, [req(1, p)], ["--http-disallow-header", "Host:^www.w3.org$"], [req(1, p)])
    s = expect(tmp_path, [req(1, p)], ["--http-disallow-header", "Host:^www.w4.org$"], [])
    assert s["modifiers"]["dropped_header"] == 1
    # "Host: www*": the regexp is trimmed ("www*"), the name is not
    expect(tmp_path, [req(1, p)], ["--http-disallow-header", "Host: www*"], [])


def test_TestHTTPHeaderBasicAuthFilters(tmp_path):
    customer3 = b"POST /post HTTP/1.1\r\nContent-Length: 7\r\nAuthorization: Basic " \
                b"Y3VzdG9tZXIzOndlbGNvbWU=\r\n\r\na=1&b=2"            # customer3:welcome
    customer6 = b"POST /post HTTP/1.1\r\nContent-Length: 88\r\nAuthorization: Basic " \
                b"Y3VzdG9tZXI2OnJlc3RAMTIzXlRFU1Q==\r\n\r\na=1&b=2"   # customer6:rest@123^TEST,
    mickey = b"POST /post HTTP/1.1\r\nContent-Length: 88\r\nAuthorization: Basic " \
             b"bWlja2V5IG1vdXNlOmhhcHB5MTIz\r\n\r\na=1&b=2"           # mickey mouse:happy123
    # (customer6 has one '=' too many: Go decodes it whole and reports an error, ignored)
    assert passed(tmp_path, [customer3, customer6, mickey],
                  "--http-basic-auth-filter", "^customer[0-9].*") == [0, 1]
    assert passed(tmp_path, [customer3, customer6, mickey],
                  "--http-basic-auth-filter", "^(homer simpson|mickey mouse).*") == [2]


def test_TestHTTPModifierURLRewrite(tmp_path):
    rule = "/v1/user/([^\\/]+)/ping:/v2/user/$1/ping"
    s = expect(tmp_path, [req(1, post(b"/v1/user/joe/ping")), req(2, post(b"/v1/user/ping"))],
               ["--http-rewrite-url", rule],
               [req(1, post(b"/v2/user/joe/ping")), req(2, post(b"/v1/user/ping"))])
    assert s["modifiers"]["rewritten"] == 1


def test_TestHTTPModifierHeaderRewrite(tmp_path):
    p = b"GET / HTTP/1.1\r\nContent-Length: 7\r\nHost: www.w3.org\r\n\r\na=1&b=2"
    expect(tmp_path, [req(1, p)], ["--http-rewrite-header", "Host: (.*).w3.org,$1.beta.w3.org"],
           [req(1, p.replace(b"www.w3.org", b"www.beta.w3.org"))])


def test_TestHTTPModifierHeaderHashFilters(tmp_path):
    def p(header):
        return (b"POST / HTTP/1.1\r\n" + header +
                b"Content-Length: 7\r\nHost: www.w3.org\r\n\r\na=1&b=2")
    # no Header2: passes; fnv32a("3") % 100 = 82 >= 50: dropped; fnv32a("1") % 100 = 44: passes
    recs = [req(0, p(b"")), req(1, p(b"Header2: 3\r\n")), req(2, p(b"Header2: 1\r\n"))]
    s = expect(tmp_path, recs, ["--http-header-limiter", "Header2:1/2"], [recs[0], recs[2]])
    assert s["modifiers"]["dropped_hash"] == 1


def test_TestHTTPModifierParamHashFilters(tmp_path):
    payloads = [post(b"/"), post(b"/?user_id=3"), post(b"/?user_id=1")]
    assert passed(tmp_path, payloads, "--http-param-limiter", "user_id:1/2") == [0, 2]


def test_TestHTTPModifierHeaders(tmp_path):
    expect(tmp_path, [req(1, POST)],
           ["--http-set-header", "Header1:1", "--http-set-header", "Host:localhost"],
           [req(1, b"POST /post HTTP/1.1\r\nHeader1: 1\r\nContent-Length: 7\r\n"
                   b"Host: localhost\r\n\r\na=1&b=2")])


def test_TestHTTPModifierURLRegexp(tmp_path):
    payloads = [post(b"/v1/app/test"), post(b"/v1/api/test"), post(b"/other")]
    assert passed(tmp_path, payloads, "--http-allow-url", "/v1/app",
                  "--http-allow-url", "/v1/api") == [0, 1]


def test_TestHTTPModifierURLNegativeRegexp(tmp_path):
    payloads = [post(b"/v1/app/test"), post(b"/restricted1"), post(b"/some/restricted2")]
    assert passed(tmp_path, payloads, "--http-disallow-url", "/restricted1",
                  "--http-disallow-url", "/some/restricted2") == [0]


def test_TestHTTPModifierSetHeader(tmp_path):
    expect(tmp_path, [req(1, POST)], ["--http-set-header", "User-Agent:Gor"],
           [req(1, b"POST /post HTTP/1.1\r\nUser-Agent: Gor\r\nContent-Length: 7\r\n"
                   b"Host: www.w3.org\r\n\r\na=1&b=2")])


def test_TestHTTPModifierSetParam(tmp_path):
    expect(tmp_path, [req(1, post(b"/post?api_key=1234"))], ["--http-set-param", "api_key=1"],
           [req(1, post(b"/post?api_key=1"))])


# emitter_test.go TestEmitterFiltered: the response of a filtered request is dropped too.
def test_TestEmitterFiltered(tmp_path):
    get = b"GET / HTTP/1.1\r\n\r\n"
    recs = [req(0xA, POST), resp(0xA), req(0xB, get), resp(0xB)]
    s = expect(tmp_path, recs, ["--http-allow-method", "GET"], [req(0xB, get), resp(0xB)])
    assert s["modifiers"]["dropped_method"] == 1
    assert s["modifiers"]["dropped_response"] == 1
    assert s["input-file#0"]["filtered"] == 2


# output_http_test.go TestHTTPOutput's filter: POST, OPTIONS, GET with GET|PUT|POST allowed.
def test_allow_method_list_is_exact_and_case_sensitive(tmp_path):
    payloads = [POST, b"OPTIONS / HTTP/1.1\r\nHost: www.w3.org\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n",
                b"get / HTTP/1.1\r\n\r\n", b"GETS / HTTP/1.1\r\n\r\n"]
    assert passed(tmp_path, payloads, "--http-allow-method", "GET", "--http-allow-method", "PUT",
                  "--http-allow-method", "POST") == [0, 2]


# ======================================================================================
# http_modifier_settings_test.go: malformed values are start-up errors naming the flag
# ======================================================================================

@pytest.mark.parametrize("flag,value,why", [
    # TestHTTPHeaderFilters "single value", and the older "Header3-^$"
    ("http-allow-header", "Header1", r'expected Name:regex'),
    ("http-allow-header", "Header3-^$", r'expected Name:regex'),
    ("http-disallow-header", "Header1", r'expected Name:regex'),
    # TestHTTPParams "single value"
    ("http-set-param", "Header1", r'expected name=value'),
    # TestHTTPHeaders "single value"
    ("http-set-header", "Header1", r'expected "Name: value"'),
    # TestHTTPHashFilters "single value", "no % symbol" (and the older "Header2:1")
    ("http-header-limiter", "Header1", r'expected name:NN%'),
    ("http-header-limiter", "Header2:^:$", r'the limit must be "NN%" or "a/b"'),
    ("http-header-limiter", "Header2:1", r'the limit must be "NN%" or "a/b"'),
    ("http-param-limiter", "user_id", r'expected name:NN%'),
    ("http-param-limiter", "user_id:x%", r'the limit must be "NN%" or "a/b"'),
    # TestUrlRewriteMap "error"
    ("http-rewrite-url", "/v1/user/([^\\\\/]+)/ping", r'expected regex:replacement'),
    # TestHeaderRewriteMap "single value", "single header"
    ("http-rewrite-header", "Header1", r'expected "Name: regex,replacement"'),
    ("http-rewrite-header", "Header1:123", r'expected "Name: regex,replacement"'),
    # a regexp that does not compile, for every flag that takes one
    ("http-allow-url", "(", r'bad regular expression "\(" at offset 1'),
    ("http-disallow-url", "a[", r'bad regular expression "a\["'),
    ("http-basic-auth-filter", "*x", r'bad regular expression "\*x"'),
    ("http-allow-header", "Host:(", r'bad regular expression "\("'),
    ("http-disallow-header", "Host: (", r'bad regular expression "\("'),
    ("http-rewrite-url", "(:x", r'bad regular expression "\("'),
    ("http-rewrite-header", "Host: (,x", r'bad regular expression "\("'),
])
def test_http_modifier_settings_errors(flag, value, why):
    err = startup_error(f"--{flag}", value)
    line = err.strip().splitlines()[0]
    assert line.startswith(f"doppel: --{flag}"), err
    assert re.search(why, line), err
    if "bad regular expression" not in why:
        # the message quotes the whole value given
        assert f'"{value}"' in line, err


def test_settings_TestHTTPHeaderFilters_accepted(tmp_path):
    # "Header2:^:$" is valid: the value ":" matches (split at the first ':' only)
    p = [post(extra=b"Header2: :\r\n"), post(extra=b"Header2: x\r\n"), post()]
    assert passed(tmp_path, p, "--http-allow-header", "Header2:^:$") == [0]
    # "Header1:^$": an empty or missing value is dropped before the regexp is looked at, so an
    # allow-header with "^$" drops everything and a disallow-header with it drops nothing
    p = [post(extra=b"Header1:\r\n"), post(extra=b"Header1: x\r\n"), post()]
    assert passed(tmp_path, p, "--http-allow-header", "Header1:^$") == []
    assert passed(tmp_path, p, "--http-disallow-header", "Header1:^$") == [0, 1, 2]


def test_settings_TestHTTPParams_TestHTTPHeaders_accepted(tmp_path):
    expect(tmp_path, [req(1, post(b"/p"))],
           ["--http-set-param", "Header2=1", "--http-set-header", "Header2:1"],
           [req(1, post(b"/p?Header2=1", extra=b"Header2: 1\r\n"))])


def test_settings_TestHTTPURLRegexp_TestHTTPHeaderBasicAuthFilters_accepted(tmp_path):
    auth = post(extra=b"Authorization: Basic YTpi\r\n")  # a:b
    assert passed(tmp_path, [post(), auth], "--http-allow-url", ".",
                  "--http-basic-auth-filter", ".") == [0, 1]


def test_settings_TestHTTPHashFilters_accepted(tmp_path):
    # "Header2:10%": fnv32a("2") % 100 = 1 passes, fnv32a("a") % 100 = 20 is dropped
    p = [post(extra=b"Header2: 2\r\n"), post(extra=b"Header2: a\r\n")]
    assert fnv32a(b"2") % 100 == 1 and fnv32a(b"a") % 100 == 20
    assert passed(tmp_path, p, "--http-header-limiter", "Header2:10%") == [0]
    # "Header1:1/2" (the old syntax) is 50%: "1" (44) passes, "3" (82) is dropped
    p = [post(extra=b"Header1: 1\r\n"), post(extra=b"Header1: 3\r\n")]
    assert passed(tmp_path, p, "--http-header-limiter", "Header1:1/2") == [0]


def test_settings_TestUrlRewriteMap_accepted(tmp_path):
    expect(tmp_path, [req(1, post(b"/v1/user/x/ping"))],
           ["--http-rewrite-url", "/v1/user/([^\\/]+)/ping:/v2/user/$1/ping"],
           [req(1, post(b"/v2/user/x/ping"))])


def test_settings_TestHeaderRewriteMap_accepted(tmp_path):
    # "header1:header2:%d,1": header "header1", regexp "header2:%d", replacement "1"; the name
    # matches case-insensitively and keeps its spelling
    expect(tmp_path, [req(1, post(extra=b"Header1: xheader2:%dy\r\n"))],
           ["--http-rewrite-header", "header1:header2:%d,1"],
           [req(1, post(extra=b"Header1: x1y\r\n"))])


# ======================================================================================
# The hash limiters: FNV-1a 32, value % 100 >= percent drops (REFERENCE §3.3)
# ======================================================================================

def test_fnv_reference_values():
    assert fnv32a(b"1") == 873244444 and fnv32a(b"3") == 906799682
    assert fnv32a(b"2") == 923577301 and fnv32a(b"a") == 3826002220


@pytest.mark.parametrize("limit,want", [
    ("50%", ["1", "2", "a"]),   # 44, 1, 20 pass; 82 ("3") dropped
    ("1/2", ["1", "2", "a"]),   # the legacy form: 50
    ("20%", ["2"]),             # 20 >= 20: "a" dropped
    ("21%", ["2", "a"]),
    ("0x15%", ["2", "a"]),      # Go's ParseInt base 0: 0x15 = 21
    ("024%", ["2"]),            # base 0: 024 is octal 20
    ("1%", []),                 # 1 >= 1: even "2" dropped
    ("0%", []),
    ("100%", ["1", "2", "3", "a"]),
    ("150%", ["1", "2", "3", "a"]),
])
def test_header_limiter_percent(tmp_path, limit, want):
    values = ["1", "2", "3", "a"]
    p = [post(extra=f"X-User: {v}\r\n".encode()) for v in values]
    got = passed(tmp_path, p + [post()], "--http-header-limiter", f"X-User:{limit}")
    assert [values[i] for i in got if i < 4] == want
    assert 4 in got  # no such header: passes


def test_header_limiter_empty_value_and_first_field(tmp_path):
    # an empty value passes (GoReplay: len(value) > 0); only the first field is hashed
    p = [post(extra=b"X-User:\r\n"), post(extra=b"X-User: 1\r\nX-User: 3\r\n"),
         post(extra=b"x-user: 3\r\nX-User: 1\r\n")]
    assert passed(tmp_path, p, "--http-header-limiter", "X-User:50%") == [0, 1]


def test_param_limiter_hashes_the_raw_value(tmp_path):
    # not URL-decoded: fnv32a("%61") % 100 = 17 passes at 18%, fnv32a("a") % 100 = 20 does not
    assert fnv32a(b"%61") % 100 == 17
    p = [post(b"/?user_id=%61"), post(b"/?user_id=a"), post(b"/?x=1&user_id=2&y=3"),
         post(b"/?user_id"), post(b"/?xuser_id=a")]
    assert passed(tmp_path, p, "--http-param-limiter", "user_id:18%") == [0, 2, 3, 4]


def test_param_limiter_finds_ampersand_before_question_mark(tmp_path):
    # GoReplay's PathParam looks for "&name=" first, then "?name=": in "?user_id=1&user_id=3"
    # the value hashed is "3" (82: dropped at 50%), in "?user_id=3&user_id=1" it is "1" (passes)
    p = [post(b"/?user_id=1&user_id=3"), post(b"/?user_id=3&user_id=1")]
    assert passed(tmp_path, p, "--http-param-limiter", "user_id:50%") == [1]


# ======================================================================================
# Rewrites, filters and their order (REFERENCE §3.3)
# ======================================================================================

@pytest.mark.parametrize("rule,target,want", [
    ("/(a)/:/$1/", b"/a/", b"/a/"),
    ("/(a)/:/${1}x/", b"/a/", b"/ax/"),
    ("/(a)/:/$1a/", b"/a/", b"//"),                 # "$1a" is the group named "1a": empty
    ("/(?P<name>[a-z]+)/:/<$name>/", b"/abc/", b"/<abc>/"),
    ("/(?P<name>[a-z]+)/:/<${name}s>/", b"/abc/", b"/<abcs>/"),
    ("/(a)/:/$$1/", b"/a/", b"/$1/"),               # "$$" is a literal '$'
    ("/(a)/:/$0$0/", b"/a/", b"//a//a//"),         # $0: the whole match
    ("/(a)/:/$9/", b"/a/", b"//"),                 # no such group: empty
    ("/(a)/:/$nope/", b"/a/", b"//"),              # no such name: empty
    ("/(a)/:/$/", b"/a/", b"/$/"),                 # a lone '$' is kept
    ("/(a)/:/${1/", b"/a/", b"/${1/"),             # malformed ${: kept as text
    ("/(a)/:/$-/", b"/a/", b"/$-/"),
    ("a:b", b"/a/a?a=a", b"/b/b?b=b"),             # ReplaceAll: every match
    ("^/x:http://y/", b"/x/z", b"http://y//z"),    # split at the first ':' only
    ("(b)?c:[$1]", b"/c", b"/[]"),                 # an unmatched group: empty
])
def test_rewrite_url_expansion(tmp_path, rule, target, want):
    expect(tmp_path, [req(1, post(target))], ["--http-rewrite-url", rule], [req(1, post(want))])


def test_rewrite_url_leading_zero_group_is_a_name(tmp_path):
    # Go's Expand: "$01" is not a number (leading zero), so it names a group "01": empty
    # "/(a)/" matches all of "/a/", which becomes "/" + "" + "/"
    expect(tmp_path, [req(1, post(b"/a/"))], ["--http-rewrite-url", "/(a)/:/$01/"],
           [req(1, post(b"//"))])


def test_rewrite_url_empty_matches_advance_by_character(tmp_path):
    # Go's ReplaceAll steps over a whole UTF-8 character after an empty match
    t = "/é".encode()
    expect(tmp_path, [req(1, post(t))], ["--http-rewrite-url", "x*:-"],
           [req(1, post("-/-é-".encode()))])


def test_rewrite_url_first_matching_rule_only(tmp_path):
    flags = ["--http-rewrite-url", "^/nomatch:/x", "--http-rewrite-url", "/a:/b",
             "--http-rewrite-url", "/b:/c", "--http-rewrite-url", "/a:/z"]
    # the first rule does not match; the second does and is the only one applied (no /c, /z)
    s = expect(tmp_path, [req(1, post(b"/a")), req(2, post(b"/b")), req(3, post(b"/q"))], flags,
               [req(1, post(b"/b")), req(2, post(b"/c")), req(3, post(b"/q"))])
    assert s["modifiers"]["rewritten"] == 2


def test_filters_see_the_target_before_rewrite_and_after_set_param(tmp_path):
    # order: set-param (3) -> allow-url (4) -> rewrite-url (11)
    flags = ["--http-set-param", "k=1", "--http-allow-url", r"^/v1/.*\?k=1$",
             "--http-rewrite-url", "^/v1/:/v2/"]
    expect(tmp_path, [req(1, post(b"/v1/x")), req(2, post(b"/v2/x"))], flags,
           [req(1, post(b"/v2/x?k=1"))])


def test_allow_url_matches_the_target_as_written_not_the_host(tmp_path):
    p = [post(b"/post"), post(b"http://www.w3.org/post")]
    assert passed(tmp_path, p, "--http-allow-url", "www.w3.org") == [1]


def test_header_filters_see_headers_as_set(tmp_path):
    # set-header (2) runs before the header filters (6, 7)
    p = [post(extra=b"X-Env: dev\r\n"), post()]
    assert passed(tmp_path, p, "--http-set-header", "X-Env: prod",
                  "--http-allow-header", "X-Env:^prod$") == [0, 1]
    assert passed(tmp_path, p, "--http-set-header", "X-Env: prod",
                  "--http-disallow-header", "X-Env:prod") == []


def test_allow_header_missing_header_drops(tmp_path):
    p = [post(extra=b"X-Tenant: a1\r\n"), post(), post(extra=b"X-Tenant:\r\n"),
         post(extra=b"x-tenant: a2\r\n")]
    assert passed(tmp_path, p, "--http-allow-header", "X-Tenant:^a") == [0, 3]
    # every allow-header rule must pass
    p = [post(extra=b"A: 1\r\nB: 2\r\n"), post(extra=b"A: 1\r\n")]
    assert passed(tmp_path, p, "--http-allow-header", "A:1", "--http-allow-header", "B:2") == [0]


def test_disallow_header_missing_header_passes(tmp_path):
    p = [post(extra=b"X-Bot: yes\r\n"), post(), post(extra=b"X-Bot: no\r\n")]
    assert passed(tmp_path, p, "--http-disallow-header", "X-Bot:yes") == [1, 2]


def test_header_lookup_stops_at_the_end_of_the_head(tmp_path):
    # A "Name: value" line in the body is not a header. (GoReplay's proto.Header scans on into
    # the body; doppel reads the head only.)
    p = [b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\nHeader2: 3\r\n"]
    assert passed(tmp_path, p, "--http-header-limiter", "Header2:50%") == [0]
    assert passed(tmp_path, p, "--http-allow-header", "Header2:3") == []


def test_basic_auth_filter_on_decoded_credentials(tmp_path):
    def auth(v):
        return post(extra=b"Authorization: " + v + b"\r\n")
    p = [auth(b"Basic YWRtaW46c2VjcmV0"),  # admin:secret
         auth(b"Basic Z3Vlc3Q6Z3Vlc3Q="),  # guest:guest
         auth(b"Bearer YWRtaW46c2VjcmV0"),  # not Basic: passes
         auth(b"basic Z3Vlc3Q6Z3Vlc3Q="),  # "Basic " is case-sensitive: passes
         post(),                            # no Authorization: passes
         auth(b"Basic !!!!")]               # decodes to nothing: no match, dropped
    assert passed(tmp_path, p, "--http-basic-auth-filter", "^admin:") == [0, 2, 3, 4]
    # every rule must match
    assert passed(tmp_path, p[:2], "--http-basic-auth-filter", "^admin",
                  "--http-basic-auth-filter", "secret$") == [0]


def test_basic_auth_filter_decodes_as_go(tmp_path):
    # Go's base64.StdEncoding.DecodeString keeps only whole 4-character quanta before an error:
    # "Y3!z" decodes to "" (doppel must not see "c"); unpadded "Y3VzdA" decodes to "cus".
    def auth(v):
        return post(extra=b"Authorization: Basic " + v + b"\r\n")
    assert passed(tmp_path, [auth(b"Y3!z")], "--http-basic-auth-filter", "^c") == []
    assert passed(tmp_path, [auth(b"Y3VzdA")], "--http-basic-auth-filter", "^cus$") == [0]


def test_set_param_replace_and_append(tmp_path):
    cases = [
        (b"/post?api_key=1234", b"/post?api_key=1"),         # replaced after '?'
        (b"/p?x=1&api_key=2&y=3", b"/p?x=1&api_key=1&y=3"),  # replaced after '&'
        (b"/p?api_key=&y", b"/p?api_key=1&y"),
        (b"/post", b"/post?api_key=1"),                      # appended, no '?' yet
        (b"/post?x=1", b"/post?x=1&api_key=1"),              # appended after '&'
        (b"/post?", b"/post?&api_key=1"),
        (b"/p?xapi_key=5", b"/p?xapi_key=5&api_key=1"),      # not the same name
        (b"/p?api_key=2&api_key=3", b"/p?api_key=2&api_key=1"),  # "&name=" found first
    ]
    expect(tmp_path, [req(i, post(a)) for i, (a, _) in enumerate(cases)],
           ["--http-set-param", "api_key=1"], [req(i, post(b)) for i, (_, b) in enumerate(cases)])


def test_set_param_trims_name_and_value(tmp_path):
    # GoReplay's HTTPParams.Set: strings.TrimSpace on both sides of the first '='
    expect(tmp_path, [req(1, post(b"/post?api_key=1234"))], ["--http-set-param", " api_key = 1 "],
           [req(1, post(b"/post?api_key=1"))])


def test_set_param_with_a_space_does_not_skip_the_filters(tmp_path):
    # A value with a space breaks the request line ("GET /admin?q=a b HTTP/1.1"). GoReplay's
    # header filters still run on it (its proto.Header does not need a request line), so
    # the disallow-header below drops it. doppel must not let it through unfiltered: either
    # it refuses the value at start, or the filters still apply.
    src = tmp_path / "in.gor"
    src.write_bytes(gor([req(1, b"GET /admin HTTP/1.1\r\nHost: a\r\n\r\n")]))
    r = dp.run("--input-file", f"{src}|max", "--output-stdout", "--http-set-param", "q=a b",
               "--http-disallow-header", "Host:^a$", timeout=10)
    if r.returncode == 1:
        assert r.err.startswith("doppel: --http-set-param"), r.err
        return
    assert r.returncode == 0, r.err
    assert r.stdout == b""
    assert dp.summary(r.err)["input-file#0"]["filtered"] == 1


def test_set_header_replaces_first_or_inserts_after_request_line(tmp_path):
    cases = [
        (post(extra=b"x-a: old\r\nX-A: second\r\n"),
         post(extra=b"x-a: new value\r\nX-A: second\r\n")),
        (post(), post(extra=b"X-A: new value\r\n")),
    ]
    expect(tmp_path, [req(i, a) for i, (a, _) in enumerate(cases)],
           ["--http-set-header", "  X-A :  new value  "],
           [req(i, b) for i, (_, b) in enumerate(cases)])


def test_responses_of_dropped_requests_are_dropped(tmp_path):
    get = b"GET /ok HTTP/1.1\r\n\r\n"
    bad = b"GET /admin HTTP/1.1\r\n\r\n"
    recs = [req(1, bad), req(2, get), resp(2), resp(1), resp(3),   # 3: a response with no request
            req(4, bad), resp(4, type_=3)]
    s = expect(tmp_path, recs, ["--http-disallow-url", "^/admin"],
               [req(2, get), resp(2), resp(3)])
    assert s["modifiers"]["dropped_url"] == 2
    assert s["modifiers"]["dropped_response"] == 2


def test_dropped_id_is_forgotten_at_its_first_response(tmp_path):
    # GoReplay deletes the id from its cache at the first response (Del then continue): a
    # second message with that id (a type 3 after the type 2) passes.
    bad = b"GET /admin HTTP/1.1\r\n\r\n"
    recs = [req(1, bad), resp(1), resp(1, b"HTTP/1.1 502 Bad Gateway\r\n\r\n", type_=3)]
    expect(tmp_path, recs, ["--http-disallow-url", "^/admin"], [recs[2]])


def test_requests_without_request_line_pass_unmodified(tmp_path):
    recs = [req(1, b"garbage without a request line"), req(2, b"GET /a b HTTP/1.1\r\n\r\n"),
            req(3, b"GET /nohttp\r\n\r\n"), req(4, b"")]
    r, s = run(tmp_path, recs, "--http-allow-method", "POST", "--http-set-header", "X: 1")
    assert r.stdout == gor(recs)
    assert s["modifiers"]["not_request"] == 4


def test_modifiers_do_not_touch_responses(tmp_path):
    recs = [resp(1, b"HTTP/1.1 200 OK\r\nHost: a\r\n\r\n"), resp(2, b"HTTP/1.1 200 OK\r\n\r\n", 3)]
    r, s = run(tmp_path, recs, "--http-set-header", "X: 1", "--http-rewrite-header", "Host: a,b",
               "--http-allow-header", "Host:^zzz$")
    assert r.stdout == gor(recs)


# ---- deliberate differences ----

def test_difference_1_any_method_gets_the_modifiers(tmp_path):
    # GoReplay's HasRequestTitle only knows CONNECT DELETE GET HEAD OPTIONS PATCH POST PUT
    # TRACE: it passes PROPFIND through unfiltered and unmodified. doppel filters and modifies.
    propfind = b"PROPFIND /dav HTTP/1.1\r\nHost: a\r\n\r\n"
    assert passed(tmp_path, [propfind], "--http-allow-method", "GET") == []
    expect(tmp_path, [req(1, propfind)], ["--http-set-header", "Depth: 1"],
           [req(1, b"PROPFIND /dav HTTP/1.1\r\nDepth: 1\r\nHost: a\r\n\r\n")])


def test_difference_2_rewrite_header_applies_every_rule(tmp_path):
    # GoReplay `break`s out of the loop at the first rule whose header is missing or empty,
    # so it would leave Host alone here. doppel applies every rule.
    flags = ["--http-rewrite-header", "X-Missing: a,b", "--http-rewrite-header",
             "Host: w3,w4", "--http-rewrite-header", "Host: org$,net"]
    expect(tmp_path, [req(1, POST)], flags, [req(1, post(host=b"www.w4.net"))])


def test_difference_4_regexes_are_pcre2(tmp_path):
    # RE2 (GoReplay) rejects look-around and back-references; PCRE2 takes them.
    p = [post(b"/admin/x"), post(b"/api/x"), post(b"/aa/b")]
    assert passed(tmp_path, p, "--http-allow-url", r"^/(?!admin)") == [1, 2]
    assert passed(tmp_path, p, "--http-disallow-url", r"^/(\w)\1/") == [0, 1]


def test_rewrite_header_replaces_every_match_in_the_value(tmp_path):
    expect(tmp_path, [req(1, post(extra=b"X-L: a-a-a\r\n"))], ["--http-rewrite-header", "X-L: a,b"],
           [req(1, post(extra=b"X-L: b-b-b\r\n"))])


# ======================================================================================
# http_prettifier_test.go and --prettify-http (REFERENCE §3.10)
# ======================================================================================

def test_TestHTTPPrettifierGzip(tmp_path):
    g = gzip.compress(b"test")
    p = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Encoding: gzip\r\n\r\n" % len(g) + g
    s = expect(tmp_path, [resp(1, p)], ["--prettify-http"],
               [resp(1, b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ntest")])
    assert s["modifiers"]["gunzipped"] == 1


def test_TestHTTPPrettifierChunked(tmp_path):
    s = expect(tmp_path, [req(1, CHUNKED_POST)], ["--prettify-http"],
               [req(1, b"POST / HTTP/1.1\r\nContent-Length: 23\r\nHost: www.w3.org\r\n\r\n"
                       b"Wikipedia in\r\n\r\nchunks.")])
    assert s["modifiers"]["dechunked"] == 1


def test_prettify_chunked_and_gzip_on_every_type(tmp_path):
    g = gzip.compress(b"hello, world")
    body = b"%x;ext=1\r\n" % 5 + g[:5] + b"\r\n" + b"%X\r\n" % (len(g) - 5) + g[5:] + \
        b"\r\n0\r\nTrailer-A: 1\r\n\r\n"
    head = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n"
            b"X: y\r\n\r\n")
    out = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX: y\r\n\r\nhello, world"
    rq = b"PUT /u HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(g) + g
    s = expect(tmp_path, [req(1, rq), resp(1, head + body), resp(1, head + body, 3)],
               ["--prettify-http"],
               [req(1, b"PUT /u HTTP/1.1\r\nContent-Length: 12\r\n\r\nhello, world"),
                resp(1, out), resp(1, out, 3)])
    assert s["modifiers"]["dechunked"] == 2 and s["modifiers"]["gunzipped"] == 3


def test_prettify_needs_the_exact_header_values(tmp_path):
    g = gzip.compress(b"x")
    recs = [resp(1, b"HTTP/1.1 200 OK\r\nContent-Encoding: GZIP\r\n\r\n" + g),
            resp(2, b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip, br\r\n\r\n" + g),
            resp(3, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                    b"1\r\nx\r\n0\r\n\r\n"),
            resp(4, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"),
            resp(5, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"),
            req(6, b"GET / HTTP/1.1\r\n\r\n")]
    r, s = run(tmp_path, recs, "--prettify-http")
    assert r.stdout == gor(recs)
    assert s["modifiers"]["dechunked"] == 0 and s["modifiers"]["gunzipped"] == 0


def test_prettify_runs_after_the_modifiers(tmp_path):
    g = gzip.compress(b"abc")
    rq = b"POST /a HTTP/1.1\r\nContent-Encoding: gzip\r\n\r\n" + g
    s = expect(tmp_path, [req(1, rq), req(2, rq.replace(b"/a", b"/b"))],
               ["--prettify-http", "--http-allow-url", "^/a", "--http-set-header", "X: 1"],
               [req(1, b"POST /a HTTP/1.1\r\nContent-Length: 3\r\nX: 1\r\n\r\nabc")])
    assert s["modifiers"]["gunzipped"] == 1 and s["modifiers"]["dropped_url"] == 1


def test_difference_3_bad_encodings_are_kept_and_counted(tmp_path):
    # GoReplay drops a message whose gzip header is bad and keeps a half-decoded chunked body;
    # doppel keeps both unchanged and counts them.
    g = gzip.compress(b"test")
    recs = [resp(1, b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\nnot gzip at all"),
            resp(2, b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n" + g[:-3]),   # truncated
            resp(3, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"zz\r\nWiki\r\n0\r\n\r\n"),
            resp(4, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nWiki\r\n0\r\n\r\n"),
            resp(5, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n")]
    r, s = run(tmp_path, recs, "--prettify-http")
    assert r.stdout == gor(recs)
    assert s["modifiers"]["bad_gzip"] == 2 and s["modifiers"]["bad_chunked"] == 3


def test_prettify_gzip_with_trailing_garbage_is_bad(tmp_path):
    # Go's gzip reader fails on bytes after the member (GoReplay then keeps the original): under
    # difference (3) the body is kept unchanged and counted as bad_gzip, not silently cut.
    g = gzip.compress(b"test") + b"garbage"
    recs = [resp(1, b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n" + g)]
    r, s = run(tmp_path, recs, "--prettify-http")
    assert r.stdout == gor(recs)
    assert s["modifiers"]["bad_gzip"] == 1 and s["modifiers"]["gunzipped"] == 0


def test_prettify_gzip_concatenated_members(tmp_path):
    # Go's gzip.Reader is multistream: two members decode to both contents (RFC 1952 §2.2)
    g = gzip.compress(b"test") + gzip.compress(b"more")
    expect(tmp_path, [resp(1, b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n" + g)],
           ["--prettify-http"], [resp(1, b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ntestmore")])


def test_prettify_gzip_bomb_is_kept_compressed(tmp_path):
    # the cap is --copy-buffer-size: 4096 bytes may come out, 4097 may not
    fits = gzip.compress(b"\0" * 4096)
    bomb = gzip.compress(b"\0" * (1 << 20))
    over = gzip.compress(b"\0" * 4097)
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n"
    recs = [resp(1, head + fits), resp(2, head + bomb), resp(3, head + over)]
    r, s = run(tmp_path, recs, "--prettify-http", "--copy-buffer-size", "4kb")
    out = dp.records(r.stdout)
    assert out[0][1] == b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n" + b"\0" * 4096
    assert out[1][1] == head + bomb and out[2][1] == head + over
    assert s["modifiers"]["too_big"] == 2 and s["modifiers"]["gunzipped"] == 1
    assert s["input-file#0"]["truncated"] == 0


# ======================================================================================
# limiter_test.go: "ADDR|N" and "ADDR|N%" (REFERENCE §3.2)
# ======================================================================================

def gets(n):
    return [req(i, b"GET / HTTP/1.1\r\n\r\n") for i in range(n)]


def test_TestOutputLimiter(tmp_path):
    out = tmp_path / "out.gor"
    r, s = run(tmp_path, gets(100), "--output-file", f"{out}|10", "--output-file-append")
    # 100 messages in well under a second: the first 10 pass, the rest are dropped and counted
    assert s["output-file#0"]["delivered"] == 10 and s["output-file#0"]["dropped_limit"] == 90
    assert out.read_bytes() == gor(gets(10))
    assert s["output-stdout#0"]["delivered"] == 100


def test_TestInputLimiter(tmp_path):
    src = tmp_path / "in.gor"
    src.write_bytes(b"".join(dp.record(1, f"{i:024x}", BASE_TS, b"GET / HTTP/1.1\r\n\r\n")
                             for i in range(100)))  # one timestamp: all due at once
    r = dp.run("--input-file", f"{src}|10", "--output-stdout", check=0, timeout=20)
    s = dp.summary(r.err)
    dp.check_invariants(s)
    assert s["input-file#0"]["emitted"] == 10 and s["input-file#0"]["dropped_limit"] == 90
    assert [int(m.split()[1], 16) for m, _ in dp.records(r.stdout)] == list(range(10))


def test_input_limiter_windows(tmp_path):
    # 30 records 50 ms apart, |10: the first window (from record 0) takes records 0-9 and is
    # full until 1 s later, so records 10-18 (0.5-0.9 s) are dropped; a new window then opens.
    src = tmp_path / "in.gor"
    src.write_bytes(b"".join(dp.record(1, f"{i:024x}", BASE_TS + i * 50_000_000,
                                       b"GET / HTTP/1.1\r\n\r\n") for i in range(30)))
    r = dp.run("--input-file", f"{src}|10", "--output-stdout", check=0, timeout=20)
    s = dp.summary(r.err)["input-file#0"]
    ids = [int(m.split()[1], 16) for m, _ in dp.records(r.stdout)]
    assert ids[:10] == list(range(10)), ids
    assert not set(ids) & set(range(10, 19)), ids
    assert 11 <= len(ids) <= 20 and s["dropped_limit"] == 30 - len(ids), (ids, s)


def test_rate_limiter_counts_every_message_type(tmp_path):
    # GoReplay counts messages whatever their type: responses use up the budget too
    recs = [r for i in range(10) for r in (req(i, b"GET / HTTP/1.1\r\n\r\n"), resp(i))]
    out = tmp_path / "out.gor"
    r, s = run(tmp_path, recs, "--output-file", f"{out}|10", "--output-file-append")
    assert out.read_bytes() == gor(recs[:10])


def test_TestPercentLimiter1_and_2(tmp_path):
    out0, out100 = tmp_path / "o0.gor", tmp_path / "o100.gor"
    r, s = run(tmp_path, gets(100), "--output-file", f"{out0}|0%", "--output-file",
               f"{out100}|100%", "--output-file-append")
    assert s["output-file#0"]["delivered"] == 0 and s["output-file#0"]["dropped_limit"] == 100
    assert s["output-file#1"]["delivered"] == 100
    assert not out0.exists() or out0.read_bytes() == b""
    assert out100.read_bytes() == gor(gets(100))


def test_percent_limiter_statistics(tmp_path):
    # 1000 draws at 30%: mean 300, sd 14.5; the bounds are 7 sd wide
    out = tmp_path / "o.gor"
    r, s = run(tmp_path, gets(1000), "--output-file", f"{out}|30%", "--output-file-append")
    assert 200 <= s["output-file#0"]["delivered"] <= 400, s
    assert s["output-file#0"]["delivered"] + s["output-file#0"]["dropped_limit"] == 1000


def test_percent_limiter_draws_requests_and_responses_independently(tmp_path):
    recs = [r for i in range(400) for r in (req(i, b"GET / HTTP/1.1\r\n\r\n"), resp(i))]
    out = tmp_path / "o.gor"
    run(tmp_path, recs, "--output-file", f"{out}|50%", "--output-file-append")
    seen = {}
    for m, _ in dp.records(out.read_bytes()):
        t, i = m.split()[:2]
        seen.setdefault(i, set()).add(t)
    kinds = [frozenset(v) for v in seen.values()]
    # about 100 pairs each way: a request without its response and the reverse both occur
    assert kinds.count(frozenset([b"1"])) > 20 and kinds.count(frozenset([b"2"])) > 20, kinds


def _span_file(path, n, step_ns):
    path.write_bytes(b"".join(dp.record(1, f"{i:024x}", BASE_TS + i * step_ns,
                                        b"GET / HTTP/1.1\r\n\r\n") for i in range(n)))
    return path


@pytest.mark.parametrize("spec,want", [("", "1.000s at 100%"), ("|200%", "0.500s at 200%"),
                                       ("|50%", "2.000s at 50%"), ("|1000%", "0.100s at 1000%")])
def test_input_file_speed_factor_replay_time(tmp_path, spec, want):
    src = _span_file(tmp_path / "in.gor", 11, 100_000_000)  # spans 1.0 s
    r = dp.run("--input-file", f"{src}{spec}", "--input-file-dry-run", check=0, timeout=10)
    assert f"replay time: {want} speed" in r.stdout.decode(), r.stdout


def test_input_file_speed_factor_paces_and_drops_nothing(tmp_path):
    # "|N%" on --input-file is the speed, never a sampling: nothing dropped
    src = _span_file(tmp_path / "in.gor", 7, 100_000_000)  # spans 0.6 s
    one = _span_file(tmp_path / "one.gor", 1, 0)

    def took(spec):
        t = time.monotonic()
        r = dp.run("--input-file", f"{spec}", "--output-null", check=0, timeout=20)
        d = time.monotonic() - t
        return d, dp.summary(r.err)

    base, _ = took(one)
    fast, s_fast = took(f"{src}|200%")
    slow, s_slow = took(f"{src}|50%")
    for s in (s_fast, s_slow):
        assert s["input-file#0"]["emitted"] == 7 and s["input-file#0"]["dropped_limit"] == 0
    assert 0.2 <= fast - base <= 0.55, fast - base   # 0.3 s
    assert 1.05 <= slow - base <= 1.5, slow - base   # 1.2 s


@pytest.mark.parametrize("spec,msg", [
    ("|abc", "the limiter after '|' must be N (messages per second), N% or max"),
    ("|10x%", "the limiter after '|' must be"),
    ("|", "the limiter after '|' must be"),
    ("|0%", "the speed must be above 0%"),
])
def test_limiter_syntax_errors(tmp_path, spec, msg):
    # GoReplay's Atoi ignores errors: "|abc" becomes 0 and silently blocks everything.
    # doppel refuses it at start.
    src = _span_file(tmp_path / "in.gor", 1, 0)
    err = startup_error(src=f"{src}{spec}")
    assert "--input-file" in err and msg in err, err
