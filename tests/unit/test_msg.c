/* test_msg.c: messages: building, reference counts, meta-line parsing, random ids. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dp_test.h"

#include "core/msg.h"

static void assert_id(const struct dp_msg *m, const char *id, size_t id_len)
{
    struct dp_bytes b = dp_msg_id(m);

    assert_int_equal(b.len, id_len);
    if (id_len > 0)
        assert_memory_equal(b.ptr, id, id_len);
}

static void test_msg_new(void **state)
{
    static const uint8_t payload[] = "GET / HTTP/1.1\r\n\0\0x\0\n";
    const size_t plen = sizeof(payload) - 1;
    static const char meta[] = "1 8f3a0e2 1611642131487022000 405000\n";
    struct dp_msg *m;

    (void)state;
    m = dp_msg_new(DP_MSG_REQUEST, (const uint8_t *)"8f3a0e2", 7, 1611642131487022000,
            405000, payload, plen);
    assert_non_null(m);
    assert_int_equal(m->refs, 1);
    assert_int_equal(m->type, DP_MSG_REQUEST);
    assert_int_equal(m->flags, 0);
    assert_int_equal(m->meta_len, sizeof(meta) - 1);
    assert_memory_equal(m->buf, meta, sizeof(meta) - 1);
    assert_id(m, "8f3a0e2", 7);
    assert_int_equal(m->ts_ns, 1611642131487022000);
    assert_int_equal(m->latency_ns, 405000);
    assert_int_equal(m->len, plen);
    assert_true(m->cap >= m->meta_len + m->len);
    assert_memory_equal(dp_msg_payload(m), payload, plen);
    dp_msg_unref(m);

    /* An empty payload (no pointer needed), a negative latency, type 3. */
    m = dp_msg_new(DP_MSG_REPLAY, (const uint8_t *)"a", 1, 0, -5, NULL, 0);
    assert_non_null(m);
    assert_int_equal(m->meta_len, 9);
    assert_memory_equal(m->buf, "3 a 0 -5\n", 9);
    assert_int_equal(m->len, 0);
    assert_int_equal(m->latency_ns, -5);
    dp_msg_unref(m);

    /* Extreme timestamps fit the meta line. */
    m = dp_msg_new(DP_MSG_RESPONSE, (const uint8_t *)"x", 1, INT64_MIN, INT64_MAX, NULL, 0);
    assert_non_null(m);
    {
        static const char want[] = "2 x -9223372036854775808 9223372036854775807\n";

        assert_int_equal(m->meta_len, sizeof(want) - 1);
        assert_memory_equal(m->buf, want, sizeof(want) - 1);
    }
    dp_msg_unref(m);
}

/* A built message parses back to the same fields. */
static void test_msg_new_parses_back(void **state)
{
    static const struct {
        enum dp_msg_type type;
        const char *id;
        int64_t ts, lat;
    } cases[] = {
        { DP_MSG_REQUEST, "0123456789abcdef01234567", 1, 0 },
        { DP_MSG_RESPONSE, "b", 1611642131487022000, 405000 },
        { DP_MSG_REPLAY, "id-with_chars", INT64_MAX, INT64_MAX },
        { DP_MSG_REQUEST, "neg", -1, -9223372036854775807 },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        size_t id_len = strlen(cases[i].id);
        struct dp_msg *m = dp_msg_new(cases[i].type, (const uint8_t *)cases[i].id, id_len,
                cases[i].ts, cases[i].lat, (const uint8_t *)"p\0q", 3);
        struct dp_msg p;

        assert_non_null(m);
        memset(&p, 0, sizeof(p));
        assert_int_equal(dp_msg_parse_meta(&p, m->buf, m->meta_len + m->len), 0);
        assert_int_equal(p.type, cases[i].type);
        assert_int_equal(p.meta_len, m->meta_len);
        assert_int_equal(p.id_off, m->id_off);
        assert_int_equal(p.id_len, id_len);
        assert_memory_equal(m->buf + p.id_off, cases[i].id, id_len);
        assert_int_equal(p.ts_ns, cases[i].ts);
        assert_int_equal(p.latency_ns, cases[i].lat);
        dp_msg_unref(m);
    }
}

