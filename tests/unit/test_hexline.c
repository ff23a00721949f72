/*
 * test_hexline.c: the middleware line codec. The decoder is fed every input whole, split at
 * every byte offset, split at every pair of offsets, and one byte at a time, from a copy that
 * ends on a guard page; each way must give the same messages and the same bad lines.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dp_test.h"

#include "format/hexline.h"

/* ---- what the decoder reported ---- */

struct ev {
    bool bad;
    uint64_t line;
    enum hexline_bad why;
    const char *rec; /* the decoded record: meta line + payload */
    size_t rec_len;
};

#define MSG(line, rec)  { false, line, HEXLINE_NOT_HEX, rec, sizeof(rec) - 1 }
#define BAD(line, why)  { true, line, why, NULL, 0 }
#define EVS(...)        { __VA_ARGS__ }
#define NO_EVS          { { 0 } } /* events have line numbers from 1: line 0 ends the list */
#define MAX_EV          16

struct seen {
    struct hexline_dec *d;
    size_t n;
    struct ev ev[MAX_EV];
    struct dp_msg *msg[MAX_EV];
};

static void seen_msg(void *ctx, struct dp_msg *m)
{
    struct seen *s = ctx;

    assert_true(s->n < MAX_EV);
    s->ev[s->n] = (struct ev){ false, s->d->line_no, HEXLINE_NOT_HEX, NULL, 0 };
    s->msg[s->n++] = m;
}

static void seen_bad(void *ctx, uint64_t line_no, enum hexline_bad why)
{
    struct seen *s = ctx;

    assert_true(s->n < MAX_EV);
    s->ev[s->n] = (struct ev){ true, line_no, why, NULL, 0 };
    s->msg[s->n++] = NULL;
}

static void seen_check(struct seen *s, const struct ev *want, size_t n_exp)
{
    assert_int_equal(s->n, n_exp);
    for (size_t i = 0; i < n_exp; i++) {
        assert_int_equal(s->ev[i].bad, want[i].bad);
        assert_int_equal(s->ev[i].line, want[i].line);
        if (want[i].bad) {
            assert_int_equal(s->ev[i].why, want[i].why);
            continue;
        }
        {
            struct dp_msg *m = s->msg[i];
            struct dp_msg probe;

            assert_int_equal(m->meta_len + m->len, want[i].rec_len);
            assert_memory_equal(dp_msg_meta(m), want[i].rec, want[i].rec_len);
            assert_int_equal(m->flags, 0);
            assert_int_equal(m->refs, 1);
            memset(&probe, 0, sizeof(probe));
            assert_int_equal(dp_msg_parse_meta(&probe, (const uint8_t *)want[i].rec,
                                     want[i].rec_len),
                    0);
            assert_int_equal(m->meta_len, probe.meta_len);
            assert_int_equal(m->type, probe.type);
            assert_int_equal(m->id_off, probe.id_off);
            assert_int_equal(m->id_len, probe.id_len);
            assert_int_equal(m->ts_ns, probe.ts_ns);
            assert_int_equal(m->latency_ns, probe.latency_ns);
        }
    }
}

static void seen_free(struct seen *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->msg[i] != NULL)
            dp_msg_unref(s->msg[i]);
    }
    s->n = 0;
}

/* ---- the table ---- */

/* "1 a 1 2\nGET / HTTP/1.1\r\n\r\n" */
#define R1 "1 a 1 2\nGET / HTTP/1.1\r\n\r\n"
#define H1 "312061203120320a474554202f20485454502f312e310d0a0d0a"
/* NULs and LFs in the payload */
#define R2 "2 a 3 4\nHTTP/1.1 200 OK\r\n\r\n\0\n\0"
#define H2 "322061203320340a485454502f312e3120323030204f4b0d0a0d0a000a00"
#define H2U "322061203320340A485454502F312E3120323030204F4B0D0A0D0A000A00"
/* a CRLF meta line with 3 fields */
#define R3 "3 bb 5\r\nx"
#define H3 "3320626220350d0a78"
/* an empty payload; 16 digits */
#define R4 "1 e 6 7\n"
#define H4 "312065203620370a"
/* an unknown type, a 0xff payload byte */
#define R5 "9 z 1 1\n\xff"
#define H5 "39207A203120310aFf"

struct dcase {
    const char *name;
    const char *in;
    size_t len;
    size_t max_line; /* 0: the default */
    struct ev want[MAX_EV]; /* up to the first with line 0 */
};

