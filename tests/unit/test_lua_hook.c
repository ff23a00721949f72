/*
 * test_lua_hook.c: --lua hooks (modify/lua_hook): every method of the message API, edits copied
 * on write, drops, errors with their line, the sandbox, the instruction and memory limits, and
 * the scripts in examples/lua/ (the tests run from the repository's root).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dp_test.h"

#include "core/common.h"
#include "core/err.h"
#include "core/msg.h"
#include "modify/lua_hook.h"

#define S(s) (s), (sizeof(s) - 1)

static const char ID[] = "abc123";

/* Writes <src> to a new file; returns its path (free it, unlink it). */
static char *script_file(const char *src, size_t len)
{
    char *path = strdup("/tmp/dp_lua_test_XXXXXX.lua");
    int fd;

    assert_non_null(path);
    fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, src, len), (ssize_t)len);
    close(fd);
    return path;
}

/* Loads <src>; fails the test when it does not load. <path_out>: the file's name (may be
 * NULL), already unlinked. */
static struct dp_lua *load_ex(const char *src, bool drop_on_error, char **path_out)
{
    char *path = script_file(src, strlen(src));
    struct dp_err err = { 0 };
    struct dp_lua *l = NULL;
    int rc = dp_lua_new(path, drop_on_error, &l, &err);

    unlink(path);
    if (rc != 0)
        fail_msg("dp_lua_new: %d %s", rc, err.msg);
    if (path_out != NULL)
        *path_out = path;
    else
        free(path);
    return l;
}

static struct dp_lua *load(const char *src)
{
    return load_ex(src, false, NULL);
}

static struct dp_msg *mk(enum dp_msg_type type, const char *payload, size_t len)
{
    struct dp_msg *m = dp_msg_new(type, (const uint8_t *)ID, sizeof(ID) - 1,
            1700000000123456789LL, 42, (const uint8_t *)payload, len);

    assert_non_null(m);
    return m;
}

static void assert_payload(struct dp_msg *m, const char *want, size_t len)
{
    if (m->len != len || memcmp(dp_msg_payload(m), want, len) != 0)
        fail_msg("payload %zu bytes \"%.*s\", want %zu bytes \"%.*s\"", m->len, (int)m->len,
                (const char *)dp_msg_payload(m), len, (int)len, want);
}

static void assert_no_error(const struct dp_lua *l)
{
    assert_string_equal(dp_lua_last_error(l), "");
    assert_int_equal(dp_lua_ctr(l)[DP_LUA_ERRORS], 0);
}

