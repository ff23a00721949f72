/*
 * test_flow.c: the flow table as packet timelines (STYLE.md rule 27).
 *
 * Each test plays a connection packet by packet into a flow table and checks the messages it
 * emits (type, id, payload, flags) and its counters: RST in the middle of a message, mid-stream
 * pickup, pipelining deeper than the pending ring's first allocation and than its cap,
 * --input-raw-realip-header, memory held by idle connections, hash flooding, the memory
 * budget over out-of-order segments.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_test.h"

#include "capture/flow.h"
#include "capture/tcp_reasm.h"

#define L(s)     (sizeof(s) - 1)
#define MAX_MSGS 256
#define CISN     1000u  /* client's initial sequence number */
#define SISN     50000u /* server's */

struct sink {
    struct dp_msg *m[MAX_MSGS];
    size_t n;
};

static void on_emit(void *ctx, struct dp_msg *m)
{
    struct sink *s = ctx;

    assert_true(s->n < MAX_MSGS);
    s->m[s->n++] = m;
}

static void sink_free(struct sink *s)
{
    for (size_t i = 0; i < s->n; i++)
        dp_msg_unref(s->m[i]);
    s->n = 0;
    dp_msg_cache_drain();
}

/* One connection 10.0.0.<c>:<cport> -> 10.0.0.1:80, both directions' next sequence numbers. */
struct tl {
    struct flow_table *t;
    struct sink out;
    uint8_t cip[4];
    uint16_t cport;
    uint32_t cseq, sseq;
    int64_t ts;
};

static void tl_open(struct tl *tl, const struct flow_opts *o)
{
    memset(tl, 0, sizeof(*tl));
    assert_int_equal(flow_table_new(o, on_emit, &tl->out, &tl->t), 0);
    memcpy(tl->cip, (const uint8_t[]){ 10, 0, 0, 2 }, 4);
    tl->cport = 40000;
    tl->ts = 1000000000;
}

static struct flow_opts opts(void)
{
    return (struct flow_opts){ .track_response = true, .max_msg = 1 << 20, .max_flows = 1000,
                               .max_ooo = 1 << 20, .memcap = 1 << 26, .expire_ns = 2000000000 };
}

/* A segment from the client (dir 0) or the server (dir 1) at the current sequence numbers. */
static void seg(struct tl *tl, int dir, uint8_t flags, const char *data, size_t len)
{
    struct pkt p;
    static const uint8_t sip[4] = { 10, 0, 0, 1 };

    memset(&p, 0, sizeof(p));
    p.family = 4;
    p.tcp_flags = flags;
    p.sport = dir == 0 ? tl->cport : 80;
    p.dport = dir == 0 ? 80 : tl->cport;
    memcpy(p.src, dir == 0 ? tl->cip : sip, 4);
    memcpy(p.dst, dir == 0 ? sip : tl->cip, 4);
    p.seq = dir == 0 ? tl->cseq : tl->sseq;
    p.ack = dir == 0 ? tl->sseq : tl->cseq;
    p.payload = (const uint8_t *)data;
    p.payload_len = (uint32_t)len;
    p.payload_wire = (uint32_t)len;
    tl->ts += 1000;
    flow_table_packet(tl->t, tl->ts, &p);
    if (dir == 0)
        tl->cseq += (uint32_t)len + ((flags & (PKT_TH_SYN | PKT_TH_FIN)) != 0);
    else
        tl->sseq += (uint32_t)len + ((flags & (PKT_TH_SYN | PKT_TH_FIN)) != 0);
}

static void handshake(struct tl *tl)
{
    tl->cseq = CISN;
    tl->sseq = SISN;
    seg(tl, 0, PKT_TH_SYN, NULL, 0);
    seg(tl, 1, PKT_TH_SYN | PKT_TH_ACK, NULL, 0);
    seg(tl, 0, PKT_TH_ACK, NULL, 0);
}

static void send(struct tl *tl, int dir, const char *s, size_t len)
{
    seg(tl, dir, PKT_TH_ACK | PKT_TH_PSH, s, len);
}