static void test_msg_refcount(void **state)
{
    struct dp_msg *m;

    (void)state;
    m = dp_msg_new(DP_MSG_REQUEST, (const uint8_t *)"r", 1, 1, 2, (const uint8_t *)"x", 1);
    assert_non_null(m);
    assert_int_equal(m->refs, 1);
    assert_ptr_equal(dp_msg_ref(m), m);
    assert_ptr_equal(dp_msg_ref(m), m);
    assert_int_equal(m->refs, 3);
    dp_msg_unref(m);
    assert_int_equal(m->refs, 2);
    dp_msg_unref(m);
    assert_int_equal(m->refs, 1);
    /* Still usable with one reference left. */
    assert_memory_equal(dp_msg_payload(m), "x", 1);
    dp_msg_unref(m); /* released: LeakSanitizer reports it if not */
}

static void assert_fresh(const struct dp_msg *m, size_t cap)
{
    assert_non_null(m);
    assert_int_equal(m->refs, 1);
    assert_true(m->cap >= cap); /* room for at least <cap> bytes; may be rounded up */
    assert_int_equal(m->len, 0);
    assert_int_equal(m->meta_len, 0);
    assert_int_equal(m->flags, 0);
    assert_int_equal(m->type, 0);
    assert_int_equal(m->id_off, 0);
    assert_int_equal(m->id_len, 0);
    assert_int_equal(m->ts_ns, 0);
    assert_int_equal(m->latency_ns, 0);
    assert_int_equal(m->input, 0);
    assert_int_equal(m->seq, 0);
}

static void test_msg_alloc(void **state)
{
    static const size_t sizes[] = { 0, 1, 100, 200, 255, 256, 4096, 65000, 65536, 70000, 1 << 20 };
    struct dp_msg *held[DP_ARRAY_LEN(sizes)];
    struct dp_msg *m;

    (void)state;
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < DP_ARRAY_LEN(sizes); i++) {
            m = dp_msg_alloc(sizes[i]);
            assert_fresh(m, sizes[i]);
            /* The whole capacity is writable (ASan checks), and a message that is freed and
             * allocated again starts clean. */
            memset(m->buf, 0xa5, m->cap);
            m->len = m->cap;
            m->meta_len = 7;
            m->flags = DP_MSG_TRUNCATED;
            m->type = DP_MSG_REPLAY;
            m->id_off = m->id_len = 3;
            m->ts_ns = m->latency_ns = -1;
            m->input = 9;
            m->seq = 42;
            held[i] = m;
        }
        /* All live at once: distinct, non-overlapping blocks. */
        for (size_t i = 0; i < DP_ARRAY_LEN(sizes); i++) {
            for (size_t k = 0; k < sizes[i]; k += 97)
                assert_int_equal(held[i]->buf[k], 0xa5);
            dp_msg_unref(held[i]);
        }
    }

    /* Sizes that overflow the header are refused without calling malloc. */
    assert_null(dp_msg_alloc(SIZE_MAX));
    assert_null(dp_msg_alloc(SIZE_MAX - sizeof(struct dp_msg) + 1));
    assert_null(dp_msg_new(DP_MSG_REQUEST, (const uint8_t *)"a", 1, 0, 0, NULL, SIZE_MAX - 4));
}

static void test_msg_type_names(void **state)
{
    (void)state;
    assert_string_equal(dp_msg_type_names[DP_MSG_OTHER], "other");
    assert_string_equal(dp_msg_type_names[DP_MSG_REQUEST], "request");
    assert_string_equal(dp_msg_type_names[DP_MSG_RESPONSE], "response");
    assert_string_equal(dp_msg_type_names[DP_MSG_REPLAY], "replay");
}

/* ---- meta lines ---- */

struct meta_case {
    const char *in;
    size_t len; /* explicit: inputs may hold NULs and bytes after the '\n' */
    int rc;
    uint8_t type;
    const char *id;
    size_t id_len;
    int64_t ts, lat;
    size_t meta_len;
};

