/*
 * test_http_head.c: finding and setting header fields in a whole message (http/http_head).
 * Inputs are copied in front of a guard page (dp_guarded), so any read past them faults.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
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

struct remove_case {
    const char *in;
    size_t len;
    const char *name;
    int removed;
    const char *want;
    size_t want_len;
};

#define RM(in, name, removed, want) { in, L(in), name, removed, want, L(want) }

static void test_head_remove(void **state)
{
    static const struct remove_case cases[] = {
        RM("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n", "a", 1, "GET / HTTP/1.1\r\nB: 2\r\n\r\n"),
        /* every one, any case, the lines between kept in order */
        RM("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\na:3\r\nC: 4\r\nA : 5\r\nA: 6\r\n\r\nA: body",
                "A", 3, "GET / HTTP/1.1\r\nB: 2\r\nC: 4\r\nA : 5\r\n\r\nA: body"),
        /* obs-fold lines go with their field; after a kept field they stay */
        RM("GET / HTTP/1.1\r\nA: 1\r\n x\r\n\ty\r\nB: 2\r\n z\r\nA: 3\r\n w\r\n\r\n", "A", 2,
                "GET / HTTP/1.1\r\nB: 2\r\n z\r\n\r\n"),
        /* bare LFs, and a last line without LF */
        RM("GET / HTTP/1.1\nA: 1\nB: 2\nA: 3", "A", 2, "GET / HTTP/1.1\nB: 2\n"),
        RM("GET / HTTP/1.1\r\nB: 2\r\nA: 3", "A", 1, "GET / HTTP/1.1\r\nB: 2\r\n"),
        /* none: nothing changes */
        RM("GET / HTTP/1.1\r\nB: 2\r\n\r\nA: 1\r\n", "A", 0,
                "GET / HTTP/1.1\r\nB: 2\r\n\r\nA: 1\r\n"),
        RM("GET / HTTP/1.1", "A", 0, "GET / HTTP/1.1"),
        RM("GET / HTTP/1.1\r\n:x\r\n\r\n", "", 0, "GET / HTTP/1.1\r\n:x\r\n\r\n"),
        /* leading empty lines stay */
        RM("\r\nGET / HTTP/1.1\r\nA: 1\r\n\r\n", "A", 1, "\r\nGET / HTTP/1.1\r\n\r\n"),
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        const struct remove_case *c = &cases[i];
        struct dp_msg *m = dp_msg_new(DP_MSG_REQUEST, (const uint8_t *)"id", 2, 5, 6,
                (const uint8_t *)c->in, c->len);
        struct dp_msg *shared;

        assert_non_null(m);
        shared = dp_msg_ref(m); /* another holder keeps the original */
        assert_int_equal(http_head_remove(&m, c->name, strlen(c->name)), c->removed);
        assert_int_equal(m->len, c->want_len);
        assert_memory_equal(dp_msg_payload(m), c->want, c->want_len);
        assert_memory_equal(dp_msg_meta(m), "1 id 5 6\n", 9);
        assert_int_equal(shared->len, c->len);
        assert_memory_equal(dp_msg_payload(shared), c->in, c->len);
        dp_msg_unref(shared); /* the same message when nothing was removed: two references */
        dp_msg_unref(m);
    }
    dp_msg_cache_drain();
}

/* 100,000 fields of one name go in one walk: each kept line moves once (a splice for each
 * removed one moved the whole message each time, 16 s for 4 MB). The body is intact. */