#define CASE(name, in, max, evs) { name, in, sizeof(in) - 1, max, evs }

static size_t n_want(const struct dcase *c)
{
    size_t n = 0;

    while (n < MAX_EV && c->want[n].line != 0)
        n++;
    return n;
}

static const struct dcase cases[] = {
    CASE("one line", H1 "\n", 0, EVS(MSG(1, R1))),
    CASE("nul and lf in payload, uppercase", H2U "\n" H2 "\n", 0, EVS(MSG(1, R2), MSG(2, R2))),
    CASE("crlf line ends", H1 "\r\n" H3 "\r\n", 0, EVS(MSG(1, R1), MSG(2, R3))),
    CASE("mixed case, other type", H5 "\n", 0, EVS(MSG(1, R5))),
    CASE("empty lines are skipped silently", "\n\n" H1 "\n\r\n\n" H4 "\n\n", 0,
            EVS(MSG(3, R1), MSG(6, R4))),
    CASE("not hex", "zz\n" H1 "\n", 0, EVS(BAD(1, HEXLINE_NOT_HEX), MSG(2, R1))),
    CASE("odd digit count", H1 "a\n" H4 "\n", 0, EVS(BAD(1, HEXLINE_NOT_HEX), MSG(2, R4))),
    CASE("cr inside a line", "3120\r61\n" H4 "\n", 0, EVS(BAD(1, HEXLINE_NOT_HEX), MSG(2, R4))),
    CASE("two crs before the lf", H1 "\r\r\n" H4 "\n", 0,
            EVS(BAD(1, HEXLINE_NOT_HEX), MSG(2, R4))),
    CASE("a cr alone on a line", "\r\n" H4 "\n", 0, EVS(MSG(2, R4))),
    CASE("space and nul are not hex", " 3120\n31\0" "20\n" H4 "\n", 0,
            EVS(BAD(1, HEXLINE_NOT_HEX), BAD(2, HEXLINE_NOT_HEX), MSG(3, R4))),
    CASE("no meta line", "312061\n", 0, EVS(BAD(1, HEXLINE_BAD_META))),
    CASE("too few meta fields", "3120610a4745\n" H4 "\n", 0,
            EVS(BAD(1, HEXLINE_BAD_META), MSG(2, R4))),
    CASE("last line without lf", H4 "\n" H1, 0, EVS(MSG(1, R4), MSG(2, R1))),
    CASE("last line ends in cr", H1 "\r", 0, EVS(MSG(1, R1))),
    CASE("last line bad without lf", H4 "\n" "31x", 0, EVS(MSG(1, R4), BAD(2, HEXLINE_NOT_HEX))),
    CASE("last line odd without lf", "3", 0, EVS(BAD(1, HEXLINE_NOT_HEX))),
    CASE("a lone cr at the end", "\n\r", 0, NO_EVS),
    CASE("nothing", "", 0, NO_EVS),
    CASE("too long, reported once", H1 "\n" H4 "\n", 16, EVS(BAD(1, HEXLINE_TOO_LONG), MSG(2, R4))),
    CASE("exactly max_line with crlf", H4 "\r\n" H4 "\n", 16, EVS(MSG(1, R4), MSG(2, R4))),
    CASE("max_line digits then a cr inside", H4 "\rx\n" H4 "\n", 16,
            EVS(BAD(1, HEXLINE_TOO_LONG), MSG(2, R4))),
    CASE("max_line digits then two crs", H4 "\r\r\n" H4 "\n", 16,
            EVS(BAD(1, HEXLINE_TOO_LONG), MSG(2, R4))),
    CASE("not hex before max_line wins", "31z0000000\n" H4 "\n", 4,
            EVS(BAD(1, HEXLINE_NOT_HEX), BAD(2, HEXLINE_TOO_LONG))),
    CASE("not hex after max_line: too long", "3120z\n" "\n" "3120\n", 4,
            EVS(BAD(1, HEXLINE_TOO_LONG), BAD(3, HEXLINE_BAD_META))),
    CASE("a bad digit deep in a long line",
            "322061203320340a485454502f312e31203x3030204f4b0d0a0d0a000a00\n"
            "322061203320340a4G5454502f312e3120323030204f4b0d0a0d0a000a00\n" H2 "\n",
            0,
            EVS(BAD(1, HEXLINE_NOT_HEX), BAD(2, HEXLINE_NOT_HEX), MSG(3, R2))),
    CASE("a bad digit past max_line in a long line",
            "322061203320340a485454502f312e31203x3030204f4b0d0a0d0a000a00\n" H4 "\n", 32,
            EVS(BAD(1, HEXLINE_TOO_LONG), MSG(2, R4))),
    CASE("line numbers count every line", "zz\n\nzz\n" H1 "\n", 0,
            EVS(BAD(1, HEXLINE_NOT_HEX), BAD(3, HEXLINE_NOT_HEX), MSG(4, R1))),
};