static void assert_contains(const char *s, const char *sub)
{
    if (strstr(s, sub) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", s, sub);
}

/* ---- reading ---- */

static void test_ctr_names(void **state)
{
    (void)state;
    assert_string_equal(dp_lua_ctr_names[DP_LUA_CALLS], "lua_calls");
    assert_string_equal(dp_lua_ctr_names[DP_LUA_CHANGED], "lua_changed");
    assert_string_equal(dp_lua_ctr_names[DP_LUA_DROPPED], "lua_dropped");
    assert_string_equal(dp_lua_ctr_names[DP_LUA_ERRORS], "lua_errors");
}

static void test_read_request(void **state)
{
    static const char req[] = "GET /post?param=test&user_id=1&d_type=1&type=2&d_type=3 HTTP/1.1\r\n"
                              "Host: example.com\r\n"
                              "X-Empty:\r\n"
                              "X-Dup: one\r\n"
                              "x-dup: two\r\n"
                              "Content-Length: 3\r\n"
                              "\r\n"
                              "a\0b";
    struct dp_lua *l = load(
            "function on_request(m)\n"
            "  assert(m:type() == 1)\n"
            "  assert(m:id() == 'abc123')\n"
            "  assert(m:ts() == 1700000000123456789 and math.type(m:ts()) == 'integer')\n"
            "  assert(m:latency() == 42)\n"
            "  assert(m:method() == 'GET')\n"
            "  assert(m:path() == '/post?param=test&user_id=1&d_type=1&type=2&d_type=3')\n"
            "  assert(m:param('param') == 'test')\n"
            "  assert(m:param('user_id') == '1')\n"
            "  assert(m:param('type') == '2')\n"  /* not confused with d_type */
            "  assert(m:param('d_type') == '1')\n" /* the first one */
            "  assert(m:param('nope') == nil)\n"
            "  assert(m:param('') == nil)\n"
            "  assert(m:header('host') == 'example.com')\n"
            "  assert(m:header('X-Empty') == '')\n"
            "  assert(m:header('X-DUP') == 'one')\n"
            "  assert(m:header('X-Missing') == nil)\n"
            "  assert(m:header('Host\\0') == nil)\n"
            "  assert(m:status() == nil)\n"
            "  local b = m:body()\n"
            "  assert(#b == 3 and b == 'a\\0b')\n"
            "  assert(#m:bytes() == 143 and m:bytes():sub(-3) == 'a\\0b')\n"
            "  assert(tostring(m):find('type 1', 1, true))\n"
            "  seen = (seen or 0) + 1\n"
            "end\n");
    struct dp_msg *m = mk(DP_MSG_REQUEST, S(req));
    struct dp_msg *orig = m;

    (void)state;
    assert_int_equal(sizeof(req) - 1, 143);
    assert_true(dp_lua_apply(l, &m));
    assert_no_error(l);
    assert_ptr_equal(m, orig); /* nothing edited: the same message */
    assert_int_equal(m->refs, 1);
    assert_int_equal(dp_lua_ctr(l)[DP_LUA_CALLS], 1);
    assert_int_equal(dp_lua_ctr(l)[DP_LUA_CHANGED], 0);
    dp_msg_unref(m);
    dp_lua_free(l);
}

static void test_read_response(void **state)
{
    static const char resp[] = "HTTP/1.1 404 Not Found\r\n"
                               "Transfer-Encoding: gzip, Chunked\r\n"
                               "\r\n"
                               "5;ext=1\r\nhe\0lo\r\n3\r\n wo\r\n0\r\nTrailer: x\r\n\r\n";
    static const char bad[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    struct dp_lua *l = load("function on_response(m)\n"
                            "  assert(m:type() == 2)\n"
                            "  if m:status() == 404 then\n"
                            "    assert(m:body() == 'he\\0lo wo')\n" /* de-chunked */
                            "  else\n"
                            "    assert(m:status() == 200)\n"
                            "    assert(m:body() == 'zz\\r\\n')\n" /* not chunked: as it is */
                            "  end\n"
                            "  assert(m:method() == nil and m:path() == nil)\n"
                            "  assert(m:param('x') == nil)\n"
                            "end\n"
                            "function on_replay(m)\n"
                            "  assert(m:type() == 3)\n"
                            "  assert(m:status() == nil)\n" /* no status line */
                            "  assert(m:body() == nil)\n"   /* no whole head */
                            "  assert(m:header('A') == nil)\n"
                            "  assert(m:bytes() == 'HTTP/1.1 2')\n"
                            "end\n");
    struct dp_msg *m;

    (void)state;
    m = mk(DP_MSG_RESPONSE, S(resp));
    assert_true(dp_lua_apply(l, &m));
    dp_msg_unref(m);
    m = mk(DP_MSG_RESPONSE, S(bad));
    assert_true(dp_lua_apply(l, &m));
    dp_msg_unref(m);
    m = mk(DP_MSG_REPLAY, S("HTTP/1.1 2"));
    assert_true(dp_lua_apply(l, &m));
    dp_msg_unref(m);
    assert_no_error(l);
    assert_int_equal(dp_lua_ctr(l)[DP_LUA_CALLS], 3);
    dp_lua_free(l);
}

/* Only the hooks the script defines are called; other messages pass uncounted. */
static void test_hook_per_type(void **state)
{
    struct dp_lua *l = load("function on_replay(m) m:set_header('X-Seen', 'replay') end\n");
    struct dp_msg *m;

    (void)state;
    for (int t = DP_MSG_OTHER; t <= DP_MSG_RESPONSE; t++) {
        m = mk((enum dp_msg_type)t, S("HTTP/1.1 200 OK\r\n\r\n"));
        assert_true(dp_lua_apply(l, &m));
        assert_payload(m, S("HTTP/1.1 200 OK\r\n\r\n"));
        dp_msg_unref(m);
    }
    assert_int_equal(dp_lua_ctr(l)[DP_LUA_CALLS], 0);
    m = mk(DP_MSG_REPLAY, S("HTTP/1.1 200 OK\r\n\r\n"));
    assert_true(dp_lua_apply(l, &m));
    assert_payload(m, S("HTTP/1.1 200 OK\r\nX-Seen: replay\r\n\r\n"));
    dp_msg_unref(m);
    assert_int_equal(dp_lua_ctr(l)[DP_LUA_CALLS], 1);
    assert_int_equal(dp_lua_ctr(l)[DP_LUA_CHANGED], 1);
    dp_lua_free(l);
}

/* ---- editing ---- */

struct edit_case {
    const char *script;
    enum dp_msg_type type;
    const char *in;
    size_t in_len;
    const char *want;
    size_t want_len;
};

#define POST "POST /post HTTP/1.1\r\nContent-Length: 7\r\nHost: www.w3.org\r\n\r\na=1&b=2"
#define REQ(target) "GET " target " HTTP/1.1\r\nHost: a\r\n\r\n"
#define HOOK(body) "function on_request(m) " body " end"

static void test_edits(void **state)
{
    static const struct edit_case cases[] = {
        /* set_header: GoReplay's TestHTTPModifierSetHeader (inserted after the start line) */
        { HOOK("m:set_header('User-Agent', 'Gor')"), DP_MSG_REQUEST, S(POST),
                S("POST /post HTTP/1.1\r\nUser-Agent: Gor\r\nContent-Length: 7\r\n"
                  "Host: www.w3.org\r\n\r\na=1&b=2") },
        /* replaced in place, the name's spelling kept (TestSetHeader) */
        { HOOK("m:set_header('content-length', '14')"), DP_MSG_REQUEST, S(POST),
                S("POST /post HTTP/1.1\r\nContent-Length: 14\r\nHost: www.w3.org\r\n\r\na=1&b=2") },
        /* a value with NUL bytes is taken whole */
        { HOOK("m:set_header('X-Bin', 'a\\0b')"), DP_MSG_REQUEST, S(REQ("/")),
                S("GET / HTTP/1.1\r\nX-Bin: a\0b\r\nHost: a\r\n\r\n") },
        { HOOK("assert(m:remove_header('x-a') == 2); assert(m:remove_header('nope') == 0)"),
                DP_MSG_REQUEST, S("GET / HTTP/1.1\r\nX-A: 1\r\nHost: a\r\nx-a: 2\r\n\r\n"),
                S("GET / HTTP/1.1\r\nHost: a\r\n\r\n") },
        { HOOK("m:set_method('PUT')"), DP_MSG_REQUEST, S(POST),
                S("PUT /post HTTP/1.1\r\nContent-Length: 7\r\nHost: www.w3.org\r\n\r\na=1&b=2") },
        /* TestSetPath */
        { HOOK("m:set_path('/new_path')"), DP_MSG_REQUEST, S(POST),
                S("POST /new_path HTTP/1.1\r\nContent-Length: 7\r\nHost: www.w3.org\r\n\r\n"
                  "a=1&b=2") },
        /* TestSetPathParam */
        { HOOK("m:set_param('param', 'new')"), DP_MSG_REQUEST,
                S(REQ("/post?param=test&user_id=1")), S(REQ("/post?param=new&user_id=1")) },
        { HOOK("m:set_param('user_id', '2')"), DP_MSG_REQUEST,
                S(REQ("/post?param=test&user_id=1")), S(REQ("/post?param=test&user_id=2")) },
        { HOOK("m:set_param('param', 'test')"), DP_MSG_REQUEST, S(REQ("/post")),
                S(REQ("/post?param=test")) },
        { HOOK("m:set_param('user_id', '1')"), DP_MSG_REQUEST, S(REQ("/post?param=test")),
                S(REQ("/post?param=test&user_id=1")) },
        { HOOK("m:set_param('type', '9')"), DP_MSG_REQUEST, S(REQ("/p?d_type=1&type=2")),
                S(REQ("/p?d_type=1&type=9")) },
        { HOOK("m:set_param('a', '')"), DP_MSG_REQUEST, S(REQ("/p?a=1")), S(REQ("/p?a=")) },
        /* set_body: Content-Length follows; NULs kept */
        { HOOK("m:set_body('x\\0y\\0z')"), DP_MSG_REQUEST, S(POST),
                S("POST /post HTTP/1.1\r\nContent-Length: 5\r\nHost: www.w3.org\r\n\r\n"
                  "x\0y\0z") },
        /* chunked: rewritten with Content-Length, Transfer-Encoding dropped */
        { HOOK("assert(m:body() == 'abc'); m:set_body('xy')"), DP_MSG_REQUEST,
                S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: a\r\n\r\n"
                  "3\r\nabc\r\n0\r\n\r\n"),
                S("POST / HTTP/1.1\r\nContent-Length: 2\r\nHost: a\r\n\r\nxy") },
        /* no framing: a body gets Content-Length; an empty one does not */
        { HOOK("m:set_body('hi')"), DP_MSG_REQUEST, S(REQ("/")),
                S("GET / HTTP/1.1\r\nContent-Length: 2\r\nHost: a\r\n\r\nhi") },
        { HOOK("m:set_body('')"), DP_MSG_REQUEST, S(REQ("/")), S(REQ("/")) },
        { HOOK("m:set_body(m:body():upper())"), DP_MSG_REQUEST, S(POST),
                S("POST /post HTTP/1.1\r\nContent-Length: 7\r\nHost: www.w3.org\r\n\r\n"
                  "A=1&B=2") },
        /* set_bytes: the raw payload, anything at all */
        { HOOK("m:set_bytes('\\0\\1raw\\0')"), DP_MSG_REQUEST, S(POST), S("\0\1raw\0") },
        { HOOK("m:set_bytes('')"), DP_MSG_REQUEST, S(POST), S("") },
        /* responses: headers and body */
        { "function on_response(m) m:set_header('X-Status', tostring(m:status())); "
          "m:set_body('{}') end",
                DP_MSG_RESPONSE, S("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
                S("HTTP/1.1 201 Created\r\nX-Status: 201\r\nContent-Length: 2\r\n\r\n{}") },
        /* several edits in one call */
        { HOOK("m:set_method('PATCH'); m:set_path('/x?y=1'); m:set_param('z', '2'); "
               "m:set_header('Host', 'b'); m:set_body('body')"),
                DP_MSG_REQUEST, S(REQ("/")),
                S("PATCH /x?y=1&z=2 HTTP/1.1\r\nContent-Length: 4\r\nHost: b\r\n\r\nbody") },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        const struct edit_case *c = &cases[i];
        struct dp_lua *l = load(c->script);
        struct dp_msg *m = mk(c->type, c->in, c->in_len);
        struct dp_msg *other = dp_msg_ref(m); /* another holder: keeps the original */

        if (!dp_lua_apply(l, &m))
            fail_msg("case %zu dropped: %s", i, dp_lua_last_error(l));
        if (dp_lua_ctr(l)[DP_LUA_ERRORS] != 0)
            fail_msg("case %zu: %s", i, dp_lua_last_error(l));
        assert_payload(m, c->want, c->want_len);
        assert_ptr_not_equal(m, other);
        assert_int_equal(m->refs, 1);
        assert_int_equal(other->refs, 1);
        assert_payload(other, c->in, c->in_len); /* copy on write */
        assert_int_equal(m->meta_len, other->meta_len);
        assert_memory_equal(dp_msg_meta(m), dp_msg_meta(other), m->meta_len);
        assert_int_equal(dp_lua_ctr(l)[DP_LUA_CHANGED], 1);
        dp_msg_unref(other);
        dp_msg_unref(m);
        dp_lua_free(l);
    }
}

/* The only reference: edited in a copy all the same (an error must be able to undo). */
static void test_edit_sole_owner(void **state)
{
    struct dp_lua *l = load(HOOK("m:set_header('A', '1'); m:set_header('B', '2')"));
    struct dp_msg *m = mk(DP_MSG_REQUEST, S(REQ("/")));

    (void)state;
    assert_true(dp_lua_apply(l, &m));
    assert_payload(m, S("GET / HTTP/1.1\r\nB: 2\r\nA: 1\r\nHost: a\r\n\r\n"));
    assert_int_equal(m->refs, 1);
    dp_msg_unref(m);
    dp_lua_free(l);
}

/* Arguments that would break the message are refused: an error, the message unchanged. */
static void test_edit_refused(void **state)
{
    static const struct {
        const char *script;
        enum dp_msg_type type;
        const char *error;
    } cases[] = {
        { HOOK("m:set_header('Bad Name', 'x')"), DP_MSG_REQUEST, "not a token (a field name" },
        { HOOK("m:set_header('', 'x')"), DP_MSG_REQUEST, "not a token (a field name" },
        { HOOK("m:set_header('X', 'a\\r\\nInjected: 1')"), DP_MSG_REQUEST, "CR or LF" },
        { HOOK("m:set_method('GE T')"), DP_MSG_REQUEST, "not a token (a method" },
        { HOOK("m:set_path('/a b')"), DP_MSG_REQUEST, "request-target" },
        { HOOK("m:set_path('')"), DP_MSG_REQUEST, "empty request-target" },
        { HOOK("m:set_param('a', 'b c')"), DP_MSG_REQUEST, "parameter value" },
        { HOOK("m:set_param('', 'b')"), DP_MSG_REQUEST, "empty parameter name" },
        { HOOK("m:set_header(1)"), DP_MSG_REQUEST,
                "bad argument #2 to 'set_header' (string expected" },
        { HOOK("m.header('Host')"), DP_MSG_REQUEST, "doppel.msg expected" },
        { HOOK("m.set_header({}, 'A', 'b')"), DP_MSG_REQUEST,
                "bad argument #1 to 'set_header' (doppel.msg expected, got table)" },
        { HOOK("m.path()"), DP_MSG_REQUEST, "doppel.msg expected, got no value" },
        { HOOK("m.set_header(nil, 'A', 'b')"), DP_MSG_REQUEST,
                "bad argument #1 to 'set_header' (doppel.msg expected, got nil)" },
        { HOOK("m.set_header(3, 'A', 'b')"), DP_MSG_REQUEST,
                "bad argument #1 to 'set_header' (doppel.msg expected, got number)" },
        { HOOK("m:set_header('X', string.rep('v', 64) .. '\\n')"), DP_MSG_REQUEST, "CR or LF" },
        { HOOK("m:set_header('X', string.rep('v', 65) .. '\\r')"), DP_MSG_REQUEST, "CR or LF" },
        { HOOK("m:set_path('/' .. string.rep('p', 99) .. ' ')"), DP_MSG_REQUEST,
                "request-target" },
        { "function on_response(m) m:set_path('/x') end", DP_MSG_RESPONSE,
                "set_path: not a request" },
        { "function on_response(m) m:set_method('GET') end", DP_MSG_RESPONSE,
                "set_method: not a request" },
        { "function on_response(m) m:set_param('a', 'b') end", DP_MSG_RESPONSE,
                "set_param: not a request" },
        { "function on_response(m) m:set_header('A', 'b') end", DP_MSG_RESPONSE,
                "set_header: the payload has no HTTP start line" },
        { "function on_response(m) m:set_body('x') end", DP_MSG_RESPONSE,
                "set_body: the payload has no whole HTTP head" },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        char *path;
        struct dp_lua *l = load_ex(cases[i].script, false, &path);
        const char *in = cases[i].type == DP_MSG_REQUEST ? REQ("/") : "raw bytes";
        size_t in_len = strlen(in);
        struct dp_msg *m = mk(cases[i].type, in, in_len);
        struct dp_msg *orig = m;
        char where[128];

        assert_true(dp_lua_apply(l, &m));
        assert_ptr_equal(m, orig);
        assert_payload(m, in, in_len);
        assert_int_equal(dp_lua_ctr(l)[DP_LUA_ERRORS], 1);
        assert_int_equal(dp_lua_ctr(l)[DP_LUA_CHANGED], 0);
        snprintf(where, sizeof(where), "%s:1: ", path);
        assert_contains(dp_lua_last_error(l), where);
        assert_contains(dp_lua_last_error(l), cases[i].error);
        dp_msg_unref(m);
        dp_lua_free(l);
        free(path);
    }
}

/* The bytes that would break a line are refused in strings of every length (short ones are
 * checked byte by byte, long ones with memchr), at the start, in the middle and at the end. */
static void test_line_breaking_bytes(void **state)
{
    struct dp_lua *l = load(
            "function on_request(m)\n"
            "  for _, n in ipairs({ 0, 1, 31, 62, 63, 64, 65, 200 }) do\n"
            "    local a, b = string.rep('v', n // 2), string.rep('w', n - n // 2)\n"
            "    for _, c in ipairs({ '\\r', '\\n' }) do\n"
            "      for _, v in ipairs({ c .. a .. b, a .. c .. b, a .. b .. c }) do\n"
            "        local ok, e = pcall(m.set_header, m, 'X', v)\n"
            "        assert(not ok and e:find('CR or LF in a field value', 1, true), n)\n"
            "      end\n"
            "    end\n"
            "    for _, c in ipairs({ ' ', '\\t', '\\r', '\\n' }) do\n"
            "      assert(not pcall(m.set_path, m, '/' .. a .. c .. b), n)\n"
            "      assert(not pcall(m.set_param, m, a .. c .. 'k', 'v'), n)\n"
            "      assert(not pcall(m.set_param, m, 'k', a .. b .. c), n)\n"
            "    end\n"
            "    m:set_header('X-' .. n, a .. '\\0 \\t\\1' .. b)\n" /* fine in a value */
            "    m:set_path('/' .. a .. '\\0\\1' .. b)\n"
            "  end\n"
            "  m:set_path('/ok')\n"
            "end\n");
    struct dp_msg *m = mk(DP_MSG_REQUEST, S(REQ("/")));
    struct dp_bytes want = { (const uint8_t *)"\r\nX-65: ", 8 };

    (void)state;
    assert_true(dp_lua_apply(l, &m));
    assert_no_error(l);
    assert_memory_equal(dp_msg_payload(m), "GET /ok HTTP/1.1\r\nX-200: ", 25);
    assert_non_null(memmem(dp_msg_payload(m), m->len, want.ptr, want.len));
    dp_msg_unref(m);
    dp_lua_free(l);
}

/* Names are checked as tokens whether they are constants, new strings each call, numbers, or
 * strings that the collector has freed; a bad name is refused every time. */
static void test_token_names(void **state)
{
    struct dp_lua *l = load(
            "local n = 0\n"
            "function on_request(m)\n"
            "  n = n + 1\n"
            "  m:set_header('X-Good-' .. n, '1')\n" /* a new string each call */
            "  collectgarbage()\n"
            "  for i = 1, 3 do\n"
            "    local ok, e = pcall(m.set_header, m, 'X Bad ' .. n, '1')\n"
            "    assert(not ok and e:find('not a token (a field name', 1, true), e)\n"
            "    assert(not pcall(m.set_header, m, 'X Same', '1'))\n"
            "    m:set_header('X-Same', 'a')\n"
            "    assert(not pcall(m.set_method, m, 'G ET'))\n"
            "    assert(not pcall(m.set_header, m, 'X-Same\\0', '1'))\n"
            "    assert(not pcall(m.set_header, m, '', '1'))\n"
            "  end\n"
            "  m:set_header(42, 'num')\n" /* converted to the string "42", a token */
            "  m:set_method('PUT')\n"
            "  m:set_header('PUT', 'too')\n"
            "end\n");

    (void)state;
    for (int i = 1; i <= 3; i++) {
        struct dp_msg *m = mk(DP_MSG_REQUEST, S(REQ("/")));
        char want[128];
        int n = snprintf(want, sizeof(want),
                "PUT / HTTP/1.1\r\nPUT: too\r\n42: num\r\nX-Same: a\r\nX-Good-%d: 1\r\n"
                "Host: a\r\n\r\n",
                i);

        assert_true(dp_lua_apply(l, &m));
        assert_no_error(l);
        assert_payload(m, want, (size_t)n);
        dp_msg_unref(m);
    }
    dp_lua_free(l);
}

/* ---- state, drops, errors ---- */

static void test_state_persists(void **state)
{
    struct dp_lua *l = load("local n = 0\n"
                            "function on_request(m) n = n + 1; total = n\n"
                            "  m:set_header('X-N', tostring(n)) end\n");
    static const char *const want[] = { "GET / HTTP/1.1\r\nX-N: 1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nX-N: 2\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nX-N: 3\r\nHost: a\r\n\r\n" };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(want); i++) {
        struct dp_msg *m = mk(DP_MSG_REQUEST, S(REQ("/")));

        assert_true(dp_lua_apply(l, &m));
        assert_payload(m, want[i], strlen(want[i]));
        dp_msg_unref(m);
    }
    assert_int_equal(dp_lua_ctr(l)[DP_LUA_CHANGED], 3);
    assert_no_error(l);
    dp_lua_free(l);
}

static void test_drop(void **state)
{
    static const char *const scripts[] = {
        HOOK("m:set_header('X', '1'); return false"),
        HOOK("m:set_header('X', '1'); m:drop()"),
        HOOK("m:drop(); return true"), /* m:drop() wins */
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(scripts); i++) {
        struct dp_lua *l = load(scripts[i]);
        struct dp_msg *m = mk(DP_MSG_REQUEST, S(REQ("/")));
        struct dp_msg *orig = m;

        assert_false(dp_lua_apply(l, &m));
        assert_ptr_equal(m, orig); /* the caller still owns its own message */
        assert_int_equal(m->refs, 1);
        assert_payload(m, S(REQ("/")));
        assert_int_equal(dp_lua_ctr(l)[DP_LUA_DROPPED], 1);
        assert_int_equal(dp_lua_ctr(l)[DP_LUA_CHANGED], 0);
        assert_no_error(l);
        dp_msg_unref(m);
        dp_lua_free(l);
    }
    /* m:drop() is per call: the next message goes on */
    {
        struct dp_lua *l = load(HOOK("if m:path() == '/drop' then m:drop() end return nil"));
        struct dp_msg *a = mk(DP_MSG_REQUEST, S(REQ("/drop")));
        struct dp_msg *b = mk(DP_MSG_REQUEST, S(REQ("/keep")));

        assert_false(dp_lua_apply(l, &a));
        assert_true(dp_lua_apply(l, &b));
        assert_int_equal(dp_lua_ctr(l)[DP_LUA_DROPPED], 1);
        dp_msg_unref(a);
        dp_msg_unref(b);
        dp_lua_free(l);
    }
}

static void test_error_keeps_message(void **state)
{
    static const char src[] = "function on_request(m)\n"
                              "  m:set_header('X', '1')\n"
                              "  m:set_body('changed')\n"
                              "  error('boom')\n"
                              "end\n";

    (void)state;
    for (int drop = 0; drop <= 1; drop++) {
        char *path;
        struct dp_lua *l = load_ex(src, drop, &path);
        struct dp_msg *m = mk(DP_MSG_REQUEST, S(POST));
        struct dp_msg *other = dp_msg_ref(m);
        struct dp_msg *orig = m;
        char want[256];

        assert_int_equal(dp_lua_apply(l, &m), !drop);
        assert_ptr_equal(m, orig);
        assert_payload(m, S(POST));
        assert_int_equal(m->refs, 2);
        assert_int_equal(dp_lua_ctr(l)[DP_LUA_ERRORS], 1);
        assert_int_equal(dp_lua_ctr(l)[DP_LUA_CHANGED], 0);
        assert_int_equal(dp_lua_ctr(l)[DP_LUA_DROPPED], drop);
        snprintf(want, sizeof(want), "%s:4: boom", path);
        assert_string_equal(dp_lua_last_error(l), want);
        dp_msg_unref(other);
        dp_msg_unref(m);
        dp_lua_free(l);
        free(path);
    }
}

/* The caller's is the only reference (the usual case): after edits, an error or a drop still
 * leaves the message byte for byte as it was, meta line included, at the same address. */
static void test_error_sole_owner(void **state)
{
    static const struct {
        const char *script;
        bool drop; /* the hook drops the message (without an error) */
    } cases[] = {
        { HOOK("m:set_header('X', '1'); error('boom')"), false },
        { HOOK("m:set_header('Host', 'b'); m:remove_header('Content-Length'); "
               "m:set_method('PATCH'); m:set_param('q', '1'); error('boom')"),
                false },
        { HOOK("m:set_body(string.rep('z', 100000)); error('boom')"), false }, /* grows */
        { HOOK("m:set_bytes(''); error('boom')"), false },
        { HOOK("m:set_bytes('x'); m:set_bytes(string.rep('y', 5000)); local t = nil; t.x = 1"),
                false },
        { HOOK("m:set_header('X', '1'); m:set_header('Bad Name', '1')"), false }, /* refused */
        { HOOK("m:set_header('X', '1'); return false"), true },
        { HOOK("m:set_body('gone'); m:drop()"), true },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        for (int drop_on_error = 0; drop_on_error <= 1; drop_on_error++) {
            struct dp_lua *l = load_ex(cases[i].script, drop_on_error, NULL);
            struct dp_msg *m = mk(DP_MSG_REQUEST, S(POST));
            struct dp_msg *orig = m;
            size_t n = (size_t)m->meta_off + m->meta_len + m->len;
            uint8_t *before = malloc(n);
            bool dropped = cases[i].drop || drop_on_error;

            assert_non_null(before);
            memcpy(before, m->buf, n);
            if (dp_lua_apply(l, &m) == dropped)
                fail_msg("case %zu drop_on_error=%d: %s", i, drop_on_error,
                        dp_lua_last_error(l));
            assert_ptr_equal(m, orig);
            assert_int_equal(m->refs, 1);
            assert_int_equal((size_t)m->meta_off + m->meta_len + m->len, n);
            assert_memory_equal(m->buf, before, n);
            assert_int_equal(dp_lua_ctr(l)[DP_LUA_ERRORS], !cases[i].drop);
            assert_int_equal(dp_lua_ctr(l)[DP_LUA_CHANGED], 0);
            assert_int_equal(dp_lua_ctr(l)[DP_LUA_DROPPED], dropped);
            free(before);
            dp_msg_unref(m);
            dp_lua_free(l);
        }
    }
}

static void test_error_objects(void **state)
{
    static const struct {
        const char *script;
        const char *want; /* after "PATH:" */
    } cases[] = {
        { "function on_request(m)\n  local t = nil\n  return t.x\nend\n",
                ":3: attempt to index a nil value (local 't')" },
        { "function on_request(m)\n  error({})\nend\n", ":2: (error object is a table value)" },
        { "function on_request(m)\n  error(setmetatable({}, {__tostring = function() return "
          "'custom' end}))\nend\n",
                NULL },
        { "function on_request(m)\n  error('no position', 0)\nend\n", NULL },
        { "function on_request(m)\n  local s = 'x' .. {}\nend\n", ":2: attempt to concatenate" },
        { "function on_request(m)\n  m:nope()\nend\n", ":2: attempt to call a nil value" },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        char *path;
        struct dp_lua *l = load_ex(cases[i].script, false, &path);
        struct dp_msg *m = mk(DP_MSG_REQUEST, S(REQ("/")));
        char want[256];

        assert_true(dp_lua_apply(l, &m));
        assert_int_equal(dp_lua_ctr(l)[DP_LUA_ERRORS], 1);
        if (cases[i].want != NULL) {
            snprintf(want, sizeof(want), "%s%s", path, cases[i].want);
            assert_contains(dp_lua_last_error(l), want);
        } else if (i == 2) {
            assert_string_equal(dp_lua_last_error(l), "custom");
        } else {
            assert_string_equal(dp_lua_last_error(l), "no position");
        }
        dp_msg_unref(m);
        dp_lua_free(l);
        free(path);
    }
}

/* Errors are counted every time; the state stays usable. */
static void test_error_count(void **state)
{
    struct dp_lua *l = load(HOOK("if m:path() == '/bad' then error('bad') end "
                                 "m:set_header('X', 'ok')"));

    (void)state;
    for (int i = 0; i < 25; i++) {
        const char *in = i % 2 ? REQ("/ok") : REQ("/bad");
        struct dp_msg *m = mk(DP_MSG_REQUEST, in, strlen(in));

        assert_true(dp_lua_apply(l, &m));
        dp_msg_unref(m);
    }
    assert_int_equal(dp_lua_ctr(l)[DP_LUA_CALLS], 25);
    assert_int_equal(dp_lua_ctr(l)[DP_LUA_ERRORS], 13);
    assert_int_equal(dp_lua_ctr(l)[DP_LUA_CHANGED], 12);
    dp_lua_free(l);
}

static void test_use_after_call(void **state)
{
    struct dp_lua *l = load("function on_request(m)\n"
                            "  if saved ~= nil then\n"
                            "    assert(tostring(saved) == 'doppel.msg (expired)')\n"
                            "    local ok, e = pcall(saved.header, saved, 'Host')\n"
                            "    assert(not ok and e:find('used after its hook returned'))\n"
                            "    saved:set_header('X', 'late')\n"
                            "  end\n"
                            "  saved = m\n"
                            "end\n");
    struct dp_msg *a = mk(DP_MSG_REQUEST, S(REQ("/a")));
    struct dp_msg *b = mk(DP_MSG_REQUEST, S(REQ("/b")));

    (void)state;
    assert_true(dp_lua_apply(l, &a));
    assert_no_error(l);
    assert_true(dp_lua_apply(l, &b));
    assert_int_equal(dp_lua_ctr(l)[DP_LUA_ERRORS], 1);
    assert_contains(dp_lua_last_error(l), ":6: message used after its hook returned");
    assert_payload(a, S(REQ("/a")));
    assert_payload(b, S(REQ("/b")));
    dp_msg_unref(a);
    dp_msg_unref(b);
    dp_lua_free(l);
}

/* A message kept past its call, in a global, a table or a closure, is refused in every later
 * call, while that call's own message works; an error in the call that kept it changes nothing. */
static void test_use_after_call_kept(void **state)
{
    static const struct {
        const char *script;
        enum dp_msg_type first; /* the type of the first message; the second is a request */
        int first_errors;       /* errors the first call raises */
        int line;               /* of the error in the second call */
    } cases[] = {
        { "function on_request(m)\n"
          "  if saved then saved:header('Host') end\n"
          "  saved = m\n"
          "end\n",
                DP_MSG_REQUEST, 0, 2 },
        { "function on_request(m)\n"
          "  if f then assert(m:path() == '/b'); f() end\n"
          "  f = function() return m:set_header('X', 'late') end\n"
          "end\n",
                DP_MSG_REQUEST, 0, 3 },
        { "function on_request(m)\n"
          "  if t then t[1]:drop() end\n"
          "  t = { m }\n"
          "  error('first')\n"
          "end\n",
                DP_MSG_REQUEST, 1, 2 },
        { "function on_response(m) saved = m end\n"
          "function on_request(m)\n"
          "  assert(saved ~= m and not rawequal(saved, m) and type(saved) == type(m))\n"
          "  assert(m:path() == '/b' and tostring(m):find('type 1', 1, true))\n"
          "  assert(tostring(saved) == 'doppel.msg (expired)')\n"
          "  saved:type()\n"
          "end\n",
                DP_MSG_RESPONSE, 0, 6 },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        char *path;
        struct dp_lua *l = load_ex(cases[i].script, false, &path);
        struct dp_msg *a = cases[i].first == DP_MSG_REQUEST
                ? mk(DP_MSG_REQUEST, S(REQ("/a")))
                : mk(DP_MSG_RESPONSE, S("HTTP/1.1 200 OK\r\n\r\n"));
        struct dp_msg *b = mk(DP_MSG_REQUEST, S(REQ("/b")));
        char want[256];

        assert_true(dp_lua_apply(l, &a));
        assert_int_equal(dp_lua_ctr(l)[DP_LUA_ERRORS], cases[i].first_errors);
        assert_true(dp_lua_apply(l, &b)); /* the error does not drop it */
        assert_int_equal(dp_lua_ctr(l)[DP_LUA_ERRORS], cases[i].first_errors + 1);
        snprintf(want, sizeof(want), "%s:%d: message used after its hook returned", path,
                cases[i].line);
        assert_contains(dp_lua_last_error(l), want);
        assert_payload(b, S(REQ("/b")));
        assert_int_equal(b->refs, 1);
        dp_msg_unref(a);
        dp_msg_unref(b);
        dp_lua_free(l);
        free(path);
    }
}

/* ---- limits ---- */

static void test_instruction_limit(void **state)
{
    static const char src[] =
            "function on_request(m)\n"
            "  if m:path() == '/loop' then\n"
            "    while true do end\n"
            "  elseif m:path() == '/pcall' then\n" /* catching the error does not help */
            "    while true do pcall(function() while true do end end) end\n"
            "  end\n"
            "  m:set_header('X', 'ok')\n"
            "end\n";
    char *path;
    struct dp_lua *l = load_ex(src, false, &path);
    static const char *const targets[] = { "/loop", "/pcall" };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(targets); i++) {
        char req[64];
        int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n\r\n", targets[i]);
        struct dp_msg *m = mk(DP_MSG_REQUEST, req, (size_t)n);
        char want[128];

        assert_true(dp_lua_apply(l, &m));
        assert_payload(m, req, (size_t)n);
        assert_int_equal(dp_lua_ctr(l)[DP_LUA_ERRORS], i + 1);
        snprintf(want, sizeof(want), "%s:%d: instruction limit (100000000 per call) exceeded",
                path, i == 0 ? 3 : 5);
        assert_string_equal(dp_lua_last_error(l), want);
        dp_msg_unref(m);
    }
    /* the limit is per call: the next call runs */
    {
        struct dp_msg *m = mk(DP_MSG_REQUEST, S(REQ("/")));

        assert_true(dp_lua_apply(l, &m));
        assert_payload(m, S("GET / HTTP/1.1\r\nX: ok\r\nHost: a\r\n\r\n"));
        assert_int_equal(dp_lua_ctr(l)[DP_LUA_ERRORS], 2);
        dp_msg_unref(m);
    }
    dp_lua_free(l);
    free(path);
}

