/*
 * test_http_head.c: finding and setting header fields in a whole message (http/http_head).
 * Inputs are copied in front of a guard page (dp_guarded), so any read past them faults.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dp_test.h"

#include "core/common.h"
#include "http/http_head.h"

#define L(s) (sizeof(s) - 1)

static void test_head_start_end(void **state)
{
    static const struct {
        const char *in;
        size_t len;
        size_t want;
    } cases[] = {
        { "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27, 16 },
        { "GET / HTTP/1.1\nHost: a\n\n", 24, 15 },
        { "\r\n\r\nGET / HTTP/1.1\r\n", 20, 20 }, /* leading empty lines skipped */
        { "\n\nGET / HTTP/1.1\n", 17, 17 },
        { "GET / HTTP/1.1", 14, 0 },              /* no LF: no whole start line */
        { "\r\n\r\n", 4, 0 },
        { "", 0, 0 },
        { "\r", 1, 0 },
        { "G\0T / HTTP/1.1\r\n", 16, 16 },        /* NULs are bytes like others */
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        struct dp_guarded g;

        dp_guarded_init(&g, cases[i].in, cases[i].len);
        assert_int_equal(http_head_start_end(g.ptr, cases[i].len), cases[i].want);
        dp_guarded_free(&g);
    }
}

struct find_case {
    const char *in;
    size_t len;
    const char *name;
    const char *value; /* NULL: not found */
};

static void test_head_find(void **state)
{
    static const char msg[] = "GET /x HTTP/1.1\r\n"
                              "Host: example.com\r\n"
                              "x-real-ip:10.0.0.1 \t\r\n"
                              "Empty:\r\n"
                              "Folded: a\r\n"
                              " Host: not-a-field\r\n"
                              "Bad Name: x\r\n"
                              "Dup: first\r\n"
                              "dup: second\r\n"
                              "\r\n"
                              "Body-Header: no\r\n";
    static const struct find_case cases[] = {
        { msg, L(msg), "Host", "example.com" },
        { msg, L(msg), "HOST", "example.com" },
        { msg, L(msg), "X-Real-IP", "10.0.0.1" },
        { msg, L(msg), "Empty", "" },
        { msg, L(msg), "Folded", "a" },
        { msg, L(msg), "Dup", "first" },
        { msg, L(msg), "Name", NULL },
        { msg, L(msg), "Body-Header", NULL },
        { msg, L(msg), "Hos", NULL },
        { msg, L(msg), "Hostx", NULL },
        { msg, L(msg), "", NULL },
        { "GET / HTTP/1.1\nA: 1\nB:2", 23, "B", "2" }, /* the head goes on to the end */
        { "GET / HTTP/1.1\r\nA: 1", 20, "A", "1" },
        { "GET / HTTP/1.1", 14, "GET / HTTP/1.1", NULL },
        { "A: 1\r\nB: 2\r\n\r\n", 14, "A", NULL }, /* the first line is the start line */
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        const struct find_case *c = &cases[i];
        struct dp_guarded g;
        struct http_field f;
        bool found;

        dp_guarded_init(&g, c->in, c->len);
        found = http_head_find(g.ptr, c->len, c->name, strlen(c->name), &f);
        if (found != (c->value != NULL))
            fail_msg("case %zu (%s): found=%d", i, c->name, found);
        if (found) {
            assert_int_equal(f.value_len, strlen(c->value));
            assert_memory_equal(g.ptr + f.value_off, c->value, f.value_len);
            assert_int_equal(f.name_len, strlen(c->name));
            assert_true(f.line_off + f.line_len <= c->len);
            assert_true(f.line_off + f.line_len == c->len ||
                    g.ptr[f.line_off + f.line_len - 1] == '\n');
        }
        dp_guarded_free(&g);
    }
}

struct set_case {
    const char *in;
    size_t len;
    const char *name;
    const char *value;
    const char *want; /* NULL: -EINVAL, unchanged */
    size_t want_len;
};

#define CASE(in, name, value, want) { in, L(in), name, value, want, L(want) }

