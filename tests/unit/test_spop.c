/*
 * test_spop.c: the SPOP codec, the agent's state machine and the mirror request (format/spop).
 *
 * The frames marked "captured" are what Debian's HAProxy 2.6.12 sent to an agent (the lab in
 * shared/labs/haproxy-spoe with curl requests). Decoder inputs sit in front of a guard page
 * (dp_guarded): a read past the end faults. Frames are also fed cut at every length.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dp_test.h"

#include "core/common.h"
#include "format/spop.h"

#define L(s) (sizeof(s) - 1)

/* ---- captured frames (without the 4-byte length) ---- */

static const char hex_hc_hello[] =
        "0100000001000012737570706f727465642d76657273696f6e730803322e300e6d61782d6672616d652d"
        "73697a6503fcf0060c6361706162696c697469657308000b6865616c7468636865636b11";
static const char hex_hello[] =
        "0100000001000012737570706f727465642d76657273696f6e730803322e300e6d61782d6672616d652d"
        "73697a6503fcf0060c6361706162696c69746965730810706970656c696e696e672c6173796e6309656e"
        "67696e652d6964082436383639333366642d613836652d343336632d386434352d613235343862336239"
        "313565";
static const char hex_notify_get[] =
        "03000000010301066d6972726f72050a6172675f6d6574686f640803474554086172675f706174680806"
        "2f613f623d63076172675f7665720803312e31086172675f68647273094204686f73740f3132372e302e"
        "302e313a32383039300a757365722d6167656e740b6375726c2f372e38382e3106616363657074032a2f"
        "2a06782d7465737401310000086172675f626f64790900";
static const char hex_notify_post[] =
        "03000000010501066d6972726f72050a6172675f6d6574686f640804504f5354086172675f7061746808"
        "052f706f7374076172675f7665720803312e31086172675f68647273097a04686f73740f3132372e302e"
        "302e313a32383039300a757365722d6167656e740b6375726c2f372e38382e3106616363657074032a2f"
        "2a0e636f6e74656e742d6c656e6774680231310c636f6e74656e742d74797065216170706c6963617469"
        "6f6e2f782d7777772d666f726d2d75726c656e636f6465640000086172675f626f6479090b68656c6c6f"
        "3d776f726c64";
static const char hex_notify_10[] =
        "03000000010701066d6972726f72050a6172675f6d6574686f640803474554086172675f706174680804"
        "2f6f6c64076172675f7665720803312e30086172675f68647273093904686f73740f3132372e302e302e"
        "313a32383039300a757365722d6167656e740b6375726c2f372e38382e3106616363657074032a2f2a00"
        "00086172675f626f64790900";

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; hex[i] != '\0' && hex[i + 1] != '\0'; i += 2) {
        assert_true(n < cap);
        out[n++] = (uint8_t)(dp_hex_val((uint8_t)hex[i]) << 4 | dp_hex_val((uint8_t)hex[i + 1]));
    }
    return n;
}

/* ---- varints ---- */

static void test_varint_known(void **state)
{
    static const struct {
        uint64_t v;
        const char *enc;
        size_t len;
    } cases[] = {
        { 0, "\x00", 1 },
        { 1, "\x01", 1 },
        { 239, "\xef", 1 },
        { 240, "\xf0\x00", 2 },
        { 241, "\xf1\x00", 2 },
        { 255, "\xff\x00", 2 },
        { 256, "\xf0\x01", 2 },
        { 2287, "\xff\x7f", 2 },          /* the last 2-byte value (§3.1) */
        { 2288, "\xf0\x80\x00", 3 },      /* the first 3-byte value */
        { 16380, "\xfc\xf0\x06", 3 },     /* captured: HAProxy's max-frame-size */
        { 264431, "\xff\xff\x7f", 3 },
        { 264432, "\xf0\x80\x80\x00", 4 },
        { 33818863, "\xff\xff\xff\x7f", 4 },
        { 33818864, "\xf0\x80\x80\x80\x00", 5 },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        uint8_t buf[SPOP_VARINT_MAX];
        uint8_t *w = buf;
        struct dp_guarded g;
        const uint8_t *p;
        uint64_t v = 12345;

        assert_int_equal(spop_varint_put(&w, buf + sizeof(buf), cases[i].v), 0);
        assert_int_equal((size_t)(w - buf), cases[i].len);
        assert_memory_equal(buf, cases[i].enc, cases[i].len);
        assert_int_equal(spop_varint_len(cases[i].v), cases[i].len);
        dp_guarded_init(&g, cases[i].enc, cases[i].len);
        p = g.ptr;
        assert_int_equal(spop_varint_get(&p, g.ptr + g.len, &v), 0);
        assert_true(v == cases[i].v);
        assert_ptr_equal(p, g.ptr + g.len);
        /* cut anywhere: an error, and the cursor does not move */
        for (size_t cut = 0; cut < cases[i].len; cut++) {
            p = g.ptr;
            assert_int_equal(spop_varint_get(&p, g.ptr + cut, &v), -EBADMSG);
            assert_ptr_equal(p, g.ptr);
        }
        dp_guarded_free(&g);
    }
}

static void test_varint_round_trip(void **state)
{
    uint64_t vals[200];
    size_t n = 0;

    (void)state;
    for (unsigned s = 0; s < 64; s++) {
        vals[n++] = (uint64_t)1 << s;
        vals[n++] = ((uint64_t)1 << s) - 1;
        vals[n++] = ((uint64_t)1 << s) + 239;
    }
    vals[n++] = UINT64_MAX;
    vals[n++] = UINT64_MAX - 1;
    vals[n++] = (uint64_t)INT64_MAX;
    vals[n++] = (uint64_t)-1000; /* a negative INT64 as HAProxy sends it */
    for (size_t i = 0; i < n; i++) {
        uint8_t buf[SPOP_VARINT_MAX + 1];
        uint8_t *w = buf;
        const uint8_t *p = buf;
        uint64_t v;

        assert_int_equal(spop_varint_put(&w, buf + sizeof(buf), vals[i]), 0);
        assert_true((size_t)(w - buf) <= SPOP_VARINT_MAX);
        assert_int_equal(spop_varint_get(&p, w, &v), 0);
        assert_true(v == vals[i]);
        assert_ptr_equal(p, w);
        /* no room: -ENOBUFS, nothing moves */
        w = buf;
        assert_int_equal(spop_varint_put(&w, buf + spop_varint_len(vals[i]) - 1, vals[i]),
                -ENOBUFS);
        assert_ptr_equal(w, buf);
    }
}