/* Each call gets the whole budget: two calls of 0.6 * DP_LUA_INSTR_MAX instructions each both
 * run to their end (FORLOOP is one instruction per iteration). */
static void test_instruction_budget_per_call(void **state)
{
    struct dp_lua *l = load(HOOK("for i = 1, 60000000 do end; m:set_header('X', 'done')"));

    (void)state;
    for (int i = 0; i < 2; i++) {
        struct dp_msg *m = mk(DP_MSG_REQUEST, S(REQ("/")));

        assert_true(dp_lua_apply(l, &m));
        assert_no_error(l);
        assert_payload(m, S("GET / HTTP/1.1\r\nX: done\r\nHost: a\r\n\r\n"));
        dp_msg_unref(m);
    }
    dp_lua_free(l);
}

static void test_memory_limit(void **state)
{
    static const char src[] =
            "KIB = string.rep('y', 1024)\n" /* (rep of 1 byte is slow under ASan: 1 memcpy each) */
            "function on_request(m)\n"
            "  if m:path() == '/big' then\n" /* one allocation past it, after an edit */
            "    m:set_header('Y', '1')\n"
            "    local s = string.rep('x', 300 * 1024 * 1024)\n"
            "  elseif m:path() == '/grow' then\n" /* many below it */
            "    local t = {}\n"
            "    for i = 1, 1000 do t[i] = string.rep(KIB, 1024) end\n"
            "  end\n"
            "  m:set_header('X', 'ok')\n"
            "end\n";
    char *path;
    struct dp_lua *l = load_ex(src, false, &path);
    static const char *const targets[] = { "/big", "/grow" };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(targets); i++) {
        char req[64];
        int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n\r\n", targets[i]);
        struct dp_msg *m = mk(DP_MSG_REQUEST, req, (size_t)n);
        char want[128];

        assert_true(dp_lua_apply(l, &m));
        assert_payload(m, req, (size_t)n);
        assert_int_equal(dp_lua_ctr(l)[DP_LUA_ERRORS], i + 1);
        snprintf(want, sizeof(want), "%s: on_request: memory limit (256 MiB) exceeded", path);
        assert_string_equal(dp_lua_last_error(l), want);
        dp_msg_unref(m);
    }
    {
        struct dp_msg *m = mk(DP_MSG_REQUEST, S(REQ("/")));

        assert_true(dp_lua_apply(l, &m));
        assert_payload(m, S("GET / HTTP/1.1\r\nX: ok\r\nHost: a\r\n\r\n"));
        assert_int_equal(dp_lua_ctr(l)[DP_LUA_ERRORS], 2);
        dp_msg_unref(m);
    }
    dp_lua_free(l);
    free(path);
}