/* Feeds <in> cut at <cuts> (sorted offsets), then finishes; checks the reports. */
static void run_cuts(const struct dcase *c, const struct dp_guarded *g, const size_t *cuts,
        size_t n_cuts)
{
    struct hexline_dec d;
    struct seen s;
    size_t pos = 0;

    memset(&s, 0, sizeof(s));
    s.d = &d;
    hexline_dec_init(&d, c->max_line, seen_msg, seen_bad, &s);
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t to = i < n_cuts ? cuts[i] : g->len;

        assert_int_equal(hexline_dec_feed(&d, g->ptr + pos, to - pos), 0);
        pos = to;
    }
    hexline_dec_finish(&d);
    if (s.n != n_want(c))
        print_error("case '%s' cut in %zu pieces\n", c->name, n_cuts + 1);
    seen_check(&s, c->want, n_want(c));
    /* the buffer never outgrows the longest line */
    assert_true(d.cap <= DP_MAX(d.max_line / 2 + 1, (size_t)4096));
    seen_free(&s);
    hexline_dec_free(&d);
}

static void test_hexline_decode_table(void **state)
{
    (void)state;
    for (size_t k = 0; k < DP_ARRAY_LEN(cases); k++) {
        const struct dcase *c = &cases[k];
        struct dp_guarded g;
        size_t cuts[2];

        dp_guarded_init(&g, c->in, c->len);
        run_cuts(c, &g, NULL, 0);
        for (size_t i = 0; i <= g.len; i++) {
            cuts[0] = i;
            run_cuts(c, &g, cuts, 1);
            for (size_t j = i; j <= g.len; j++) {
                cuts[1] = j;
                run_cuts(c, &g, cuts, 2);
            }
        }
        dp_guarded_free(&g);
    }
}

static void test_hexline_one_byte_feeds(void **state)
{
    (void)state;
    for (size_t k = 0; k < DP_ARRAY_LEN(cases); k++) {
        const struct dcase *c = &cases[k];
        struct dp_guarded g;
        size_t *cuts = calloc(c->len + 1, sizeof(*cuts));

        assert_non_null(cuts);
        dp_guarded_init(&g, c->in, c->len);
        for (size_t i = 0; i < c->len; i++)
            cuts[i] = i + 1;
        run_cuts(c, &g, cuts, c->len);
        free(cuts);
        dp_guarded_free(&g);
    }
}

/* All the cases one after another, fed as one stream split at every offset: line numbers add
 * up, and no state leaks from one line into the next. */
static void test_hexline_cases_concatenated(void **state)
{
    uint8_t all[4096];
    size_t len = 0;
    struct dcase c = { "all", (const char *)all, 0, 0, NO_EVS };
    size_t nw = 0;
    uint64_t lines = 0;
    struct dp_guarded g;

    (void)state;
    for (size_t k = 0; k < DP_ARRAY_LEN(cases); k++) {
        const struct dcase *ck = &cases[k];
        uint64_t nl = 0;

        if (ck->max_line != 0)
            continue;
        assert_true(len + ck->len + 1 <= sizeof(all));
        memcpy(all + len, ck->in, ck->len);
        len += ck->len;
        for (size_t i = 0; i < ck->len; i++)
            nl += ck->in[i] == '\n';
        if (ck->len > 0 && ck->in[ck->len - 1] != '\n') {
            all[len++] = '\n'; /* its last line ends here, not in the next case */
            nl++;
        }
        for (size_t i = 0; i < n_want(ck) && nw < MAX_EV - 1; i++) {
            c.want[nw] = ck->want[i];
            c.want[nw++].line += lines;
        }
        lines += nl;
        if (nw == MAX_EV - 1)
            break;
    }
    /* cut the stream after the last wanted event's line */
    {
        uint64_t last = c.want[nw - 1].line;
        uint64_t nl = 0;

        for (size_t i = 0; i < len; i++) {
            if (all[i] == '\n' && ++nl == last) {
                len = i + 1;
                break;
            }
        }
    }
    c.len = len;
    dp_guarded_init(&g, all, len);
    run_cuts(&c, &g, NULL, 0);
    for (size_t i = 0; i <= len; i++)
        run_cuts(&c, &g, &i, 1);
    dp_guarded_free(&g);
}