static void assert_msg(struct dp_msg *m, enum dp_msg_type type, const char *payload, size_t len)
{
    assert_int_equal(m->type, type);
    assert_int_equal(m->len, len);
    assert_memory_equal(dp_msg_payload(m), payload, len);
}

static uint64_t ctr(struct tl *tl, enum flow_ctr c)
{
    return flow_table_ctr(tl->t)[c];
}

static void tl_close(struct tl *tl)
{
    flow_table_free(tl->t);
    sink_free(&tl->out);
}

static const char req[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
static const char post_head[] = "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n";

/* RST in the middle of a request body: the request cannot complete. Dropped and counted, or
 * (allow_incomplete) emitted with what was seen, flagged. */
static void test_rst_mid_request(void **state)
{
    for (int allow = 0; allow <= 1; allow++) {
        struct flow_opts o = opts();
        struct tl tl;

        (void)state;
        o.allow_incomplete = allow;
        tl_open(&tl, &o);
        handshake(&tl);
        send(&tl, 0, req, L(req));
        send(&tl, 1, resp, L(resp));
        send(&tl, 0, post_head, L(post_head));
        send(&tl, 0, "01234", 5);
        seg(&tl, 0, PKT_TH_RST, NULL, 0);
        assert_int_equal(flow_table_len(tl.t), 0);
        assert_int_equal(ctr(&tl, FLOW_CONN_CLOSED), 1);
        assert_int_equal(ctr(&tl, FLOW_MSG_INCOMPLETE), 1);
        assert_int_equal(ctr(&tl, FLOW_MSG_DROPPED_INCOMPLETE), allow ? 0 : 1);
        assert_int_equal(ctr(&tl, FLOW_MSG_NO_RESPONSE), 1);
        assert_int_equal(tl.out.n, allow ? 3 : 2);
        assert_msg(tl.out.m[0], DP_MSG_REQUEST, req, L(req));
        assert_msg(tl.out.m[1], DP_MSG_RESPONSE, resp, L(resp));
        assert_memory_equal(dp_msg_id(tl.out.m[0]).ptr, dp_msg_id(tl.out.m[1]).ptr, 24);
        if (allow) {
            char want[sizeof(post_head) + 5];

            memcpy(want, post_head, L(post_head));
            memcpy(want + L(post_head), "01234", 5);
            assert_msg(tl.out.m[2], DP_MSG_REQUEST, want, L(post_head) + 5);
            assert_int_equal(tl.out.m[2]->flags & DP_MSG_INCOMPLETE, DP_MSG_INCOMPLETE);
        }
        tl_close(&tl);
    }
}

/* RST from the server in the middle of a Content-Length body; then a close-delimited body
 * ended by RST is whole as far as framing can tell (RFC 9112 §6.3 rule 8). */
static void test_rst_mid_response(void **state)
{
    static const char partial[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc";
    static const char closed[] = "HTTP/1.0 200 OK\r\n\r\nuntil close";
    struct flow_opts o = opts();
    struct tl tl;

    (void)state;
    tl_open(&tl, &o);
    handshake(&tl);
    send(&tl, 0, req, L(req));
    send(&tl, 1, partial, L(partial));
    seg(&tl, 1, PKT_TH_RST | PKT_TH_ACK, NULL, 0);
    assert_int_equal(tl.out.n, 1); /* the request; the cut response is dropped */
    assert_int_equal(ctr(&tl, FLOW_MSG_DROPPED_INCOMPLETE), 1);
    tl_close(&tl);

    tl_open(&tl, &o);
    handshake(&tl);
    send(&tl, 0, req, L(req));
    send(&tl, 1, closed, L(closed));
    seg(&tl, 1, PKT_TH_RST | PKT_TH_ACK, NULL, 0);
    assert_int_equal(tl.out.n, 2);
    assert_msg(tl.out.m[1], DP_MSG_RESPONSE, closed, L(closed));
    assert_int_equal(tl.out.m[1]->flags, 0);
    assert_int_equal(ctr(&tl, FLOW_MSG_INCOMPLETE), 0);
    tl_close(&tl);
}

/* Capture starts in the middle of a request body: those bytes are skipped (counted) and the
 * next request on the connection is cut whole, its response paired. */
static void test_mid_stream_pickup(void **state)
{
    static const char tail[] = "56789";
    struct flow_opts o = opts();
    struct tl tl;

    (void)state;
    tl_open(&tl, &o);
    tl.cseq = 7777;
    tl.sseq = 8888;
    send(&tl, 0, tail, L(tail));
    send(&tl, 1, resp, L(resp)); /* the answer to the request we did not see */
    send(&tl, 0, req, L(req));
    send(&tl, 1, resp, L(resp));
    assert_int_equal(tl.out.n, 3);
    assert_msg(tl.out.m[0], DP_MSG_RESPONSE, resp, L(resp));
    assert_msg(tl.out.m[1], DP_MSG_REQUEST, req, L(req));
    assert_msg(tl.out.m[2], DP_MSG_RESPONSE, resp, L(resp));
    assert_memory_equal(dp_msg_id(tl.out.m[1]).ptr, dp_msg_id(tl.out.m[2]).ptr, 24);
    assert_int_equal(ctr(&tl, FLOW_MSG_UNPAIRED), 1);
    assert_int_equal(ctr(&tl, FLOW_BYTES_SKIPPED), L(tail));
    tl_close(&tl);
}

/* 40 pipelined requests (the pending ring grows from 4), then 40 responses: each response
 * pairs with its request, in order, and every id is unique. */
static void test_pipelining_deep(void **state)
{
    struct flow_opts o = opts();
    struct tl tl;
    char ids[40][24];

    (void)state;
    tl_open(&tl, &o);
    handshake(&tl);
    for (int i = 0; i < 40; i++)
        send(&tl, 0, req, L(req));
    for (int i = 0; i < 40; i++)
        send(&tl, 1, resp, L(resp));
    assert_int_equal(tl.out.n, 80);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(tl.out.m[i]->type, DP_MSG_REQUEST);
        assert_int_equal(tl.out.m[40 + i]->type, DP_MSG_RESPONSE);
        assert_memory_equal(dp_msg_id(tl.out.m[i]).ptr, dp_msg_id(tl.out.m[40 + i]).ptr, 24);
        memcpy(ids[i], dp_msg_id(tl.out.m[i]).ptr, 24);
        for (int k = 0; k < i; k++)
            assert_memory_not_equal(ids[k], ids[i], 24);
    }
    assert_int_equal(ctr(&tl, FLOW_MSG_UNPAIRED), 0);
    tl_close(&tl);
}

/* 70 requests, never answered: the ring keeps the newest 64; the 6 oldest are counted as
 * unanswered at once and the rest when the connection ends. */
static void test_pipelining_over_cap(void **state)
{
    struct flow_opts o = opts();
    struct tl tl;

    (void)state;
    tl_open(&tl, &o);
    handshake(&tl);
    for (int i = 0; i < 70; i++)
        send(&tl, 0, req, L(req));
    assert_int_equal(ctr(&tl, FLOW_MSG_NO_RESPONSE), 6);
    send(&tl, 1, resp, L(resp)); /* answers request 7 (the oldest still pending) */
    assert_memory_equal(dp_msg_id(tl.out.m[6]).ptr, dp_msg_id(tl.out.m[70]).ptr, 24);
    flow_table_finish(tl.t);
    assert_int_equal(ctr(&tl, FLOW_MSG_NO_RESPONSE), 6 + 63);
    tl_close(&tl);
}

/* --input-raw-realip-header: set in requests (inserted, or an existing one replaced), never
 * in responses; IPv4 shown dotted. */
static void test_realip(void **state)
{
    static const char with[] = "GET /b HTTP/1.1\r\nx-real-ip: 1.1.1.1\r\nHost: x\r\n\r\n";
    struct flow_opts o = opts();
    struct tl tl;

    (void)state;
    o.realip_header = "X-Real-IP";
    o.realip_header_len = 9;
    tl_open(&tl, &o);
    handshake(&tl);
    send(&tl, 0, req, L(req));
    send(&tl, 1, resp, L(resp));
    send(&tl, 0, with, L(with));
    assert_int_equal(tl.out.n, 3);
    assert_msg(tl.out.m[0], DP_MSG_REQUEST,
            "GET /a HTTP/1.1\r\nX-Real-IP: 10.0.0.2\r\nHost: x\r\n\r\n",
            L("GET /a HTTP/1.1\r\nX-Real-IP: 10.0.0.2\r\nHost: x\r\n\r\n"));
    assert_msg(tl.out.m[1], DP_MSG_RESPONSE, resp, L(resp));
    assert_msg(tl.out.m[2], DP_MSG_REQUEST,
            "GET /b HTTP/1.1\r\nx-real-ip: 10.0.0.2\r\nHost: x\r\n\r\n",
            L("GET /b HTTP/1.1\r\nx-real-ip: 10.0.0.2\r\nHost: x\r\n\r\n"));
    assert_int_equal(ctr(&tl, FLOW_REALIP_SKIPPED), 0);
    tl_close(&tl);
}

/* A message cut from many segments is one payload, whatever the segment sizes; with a
 * max_msg cap the rest is counted and the message flagged. */
static void test_many_segments_and_cap(void **state)
{
    static char body[300000];
    char head[128];
    int hl;
    struct flow_opts o = opts();
    struct tl tl;

    (void)state;
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (char)('a' + i % 26);
    hl = snprintf(head, sizeof(head), "POST / HTTP/1.1\r\nContent-Length: %zu\r\n\r\n",
            sizeof(body));
    for (int capped = 0; capped <= 1; capped++) {
        o.max_msg = capped ? 5000 : 1 << 20;
        tl_open(&tl, &o);
        handshake(&tl);
        send(&tl, 0, head, (size_t)hl);
        for (size_t off = 0, n = 1; off < sizeof(body); off += n, n = n * 2 % 1461 + 1)
            send(&tl, 0, body + off, DP_MIN(n, sizeof(body) - off));
        assert_int_equal(tl.out.n, 1);
        if (!capped) {
            assert_int_equal(tl.out.m[0]->len, (size_t)hl + sizeof(body));
            assert_memory_equal(dp_msg_payload(tl.out.m[0]) + hl, body, sizeof(body));
            assert_int_equal(tl.out.m[0]->flags, 0);
        } else {
            assert_int_equal(tl.out.m[0]->len, 5000);
            assert_int_equal(tl.out.m[0]->flags & DP_MSG_TRUNCATED, DP_MSG_TRUNCATED);
            assert_int_equal(ctr(&tl, FLOW_MSG_TRUNCATED), 1);
        }
        tl_close(&tl);
    }
}

/* 2000 connections, each with one exchange done and left open: the table holds them all and
 * emits every message; closing them by expiry counts them. */
static void test_many_idle(void **state)
{
    struct flow_opts o = opts();
    struct tl tl;

    (void)state;
    o.max_flows = 5000;
    tl_open(&tl, &o);
    for (int i = 0; i < 2000; i++) {
        tl.cport = (uint16_t)(10000 + i);
        handshake(&tl);
        send(&tl, 0, req, L(req));
        send(&tl, 1, resp, L(resp));
        if (tl.out.n == MAX_MSGS)
            sink_free(&tl.out);
    }
    assert_int_equal(flow_table_len(tl.t), 2000);
    assert_int_equal(ctr(&tl, FLOW_MSG_REQUESTS), 2000);
    assert_int_equal(ctr(&tl, FLOW_MSG_RESPONSES), 2000);
    flow_table_advance(tl.t, tl.ts + 3000000000);
    assert_int_equal(flow_table_len(tl.t), 0);
    assert_int_equal(ctr(&tl, FLOW_CONN_EXPIRED), 2000);
    assert_int_equal(ctr(&tl, FLOW_MSG_NO_RESPONSE), 0);
    tl_close(&tl);
}

/* FNV-1a, 32 bits: the flow hash before it was keyed, of one endpoint's address and port. */
static uint32_t fnv1a(uint32_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x01000193u;
    return h;
}

/*
 * Hash flooding: 50,000 clients of 10.0.0.1:80 whose address and port have the same low 20
 * bits of FNV-1a, the unkeyed hash the table used. They all fell in one bucket and every packet
 * walked the chain: 123 s in the release build for these 100,000 packets, 0.4 s with random
 * clients. FNV-1a's low bits depend only on low bits and each step can be undone, so they are
 * found by meeting in the middle: a table of the first three bytes' states, and the last three
 * bytes (address byte, port) undone from the target. The keyed hash spreads them like any.
 */
static void test_hash_flood(void **state)
{
    enum { N = 50000, BITS = 20 };
    const uint32_t mask = (1u << BITS) - 1;
    const uint32_t basis = 0x811c9dc5u;
    uint32_t *fwd = calloc((size_t)1 << BITS, sizeof(*fwd));
    uint32_t inv = 0x01000193u;
    uint32_t target;
    struct flow_opts o = opts();
    struct tl tl;
    int n = 0;

    (void)state;
    assert_non_null(fwd);
    for (int i = 0; i < 5; i++) /* Newton: the inverse of the FNV prime modulo 2^32 */
        inv *= 2u - 0x01000193u * inv;
    for (unsigned b = 0; b < 65536; b++) {
        uint32_t h = fnv1a(basis, (const uint8_t[]){ 10, (uint8_t)(b >> 8), (uint8_t)b }, 3);

        if (fwd[h & mask] == 0)
            fwd[h & mask] = b + 1;
    }
    target = fnv1a(basis, (const uint8_t[]){ 10, 0, 0, 2, 0x9c, 0x40 }, 6) & mask;
    o.max_flows = 100000;
    tl_open(&tl, &o);
    for (int round = 0; round < 2; round++) {
        n = 0;
        for (unsigned b3 = 1; b3 < 255 && n < N; b3++) {
            for (unsigned port = 1024; port < 65536 && n < N; port++) {
                uint32_t h = target;
                uint32_t hit;
                uint8_t ep[6]; /* the client's address and port, as the old hash read them */

                h = ((h * inv) & mask) ^ (port & 0xff);
                h = ((h * inv) & mask) ^ (port >> 8);
                h = ((h * inv) & mask) ^ b3;
                if ((hit = fwd[h]) == 0)
                    continue;
                ep[0] = 10;
                ep[1] = (uint8_t)((hit - 1) >> 8);
                ep[2] = (uint8_t)(hit - 1);
                ep[3] = (uint8_t)b3;
                wr_be16(ep + 4, (uint16_t)port);
                assert_int_equal(fnv1a(basis, ep, 6) & mask, target);
                memcpy(tl.cip, ep, 4);
                tl.cport = (uint16_t)port;
                tl.cseq = (uint32_t)(CISN + (size_t)round * L(req));
                send(&tl, 0, req, L(req));
                if (tl.out.n == MAX_MSGS)
                    sink_free(&tl.out);
                n++;
            }
        }
    }
    free(fwd);
    assert_int_equal(n, N);
    assert_int_equal(flow_table_len(tl.t), N);
    assert_int_equal(ctr(&tl, FLOW_CONN_OPENED), N);
    assert_int_equal(ctr(&tl, FLOW_MSG_REQUESTS), 2 * N);
    flow_table_finish(tl.t);
    assert_int_equal(flow_table_len(tl.t), 0);
    assert_int_equal(ctr(&tl, FLOW_CONN_EXPIRED), N);
    assert_int_equal(ctr(&tl, FLOW_MSG_NO_RESPONSE), 2 * N);
    tl_close(&tl);
}

/*
 * Out-of-order bytes are within the memory budget: 200 connections each leave a 1-byte hole
 * and send 100 segments of 1000 bytes after it. Ten connections' segments fit in the 1 MiB
 * budget (1016 bytes each with the segment's header); every later connection buffers 32 in
 * what is left, its 33rd does not fit, so it gives up its hole and its bytes go on in order
 * (NULs: skipped, no message), which frees the 32 for the next one.
 * The budget was charged but never enforced for these bytes: 20 MB were buffered here, and
 * --input-raw-max-conns times --input-raw-max-ooo (51 GB by default) in all.
 */
static void test_ooo_memcap(void **state)
{
    enum { N = 200, SEGS = 100, SEG = 1000, FIT = 10 };
    static const char zeros[SEG];
    struct flow_opts o = opts();
    struct tl tl;

    (void)state;
    o.memcap = 1 << 20;
    o.max_ooo = 256 << 10;
    tl_open(&tl, &o);
    for (int i = 0; i < N; i++) {
        tl.cport = (uint16_t)(10000 + i);
        handshake(&tl);
        tl.cseq++; /* the hole */
        for (int k = 0; k < SEGS; k++) {
            seg(&tl, 0, PKT_TH_ACK, zeros, SEG);
            assert_true(flow_table_buffered(tl.t) <= o.memcap);
        }
    }
    assert_int_equal(flow_table_buffered(tl.t), FIT * SEGS * (SEG + TCP_REASM_SEG_OVERHEAD));
    assert_int_equal(ctr(&tl, FLOW_OOO_SEGMENTS), FIT * SEGS + (N - FIT) * 32);
    assert_int_equal(ctr(&tl, FLOW_MEMCAP), N - FIT);
    assert_int_equal(ctr(&tl, FLOW_GAPS), N - FIT);
    assert_int_equal(ctr(&tl, FLOW_BYTES_SKIPPED), (uint64_t)(N - FIT) * SEGS * SEG);
    flow_table_finish(tl.t);
    assert_int_equal(flow_table_buffered(tl.t), 0);
    assert_int_equal(ctr(&tl, FLOW_GAPS), N);
    assert_int_equal(ctr(&tl, FLOW_BYTES_SKIPPED), (uint64_t)N * SEGS * SEG);
    assert_int_equal(tl.out.n, 0);
    tl_close(&tl);
}

/* Heads that announce 1 MiB (max_msg) and send nothing more take BUILDER_AHEAD (64 KiB) of the
 * memcap each, not their whole announced length: 100 of them left a 16 MiB budget spent (100 MiB
 * asked), and an honest 300 KB request behind them came out truncated. Now it comes out
 * whole, and nothing hits the memcap. */
static void test_announced_length(void **state)
{
    static const char big[] = "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n";
    static char body[300000];
    char head[128];
    int hl;
    struct flow_opts o = opts();
    struct tl tl;

    (void)state;
    o.memcap = 16 << 20;
    tl_open(&tl, &o);
    for (int i = 0; i < 100; i++) {
        tl.cport = (uint16_t)(10000 + i);
        handshake(&tl);
        send(&tl, 0, big, L(big));
        assert_true(flow_table_buffered(tl.t) <= (size_t)(i + 1) * (80 << 10));
    }
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (char)('a' + i % 26);
    hl = snprintf(head, sizeof(head), "POST /honest HTTP/1.1\r\nContent-Length: %zu\r\n\r\n",
            sizeof(body));
    tl.cport = 20000;
    handshake(&tl);
    send(&tl, 0, head, (size_t)hl);
    for (size_t off = 0; off < sizeof(body); off += 1448)
        send(&tl, 0, body + off, DP_MIN((size_t)1448, sizeof(body) - off));
    assert_int_equal(tl.out.n, 1);
    assert_int_equal(tl.out.m[0]->len, (size_t)hl + sizeof(body));
    assert_memory_equal(dp_msg_payload(tl.out.m[0]), head, (size_t)hl);
    assert_memory_equal(dp_msg_payload(tl.out.m[0]) + hl, body, sizeof(body));
    assert_int_equal(tl.out.m[0]->flags, 0);
    assert_int_equal(ctr(&tl, FLOW_MEMCAP), 0);
    assert_int_equal(ctr(&tl, FLOW_MSG_TRUNCATED), 0);
    tl_close(&tl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rst_mid_request),
        cmocka_unit_test(test_rst_mid_response),
        cmocka_unit_test(test_mid_stream_pickup),
        cmocka_unit_test(test_pipelining_deep),
        cmocka_unit_test(test_pipelining_over_cap),
        cmocka_unit_test(test_realip),
        cmocka_unit_test(test_many_segments_and_cap),
        cmocka_unit_test(test_many_idle),
        cmocka_unit_test(test_hash_flood),
        cmocka_unit_test(test_ooo_memcap),
        cmocka_unit_test(test_announced_length),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