/* ---- loading ---- */

static void test_load_errors(void **state)
{
    static const struct {
        const char *src;
        size_t len;
        int rc;
        const char *want; /* after "PATH" */
    } cases[] = {
        { S("function on_request(m)\n  x = = 1\nend\n"), -EINVAL, ":2: unexpected symbol" },
        { S("local x = nil\nx.y = 1\nfunction on_request(m) end\n"), -EINVAL,
                ":2: attempt to index a nil value" },
        { S("x = 1\n"), -EINVAL, ": defines none of on_request, on_response, on_replay" },
        { S(""), -EINVAL, ": defines none of on_request, on_response, on_replay" },
        { S("on_request = 5\n"), -EINVAL, ": on_request is a number, not a function" },
        { S("function on_request() end\non_replay = 'x'\n"), -EINVAL,
                ": on_replay is a string, not a function" },
        { S("\n\nwhile true do end\n"), -EINVAL,
                ":3: instruction limit (100000000 per call) exceeded" },
        { S("x = string.rep('x', 300 << 20)\n"), -EINVAL,
                ": top level: memory limit (256 MiB) exceeded" },
        { S("\x1bLua\x54\x00\x19\x93\r\n\x1a\n"), -EINVAL, ": bad binary format" },
        { S("error('at start')\n"), -EINVAL, ":1: at start" },
        { S("setmetatable(_G, {__index = function() error('no') end})\n"
            "function on_replay(m) end\n"), 0, NULL }, /* hooks are read raw */
        { S("#!/usr/bin/env lua\nfunction on_request(m) end\n"), 0, NULL },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        char *path = script_file(cases[i].src, cases[i].len);
        struct dp_err err = { 0 };
        struct dp_lua *l = NULL;
        int rc = dp_lua_new(path, false, &l, &err);
        char want[256];

        unlink(path);
        if (rc != cases[i].rc)
            fail_msg("case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, err.msg);
        if (rc == 0) {
            assert_non_null(l);
            dp_lua_free(l);
        } else {
            assert_null(l);
            assert_int_equal(err.code, rc);
            snprintf(want, sizeof(want), "%s%s", path, cases[i].want);
            if (i == 8) /* binary: Lua names the chunk without a line */
                assert_contains(err.msg, "attempt to load a binary chunk (mode is 't')");
            else
                assert_contains(err.msg, want);
        }
        free(path);
    }
}

static void test_load_file_errors(void **state)
{
    struct dp_err err = { 0 };
    struct dp_lua *l = NULL;

    (void)state;
    assert_int_equal(dp_lua_new("/nonexistent/dp.lua", false, &l, &err), -ENOENT);
    assert_null(l);
    assert_int_equal(err.code, -ENOENT);
    assert_contains(err.msg, "/nonexistent/dp.lua");
    assert_contains(err.msg, "No such file");
    assert_int_equal(dp_lua_new("/tmp", false, &l, &err), -EISDIR);
    assert_contains(err.msg, "/tmp");
    assert_int_equal(dp_lua_new("/nonexistent/dp.lua", false, &l, NULL), -ENOENT);
}

/* Only safe libraries: the script asserts it at its top level. */
static void test_sandbox(void **state)
{
    struct dp_lua *l = load(
            "assert(io == nil and debug == nil and package == nil and require == nil)\n"
            "assert(coroutine == nil and dofile == nil and loadfile == nil)\n"
            "assert(os.execute == nil and os.exit == nil and os.getenv == nil)\n"
            "assert(os.remove == nil and os.rename == nil and os.tmpname == nil)\n"
            "assert(math.type(os.time()) == 'integer' and type(os.clock()) == 'number')\n"
            "assert(type(os.date('%Y')) == 'string')\n"
            "assert(string.format and table.concat and math.floor and utf8.char)\n"
            "assert(load('return 1 + 1')() == 2)\n"
            "local f, e = load(string.dump(function() end))\n"
            "assert(f == nil and e:find('binary chunk'))\n"
            "assert(load('return x', 'n', 't', { x = 7 })() == 7)\n"
            "local ok, e2 = pcall(setmetatable, {}, { __gc = function() end })\n"
            "assert(not ok and e2:find('__gc'))\n"
            "assert(getmetatable(setmetatable({}, { __index = {} })) ~= nil)\n"
            "ok = pcall(table.move, {}, 1, 1 << 40, 2)\n"
            "assert(not ok)\n"
            "assert(#table.move({1, 2, 3}, 1, 3, 2) == 4)\n"
            "print('print goes to stderr', 1, nil, '\\0')\n"
            "function on_request(m)\n"
            "  assert(getmetatable(m) == 'doppel.msg')\n"
            "end\n");
    struct dp_msg *m = mk(DP_MSG_REQUEST, S(REQ("/")));

    (void)state;
    assert_true(dp_lua_apply(l, &m));
    assert_no_error(l);
    dp_msg_unref(m);
    dp_lua_free(l);
}

/* ---- the examples ---- */

static struct dp_lua *load_example(const char *path)
{
    struct dp_err err = { 0 };
    struct dp_lua *l = NULL;

    if (dp_lua_new(path, false, &l, &err) != 0)
        fail_msg("%s: %s", path, err.msg);
    return l;
}

static void test_example_set_header(void **state)
{
    struct dp_lua *l = load_example("examples/lua/set_header.lua");
    struct dp_msg *m = mk(DP_MSG_REQUEST, S(REQ("/")));

    (void)state;
    assert_true(dp_lua_apply(l, &m));
    assert_payload(m, S("GET / HTTP/1.1\r\nX-Doppel-Replay: 1\r\nHost: a\r\n\r\n"));
    dp_msg_unref(m);
    dp_lua_free(l);
}

static void test_example_filter(void **state)
{
    static const struct {
        const char *in;
        bool pass;
    } cases[] = {
        { REQ("/api/orders?page=2"), true },
        { "HEAD / HTTP/1.1\r\n\r\n", true },
        { "POST /api/orders HTTP/1.1\r\nContent-Length: 0\r\n\r\n", false },
        { REQ("/health"), false },
        { REQ("/healthz"), false },
        { REQ("/metrics"), false },
        { "GET / HTTP/1.1\r\nX-Synthetic: 1\r\n\r\n", false },
        { "not http at all", true },
    };
    struct dp_lua *l = load_example("examples/lua/filter.lua");

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        struct dp_msg *m = mk(DP_MSG_REQUEST, cases[i].in, strlen(cases[i].in));

        if (dp_lua_apply(l, &m) != cases[i].pass)
            fail_msg("case %zu: %s", i, cases[i].in);
        dp_msg_unref(m);
    }
    assert_no_error(l);
    dp_lua_free(l);
}