/* ---- encoding ---- */

static void test_hexline_encode(void **state)
{
    uint8_t payload[256];
    uint8_t out[2 * (256 + 64) + 1];
    struct dp_msg *m;
    static const char meta[] = "1 0123abcd 17 -1\n";
    size_t n;

    (void)state;
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)i;
    m = dp_msg_new(DP_MSG_REQUEST, (const uint8_t *)"0123abcd", 8, 17, -1, payload,
            sizeof(payload));
    assert_non_null(m);
    n = hexline_len(m);
    assert_int_equal(n, 2 * (sizeof(meta) - 1 + sizeof(payload)) + 1);
    memset(out, 'X', sizeof(out));
    hexline_encode(m, out);
    assert_memory_equal(out, "31203031323361626364203137202d310a", 34);
    for (size_t i = 0; i < sizeof(payload); i++) {
        static const char hx[] = "0123456789abcdef";

        assert_int_equal(out[34 + 2 * i], hx[i >> 4]);
        assert_int_equal(out[34 + 2 * i + 1], hx[i & 15]);
    }
    assert_int_equal(out[n - 1], '\n');
    assert_int_equal(out[n], 'X');
    dp_msg_unref(m);
}

/* A message whose meta line sits after room left for it (dp_msg_reserve) encodes the same. */
static void test_hexline_encode_meta_off(void **state)
{
    struct dp_msg *m = dp_msg_reserve(DP_MSG_META_ROOM, 3);
    uint8_t out[64];

    (void)state;
    assert_non_null(m);
    memcpy(dp_msg_payload(m), "a\0b", 3);
    m->len = 3;
    dp_msg_set_meta(m, DP_MSG_RESPONSE, (const uint8_t *)"ff", 2, 5, 6);
    assert_true(m->meta_off > 0);
    assert_int_equal(hexline_len(m), 2 * (9 + 3) + 1);
    hexline_encode(m, out);
    assert_memory_equal(out, "32206666203520360a610062\n", 25);
    dp_msg_unref(m);
}

static void record_msg(void *ctx, struct dp_msg *m)
{
    struct dp_msg **slot = ctx;

    assert_null(*slot);
    *slot = m;
}

static void fail_bad(void *ctx, uint64_t line_no, enum hexline_bad why)
{
    (void)ctx;
    fail_msg("bad line %llu: %s", (unsigned long long)line_no, hexline_bad_names[why]);
}

static void test_hexline_round_trip(void **state)
{
    static const struct {
        enum dp_msg_type type;
        const char *id;
        int64_t ts, lat;
        const char *payload;
        size_t len;
    } msgs[] = {
        { DP_MSG_REQUEST, "0123456789abcdef01234567", 1700000000000000000, -1,
                "GET / HTTP/1.1\r\n\r\n", 18 },
        { DP_MSG_RESPONSE, "x", 0, 0, "", 0 },
        { DP_MSG_REPLAY, "id", -5, 9223372036854775807, "\0\n\r\n\0", 5 },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(msgs); i++) {
        struct dp_msg *m = dp_msg_new(msgs[i].type, (const uint8_t *)msgs[i].id,
                strlen(msgs[i].id), msgs[i].ts, msgs[i].lat, (const uint8_t *)msgs[i].payload,
                msgs[i].len);
        struct dp_msg *back = NULL;
        struct hexline_dec d;
        uint8_t *line;
        size_t n;

        assert_non_null(m);
        n = hexline_len(m);
        line = malloc(n);
        assert_non_null(line);
        hexline_encode(m, line);
        hexline_dec_init(&d, 0, record_msg, fail_bad, &back);
        assert_int_equal(hexline_dec_feed(&d, line, n), 0);
        assert_non_null(back);
        assert_int_equal(back->meta_len, m->meta_len);
        assert_int_equal(back->len, m->len);
        assert_memory_equal(dp_msg_meta(back), dp_msg_meta(m), m->meta_len + m->len);
        assert_int_equal(back->type, m->type);
        assert_int_equal(back->ts_ns, m->ts_ns);
        assert_int_equal(back->latency_ns, m->latency_ns);
        assert_int_equal(back->id_len, m->id_len);
        hexline_dec_finish(&d);
        hexline_dec_free(&d);
        dp_msg_unref(back);
        dp_msg_unref(m);
        free(line);
    }
}