static void test_head_remove_many(void **state)
{
    static const char start[] = "POST / HTTP/1.1\r\nHost: a\r\n";
    static const char tail[] = "Keep: 1\r\n\r\nbody";
    size_t n = 100000;
    size_t len = L(start) + n * L("X: 1\r\nY: 2\r\n") + L(tail);
    char *in = malloc(len);
    char *p = in;
    struct dp_msg *m;
    const uint8_t *q;

    (void)state;
    assert_non_null(in);
    memcpy(p, start, L(start));
    p += L(start);
    for (size_t i = 0; i < n; i++, p += L("X: 1\r\nY: 2\r\n"))
        memcpy(p, "X: 1\r\nY: 2\r\n", L("X: 1\r\nY: 2\r\n"));
    memcpy(p, tail, L(tail));
    m = dp_msg_new(DP_MSG_REQUEST, (const uint8_t *)"id", 2, 0, 0, (const uint8_t *)in, len);
    assert_non_null(m);
    assert_int_equal(http_head_remove(&m, "x", 1), (int)n);
    assert_int_equal(m->len, L(start) + n * L("Y: 2\r\n") + L(tail));
    q = dp_msg_payload(m);
    assert_memory_equal(q, start, L(start));
    for (size_t i = 0; i < n; i++)
        assert_memory_equal(q + L(start) + i * L("Y: 2\r\n"), "Y: 2\r\n", L("Y: 2\r\n"));
    assert_memory_equal(q + m->len - L(tail), tail, L(tail));
    free(in);
    dp_msg_unref(m);
    dp_msg_cache_drain();
}

/* ---- the head index ---- */

static bool ref_blank(const uint8_t *p, size_t off, size_t end)
{
    return end == off || (end == off + 1 && p[off] == '\r');
}

/* What http_head_index() must build, line by line with memchr(). */
static void ref_index(const uint8_t *p, size_t len, size_t max, struct http_head_idx *ix)
{
    const uint8_t *lf;
    size_t s = 0;

    memset(ix, 0, sizeof(*ix));
    ix->max = max;
    for (;;) {
        lf = s < len ? memchr(p + s, '\n', len - s) : NULL;
        if (lf == NULL)
            return; /* no whole start line: all 0 */
        if (!ref_blank(p, s, (size_t)(lf - p)))
            break;
        s = (size_t)(lf - p) + 1;
    }
    ix->start = s;
    ix->start_end = s = (size_t)(lf - p) + 1;
    while (s < len) {
        size_t e;

        if (ix->n == max) {
            ix->more = !(p[s] == '\n' || (p[s] == '\r' && (s + 1 == len || p[s + 1] == '\n')));
            break;
        }
        lf = memchr(p + s, '\n', len - s);
        e = lf != NULL ? (size_t)(lf - p) : len;
        if (ref_blank(p, s, e))
            break;
        ix->line[ix->n++] = s;
        s = lf != NULL ? e + 1 : len;
    }
    ix->line[ix->n] = s;
}

/* <a> and <b> index the same lines (max aside). */
static void assert_same_index(const struct http_head_idx *a, const struct http_head_idx *b,
        const char *what, size_t k)
{
    if (a->start != b->start || a->start_end != b->start_end || a->n != b->n ||
            a->more != b->more)
        fail_msg("%s (%zu): start %zu/%zu start_end %zu/%zu n %zu/%zu more %d/%d", what, k,
                a->start, b->start, a->start_end, b->start_end, a->n, b->n, a->more, b->more);
    for (size_t i = 0; i <= a->n; i++) {
        if (a->line[i] != b->line[i])
            fail_msg("%s (%zu): line[%zu] %zu/%zu", what, k, i, a->line[i], b->line[i]);
    }
}