static struct dp_msg *mk_id(enum dp_msg_type type, const char *id, const char *payload)
{
    struct dp_msg *m = dp_msg_new(type, (const uint8_t *)id, strlen(id), 1, 0,
            (const uint8_t *)payload, strlen(payload));

    assert_non_null(m);
    return m;
}

static void test_example_token_rewrite(void **state)
{
    static const struct {
        enum dp_msg_type type;
        const char *id;
        const char *in;
        const char *out;
    } steps[] = {
        /* a login: the original response (2) then the replayed one (3) */
        { DP_MSG_REQUEST, "01", "POST /login HTTP/1.1\r\n\r\n", NULL },
        { DP_MSG_RESPONSE, "01", "HTTP/1.1 200 OK\r\nX-Token: old-1\r\n\r\n", NULL },
        { DP_MSG_REPLAY, "01", "HTTP/1.1 200 OK\r\nX-Token: new-1\r\n\r\n", NULL },
        { DP_MSG_REQUEST, "02", "GET /me HTTP/1.1\r\nAuthorization: Bearer old-1\r\n\r\n",
                "GET /me HTTP/1.1\r\nAuthorization: Bearer new-1\r\n\r\n" },
        /* the other order: 3 before 2 */
        { DP_MSG_REPLAY, "03", "HTTP/1.1 200 OK\r\nx-token: new-2\r\n\r\n", NULL },
        { DP_MSG_RESPONSE, "03", "HTTP/1.1 200 OK\r\nX-Token: old-2\r\n\r\n", NULL },
        { DP_MSG_REQUEST, "04", "GET /me HTTP/1.1\r\nauthorization: bearer  old-2\r\n\r\n",
                "GET /me HTTP/1.1\r\nauthorization: bearer new-2\r\n\r\n" },
        /* unknown tokens, other schemes, no token: unchanged */
        { DP_MSG_REQUEST, "05", "GET /me HTTP/1.1\r\nAuthorization: Bearer old-9\r\n\r\n",
                NULL },
        { DP_MSG_REQUEST, "06", "GET /me HTTP/1.1\r\nAuthorization: Basic old-1\r\n\r\n", NULL },
        { DP_MSG_REQUEST, "07", "GET /me HTTP/1.1\r\n\r\n", NULL },
        { DP_MSG_RESPONSE, "08", "HTTP/1.1 200 OK\r\n\r\n", NULL },
        /* every token=<token> query parameter too */
        { DP_MSG_REQUEST, "0a", "GET /x?token=old-2&a=1&token=old-1 HTTP/1.1\r\n\r\n",
                "GET /x?token=new-2&a=1&token=new-1 HTTP/1.1\r\n\r\n" },
        /* a body with a token: not a token source in the default (header) mode */
        { DP_MSG_RESPONSE, "0b", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nold-3", NULL },
        { DP_MSG_REPLAY, "0b", "HTTP/1.1 200 OK\r\nX-Token: bad token\r\n\r\n", NULL },
        { DP_MSG_REQUEST, "0c", "GET /?token=old-3 HTTP/1.1\r\n\r\n", NULL },
        /* the first token still maps */
        { DP_MSG_REQUEST, "09", "GET /x HTTP/1.1\r\nAuthorization: Bearer old-1\r\nA: b\r\n\r\n",
                "GET /x HTTP/1.1\r\nAuthorization: Bearer new-1\r\nA: b\r\n\r\n" },
    };
    struct dp_lua *l = load_example("examples/lua/token_rewrite.lua");

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(steps); i++) {
        struct dp_msg *m = mk_id(steps[i].type, steps[i].id, steps[i].in);
        const char *want = steps[i].out != NULL ? steps[i].out : steps[i].in;

        assert_true(dp_lua_apply(l, &m));
        assert_payload(m, want, strlen(want));
        dp_msg_unref(m);
    }
    assert_no_error(l);
    assert_int_equal(dp_lua_ctr(l)[DP_LUA_CHANGED], 4);
    dp_lua_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctr_names),
        cmocka_unit_test(test_read_request),
        cmocka_unit_test(test_read_response),
        cmocka_unit_test(test_hook_per_type),
        cmocka_unit_test(test_edits),
        cmocka_unit_test(test_edit_sole_owner),
        cmocka_unit_test(test_edit_refused),
        cmocka_unit_test(test_line_breaking_bytes),
        cmocka_unit_test(test_token_names),
        cmocka_unit_test(test_state_persists),
        cmocka_unit_test(test_drop),
        cmocka_unit_test(test_error_keeps_message),
        cmocka_unit_test(test_error_sole_owner),
        cmocka_unit_test(test_error_objects),
        cmocka_unit_test(test_error_count),
        cmocka_unit_test(test_use_after_call),
        cmocka_unit_test(test_use_after_call_kept),
        cmocka_unit_test(test_instruction_limit),
        cmocka_unit_test(test_instruction_budget_per_call),
        cmocka_unit_test(test_memory_limit),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_load_file_errors),
        cmocka_unit_test(test_sandbox),
        cmocka_unit_test(test_example_set_header),
        cmocka_unit_test(test_example_filter),
        cmocka_unit_test(test_example_token_rewrite),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