#define META_OK(s, type, id, ts, lat, mlen)                                                        \
    { s, sizeof(s) - 1, 0, type, id, sizeof(id) - 1, ts, lat, mlen }
#define META_BAD(s)                                                                                \
    { s, sizeof(s) - 1, -EINVAL, 0, NULL, 0, 0, 0, 0 }

static const struct meta_case meta_cases[] = {
    /* 4 fields, with and without a payload after the line */
    META_OK("1 abc 123 456\n", 1, "abc", 123, 456, 14),
    META_OK("1 abc 123 456\nGET / HTTP/1.1\r\n\r\n", 1, "abc", 123, 456, 14),
    META_OK("2 8f3a0e2 1611642131487022000 405000\n\0\0", 2, "8f3a0e2", 1611642131487022000,
            405000, 37),
    META_OK("3 r 1 2\n", 3, "r", 1, 2, 8),
    /* 3 fields: no latency */
    META_OK("1 abc 17\n", 1, "abc", 17, 0, 9),
    META_OK("2 abc 17\nxyz", 2, "abc", 17, 0, 9),
    /* CRLF: the '\r' is not part of the last field, but is part of the meta line */
    META_OK("1 abc 17 5\r\n", 1, "abc", 17, 5, 12),
    META_OK("1 abc 17\r\n", 1, "abc", 17, 0, 10),
    META_OK("3 abc 17 5\r\n\r\nbody", 3, "abc", 17, 5, 12),
    /* more than 4 fields: the extras are kept in the line, ignored */
    META_OK("1 abc 17 5 extra more\n", 1, "abc", 17, 5, 22),
    META_OK("1 abc 17 5 extra\r\n", 1, "abc", 17, 5, 18),
    /* types other than 1-3 pass through as OTHER */
    META_OK("4 abc 1 2\n", DP_MSG_OTHER, "abc", 1, 2, 10),
    META_OK("0 abc 1 2\n", DP_MSG_OTHER, "abc", 1, 2, 10),
    META_OK("11 abc 1 2\n", DP_MSG_OTHER, "abc", 1, 2, 11),
    META_OK("x abc 1 2\n", DP_MSG_OTHER, "abc", 1, 2, 10),
    META_OK(" abc 1 2\n", DP_MSG_OTHER, "abc", 1, 2, 9),
    /* a long id (40 hex, as GoReplay's own ids) and ids with odd bytes */
    META_OK("1 0123456789abcdef0123456789abcdef01234567 9 8\n", 1,
            "0123456789abcdef0123456789abcdef01234567", 9, 8, 47),
    META_OK("1 a/../b\t\0c 9 8\n", 1, "a/../b\t\0c", 9, 8, 16),
    /* non-numeric or empty numbers read as 0 (Go's ParseInt error, ignored by GoReplay) */
    META_OK("1 abc xyz 5\n", 1, "abc", 0, 5, 12),
    META_OK("1 abc 12x 5\n", 1, "abc", 0, 5, 12),
    META_OK("1 abc 12 5x\n", 1, "abc", 12, 0, 12),
    META_OK("1 abc  5\n", 1, "abc", 0, 5, 9),
    META_OK("1 abc 5 \n", 1, "abc", 5, 0, 9),
    META_OK("1 abc 5 \r\n", 1, "abc", 5, 0, 10),
    META_OK("1 abc - +\n", 1, "abc", 0, 0, 10),
    META_OK("1 abc 0x10 1e3\n", 1, "abc", 0, 0, 15),
    META_OK("1 abc \r\n", 1, "abc", 0, 0, 8),
    /* signs */
    META_OK("1 abc +5 -7\n", 1, "abc", 5, -7, 12),
    META_OK("1 abc -0 +0\n", 1, "abc", 0, 0, 12),
    /* the int64 range */
    META_OK("1 abc 9223372036854775807 -9223372036854775807\n", 1, "abc", INT64_MAX,
            -INT64_MAX, 47),
    META_OK("1 abc 0009223372036854775807 1\n", 1, "abc", INT64_MAX, 1, 31),
    /* a '\n' beyond the first one ends the meta line at the first */
    META_OK("1 abc 1 2\n3 def 4 5\n", 1, "abc", 1, 2, 10),

    /* malformed */
    META_BAD(""),
    META_BAD("1 abc 123 456"), /* no '\n' */
    META_BAD("\n"),
    META_BAD("1\n"),
    META_BAD("1 abc\n"),
    META_BAD("1 abc\r\n"),
    META_BAD("1  123 456\n"), /* empty id */
    META_BAD("1\tabc\t123\t456\n"),
    META_BAD("\0abc 1 2"),
    META_BAD("1 abc\n 123 456\n"), /* the fields must be on the first line */
};