static void test_varint_overflow(void **state)
{
    static const struct {
        const char *in;
        size_t len;
    } cases[] = {
        /* 10 bytes whose last one carries bits above 2^64 */
        { "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10 },
        /* 11 bytes: continuation past any 64-bit value */
        { "\xf0\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00", 11 },
        { "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 16 },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        struct dp_guarded g;
        const uint8_t *p;
        uint64_t v;

        dp_guarded_init(&g, cases[i].in, cases[i].len);
        p = g.ptr;
        assert_int_equal(spop_varint_get(&p, g.ptr + g.len, &v), -EBADMSG);
        assert_ptr_equal(p, g.ptr);
        dp_guarded_free(&g);
    }
}

/* ---- typed data ---- */

static void test_data_types(void **state)
{
    static const struct {
        const char *in;
        size_t len;
        int rc;
        enum spop_data_type type;
        uint64_t u;
        bool flag;
        size_t bytes_len;
    } cases[] = {
        { "\x00", 1, 0, SPOP_DATA_NULL, 0, false, 0 },
        { "\x01", 1, 0, SPOP_DATA_BOOL, 0, false, 0 },
        { "\x11", 1, 0, SPOP_DATA_BOOL, 0, true, 0 }, /* captured: healthcheck true */
        { "\x02\x05", 2, 0, SPOP_DATA_INT32, 5, false, 0 },
        { "\x03\xfc\xf0\x06", 4, 0, SPOP_DATA_UINT32, 16380, false, 0 },
        { "\x04\xf0\x00", 3, 0, SPOP_DATA_INT64, 240, false, 0 },
        { "\x05\x00", 2, 0, SPOP_DATA_UINT64, 0, false, 0 },
        { "\x06\x7f\x00\x00\x01", 5, 0, SPOP_DATA_IPV4, 0, false, 4 },
        { "\x07\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 17, 0, SPOP_DATA_IPV6, 0, false, 16 },
        { "\x08\x03GET", 5, 0, SPOP_DATA_STRING, 0, false, 3 },
        { "\x09\x04\0\x01\0\x02", 6, 0, SPOP_DATA_BINARY, 0, false, 4 },
        { "\x09\x00", 2, 0, SPOP_DATA_BINARY, 0, false, 0 }, /* captured: empty req.body */
        { "\x0a", 1, -EBADMSG, 0, 0, false, 0 },             /* 10-15 reserved */
        { "\x0f\x00", 2, -EBADMSG, 0, 0, false, 0 },
        { "\x08\x05GET", 5, -EBADMSG, 0, 0, false, 0 },       /* longer than the input */
        { "\x06\x7f\x00\x01", 4, -EBADMSG, 0, 0, false, 0 },
        { "\x02", 1, -EBADMSG, 0, 0, false, 0 },
        { "", 0, -EBADMSG, 0, 0, false, 0 },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        struct dp_guarded g;
        struct spop_data d;
        const uint8_t *p;

        dp_guarded_init(&g, cases[i].in, cases[i].len);
        p = g.ptr;
        assert_int_equal(spop_data_get(&p, g.ptr + g.len, &d), cases[i].rc);
        if (cases[i].rc == 0) {
            uint8_t out[32];
            uint8_t *w = out;

            assert_ptr_equal(p, g.ptr + g.len);
            assert_int_equal(d.type, cases[i].type);
            assert_true(d.u == cases[i].u);
            assert_int_equal(d.flag, cases[i].flag);
            assert_int_equal(d.bytes.len, cases[i].bytes_len);
            /* and back */
            assert_int_equal(spop_data_put(&w, out + sizeof(out), &d), 0);
            assert_int_equal((size_t)(w - out), cases[i].len);
            assert_memory_equal(out, cases[i].in, cases[i].len);
        } else {
            assert_ptr_equal(p, g.ptr);
        }
        dp_guarded_free(&g);
    }
}

static void test_data_uint(void **state)
{
    struct spop_data d = { .type = SPOP_DATA_INT64, .u = (uint64_t)-5 };
    uint64_t v = 0;

    (void)state;
    assert_false(spop_data_uint(&d, &v));
    d.u = 7;
    assert_true(spop_data_uint(&d, &v) && v == 7);
    d.type = SPOP_DATA_UINT64;
    d.u = UINT64_MAX;
    assert_true(spop_data_uint(&d, &v) && v == UINT64_MAX);
    d.type = SPOP_DATA_STRING;
    assert_false(spop_data_uint(&d, &v));
}

/* ---- frames ---- */

static void test_frame_cut(void **state)
{
    static const struct {
        const char *in;
        size_t len;
        size_t max;
        enum spop_cut want;
        size_t flen;
    } cases[] = {
        { "", 0, 1000, SPOP_CUT_AGAIN, 0 },
        { "\x00\x00\x00", 3, 1000, SPOP_CUT_AGAIN, 0 },
        { "\x00\x00\x00\x07", 4, 1000, SPOP_CUT_AGAIN, 7 },
        { "\x00\x00\x00\x07\x03\0\0\0\x01\x01\x01", 11, 1000, SPOP_CUT_DONE, 7 },
        { "\x00\x00\x00\x07\x03\0\0\0\x01\x01\x01extra", 16, 1000, SPOP_CUT_DONE, 7 },
        { "\x00\x00\x00\x06\x03\0\0\0\x01\x01", 10, 1000, SPOP_CUT_SHORT, 6 },
        { "\x00\x00\x00\x00", 4, 1000, SPOP_CUT_SHORT, 0 },
        { "\x00\x00\x03\xe9", 4, 1000, SPOP_CUT_TOO_BIG, 1001 },
        { "\xff\xff\xff\xff", 4, 1000, SPOP_CUT_TOO_BIG, 0xffffffff },
        { "\x00\x00\x03\xe8", 4, 1000, SPOP_CUT_AGAIN, 1000 },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        struct dp_guarded g;
        size_t flen = 0;

        dp_guarded_init(&g, cases[i].in, cases[i].len);
        assert_int_equal(spop_frame_cut(g.ptr, g.len, cases[i].max, &flen), cases[i].want);
        assert_int_equal(flen, cases[i].flen);
        dp_guarded_free(&g);
    }
}

static void test_frame_put_get(void **state)
{
    uint8_t buf[64];
    struct spop_frame f;
    size_t n;

    (void)state;
    n = spop_ack_put(buf, sizeof(buf), 3, 1);
    /* captured reply shape: length 7, ACK, FIN, stream 3, frame 1, no actions */
    assert_int_equal(n, 11);
    assert_memory_equal(buf, "\x00\x00\x00\x07\x67\x00\x00\x00\x01\x03\x01", 11);
    assert_int_equal(spop_frame_get(buf + 4, n - 4, &f), 0);
    assert_int_equal(f.type, SPOP_FRAME_ACK);
    assert_int_equal(f.flags, SPOP_FLAG_FIN);
    assert_true(f.stream_id == 3 && f.frame_id == 1 && f.payload.len == 0);
    n = spop_ack_put(buf, sizeof(buf), UINT64_MAX, 1ull << 40);
    assert_int_equal(spop_frame_get(buf + 4, n - 4, &f), 0);
    assert_true(f.stream_id == UINT64_MAX && f.frame_id == 1ull << 40);
    assert_int_equal(spop_ack_put(buf, 10, 3, 1), 0); /* no room */
    assert_int_equal(spop_frame_get(buf + 4, 4, &f), -EBADMSG);
    assert_int_equal(spop_frame_get((const uint8_t *)"\x03\0\0\0\x01\xf0", 6, &f), -EBADMSG);
}

/* ---- HELLO ---- */

static void test_hello_captured(void **state)
{
    uint8_t fr[256];
    size_t n = unhex(hex_hello, fr, sizeof(fr));
    struct spop_frame f;
    struct spop_hello h;

    (void)state;
    assert_int_equal(spop_frame_get(fr, n, &f), 0);
    assert_int_equal(f.type, SPOP_FRAME_HAPROXY_HELLO);
    assert_int_equal(spop_hello_get(f.payload, &h), SPOP_ST_NORMAL);
    assert_true(h.max_frame == 16380);
    assert_memory_equal(h.versions.ptr, "2.0", 3);
    assert_int_equal(spop_caps_parse(h.caps), SPOP_CAP_PIPELINING | SPOP_CAP_ASYNC);
    assert_false(h.healthcheck);
    assert_int_equal(h.engine_id.len, 36);
    n = unhex(hex_hc_hello, fr, sizeof(fr));
    assert_int_equal(spop_frame_get(fr, n, &f), 0);
    assert_int_equal(spop_hello_get(f.payload, &h), SPOP_ST_NORMAL);
    assert_true(h.healthcheck);
    assert_int_equal(h.caps.len, 0); /* a health check offers no capability */
}

static void test_caps_versions(void **state)
{
    static const struct {
        const char *in;
        unsigned caps;
        bool v2;
    } cases[] = {
        { "pipelining,async", SPOP_CAP_PIPELINING | SPOP_CAP_ASYNC, false },
        { " async , fragmentation ", SPOP_CAP_ASYNC | SPOP_CAP_FRAGMENTATION, false },
        { "pipeliningx,asyn", 0, false },
        { "", 0, false },
        { ",,", 0, false },
        { "2.0", 0, true },
        { "1.0, 2.0", 0, true },
        { " 2.5 ", 0, true },
        { "1.0", 0, false },
        { "20.0", 0, false },
        { "2.", 0, false },
        { "2", 0, false },
        { "2.0x", 0, false },
        { ".0", 0, false },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        struct dp_guarded g;

        dp_guarded_init(&g, cases[i].in, strlen(cases[i].in));
        assert_int_equal(spop_caps_parse((struct dp_bytes){ g.ptr, g.len }), cases[i].caps);
        assert_int_equal(spop_versions_have((struct dp_bytes){ g.ptr, g.len }, 2), cases[i].v2);
        dp_guarded_free(&g);
    }
}

/* ---- the agent ---- */

/* Decodes the frame at <out> (with its prefix) that the agent wrote. */
static void reply_frame(const uint8_t *out, size_t n, struct spop_frame *f)
{
    size_t flen = 0;

    assert_true(n >= 4);
    assert_int_equal(spop_frame_cut(out, n, 1 << 20, &flen), SPOP_CUT_DONE);
    assert_int_equal(flen + 4, n);
    assert_int_equal(spop_frame_get(out + 4, flen, f), 0);
    assert_int_equal(f->flags, SPOP_FLAG_FIN);
}

static uint64_t disconnect_status(const uint8_t *out, size_t n)
{
    struct spop_frame f;
    struct spop_disconnect d;

    reply_frame(out, n, &f);
    assert_int_equal(f.type, SPOP_FRAME_AGENT_DISCONNECT);
    assert_int_equal(spop_disconnect_get(f.payload, &d), SPOP_ST_NORMAL);
    assert_true(d.has_status);
    assert_true(d.message.len > 0);
    return d.status;
}

static enum spop_verdict feed(struct spop_agent *a, const uint8_t *fr, size_t n, uint8_t *out,
        size_t *out_len, struct spop_frame *f)
{
    struct dp_guarded g;
    enum spop_verdict v;

    dp_guarded_init(&g, fr, n);
    v = spop_agent_frame(a, g.ptr, g.len, f, out, SPOP_REPLY_MAX, out_len);
    dp_guarded_free(&g);
    return v;
}

static void test_agent_handshake(void **state)
{
    uint8_t fr[512];
    uint8_t out[SPOP_REPLY_MAX];
    struct spop_agent a;
    struct spop_frame f;
    struct spop_frame r;
    struct spop_hello h;
    size_t n;
    size_t on;

    (void)state;
    spop_agent_init(&a, 1 << 20);
    assert_int_equal(a.max_frame, 4096); /* until the HELLO */
    n = unhex(hex_hello, fr, sizeof(fr));
    assert_int_equal(feed(&a, fr, n, out, &on, &f), SPOP_V_REPLY);
    assert_int_equal(a.state, SPOP_AGENT_READY);
    assert_int_equal(a.max_frame, 16380);
    reply_frame(out, on, &r);
    assert_int_equal(r.type, SPOP_FRAME_AGENT_HELLO);
    assert_true(r.stream_id == 0 && r.frame_id == 0);
    /* AGENT-HELLO's items are those of a HAPROXY-HELLO but "version" for "supported-versions" */
    {
        const uint8_t *p = r.payload.ptr;
        const uint8_t *end = p + r.payload.len;
        bool version = false;
        bool mfs = false;
        bool caps = false;

        while (p < end) {
            struct spop_kv kv;

            assert_int_equal(spop_kv_get(&p, end, &kv), 0);
            if (kv.name.len == 7 && memcmp(kv.name.ptr, "version", 7) == 0) {
                assert_int_equal(kv.value.type, SPOP_DATA_STRING);
                assert_int_equal(kv.value.bytes.len, 3);
                assert_memory_equal(kv.value.bytes.ptr, "2.0", 3);
                version = true;
            } else if (kv.name.len == 14 && memcmp(kv.name.ptr, "max-frame-size", 14) == 0) {
                assert_int_equal(kv.value.type, SPOP_DATA_UINT32);
                assert_true(kv.value.u == 16380);
                mfs = true;
            } else if (kv.name.len == 12 && memcmp(kv.name.ptr, "capabilities", 12) == 0) {
                assert_int_equal(kv.value.type, SPOP_DATA_STRING);
                assert_int_equal(kv.value.bytes.len, 16);
                assert_memory_equal(kv.value.bytes.ptr, "pipelining,async", 16);
                caps = true;
            }
        }
        assert_true(version && mfs && caps);
    }
    (void)h;
    /* a NOTIFY: ACKed with its ids */
    n = unhex(hex_notify_get, fr, sizeof(fr));
    assert_int_equal(feed(&a, fr, n, out, &on, &f), SPOP_V_NOTIFY);
    assert_true(f.stream_id == 3 && f.frame_id == 1);
    assert_int_equal(on, 11);
    assert_memory_equal(out, "\x00\x00\x00\x07\x67\x00\x00\x00\x01\x03\x01", 11);
    /* an unknown frame type is skipped */
    assert_int_equal(feed(&a, (const uint8_t *)"\x2a\0\0\0\x01\0\0", 7, out, &on, &f),
            SPOP_V_SKIP);
    assert_int_equal(on, 0);
    /* HAPROXY-DISCONNECT: AGENT-DISCONNECT "normal", then close */
    {
        uint8_t d[64];
        uint8_t *p = d + 7;
        struct spop_data st = { .type = SPOP_DATA_UINT32, .u = 2 };
        struct spop_data msg = { .type = SPOP_DATA_STRING, .bytes = { (const uint8_t *)"bye", 3 } };

        memcpy(d, "\x02\0\0\0\x01\0\0", 7);
        assert_int_equal(spop_bytes_put(&p, d + sizeof(d), "status-code", 11), 0);
        assert_int_equal(spop_data_put(&p, d + sizeof(d), &st), 0);
        assert_int_equal(spop_bytes_put(&p, d + sizeof(d), "message", 7), 0);
        assert_int_equal(spop_data_put(&p, d + sizeof(d), &msg), 0);
        assert_int_equal(feed(&a, d, (size_t)(p - d), out, &on, &f), SPOP_V_CLOSE);
        assert_true(a.peer_disconnect && a.peer_status == 2);
        assert_true(disconnect_status(out, on) == SPOP_ST_NORMAL);
        assert_int_equal(a.state, SPOP_AGENT_CLOSED);
    }
}

static void test_agent_healthcheck(void **state)
{
    uint8_t fr[256];
    uint8_t out[SPOP_REPLY_MAX];
    struct spop_agent a;
    struct spop_frame f;
    struct spop_frame r;
    size_t n = unhex(hex_hc_hello, fr, sizeof(fr));
    size_t on;

    (void)state;
    spop_agent_init(&a, 1 << 20);
    assert_int_equal(feed(&a, fr, n, out, &on, &f), SPOP_V_CLOSE);
    assert_true(a.healthcheck);
    assert_int_equal(a.state, SPOP_AGENT_CLOSED);
    reply_frame(out, on, &r);
    assert_int_equal(r.type, SPOP_FRAME_AGENT_HELLO); /* AGENT-HELLO + close() (§3.2.3) */
}

/* Builds a HAPROXY-HELLO frame (no prefix) from KV items given as (name, typed data). */
struct kvb {
    uint8_t buf[512];
    uint8_t *p;
};

static void kvb_init(struct kvb *b, const char *meta, size_t meta_len)
{
    memcpy(b->buf, meta, meta_len);
    b->p = b->buf + meta_len;
}

static void kvb_add(struct kvb *b, const char *name, const struct spop_data *d)
{
    assert_int_equal(spop_bytes_put(&b->p, b->buf + sizeof(b->buf), name, strlen(name)), 0);
    assert_int_equal(spop_data_put(&b->p, b->buf + sizeof(b->buf), d), 0);
}

static struct spop_data str(const char *s)
{
    return (struct spop_data){ .type = SPOP_DATA_STRING, .bytes = { (const uint8_t *)s,
                                                                    strlen(s) } };
}

static struct spop_data u32(uint64_t v)
{
    return (struct spop_data){ .type = SPOP_DATA_UINT32, .u = v };
}

static void test_agent_hello_errors(void **state)
{
    static const char hello_meta[] = "\x01\0\0\0\x01\0\0";
    static const struct {
        const char *versions; /* NULL: absent */
        uint64_t max_frame;   /* 0: absent */
        const char *caps;
        uint64_t want;
    } cases[] = {
        { "2.0", 16380, "pipelining", 0 },
        { NULL, 16380, "pipelining", SPOP_ST_NO_VSN },
        { "2.0", 0, "pipelining", SPOP_ST_NO_FRAME_SIZE },
        { "2.0", 16380, NULL, SPOP_ST_NO_CAP },
        { "1.0", 16380, "", SPOP_ST_BAD_VSN },
        { "3.0", 16380, "", SPOP_ST_BAD_VSN },
        { "2.0", 255, "", SPOP_ST_BAD_FRAME_SIZE },
        { "2.0", 256, "", 0 },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        struct kvb b;
        struct spop_agent a;
        struct spop_frame f;
        uint8_t out[SPOP_REPLY_MAX];
        size_t on;
        struct spop_data d;

        kvb_init(&b, hello_meta, L(hello_meta));
        if (cases[i].versions != NULL) {
            d = str(cases[i].versions);
            kvb_add(&b, "supported-versions", &d);
        }
        if (cases[i].max_frame != 0) {
            d = u32(cases[i].max_frame);
            kvb_add(&b, "max-frame-size", &d);
        }
        if (cases[i].caps != NULL) {
            d = str(cases[i].caps);
            kvb_add(&b, "capabilities", &d);
        }
        d = str("ignored");
        kvb_add(&b, "some-future-item", &d);
        spop_agent_init(&a, 1 << 20);
        if (cases[i].want == 0) {
            assert_int_equal(feed(&a, b.buf, (size_t)(b.p - b.buf), out, &on, &f),
                    SPOP_V_REPLY);
            assert_int_equal(a.max_frame, cases[i].max_frame);
            continue;
        }
        assert_int_equal(feed(&a, b.buf, (size_t)(b.p - b.buf), out, &on, &f), SPOP_V_CLOSE);
        assert_true(disconnect_status(out, on) == cases[i].want);
        assert_int_equal(a.sent_status, cases[i].want);
    }
}

static void test_agent_frame_errors(void **state)
{
    static const struct {
        const char *in;
        size_t len;
        bool after_hello;
        enum spop_verdict v;
        uint64_t status;
    } cases[] = {
        /* a NOTIFY before the HELLO */
        { "\x03\0\0\0\x01\x01\x01", 7, false, SPOP_V_CLOSE, SPOP_ST_INVALID },
        /* unknown type before the HELLO */
        { "\x2a\0\0\0\x01\0\0", 7, false, SPOP_V_CLOSE, SPOP_ST_INVALID },
        /* fragments: FIN clear, or type UNSET */
        { "\x03\0\0\0\x00\x01\x01", 7, true, SPOP_V_CLOSE, SPOP_ST_FRAG_NOT_SUPPORTED },
        { "\x00\0\0\0\x01\x01\x01", 7, true, SPOP_V_CLOSE, SPOP_ST_FRAG_NOT_SUPPORTED },
        /* frames only agents send */
        { "\x65\0\0\0\x01\0\0", 7, true, SPOP_V_CLOSE, SPOP_ST_INVALID },
        { "\x67\0\0\0\x01\x01\x01", 7, true, SPOP_V_CLOSE, SPOP_ST_INVALID },
        /* a second HELLO */
        { "\x01\0\0\0\x01\0\0", 7, true, SPOP_V_CLOSE, SPOP_ST_INVALID },
        /* metadata cut */
        { "\x03\0\0\0\x01\xf0", 6, true, SPOP_V_CLOSE, SPOP_ST_INVALID },
        /* NOTIFY: a message whose arg count runs past the frame */
        { "\x03\0\0\0\x01\x01\x01\x06mirror\x02\x01x\x08\x01y", 20, true, SPOP_V_CLOSE,
                SPOP_ST_INVALID },
        /* NOTIFY: a reserved data type */
        { "\x03\0\0\0\x01\x01\x01\x01m\x01\x01x\x0c", 13, true, SPOP_V_CLOSE, SPOP_ST_INVALID },
        /* NOTIFY without messages: ACKed */
        { "\x03\0\0\0\x01\x05\x06", 7, true, SPOP_V_NOTIFY, 0 },
        /* HAPROXY-DISCONNECT without status-code */
        { "\x02\0\0\0\x01\0\0", 7, true, SPOP_V_CLOSE, SPOP_ST_INVALID },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        uint8_t fr[256];
        uint8_t out[SPOP_REPLY_MAX];
        struct spop_agent a;
        struct spop_frame f;
        size_t on;
        enum spop_verdict v;

        spop_agent_init(&a, 1 << 20);
        if (cases[i].after_hello) {
            size_t n = unhex(hex_hello, fr, sizeof(fr));

            assert_int_equal(feed(&a, fr, n, out, &on, &f), SPOP_V_REPLY);
        }
        v = feed(&a, (const uint8_t *)cases[i].in, cases[i].len, out, &on, &f);
        assert_int_equal(v, cases[i].v);
        if (v == SPOP_V_CLOSE)
            assert_true(disconnect_status(out, on) == cases[i].status);
    }
}

/* Every captured frame cut at every length: no read past the end, and a DISCONNECT
 * "invalid" (or, for a NOTIFY cut between messages, an ACK). */
static void test_agent_cut_frames(void **state)
{
    const char *frames[] = { hex_hello, hex_notify_get, hex_notify_post, hex_notify_10 };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(frames); i++) {
        uint8_t fr[512];
        size_t n = unhex(frames[i], fr, sizeof(fr));

        for (size_t cut = 0; cut < n; cut++) {
            uint8_t hello[256];
            uint8_t out[SPOP_REPLY_MAX];
            struct spop_agent a;
            struct spop_frame f;
            size_t on;
            enum spop_verdict v;

            spop_agent_init(&a, 1 << 20);
            if (i > 0) {
                size_t hn = unhex(hex_hello, hello, sizeof(hello));

                assert_int_equal(feed(&a, hello, hn, out, &on, &f), SPOP_V_REPLY);
            }
            v = feed(&a, fr, cut, out, &on, &f);
            if (v == SPOP_V_CLOSE) {
                uint64_t st = disconnect_status(out, on);

                assert_true(st == SPOP_ST_INVALID || (i == 0 && st >= SPOP_ST_NO_VSN &&
                                                             st <= SPOP_ST_BAD_FRAME_SIZE));
            } else {
                assert_int_equal(v, i == 0 ? SPOP_V_REPLY : SPOP_V_NOTIFY);
            }
        }
    }
}

static void test_agent_fail(void **state)
{
    struct spop_agent a;
    uint8_t out[SPOP_REPLY_MAX];
    size_t n;

    (void)state;
    for (unsigned st = 0; st < SPOP_ST_COUNT; st++) {
        spop_agent_init(&a, 1 << 20);
        n = spop_agent_fail(&a, (enum spop_status)st, out, sizeof(out));
        assert_true(n > 0 && n <= SPOP_REPLY_MAX);
        assert_true(disconnect_status(out, n) == st);
        assert_int_equal(a.state, SPOP_AGENT_CLOSED);
    }
    spop_agent_init(&a, 10); /* clamped */
    assert_int_equal(a.our_max_frame, SPOP_FRAME_MIN);
}

/* ---- the mirror request ---- */

static void notify_message(const uint8_t *fr, size_t n, struct spop_message *m)
{
    struct spop_frame f;
    const uint8_t *p;

    assert_int_equal(spop_frame_get(fr, n, &f), 0);
    p = f.payload.ptr;
    assert_int_equal(spop_message_get(&p, f.payload.ptr + f.payload.len, m), 0);
    assert_ptr_equal(p, f.payload.ptr + f.payload.len);
}

static void expect_req(const struct spop_message *m, enum spop_req_status st, const char *want,
        size_t want_len)
{
    struct spop_req r;

    assert_int_equal(spop_req_parse(m, &r), st);
    if (st == SPOP_REQ_OK) {
        uint8_t *out = malloc(r.wire_len + 1);

        assert_non_null(out);
        assert_int_equal(r.wire_len, want_len);
        spop_req_write(&r, out);
        assert_memory_equal(out, want, want_len);
        free(out);
    }
}

static void test_req_captured(void **state)
{
    static const char get[] = "GET /a?b=c HTTP/1.1\r\n"
                              "host: 127.0.0.1:28090\r\n"
                              "user-agent: curl/7.88.1\r\n"
                              "accept: */*\r\n"
                              "x-test: 1\r\n"
                              "\r\n";
    static const char post[] = "POST /post HTTP/1.1\r\n"
                               "host: 127.0.0.1:28090\r\n"
                               "user-agent: curl/7.88.1\r\n"
                               "accept: */*\r\n"
                               "content-length: 11\r\n"
                               "content-type: application/x-www-form-urlencoded\r\n"
                               "\r\n"
                               "hello=world";
    static const char old[] = "GET /old HTTP/1.0\r\n"
                              "host: 127.0.0.1:28090\r\n"
                              "user-agent: curl/7.88.1\r\n"
                              "accept: */*\r\n"
                              "\r\n";
    static const struct {
        const char *hex;
        const char *want;
        size_t len;
    } cases[] = {
        { hex_notify_get, get, L(get) },
        { hex_notify_post, post, L(post) },
        { hex_notify_10, old, L(old) },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        uint8_t fr[512];
        size_t n = unhex(cases[i].hex, fr, sizeof(fr));
        struct dp_guarded g;
        struct spop_message m;

        dp_guarded_init(&g, fr, n);
        notify_message(g.ptr, g.len, &m);
        assert_int_equal(m.name.len, 6);
        assert_memory_equal(m.name.ptr, "mirror", 6);
        assert_int_equal(m.nargs, 5);
        expect_req(&m, SPOP_REQ_OK, cases[i].want, cases[i].len);
        dp_guarded_free(&g);
    }
}

/* A message built arg by arg. */
struct mb {
    uint8_t buf[40000];
    uint8_t *p;
    unsigned nargs;
};

static void mb_init(struct mb *b)
{
    b->p = b->buf;
    b->nargs = 0;
}

static void mb_arg(struct mb *b, const char *name, enum spop_data_type t, const void *v,
        size_t len)
{
    struct spop_data d = { .type = t, .bytes = { v, len } };

    assert_int_equal(spop_bytes_put(&b->p, b->buf + sizeof(b->buf), name, strlen(name)), 0);
    assert_int_equal(spop_data_put(&b->p, b->buf + sizeof(b->buf), &d), 0);
    b->nargs++;
}

static void mb_uint(struct mb *b, const char *name, uint64_t v)
{
    struct spop_data d = { .type = SPOP_DATA_UINT64, .u = v };

    assert_int_equal(spop_bytes_put(&b->p, b->buf + sizeof(b->buf), name, strlen(name)), 0);
    assert_int_equal(spop_data_put(&b->p, b->buf + sizeof(b->buf), &d), 0);
    b->nargs++;
}

/* req.hdrs_bin of "name\0value\0name\0value\0..." (<n> pairs), with its end marker. */
static size_t hdrs_bin(uint8_t *out, size_t cap, const char *const *pairs, size_t n)
{
    uint8_t *p = out;

    for (size_t i = 0; i < 2 * n; i++)
        assert_int_equal(spop_bytes_put(&p, out + cap, pairs[i], strlen(pairs[i])), 0);
    assert_int_equal(spop_bytes_put(&p, out + cap, "", 0), 0);
    assert_int_equal(spop_bytes_put(&p, out + cap, "", 0), 0);
    return (size_t)(p - out);
}

static struct spop_message mb_msg(struct mb *b)
{
    return (struct spop_message){ .name = { (const uint8_t *)"mirror", 6 },
        .nargs = b->nargs,
        .args = { b->buf, (size_t)(b->p - b->buf) } };
}

static void test_req_methods_and_bodies(void **state)
{
    static const char *const cl5[] = { "host", "h", "content-length", "5" };
    static const char *const cl10[] = { "host", "h", "content-length", "10" };
    static const char *const cl3[] = { "host", "h", "content-length", "3" };
    static const char *const cl_bad[] = { "content-length", "5x" };
    static const char *const cl_dup[] = { "content-length", "5", "Content-Length", "5" };
    static const char *const cl_conf[] = { "content-length", "5", "content-length", "6" };
    static const char *const te[] = { "host", "h", "transfer-encoding", "chunked", "x-a", "1" };
    static const char *const te_cl[] = { "content-length", "99", "transfer-encoding",
        "gzip, chunked" };
    static const char *const te_gzip[] = { "transfer-encoding", "chunked, gzip" };
    static const char *const none[] = { "host", "h" };
    static const char *const crlf[] = { "x-a", "1\r\nx-b: 2" };
    static const char *const nul[] = { "x-a", "1\0002" };
    static const char *const badname[] = { "x a", "1" };
    static const struct {
        const char *method;
        const char *path;
        const char *ver;
        const char *const *hdrs;
        size_t nhdrs;
        const char *body;
        size_t body_len;
        enum spop_req_status st;
        const char *want;
        size_t want_len;
    } cases[] = {
#define C(m, pa, v, h, b, bl, st, w) { m, pa, v, h, DP_ARRAY_LEN(h) / 2, b, bl, st, w, L(w) }
        C("PATCH", "/p", "1.1", cl5, "a\0b\0c", 5, SPOP_REQ_OK,
                "PATCH /p HTTP/1.1\r\nhost: h\r\ncontent-length: 5\r\n\r\na\0b\0c"),
        C("DELETE", "/d", "1.1", cl5, "12345", 5, SPOP_REQ_OK,
                "DELETE /d HTTP/1.1\r\nhost: h\r\ncontent-length: 5\r\n\r\n12345"),
        C("PROPFIND", "/x", "1.1", none, "", 0, SPOP_REQ_OK,
                "PROPFIND /x HTTP/1.1\r\nhost: h\r\n\r\n"),
        C("PURGE", "*", "1.0", none, "", 0, SPOP_REQ_OK, "PURGE * HTTP/1.0\r\nhost: h\r\n\r\n"),
        /* HAProxy cut req.body: counted, not sent */
        C("POST", "/t", "1.1", cl10, "12345", 5, SPOP_REQ_TRUNCATED, ""),
        C("POST", "/t", "1.1", cl3, "12345", 5, SPOP_REQ_BAD_FRAMING, ""),
        C("POST", "/t", "1.1", cl_bad, "12345", 5, SPOP_REQ_BAD_FRAMING, ""),
        C("POST", "/t", "1.1", cl_dup, "12345", 5, SPOP_REQ_OK,
                "POST /t HTTP/1.1\r\ncontent-length: 5\r\nContent-Length: 5\r\n\r\n12345"),
        C("POST", "/t", "1.1", cl_conf, "12345", 5, SPOP_REQ_BAD_FRAMING, ""),
        /* chunked: the de-chunked body with a Content-Length where Transfer-Encoding was */
        C("POST", "/c", "1.1", te, "abc", 3, SPOP_REQ_OK,
                "POST /c HTTP/1.1\r\nhost: h\r\ncontent-length: 3\r\nx-a: 1\r\n\r\nabc"),
        C("POST", "/c", "1.1", te, "", 0, SPOP_REQ_OK,
                "POST /c HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\nx-a: 1\r\n\r\n"),
        C("POST", "/c", "1.1", te_cl, "abcdefghij", 10, SPOP_REQ_OK,
                "POST /c HTTP/1.1\r\ncontent-length: 10\r\n\r\nabcdefghij"),
        C("POST", "/c", "1.1", te_gzip, "abc", 3, SPOP_REQ_BAD_FRAMING, ""),
        /* a body with no framing field */
        C("POST", "/n", "1.1", none, "abc", 3, SPOP_REQ_BAD_FRAMING, ""),
        /* no Content-Length added when there is no body */
        C("GET", "/n", "1.0", none, "", 0, SPOP_REQ_OK, "GET /n HTTP/1.0\r\nhost: h\r\n\r\n"),
        /* HTTP/2: 1.1, origin-form */
        C("GET", "https://example.com/a?b", "2.0", none, "", 0, SPOP_REQ_OK,
                "GET /a?b HTTP/1.1\r\nhost: h\r\n\r\n"),
        C("GET", "http://example.com?q", "2.0", none, "", 0, SPOP_REQ_OK,
                "GET /?q HTTP/1.1\r\nhost: h\r\n\r\n"),
        C("GET", "HTTP://example.com", "3", none, "", 0, SPOP_REQ_OK,
                "GET / HTTP/1.1\r\nhost: h\r\n\r\n"),
        C("GET", "http://example.com/x", "1.1", none, "", 0, SPOP_REQ_OK,
                "GET http://example.com/x HTTP/1.1\r\nhost: h\r\n\r\n"),
        C("GET", "/v", "HTTP/1.0", none, "", 0, SPOP_REQ_OK, "GET /v HTTP/1.0\r\nhost: h\r\n\r\n"),
        /* what cannot go on the wire */
        C("GET", "/v", "1", none, "", 0, SPOP_REQ_INVALID, ""),
        C("GET", "/v", "0.9", none, "", 0, SPOP_REQ_INVALID, ""),
        C("GET", "/v", "1.1x", none, "", 0, SPOP_REQ_INVALID, ""),
        C("G T", "/", "1.1", none, "", 0, SPOP_REQ_INVALID, ""),
        C("GET", "/a b", "1.1", none, "", 0, SPOP_REQ_INVALID, ""),
        C("GET", "/a\r\n", "1.1", none, "", 0, SPOP_REQ_INVALID, ""),
        C("GET", "/", "1.1", crlf, "", 0, SPOP_REQ_INVALID, ""),
        C("GET", "/", "1.1", badname, "", 0, SPOP_REQ_INVALID, ""),
#undef C
        { "GET", "/", "1.1", nul, 1, "", 0, SPOP_REQ_INVALID, "", 0 },
        { "", "/", "1.1", none, 1, "", 0, SPOP_REQ_INVALID, "", 0 },
        { "GET", "", "1.1", none, 1, "", 0, SPOP_REQ_INVALID, "", 0 },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        struct mb *b = malloc(sizeof(*b));
        uint8_t hb[512];
        size_t hl = 0;
        struct spop_message m;

        assert_non_null(b);
        mb_init(b);
        mb_arg(b, "arg_method", SPOP_DATA_STRING, cases[i].method, strlen(cases[i].method));
        mb_arg(b, "arg_path", SPOP_DATA_STRING, cases[i].path, strlen(cases[i].path));
        mb_arg(b, "arg_ver", SPOP_DATA_STRING, cases[i].ver, strlen(cases[i].ver));
        if (cases[i].hdrs == nul) { /* a value with a NUL: lengths given by hand */
            uint8_t *p = hb;

            assert_int_equal(spop_bytes_put(&p, hb + sizeof(hb), "x-a", 3), 0);
            assert_int_equal(spop_bytes_put(&p, hb + sizeof(hb), "1\0002", 3), 0);
            assert_int_equal(spop_bytes_put(&p, hb + sizeof(hb), "", 0), 0);
            assert_int_equal(spop_bytes_put(&p, hb + sizeof(hb), "", 0), 0);
            hl = (size_t)(p - hb);
        } else {
            hl = hdrs_bin(hb, sizeof(hb), cases[i].hdrs, cases[i].nhdrs);
        }
        mb_arg(b, "arg_hdrs", SPOP_DATA_BINARY, hb, hl);
        mb_arg(b, "arg_body", SPOP_DATA_BINARY, cases[i].body, cases[i].body_len);
        m = mb_msg(b);
        expect_req(&m, cases[i].st, cases[i].want, cases[i].want_len);
        free(b);
    }
}

static void test_req_args(void **state)
{
    static const char *const h[] = { "host", "h" };
    uint8_t hb[64];
    size_t hl = hdrs_bin(hb, sizeof(hb), h, 1);
    struct mb *b = malloc(sizeof(*b));
    struct spop_message m;
    struct spop_req r;
    uint8_t id[64];
    int64_t ts;

    (void)state;
    assert_non_null(b);
    /* unnamed, in order; a NULL arg takes its place but counts as absent */
    mb_init(b);
    mb_arg(b, "", SPOP_DATA_STRING, "PUT", 3);
    mb_arg(b, "", SPOP_DATA_STRING, "/u", 2);
    mb_arg(b, "", SPOP_DATA_NULL, NULL, 0);
    mb_arg(b, "", SPOP_DATA_BINARY, hb, hl);
    mb_arg(b, "", SPOP_DATA_NULL, NULL, 0);
    mb_arg(b, "", SPOP_DATA_STRING, "id with space\n", 14);
    mb_uint(b, "", 1700000000123ull);
    mb_arg(b, "", SPOP_DATA_STRING, "extra args are ignored", 22);
    m = mb_msg(b);
    expect_req(&m, SPOP_REQ_OK, "PUT /u HTTP/1.1\r\nhost: h\r\n\r\n", 28);
    assert_int_equal(spop_req_parse(&m, &r), SPOP_REQ_OK);
    assert_int_equal(spop_req_id(&r, id, sizeof(id)), 14);
    assert_memory_equal(id, "id_with_space_", 14);
    assert_int_equal(spop_req_id(&r, id, 13), 0); /* too long for the room: a random id */
    assert_true(spop_req_ts(&r, &ts) && ts == 1700000000123000000ll);
    /* named ones in any order, unknown names ignored, the first of a name wins; req.hdrs */
    mb_init(b);
    mb_arg(b, "arg_body", SPOP_DATA_BINARY, "xy", 2);
    mb_arg(b, "other", SPOP_DATA_STRING, "zzz", 3);
    mb_arg(b, "arg_hdrs", SPOP_DATA_STRING, "Host: h\r\nContent-Length:  2 \r\n\r\n",
            L("Host: h\r\nContent-Length:  2 \r\n\r\n"));
    mb_arg(b, "arg_path", SPOP_DATA_STRING, "/n", 2);
    mb_arg(b, "arg_path", SPOP_DATA_STRING, "/second", 7);
    mb_arg(b, "arg_method", SPOP_DATA_STRING, "POST", 4);
    mb_arg(b, "arg_ts", SPOP_DATA_STRING, "1700000000", 10);
    m = mb_msg(b);
    expect_req(&m, SPOP_REQ_OK, "POST /n HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nxy",
            L("POST /n HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nxy"));
    assert_int_equal(spop_req_parse(&m, &r), SPOP_REQ_OK);
    assert_int_equal(spop_req_id(&r, id, sizeof(id)), 0);
    assert_true(spop_req_ts(&r, &ts) && ts == 1700000000000000000ll);
    /* missing method or path; wrong types */
    mb_init(b);
    mb_arg(b, "arg_path", SPOP_DATA_STRING, "/n", 2);
    m = mb_msg(b);
    expect_req(&m, SPOP_REQ_MISSING, "", 0);
    mb_uint(b, "arg_method", 3);
    m = mb_msg(b);
    expect_req(&m, SPOP_REQ_INVALID, "", 0);
    mb_init(b);
    mb_arg(b, "arg_method", SPOP_DATA_STRING, "GET", 3);
    mb_arg(b, "arg_path", SPOP_DATA_STRING, "/", 1);
    mb_uint(b, "arg_hdrs", 3);
    m = mb_msg(b);
    expect_req(&m, SPOP_REQ_INVALID, "", 0);
    /* no headers at all */
    mb_init(b);
    mb_arg(b, "arg_method", SPOP_DATA_STRING, "GET", 3);
    mb_arg(b, "arg_path", SPOP_DATA_STRING, "/", 1);
    m = mb_msg(b);
    expect_req(&m, SPOP_REQ_OK, "GET / HTTP/1.1\r\n\r\n", 18);
    free(b);
}

static void test_req_hdrs_malformed(void **state)
{
    static const struct {
        enum spop_data_type t;
        const char *in;
        size_t len;
        enum spop_req_status st;
    } cases[] = {
        { SPOP_DATA_BINARY, "\x01" "a\x01" "b\x00\x00", 6, SPOP_REQ_OK },
        { SPOP_DATA_BINARY, "\x01" "a\x01" "b", 4, SPOP_REQ_INVALID },          /* no end */
        { SPOP_DATA_BINARY, "\x01" "a\x01" "b\x00", 5, SPOP_REQ_INVALID },
        { SPOP_DATA_BINARY, "\x01" "a\x05" "b\x00\x00", 6, SPOP_REQ_INVALID },  /* too long */
        { SPOP_DATA_BINARY, "\x00\x01" "b\x00\x00", 5, SPOP_REQ_INVALID },      /* no name */
        { SPOP_DATA_BINARY, "\x00\x00x", 3, SPOP_REQ_INVALID },                 /* after end */
        { SPOP_DATA_BINARY, "", 0, SPOP_REQ_INVALID },
        { SPOP_DATA_BINARY, "\xf0", 1, SPOP_REQ_INVALID },
        { SPOP_DATA_STRING, "a: b\r\n\r\n", 8, SPOP_REQ_OK },
        { SPOP_DATA_STRING, "a: b\n\n", 6, SPOP_REQ_OK },
        { SPOP_DATA_STRING, "a: b\r\n", 6, SPOP_REQ_OK },
        { SPOP_DATA_STRING, "", 0, SPOP_REQ_OK },
        { SPOP_DATA_STRING, "a: b", 4, SPOP_REQ_INVALID },
        { SPOP_DATA_STRING, "a b\r\n\r\n", 7, SPOP_REQ_INVALID },
        { SPOP_DATA_STRING, " a: b\r\n\r\n", 9, SPOP_REQ_INVALID },
        { SPOP_DATA_STRING, "a: b\r\n\r\nc: d\r\n", 14, SPOP_REQ_INVALID },
        { SPOP_DATA_STRING, "a: b\rc\r\n\r\n", 10, SPOP_REQ_INVALID },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        struct mb *b = malloc(sizeof(*b));
        struct dp_guarded g;
        struct spop_message m;
        struct spop_req r;

        assert_non_null(b);
        mb_init(b);
        mb_arg(b, "arg_method", SPOP_DATA_STRING, "GET", 3);
        mb_arg(b, "arg_path", SPOP_DATA_STRING, "/", 1);
        mb_arg(b, "arg_hdrs", cases[i].t, cases[i].in, cases[i].len);
        dp_guarded_init(&g, b->buf, (size_t)(b->p - b->buf));
        m = (struct spop_message){ .nargs = b->nargs, .args = { g.ptr, g.len } };
        assert_int_equal(spop_req_parse(&m, &r), cases[i].st);
        dp_guarded_free(&g);
        free(b);
    }
}

static void test_req_large_binary_body(void **state)
{
    static const char *const h[] = { "content-length", "15360", "content-type",
        "application/octet-stream" };
    uint8_t hb[128];
    size_t hl = hdrs_bin(hb, sizeof(hb), h, 2);
    struct mb *b = malloc(sizeof(*b));
    uint8_t *body = malloc(15360);
    struct spop_message m;
    struct spop_req r;
    uint8_t *out;
    size_t head;

    (void)state;
    assert_non_null(b);
    assert_non_null(body);
    for (size_t i = 0; i < 15360; i++)
        body[i] = (uint8_t)(i * 7);
    mb_init(b);
    mb_arg(b, "arg_method", SPOP_DATA_STRING, "POST", 4);
    mb_arg(b, "arg_path", SPOP_DATA_STRING, "/bin", 4);
    mb_arg(b, "arg_ver", SPOP_DATA_STRING, "1.1", 3);
    mb_arg(b, "arg_hdrs", SPOP_DATA_BINARY, hb, hl);
    mb_arg(b, "arg_body", SPOP_DATA_BINARY, body, 15360);
    m = mb_msg(b);
    assert_int_equal(spop_req_parse(&m, &r), SPOP_REQ_OK);
    out = malloc(r.wire_len);
    assert_non_null(out);
    spop_req_write(&r, out);
    head = r.wire_len - 15360;
    assert_memory_equal(out, "POST /bin HTTP/1.1\r\ncontent-length: 15360\r\n", 43);
    assert_memory_equal(out + head - 4, "\r\n\r\n", 4);
    assert_memory_equal(out + head, body, 15360);
    free(out);
    free(body);
    free(b);
}

static void test_req_ts_units(void **state)
{
    static const struct {
        uint64_t v;
        bool ok;
        int64_t ns;
    } cases[] = {
        { 1700000000ull, true, 1700000000000000000ll },         /* s */
        { 1700000000123ull, true, 1700000000123000000ll },      /* ms: date(0,ms) */
        { 1700000000123456ull, true, 1700000000123456000ll },   /* us */
        { 1700000000123456789ull, true, 1700000000123456789ll }, /* ns */
        { 9223372036ull, true, 9223372036000000000ll }, /* 2262: the last second in int64 ns */
        { 9999999999ull, false, 0 },
        { 9223372036854ull, true, 9223372036854000000ll },      /* the last ms in int64 ns */
        { 9223372036855ull, false, 0 },                         /* found by fuzz_spop */
        { 9999999999999ull, false, 0 },
        { 9223372036854775ull, true, 9223372036854775000ll },
        { 9223372036854776ull, false, 0 },
        { (uint64_t)INT64_MAX, true, INT64_MAX },
        { 0, false, 0 },
        { UINT64_MAX, false, 0 },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        struct spop_req r;
        int64_t ns = -1;

        memset(&r, 0, sizeof(r));
        r.has[SPOP_ARG_TS] = true;
        r.arg[SPOP_ARG_TS] = (struct spop_data){ .type = SPOP_DATA_UINT64, .u = cases[i].v };
        assert_int_equal(spop_req_ts(&r, &ns), cases[i].ok);
        if (cases[i].ok)
            assert_true(ns == cases[i].ns);
    }
}

static void test_names(void **state)
{
    (void)state;
    for (int i = 0; i < SPOP_DATA_TYPE_COUNT; i++)
        assert_non_null(spop_data_type_names[i]);
    for (int i = 0; i < SPOP_ARG_COUNT; i++)
        assert_non_null(spop_arg_names[i]);
    for (int i = 0; i < SPOP_REQ_STATUS_COUNT; i++)
        assert_non_null(spop_req_status_names[i]);
    assert_string_equal(spop_status_name(SPOP_ST_INVALID), "invalid frame received");
    assert_string_equal(spop_status_name(50), "unknown status");
    assert_string_equal(spop_frame_type_names[SPOP_FRAME_ACK], "ack");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint_known),
        cmocka_unit_test(test_varint_round_trip),
        cmocka_unit_test(test_varint_overflow),
        cmocka_unit_test(test_data_types),
        cmocka_unit_test(test_data_uint),
        cmocka_unit_test(test_frame_cut),
        cmocka_unit_test(test_frame_put_get),
        cmocka_unit_test(test_hello_captured),
        cmocka_unit_test(test_caps_versions),
        cmocka_unit_test(test_agent_handshake),
        cmocka_unit_test(test_agent_healthcheck),
        cmocka_unit_test(test_agent_hello_errors),
        cmocka_unit_test(test_agent_frame_errors),
        cmocka_unit_test(test_agent_cut_frames),
        cmocka_unit_test(test_agent_fail),
        cmocka_unit_test(test_req_captured),
        cmocka_unit_test(test_req_methods_and_bodies),
        cmocka_unit_test(test_req_args),
        cmocka_unit_test(test_req_hdrs_malformed),
        cmocka_unit_test(test_req_large_binary_body),
        cmocka_unit_test(test_req_ts_units),
        cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