static void test_head_index_cases(void **state)
{
    static const struct {
        const char *in;
        size_t len;
        size_t max;
        size_t start, start_end, n;
        bool more;
        size_t line[6]; /* line[0..n] */
    } cases[] = {
#define S(s) s, sizeof(s) - 1
        { S("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\nbody"), 64, 0, 16, 2, false, { 16, 22, 28 } },
        { S("GET / HTTP/1.1\nA: 1\nB: 2\n\nbody"), 64, 0, 15, 2, false, { 15, 20, 25 } },
        /* leading empty lines; an obs-fold line is a line of its own */
        { S("\r\n\nGET / HTTP/1.1\r\nA: 1\r\n b\r\n\r\n"), 64, 3, 19, 2, false, { 19, 25, 29 } },
        /* the head does not end: the last line runs to the end; a lone CR is no line */
        { S("GET / HTTP/1.1\r\nA: 1\r\nB: 2"), 64, 0, 16, 2, false, { 16, 22, 26 } },
        { S("GET / HTTP/1.1\r\nA: 1\r\n\r"), 64, 0, 16, 1, false, { 16, 22 } },
        { S("GET / HTTP/1.1\r\n"), 64, 0, 16, 0, false, { 16 } },
        /* no whole start line */
        { S("GET / HTTP/1.1"), 64, 0, 0, 0, false, { 0 } },
        { S("\r\n\r\n"), 64, 0, 0, 0, false, { 0 } },
        { S(""), 64, 0, 0, 0, false, { 0 } },
        { S("\r"), 64, 0, 0, 0, false, { 0 } },
        /* max: the lines after are searched one by one */
        { S("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n"), 1, 0, 16, 1, true, { 16, 22 } },
        { S("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n"), 0, 0, 16, 0, true, { 16 } },
        { S("GET / HTTP/1.1\r\nA: 1\r\n\r\n"), 1, 0, 16, 1, false, { 16, 22 } },
        { S("GET / HTTP/1.1\r\n\r"), 0, 0, 16, 0, false, { 16 } },
        /* NULs are bytes like others */
        { S("G\0T / HTTP/1.1\r\n\0: \0\r\n\r\n"), 64, 0, 16, 1, false, { 16, 22 } },
#undef S
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        struct dp_guarded g;
        struct http_head_idx ix;

        dp_guarded_init(&g, cases[i].in, cases[i].len);
        http_head_index(g.ptr, cases[i].len, cases[i].max, &ix);
        if (ix.start != cases[i].start || ix.start_end != cases[i].start_end ||
                ix.n != cases[i].n || ix.more != cases[i].more || ix.max != cases[i].max)
            fail_msg("case %zu: start %zu start_end %zu n %zu more %d", i, ix.start,
                    ix.start_end, ix.n, ix.more);
        for (size_t k = 0; k <= ix.n; k++)
            assert_int_equal(ix.line[k], cases[i].line[k]);
        dp_guarded_free(&g);
    }
}

static const char *const idx_names[] = { "Host", "HOST", "a", "A", "b", "X-Real-IP", "Folded",
    "Dup", "Empty", "Hos", "", "x", " Host", "Host:", "H40", "H70" };

/* Every name of idx_names: http_head_idx_find() through <ix> answers as http_head_find(). */
static void assert_finds_agree(const struct http_head_idx *ix, const uint8_t *p, size_t len,
        size_t k)
{
    for (size_t i = 0; i < DP_ARRAY_LEN(idx_names); i++) {
        struct http_field f;
        struct http_field g;
        size_t nl = strlen(idx_names[i]);
        bool a = http_head_find(p, len, idx_names[i], nl, &f);
        bool b = http_head_idx_find(ix, p, len, idx_names[i], nl, &g);

        if (a != b || (a && memcmp(&f, &g, sizeof(f)) != 0))
            fail_msg("(%zu) \"%s\": http_head_find %d, http_head_idx_find %d", k, idx_names[i],
                    a, b);
    }
}

/* A head of <lines> field lines "H<i>: v<i>", then a blank line and a body. */
static size_t many_lines(char *buf, size_t cap, size_t lines)
{
    size_t n = (size_t)snprintf(buf, cap, "GET /m HTTP/1.1\r\n");

    for (size_t i = 0; i < lines; i++)
        n += (size_t)snprintf(buf + n, cap - n, "H%zu: v%zu\r\n", i, i);
    n += (size_t)snprintf(buf + n, cap - n, "\r\nbody");
    assert_true(n < cap);
    return n;
}

/* Every prefix of each message (the head cut at every byte), at several <max>: the index is
 * the reference's, and every lookup agrees with http_head_find(). */