/* A 10 MB message through the codec in 64 KiB pieces; the big buffer is let go after it. */
static void test_hexline_big_message(void **state)
{
    size_t len = 10 * 1000 * 1000;
    uint8_t *payload = malloc(len);
    struct dp_msg *m, *back = NULL;
    struct hexline_dec d;
    uint8_t *line;
    size_t n;

    (void)state;
    assert_non_null(payload);
    for (size_t i = 0; i < len; i++)
        payload[i] = (uint8_t)(i * 131 + (i >> 12));
    m = dp_msg_new(DP_MSG_REQUEST, (const uint8_t *)"big", 3, 1, 2, payload, len);
    assert_non_null(m);
    n = hexline_len(m);
    line = malloc(n);
    assert_non_null(line);
    hexline_encode(m, line);
    hexline_dec_init(&d, 0, record_msg, fail_bad, &back);
    for (size_t off = 0; off < n; off += 65536)
        assert_int_equal(hexline_dec_feed(&d, line + off, DP_MIN((size_t)65536, n - off)), 0);
    assert_non_null(back);
    assert_int_equal(back->len, len);
    assert_memory_equal(dp_msg_payload(back), payload, len);
    assert_int_equal(d.cap, 0);
    hexline_dec_free(&d);
    dp_msg_unref(back);
    dp_msg_unref(m);
    free(line);
    free(payload);
}

static void count_bad(void *ctx, uint64_t line_no, enum hexline_bad why)
{
    unsigned *n = ctx;

    assert_int_equal(line_no, 1);
    assert_int_equal(why, HEXLINE_TOO_LONG);
    (*n)++;
}

static void no_msg(void *ctx, struct dp_msg *m)
{
    (void)ctx;
    dp_msg_unref(m);
    fail_msg("unexpected message");
}

/* An endless line costs at most max_line / 2 bytes and is reported once. */
static void test_hexline_memory_bound(void **state)
{
    uint8_t chunk[4096];
    struct hexline_dec d;
    unsigned bad = 0;

    (void)state;
    memset(chunk, 'a', sizeof(chunk));
    hexline_dec_init(&d, 10000, no_msg, count_bad, &bad);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(hexline_dec_feed(&d, chunk, sizeof(chunk)), 0);
        assert_true(d.cap <= 10000 / 2 + 1);
    }
    assert_int_equal(bad, 1);
    assert_true(d.skipping);
    hexline_dec_finish(&d);
    assert_int_equal(bad, 1);
    assert_int_equal(d.line_no, 1);
    assert_false(d.skipping);
    hexline_dec_free(&d);
}

/* After finish the decoder starts clean: a partial line does not join the next stream's. */
static void test_hexline_finish_then_reuse(void **state)
{
    struct hexline_dec d;
    struct seen s;
    static const struct ev want[] = { BAD(1, HEXLINE_NOT_HEX), MSG(2, R4) };

    (void)state;
    memset(&s, 0, sizeof(s));
    s.d = &d;
    hexline_dec_init(&d, 0, seen_msg, seen_bad, &s);
    assert_int_equal(hexline_dec_feed(&d, (const uint8_t *)"312", 3), 0);
    hexline_dec_finish(&d);
    assert_int_equal(hexline_dec_feed(&d, (const uint8_t *)H4 "\n", 17), 0);
    hexline_dec_finish(&d);
    seen_check(&s, want, DP_ARRAY_LEN(want));
    seen_free(&s);
    hexline_dec_free(&d);
}

static void test_hexline_names(void **state)
{
    (void)state;
    for (int i = 0; i < HEXLINE_BAD_COUNT; i++)
        assert_non_null(hexline_bad_names[i]);
    assert_string_equal(hexline_bad_names[HEXLINE_TOO_LONG], "too_long");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hexline_decode_table),
        cmocka_unit_test(test_hexline_one_byte_feeds),
        cmocka_unit_test(test_hexline_cases_concatenated),
        cmocka_unit_test(test_hexline_encode),
        cmocka_unit_test(test_hexline_encode_meta_off),
        cmocka_unit_test(test_hexline_round_trip),
        cmocka_unit_test(test_hexline_big_message),
        cmocka_unit_test(test_hexline_memory_bound),
        cmocka_unit_test(test_hexline_finish_then_reuse),
        cmocka_unit_test(test_hexline_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