static void run_meta_case(const struct meta_case *c, size_t idx)
{
    struct dp_guarded g;
    struct dp_msg m;
    int rc;

    /* The input ends on a guard page (rule 26): no read past <len>. */
    dp_guarded_init(&g, c->in, c->len);
    memset(&m, 0, sizeof(m));
    rc = dp_msg_parse_meta(&m, g.ptr, g.len);
    if (rc != c->rc)
        fail_msg("meta case %zu: rc %d, want %d", idx, rc, c->rc);
    if (rc == 0) {
        struct dp_bytes id;

        if (m.type != c->type)
            fail_msg("meta case %zu: type %u, want %u", idx, m.type, c->type);
        if (m.meta_len != c->meta_len)
            fail_msg("meta case %zu: meta_len %u, want %zu", idx, m.meta_len, c->meta_len);
        id = (struct dp_bytes){ g.ptr + m.id_off, m.id_len };
        assert_int_equal(id.len, c->id_len);
        assert_memory_equal(id.ptr, c->id, id.len);
        if (m.ts_ns != c->ts || m.latency_ns != c->lat)
            fail_msg("meta case %zu: ts %lld lat %lld, want %lld %lld", idx,
                    (long long)m.ts_ns, (long long)m.latency_ns, (long long)c->ts,
                    (long long)c->lat);
    }
    dp_guarded_free(&g);
}

static void test_msg_parse_meta_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(meta_cases); i++)
        run_meta_case(&meta_cases[i], i);
}

/* A meta line cut short of its '\n' is malformed, at every length. */
static void test_msg_parse_meta_prefixes(void **state)
{
    static const char line[] = "1 0123456789abcdef 1611642131487022000 405000\r\n";
    struct dp_msg m;

    (void)state;
    for (size_t len = 0; len < sizeof(line) - 1; len++) {
        struct dp_guarded g;

        dp_guarded_init(&g, line, len);
        assert_int_equal(dp_msg_parse_meta(&m, g.ptr, g.len), -EINVAL);
        dp_guarded_free(&g);
    }
}

/* DP_MSG_META_MAX bounds the meta line, '\n' included. */
static void test_msg_parse_meta_max(void **state)
{
    uint8_t *buf = malloc(DP_MSG_META_MAX + 16);
    struct dp_guarded g;
    struct dp_msg m;
    size_t id_len;

    (void)state;
    assert_non_null(buf);
    /* "1 " + id + " 5 6\n" is exactly DP_MSG_META_MAX bytes: accepted. */
    id_len = DP_MSG_META_MAX - 2 - 5;
    memcpy(buf, "1 ", 2);
    memset(buf + 2, 'a', id_len);
    memcpy(buf + 2 + id_len, " 5 6\n", 5);
    dp_guarded_init(&g, buf, DP_MSG_META_MAX);
    memset(&m, 0, sizeof(m));
    assert_int_equal(dp_msg_parse_meta(&m, g.ptr, g.len), 0);
    assert_int_equal(m.meta_len, DP_MSG_META_MAX);
    assert_int_equal(m.id_len, id_len);
    assert_int_equal(m.ts_ns, 5);
    assert_int_equal(m.latency_ns, 6);
    dp_guarded_free(&g);

    /* One byte longer: malformed, even with the '\n' inside <len>. */
    id_len++;
    memset(buf + 2, 'a', id_len);
    memcpy(buf + 2 + id_len, " 5 6\n", 5);
    dp_guarded_init(&g, buf, DP_MSG_META_MAX + 1);
    assert_int_equal(dp_msg_parse_meta(&m, g.ptr, g.len), -EINVAL);
    dp_guarded_free(&g);
    free(buf);
}