static void test_head_index_every_split(void **state)
{
    static const char msg[] = "\r\nGET /x HTTP/1.1\r\n"
                              "Host: example.com\r\n"
                              "x-real-ip:10.0.0.1 \t\r\n"
                              "Empty:\r\n"
                              "Folded: a\r\n"
                              " Host: not-a-field\r\n"
                              "\tb\r\n"
                              "Dup: first\r\n"
                              "dup: second\n"
                              "a:1\r\r\n"
                              "\r\n"
                              "Body-Header: no\r\n";
    static const char lf[] = "GET / HTTP/1.0\nA: 1\nb:  2 \nHost:h\n\nA: body\n";
    static const size_t maxes[] = { 0, 1, 3, HTTP_IDX_MAX };
    static char big[4096];
    static char big64[4096];
    const struct {
        const char *p;
        size_t len;
    } msgs[] = {
        { msg, sizeof(msg) - 1 },
        { lf, sizeof(lf) - 1 },
        { big, many_lines(big, sizeof(big), 80) },
        { big64, many_lines(big64, sizeof(big64), HTTP_IDX_MAX) },
    };

    (void)state;
    for (size_t m = 0; m < DP_ARRAY_LEN(msgs); m++) {
        const char *in = msgs[m].p;
        size_t len = msgs[m].len;

        for (size_t k = 0; k <= len; k++) {
            struct dp_guarded g;

            dp_guarded_init(&g, in, k);
            for (size_t x = 0; x < DP_ARRAY_LEN(maxes); x++) {
                struct http_head_idx ix;
                struct http_head_idx want;

                http_head_index(g.ptr, k, maxes[x], &ix);
                ref_index(g.ptr, k, maxes[x], &want);
                assert_same_index(&ix, &want, "index", k);
                assert_int_equal(ix.start_end, http_head_start_end(g.ptr, k));
                assert_finds_agree(&ix, g.ptr, k, k);
            }
            dp_guarded_free(&g);
        }
    }
}

/* http_head_index_names(): the index of http_head_index(), and for each name the line
 * http_head_idx_find() finds among the indexed ones, at every split (the guard page behind). */
static void test_head_index_names_every_split(void **state)
{
    static const char msg[] = "GET /x HTTP/1.1\r\n"
                              " Host: folded\r\n"
                              "HOST: example.com\r\n"
                              "X-Real-IP:1\r\n"
                              "Content-Encoding-: no\r\n"
                              "content-encoding: gzip\r\n"
                              "X-Long-Header-Name-Here: v\r\n"
                              "abcdefghijklmnopqrstuvwxyz\r\n"
                              "x:\r\n"
                              ":empty\r\n"
                              "\r\n";
    static const struct http_name names[] = {
        { "host", 4 }, { "X-Real-IP", 9 }, { "Host", 4 }, { "Content-Encoding", 16 },
        { "x-long-header-name-here", 23 }, { "X", 1 }, { "", 0 }, { "Missing", 7 },
    };
    static const size_t maxes[] = { 0, 1, 3, HTTP_IDX_MAX };
    struct http_names nm;

    (void)state;
    http_names_init(&nm, names, DP_ARRAY_LEN(names));
    for (size_t k = 0; k <= sizeof(msg) - 1; k++) {
        struct dp_guarded g;

        dp_guarded_init(&g, msg, k);
        for (size_t x = 0; x < DP_ARRAY_LEN(maxes); x++) {
            struct http_head_idx ix;
            struct http_head_idx want;
            int32_t line[DP_ARRAY_LEN(names)];

            memset(line, 0xff, sizeof(line));
            http_head_index_names(g.ptr, k, maxes[x], &ix, &nm, line);
            http_head_index(g.ptr, k, maxes[x], &want);
            assert_same_index(&ix, &want, "index_names", k);
            for (size_t i = 0; i < DP_ARRAY_LEN(names); i++) {
                struct http_field f;
                struct http_field h;
                bool found = http_head_idx_find(&ix, g.ptr, k, names[i].name, names[i].len, &f);

                if (line[i] < 0) {
                    assert_int_equal(line[i], -1);
                    assert_true(!found || f.line_off >= ix.line[ix.n]);
                    continue;
                }
                assert_true(found);
                assert_true((size_t)line[i] < ix.n);
                http_head_idx_field(&ix, g.ptr, (size_t)line[i], names[i].len, &h);
                assert_memory_equal(&f, &h, sizeof(f));
            }
        }
        dp_guarded_free(&g);
    }
}

enum idx_op {
    OP_SET = 0, /* http_head_idx_set(name, value) */
    OP_INSERT,  /* http_head_idx_insert("name: value\r\n") */
    OP_TARGET,  /* http_head_idx_splice() of the request-target, by value */
    OP_COUNT
};