static void test_head_set(void **state)
{
    static const struct set_case cases[] = {
        /* inserted right after the request line (GoReplay's SetHeader) */
        CASE("GET / HTTP/1.1\r\nHost: a\r\n\r\n", "X-Real-IP", "10.0.0.1",
                "GET / HTTP/1.1\r\nX-Real-IP: 10.0.0.1\r\nHost: a\r\n\r\n"),
        /* replaced in place, the name's spelling kept, whitespace around the value kept */
        CASE("GET / HTTP/1.1\r\nhost: a\r\nx-real-ip:  1.1.1.1  \r\n\r\nbody", "X-Real-IP",
                "::1", "GET / HTTP/1.1\r\nhost: a\r\nx-real-ip:  ::1  \r\n\r\nbody"),
        /* only the first of duplicates */
        CASE("GET / HTTP/1.1\r\nA: 1\r\nA: 2\r\n\r\n", "a", "3",
                "GET / HTTP/1.1\r\nA: 3\r\nA: 2\r\n\r\n"),
        /* bare LF heads: the new line still ends with CRLF */
        CASE("GET / HTTP/1.1\nHost: a\n\n", "X", "y", "GET / HTTP/1.1\nX: y\r\nHost: a\n\n"),
        /* a header in the body is not a header */
        CASE("POST / HTTP/1.1\r\n\r\nX: 1\r\n", "X", "2",
                "POST / HTTP/1.1\r\nX: 2\r\n\r\nX: 1\r\n"),
        /* an empty value */
        CASE("GET / HTTP/1.1\r\nE:\r\n\r\n", "E", "v", "GET / HTTP/1.1\r\nE:v\r\n\r\n"),
        /* leading empty lines are kept before the request line */
        CASE("\r\nGET / HTTP/1.1\r\n\r\n", "X", "1", "\r\nGET / HTTP/1.1\r\nX: 1\r\n\r\n"),
        /* no whole start line: nothing to do */
        { "GET / HTTP/1.1", 14, "X", "1", NULL, 0 },
        { "", 0, "X", "1", NULL, 0 },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        const struct set_case *c = &cases[i];
        struct dp_msg *m = dp_msg_new(DP_MSG_REQUEST, (const uint8_t *)"id", 2, 5, 6,
                (const uint8_t *)c->in, c->len);
        int rc;

        assert_non_null(m);
        rc = http_head_set(&m, c->name, strlen(c->name), c->value, strlen(c->value));
        if (c->want == NULL) {
            assert_int_equal(rc, -EINVAL);
            assert_int_equal(m->len, c->len);
            assert_memory_equal(dp_msg_payload(m), c->in, c->len);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(m->len, c->want_len);
            assert_memory_equal(dp_msg_payload(m), c->want, c->want_len);
        }
        assert_memory_equal(dp_msg_meta(m), "1 id 5 6\n", 9);
        dp_msg_unref(m);
    }
    dp_msg_cache_drain();
}

/* A long value makes the message grow; the body after the head is intact. */
static void test_head_set_long(void **state)
{
    static const char in[] = "POST /p HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody";
    char *value = malloc(70000);
    struct dp_msg *m;

    (void)state;
    assert_non_null(value);
    memset(value, 'v', 70000);
    m = dp_msg_new(DP_MSG_REQUEST, (const uint8_t *)"id", 2, 0, 0, (const uint8_t *)in, L(in));
    assert_non_null(m);
    assert_int_equal(http_head_set(&m, "X-Long", 6, value, 70000), 0);
    assert_int_equal(m->len, L(in) + 6 + 2 + 70000 + 2);
    assert_memory_equal(dp_msg_payload(m), "POST /p HTTP/1.1\r\nX-Long: vvv", 29);
    assert_memory_equal(dp_msg_payload(m) + m->len - L("\r\nContent-Length: 4\r\n\r\nbody"),
            "\r\nContent-Length: 4\r\n\r\nbody", L("\r\nContent-Length: 4\r\n\r\nbody"));
    free(value);
    dp_msg_unref(m);
    dp_msg_cache_drain();
}

static void test_is_token(void **state)
{
    (void)state;
    assert_true(http_is_token("X-Real-IP", 9));
    assert_true(http_is_token("a!#$%&'*+-.^_`|~9", 17));
    assert_false(http_is_token("", 0));
    assert_false(http_is_token("X Real", 6));
    assert_false(http_is_token("X:", 2));
    assert_false(http_is_token("X\r", 2));
    assert_false(http_is_token("X\0", 2));
    assert_false(http_is_token("\xc3\xa9", 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_start_end),
        cmocka_unit_test(test_head_find),
        cmocka_unit_test(test_head_set),
        cmocka_unit_test(test_head_set_long),
        cmocka_unit_test(test_is_token),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