/*
 * Numbers out of the int64 range. msg.c documents "an error (or overflow) leaves 0"; these are
 * the values it promises.
 */
static void test_msg_parse_meta_overflow(void **state)
{
    static const struct {
        const char *in;
        int64_t ts;
    } cases[] = {
        { "1 a 9223372036854775808 0\n", 0 },
        { "1 a 18446744073709551615 0\n", 0 },
        { "1 a 18446744073709551616 0\n", 0 },
        { "1 a 99999999999999999999999999 0\n", 0 },
        { "1 a -9223372036854775809 0\n", 0 },
        { "1 a -99999999999999999999999999 0\n", 0 },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        struct dp_msg m;

        memset(&m, 0, sizeof(m));
        assert_int_equal(dp_msg_parse_meta(&m, (const uint8_t *)cases[i].in,
                                 strlen(cases[i].in)),
                0);
        if (m.ts_ns != cases[i].ts)
            fail_msg("overflow case %zu (%s): ts %lld, want %lld", i, cases[i].in,
                    (long long)m.ts_ns, (long long)cases[i].ts);
    }
}

/*
 * Regression: timestamps are parsed as Go's strconv.ParseInt does, which accepts INT64_MIN
 * ("-9223372036854775808").
 */
static void test_msg_known_bug_parse_meta_int64_min(void **state)
{
    static const char in[] = "1 a -9223372036854775808 -9223372036854775808\n";
    struct dp_msg m;

    (void)state;
    memset(&m, 0, sizeof(m));
    assert_int_equal(dp_msg_parse_meta(&m, (const uint8_t *)in, sizeof(in) - 1), 0);
    assert_int_equal(m.ts_ns, INT64_MIN);
    assert_int_equal(m.latency_ns, INT64_MIN);
}

/* ---- random ids ---- */

#define N_IDS 2000

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, 24);
}

static void test_msg_random_id(void **state)
{
    uint8_t (*ids)[25] = calloc(N_IDS, sizeof(*ids));
    unsigned seen[16] = { 0 };

    (void)state;
    assert_non_null(ids);
    for (size_t i = 0; i < N_IDS; i++) {
        ids[i][24] = 0x5a; /* canary: exactly 24 bytes are written */
        dp_msg_random_id(ids[i]);
        assert_int_equal(ids[i][24], 0x5a);
        for (size_t k = 0; k < 24; k++) {
            uint8_t c = ids[i][k];

            if (c >= '0' && c <= '9')
                seen[c - '0']++;
            else if (c >= 'a' && c <= 'f')
                seen[c - 'a' + 10]++;
            else
                fail_msg("id %zu byte %zu: 0x%02x is not lowercase hex", i, k, c);
        }
    }
    /* Every hex digit shows up: 48000 digits, 3000 expected per digit. */
    for (size_t d = 0; d < 16; d++)
        assert_true(seen[d] > 2000);
    /* All distinct (96 random bits each). */
    qsort(ids, N_IDS, sizeof(*ids), cmp_id);
    for (size_t i = 1; i < N_IDS; i++)
        assert_true(memcmp(ids[i - 1], ids[i], 24) != 0);
    free(ids);
}

/* A random id is a valid id for dp_msg_new and parses back. */
static void test_msg_random_id_in_meta(void **state)
{
    uint8_t id[24];
    struct dp_msg *m;
    struct dp_msg p;

    (void)state;
    dp_msg_random_id(id);
    m = dp_msg_new(DP_MSG_REQUEST, id, sizeof(id), 42, 7, NULL, 0);
    assert_non_null(m);
    assert_int_equal(m->meta_len, 2 + 24 + 6);
    memset(&p, 0, sizeof(p));
    assert_int_equal(dp_msg_parse_meta(&p, m->buf, m->meta_len), 0);
    assert_int_equal(p.id_len, 24);
    assert_memory_equal(m->buf + p.id_off, id, 24);
    dp_msg_unref(m);
}