struct edit_case {
    const char *in;
    enum idx_op op;
    const char *name;
    const char *value;
    const char *want;
};

/* Edits through the index: the bytes are those of the plain functions (http_head_set(),
 * http_head_set_target()), and the index is what http_head_index() builds anew. */
static void test_head_idx_edits(void **state)
{
    static const char head[] = "GET /a HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\nbody";
    static const char lfs[] = "GET /a HTTP/1.0\nHost: h\n\n";
    static const char cut[] = "GET /a HTTP/1.1\r\nHost: h\r\nX:";
    static const struct edit_case cases[] = {
        { head, OP_SET, "x", "22", "GET /a HTTP/1.1\r\nHost: h\r\nX: 22\r\n\r\nbody" },
        { head, OP_SET, "New", "v", "GET /a HTTP/1.1\r\nNew: v\r\nHost: h\r\nX: 1\r\n\r\nbody" },
        { head, OP_SET, "Host", "", "GET /a HTTP/1.1\r\nHost: \r\nX: 1\r\n\r\nbody" },
        /* an LF in the value makes new lines: the head is indexed again */
        { head, OP_SET, "X", "1\r\nY: 2", "GET /a HTTP/1.1\r\nHost: h\r\nX: 1\r\nY: 2\r\n\r\nbody" },
        { head, OP_SET, "N", "a\nZ: z", "GET /a HTTP/1.1\r\nN: a\nZ: z\r\nHost: h\r\nX: 1\r\n\r\nbody" },
        { head, OP_INSERT, "I", "i", "GET /a HTTP/1.1\r\nI: i\r\nHost: h\r\nX: 1\r\n\r\nbody" },
        { head, OP_TARGET, NULL, "/longer/target", "GET /longer/target HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\nbody" },
        { head, OP_TARGET, NULL, "", "GET  HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\nbody" },
        { head, OP_TARGET, NULL, "/a\nB: b", "GET /a\nB: b HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\nbody" },
        { lfs, OP_SET, "host", "H", "GET /a HTTP/1.0\nHost: H\n\n" },
        { lfs, OP_SET, "X", "1", "GET /a HTTP/1.0\nX: 1\r\nHost: h\n\n" },
        /* a head cut short: the last line's value is at the end */
        { cut, OP_SET, "X", "long", "GET /a HTTP/1.1\r\nHost: h\r\nX:long" },
        { cut, OP_TARGET, NULL, "/b/c", "GET /b/c HTTP/1.1\r\nHost: h\r\nX:" },
    };
    static const size_t maxes[] = { 0, 1, 2, HTTP_IDX_MAX };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        for (size_t x = 0; x < DP_ARRAY_LEN(maxes); x++) {
            const struct edit_case *c = &cases[i];
            size_t len = strlen(c->in);
            struct dp_msg *m = dp_msg_new(DP_MSG_REQUEST, (const uint8_t *)"id", 2, 0, 0,
                    (const uint8_t *)c->in, len);
            struct dp_msg *w = dp_msg_new(DP_MSG_REQUEST, (const uint8_t *)"id", 2, 0, 0,
                    (const uint8_t *)c->in, len);
            struct http_head_idx ix;
            struct http_head_idx want;
            int rc = -1;

            assert_non_null(m);
            assert_non_null(w);
            http_head_index(dp_msg_payload(m), m->len, maxes[x], &ix);
            switch (c->op) {
            case OP_SET:
                rc = http_head_idx_set(&m, &ix, c->name, strlen(c->name), c->value,
                        strlen(c->value));
                assert_int_equal(http_head_set(&w, c->name, strlen(c->name), c->value,
                                         strlen(c->value)),
                        0);
                break;
            case OP_INSERT: {
                char line[64];
                int n = snprintf(line, sizeof(line), "%s: %s\r\n", c->name, c->value);

                rc = http_head_idx_insert(&m, &ix, (const uint8_t *)line, (size_t)n);
                break;
            }
            case OP_TARGET: {
                const uint8_t *sp = memchr(dp_msg_payload(m), ' ', m->len);
                const uint8_t *sp2 = memchr(sp + 1, ' ', m->len - (size_t)(sp + 1 - dp_msg_payload(m)));
                size_t off = (size_t)(sp + 1 - dp_msg_payload(m));

                rc = http_head_idx_splice(&m, &ix, off, (size_t)(sp2 - sp - 1),
                        (const uint8_t *)c->value, strlen(c->value));
                assert_int_equal(http_head_set_target(&w, NULL, 0, c->value, strlen(c->value)),
                        0);
                break;
            }
            case OP_COUNT:
                break;
            }
            assert_int_equal(rc, 0);
            if (m->len != strlen(c->want) || memcmp(dp_msg_payload(m), c->want, m->len) != 0)
                fail_msg("case %zu max %zu: \"%.*s\"", i, maxes[x], (int)m->len,
                        (const char *)dp_msg_payload(m));
            if (c->op != OP_INSERT) {
                assert_int_equal(w->len, m->len);
                assert_memory_equal(dp_msg_payload(w), dp_msg_payload(m), m->len);
            }
            ref_index(dp_msg_payload(m), m->len, ix.n, &want);
            assert_same_index(&ix, &want, "edited", i);
            assert_finds_agree(&ix, dp_msg_payload(m), m->len, i);
            dp_msg_unref(m);
            dp_msg_unref(w);
        }
    }
    dp_msg_cache_drain();
}