/* The capture's way: payload first, in pieces, growing; the meta line last. */
static void test_msg_reserve_grow_set_meta(void **state)
{
    static const char want_meta[] = "2 0050c0a8000100000001 -9223372036854775808 "
                                    "9223372036854775807\n";
    struct dp_msg *m;
    size_t len = 0;

    (void)state;
    m = dp_msg_reserve(DP_MSG_META_ROOM, 16);
    assert_non_null(m);
    assert_int_equal(m->meta_len, 0);
    assert_true(dp_msg_payload_cap(m) >= 16);
    for (int i = 0; i < 5000; i++) { /* grows through every size class and past them */
        uint8_t b = (uint8_t)(i * 7);

        if (len + 13 > dp_msg_payload_cap(m)) {
            struct dp_msg *g = dp_msg_grow(m, (len + 13) * 2);

            assert_non_null(g);
            m = g;
        }
        memset(dp_msg_payload(m) + len, b, 13);
        len += 13;
    }
    m->len = len;
    dp_msg_set_meta(m, DP_MSG_RESPONSE, (const uint8_t *)"0050c0a8000100000001", 20, INT64_MIN,
            INT64_MAX);
    assert_int_equal(m->meta_len, sizeof(want_meta) - 1);
    assert_memory_equal(dp_msg_meta(m), want_meta, sizeof(want_meta) - 1);
    assert_id(m, "0050c0a8000100000001", 20);
    assert_int_equal(m->type, DP_MSG_RESPONSE);
    assert_true(m->ts_ns == INT64_MIN && m->latency_ns == INT64_MAX);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(dp_msg_payload(m)[i], (uint8_t)((i / 13) * 7));
    /* the meta line parses back from where it sits */
    {
        struct dp_msg p;

        assert_int_equal(dp_msg_parse_meta(&p, dp_msg_meta(m), m->meta_len + m->len), 0);
        assert_int_equal(p.meta_len, m->meta_len);
    }
    dp_msg_unref(m);
    dp_msg_cache_drain();
}

static void test_msg_grow_keeps_small(void **state)
{
    struct dp_msg *m = dp_msg_reserve(DP_MSG_META_ROOM, 0);

    (void)state;
    assert_non_null(m);
    assert_ptr_equal(dp_msg_grow(m, 0), m); /* already big enough: nothing moves */
    assert_true(dp_msg_grow(m, SIZE_MAX - 8) == NULL); /* impossible: <m> unchanged */
    assert_int_equal(m->meta_off, DP_MSG_META_ROOM);
    dp_msg_unref(m);
    dp_msg_cache_drain();
}

static struct dp_msg *msg_of(const char *payload)
{
    struct dp_msg *m = dp_msg_new(DP_MSG_REQUEST, (const uint8_t *)"id", 2, 1, 2,
            (const uint8_t *)payload, strlen(payload));

    assert_non_null(m);
    return m;
}

static void assert_payload(struct dp_msg *m, const char *want)
{
    assert_int_equal(m->len, strlen(want));
    assert_memory_equal(dp_msg_payload(m), want, m->len);
    assert_memory_equal(dp_msg_meta(m), "1 id 1 2\n", 9);
}

static void test_msg_splice(void **state)
{
    static const struct {
        const char *in;
        size_t off, del;
        const char *ins, *want;
    } cases[] = {
        { "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 16, 0, "X-Real-IP: 1.2.3.4\r\n",
          "GET / HTTP/1.1\r\nX-Real-IP: 1.2.3.4\r\nHost: a\r\n\r\n" },
        { "Host: aaaaaaaa\r\n", 6, 8, "b", "Host: b\r\n" },
        { "abc", 0, 3, "", "" },
        { "abc", 3, 0, "def", "abcdef" },
        { "abc", 0, 0, "", "abc" },
        { "", 0, 0, "x", "x" },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        struct dp_msg *m = msg_of(cases[i].in);

        assert_int_equal(dp_msg_splice(&m, cases[i].off, cases[i].del,
                                 (const uint8_t *)cases[i].ins, strlen(cases[i].ins)),
                0);
        assert_payload(m, cases[i].want);
        dp_msg_unref(m);
    }
    /* a large insertion makes it grow */
    {
        struct dp_msg *m = msg_of("ab");
        uint8_t *big = malloc(100000);

        assert_non_null(big);
        memset(big, 'z', 100000);
        assert_int_equal(dp_msg_splice(&m, 1, 0, big, 100000), 0);
        assert_int_equal(m->len, 100002);
        assert_int_equal(dp_msg_payload(m)[0], 'a');
        assert_int_equal(dp_msg_payload(m)[100001], 'b');
        assert_int_equal(dp_msg_payload(m)[50000], 'z');
        free(big);
        dp_msg_unref(m);
    }
    dp_msg_cache_drain();
}

/* A splice that fits the payload's capacity exactly stays in place; one byte more grows the
 * message. NULL inserts zeros. */
static void test_msg_splice_room(void **state)
{
    (void)state;
    for (size_t extra = 0; extra <= 1; extra++) {
        for (int zeros = 0; zeros <= 1; zeros++) {
            struct dp_msg *m = msg_of("abcdef");
            struct dp_msg *before = m;
            size_t n = dp_msg_payload_cap(m) - (m->len - 2) + extra; /* "cd" replaced */
            uint8_t *ins = malloc(n);
            const uint8_t *p;

            assert_non_null(ins);
            memset(ins, zeros ? 0 : 'z', n);
            assert_int_equal(dp_msg_splice(&m, 2, 2, zeros ? NULL : ins, n), 0);
            if (extra == 0)
                assert_ptr_equal(m, before);
            assert_int_equal(m->len, 4 + n);
            assert_true(m->len <= dp_msg_payload_cap(m));
            p = dp_msg_payload(m);
            assert_memory_equal(p, "ab", 2);
            assert_memory_equal(p + 2, ins, n);
            assert_memory_equal(p + 2 + n, "ef", 2);
            assert_memory_equal(dp_msg_meta(m), "1 id 1 2\n", 9);
            free(ins);
            dp_msg_unref(m);
        }
    }
    dp_msg_cache_drain();
}

/* Another holder keeps the original bytes. */
static void test_msg_splice_copy_on_write(void **state)
{
    struct dp_msg *m = msg_of("GET /a HTTP/1.1\r\n\r\n");
    struct dp_msg *orig = dp_msg_ref(m);

    (void)state;
    m->seq = 42;
    m->input = 3;
    m->flags = DP_MSG_TRUNCATED;
    assert_int_equal(dp_msg_splice(&m, 5, 1, (const uint8_t *)"bcd", 3), 0);
    assert_ptr_not_equal(m, orig);
    assert_int_equal(orig->refs, 1);
    assert_int_equal(m->refs, 1);
    assert_payload(orig, "GET /a HTTP/1.1\r\n\r\n");
    assert_payload(m, "GET /bcd HTTP/1.1\r\n\r\n");
    assert_true(m->seq == 42 && m->input == 3 && m->flags == DP_MSG_TRUNCATED);
    assert_id(m, "id", 2);
    dp_msg_unref(orig);
    dp_msg_unref(m);
    dp_msg_cache_drain();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_new),
        cmocka_unit_test(test_msg_new_parses_back),
        cmocka_unit_test(test_msg_refcount),
        cmocka_unit_test(test_msg_alloc),
        cmocka_unit_test(test_msg_type_names),
        cmocka_unit_test(test_msg_parse_meta_table),
        cmocka_unit_test(test_msg_parse_meta_prefixes),
        cmocka_unit_test(test_msg_parse_meta_max),
        cmocka_unit_test(test_msg_parse_meta_overflow),
        cmocka_unit_test(test_msg_known_bug_parse_meta_int64_min),
        cmocka_unit_test(test_msg_random_id),
        cmocka_unit_test(test_msg_random_id_in_meta),
        cmocka_unit_test(test_msg_reserve_grow_set_meta),
        cmocka_unit_test(test_msg_grow_keeps_small),
        cmocka_unit_test(test_msg_splice),
        cmocka_unit_test(test_msg_splice_room),
        cmocka_unit_test(test_msg_splice_copy_on_write),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