/* Heads longer than the index: lookups and edits past it, and an insert into a full index. */
static void test_head_idx_long_heads(void **state)
{
    static const size_t counts[] = { HTTP_IDX_MAX - 1, HTTP_IDX_MAX, HTTP_IDX_MAX + 1, 200 };
    char buf[8192];

    (void)state;
    for (size_t c = 0; c < DP_ARRAY_LEN(counts); c++) {
        size_t len = many_lines(buf, sizeof(buf), counts[c]);
        struct dp_msg *m = dp_msg_new(DP_MSG_REQUEST, (const uint8_t *)"id", 2, 0, 0,
                (const uint8_t *)buf, len);
        struct http_head_idx ix;
        struct http_head_idx want;
        struct http_field f;
        char name[16];

        assert_non_null(m);
        http_head_index(dp_msg_payload(m), m->len, HTTP_IDX_MAX, &ix);
        assert_int_equal(ix.n, DP_MIN(counts[c], (size_t)HTTP_IDX_MAX));
        assert_int_equal(ix.more, counts[c] > HTTP_IDX_MAX);
        /* the last field: past the index when there are more */
        snprintf(name, sizeof(name), "h%zu", counts[c] - 1);
        assert_true(http_head_idx_find(&ix, dp_msg_payload(m), m->len, name, strlen(name), &f));
        assert_int_equal(http_head_idx_set(&m, &ix, name, strlen(name), "new", 3), 0);
        assert_true(http_head_find(dp_msg_payload(m), m->len, name, strlen(name), &f));
        assert_memory_equal(dp_msg_payload(m) + f.value_off, "new", 3);
        /* a new line first: a full index lets its last line go */
        assert_int_equal(http_head_idx_set(&m, &ix, "First", 5, "1", 1), 0);
        assert_memory_equal(dp_msg_payload(m) + ix.start_end, "First: 1\r\n", 10);
        ref_index(dp_msg_payload(m), m->len, ix.n, &want);
        assert_same_index(&ix, &want, "long", counts[c]);
        assert_finds_agree(&ix, dp_msg_payload(m), m->len, counts[c]);
        assert_true(http_head_idx_find(&ix, dp_msg_payload(m), m->len, name, strlen(name), &f));
        dp_msg_unref(m);
    }
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
        cmocka_unit_test(test_head_remove),
        cmocka_unit_test(test_head_remove_many),
        cmocka_unit_test(test_head_index_cases),
        cmocka_unit_test(test_head_index_every_split),
        cmocka_unit_test(test_head_index_names_every_split),
        cmocka_unit_test(test_head_idx_edits),
        cmocka_unit_test(test_head_idx_long_heads),
        cmocka_unit_test(test_is_token),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
