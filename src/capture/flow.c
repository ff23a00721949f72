#include "capture/flow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "capture/tcp_reasm.h"
#include "core/selfconn.h"
#include "http/http_frame.h"
#include "http/http_head.h"

const char *const flow_ctr_names[FLOW_CTR_COUNT] = {
    [FLOW_CONN_OPENED] = "conns_opened",
    [FLOW_CONN_CLOSED] = "conns_closed",
    [FLOW_CONN_EXPIRED] = "conns_expired",
    [FLOW_CONN_EVICTED] = "conns_evicted",
    [FLOW_MSG_REQUESTS] = "requests",
    [FLOW_MSG_RESPONSES] = "responses",
    [FLOW_MSG_INCOMPLETE] = "msgs_incomplete",
    [FLOW_MSG_DROPPED_INCOMPLETE] = "dropped_incomplete",
    [FLOW_MSG_TRUNCATED] = "msgs_truncated",
    [FLOW_MSG_MALFORMED] = "msgs_malformed",
    [FLOW_MSG_UNPAIRED] = "unpaired_responses",
    [FLOW_MSG_NO_RESPONSE] = "unanswered_requests",
    [FLOW_BYTES_SKIPPED] = "bytes_skipped",
    [FLOW_GAPS] = "gaps",
    [FLOW_GAP_BYTES] = "gap_bytes",
    [FLOW_RETRANS_BYTES] = "retrans_bytes",
    [FLOW_OOO_SEGMENTS] = "ooo_segments",
    [FLOW_MEMCAP] = "memcap_hits",
    [FLOW_TUNNELS] = "tunnels",
    [FLOW_REALIP_SKIPPED] = "realip_skipped",
    [FLOW_SELF_CONNS] = "self_conns",
};

#define PENDING_MAX 64    /* requests awaiting their response, per connection */
#define PENDING_MIN 4     /* first allocation of the pending ring */
#define BUILDER_MIN 1024  /* first allocation of a message's payload */
#define BUILDER_AHEAD (64 * 1024) /* room taken ahead of the bytes seen, when a head tells more */

/*
 * The message being cut from one direction: its payload is written straight into the message
 * that is emitted (dp_msg_reserve), so a payload byte is copied once, from the packet (or the
 * out-of-order buffer) into the message. Between messages a builder holds no memory.
 */
struct builder {
    struct dp_msg *m; /* NULL until the first byte */
    size_t charged;   /* bytes of m charged to the memory budget */
    bool active;
    bool sized;     /* grown once to the whole message, its head having told the length */
    bool truncated;
    bool incomplete;
    int64_t first_ts;
    int64_t last_ts;
    uint32_t x; /* the id's last 4 bytes */
};

struct dir {
    struct tcp_stream st;
    struct http_frame fr;
    struct builder b;
    size_t ooo_accounted; /* st's segments as charged to the budget (ooo_alloc, sync) */
    bool resync;          /* after a gap or garbage: look for the next start line */
    bool paired;          /* responses: the one being cut answers the oldest pending request */
    bool ended;           /* FIN/RST seen and handled */
};

/* What the response framer must know of a request's method (RFC 9112 §6.3). */
enum req_method { RM_UNKNOWN = 0, RM_OTHER, RM_HEAD, RM_CONNECT };

struct pending {
    uint32_t x;
    uint8_t method; /* enum req_method */
};

struct conn {
    struct conn *hnext;
    struct conn *prev; /* activity list: least recent first */
    struct conn *next;
    uint32_t hash;
    uint8_t family;
    uint16_t cport;
    uint16_t sport;
    uint8_t cip[16];
    uint8_t sip[16];
    int64_t last_ts;
    struct dir d[2]; /* 0: client -> server (requests), 1: server -> client (responses) */
    struct pending *pend; /* ring of requests awaiting their response, oldest at pend_head */
    uint8_t pend_cap;     /* 0 or a power of two up to PENDING_MAX */
    uint8_t pend_head;
    uint8_t pend_len;
    uint32_t last_req_ack;
    uint32_t same_ack;
    bool have_req_ack;
    bool tunnel;
    bool self;   /* one of doppel's own connections (core/selfconn): nothing is cut from it */
    bool gapped; /* a gap was seen: pair responses by sequence numbers, not only by order */
    bool reordered; /* the capture went back in time on this connection */
    /* the packet being processed */
    int64_t cur_ts;
    uint32_t last_ack[2]; /* the Ack of the newest packet of each direction */
    uint32_t last_x;     /* binary mode: the id of the client's last turn */
    bool have_last_x;
};

struct flow_table {
    struct flow_opts o;
    flow_emit_fn *emit;
    void *ctx;
    struct conn **buckets;
    size_t nbuckets; /* power of two */
    uint64_t key[2]; /* flow_hash()'s, random per table */
    size_t len;
    struct conn *oldest;
    struct conn *newest;
    int64_t now;
    size_t buffered; /* bytes charged to the memory budget */
    uint64_t ctr[FLOW_CTR_COUNT];
    struct tcp_reasm_ctr reasm; /* every stream's counters */
    /* the connection and direction being fed (sink context) */
    struct conn *cur;
    unsigned cur_dir;
};

/* ---- hashing and the activity list ---- */

/*
 * SipHash-1-3 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012; the variant
 * Rust's HashMap uses) with the table's random key. The addresses and ports are chosen by
 * whoever sends the packets: an unkeyed hash lets them put every connection in one bucket, so
 * that each packet walks all of them (hash flooding).
 */
static uint64_t rotl64(uint64_t x, unsigned b)
{
    return x << b | x >> (64 - b);
}

static void sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl64(v[1], 13) ^ v[0];
    v[0] = rotl64(v[0], 32);
    v[2] += v[3];
    v[3] = rotl64(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = rotl64(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = rotl64(v[1], 17) ^ v[2];
    v[2] = rotl64(v[2], 32);
}

static uint64_t siphash13(const uint64_t key[2], const uint8_t *p, size_t n)
{
    uint64_t v[4] = { key[0] ^ 0x736f6d6570736575ull, key[1] ^ 0x646f72616e646f6dull,
                      key[0] ^ 0x6c7967656e657261ull, key[1] ^ 0x7465646279746573ull };
    uint64_t m;
    size_t i;

    for (i = 0; i + 8 <= n; i += 8) {
        m = (uint64_t)rd_le32(p + i + 4) << 32 | rd_le32(p + i);
        v[3] ^= m;
        sip_round(v);
        v[0] ^= m;
    }
    m = (uint64_t)n << 56;
    for (size_t k = 0; i + k < n; k++)
        m |= (uint64_t)p[i + k] << (8 * k);
    v[3] ^= m;
    sip_round(v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for (int r = 0; r < 3; r++)
        sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* The same for both directions of a connection: the lower endpoint (address, port) first. */
static uint32_t flow_hash(const struct flow_table *t, const struct pkt *p)
{
    size_t alen = p->family == 4 ? 4 : 16;
    uint8_t a[18], b[18], buf[1 + 2 * sizeof(a)];
    bool swap;
    uint64_t h;

    memcpy(a, p->src, alen);
    wr_be16(a + alen, p->sport);
    memcpy(b, p->dst, alen);
    wr_be16(b + alen, p->dport);
    swap = memcmp(a, b, alen + 2) > 0;
    buf[0] = p->family;
    memcpy(buf + 1, swap ? b : a, alen + 2);
    memcpy(buf + 3 + alen, swap ? a : b, alen + 2);
    h = siphash13(t->key, buf, 5 + 2 * alen);
    return (uint32_t)(h ^ h >> 32);
}

/* 0: <p> goes client -> server on <c>; 1: server -> client; -1: not <c>. */
static int conn_match(const struct conn *c, const struct pkt *p)
{
    size_t alen = p->family == 4 ? 4 : 16;

    if (c->family != p->family)
        return -1;
    if (p->sport == c->cport && p->dport == c->sport && memcmp(p->src, c->cip, alen) == 0 &&
            memcmp(p->dst, c->sip, alen) == 0)
        return 0;
    if (p->sport == c->sport && p->dport == c->cport && memcmp(p->src, c->sip, alen) == 0 &&
            memcmp(p->dst, c->cip, alen) == 0)
        return 1;
    return -1;
}

static void list_unlink(struct flow_table *t, struct conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        t->oldest = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        t->newest = c->prev;
    c->prev = c->next = NULL;
}

static void list_append(struct flow_table *t, struct conn *c)
{
    c->prev = t->newest;
    c->next = NULL;
    if (t->newest != NULL)
        t->newest->next = c;
    else
        t->oldest = c;
    t->newest = c;
}

/* ---- the memory budget ---- */

static bool budget_take(struct flow_table *t, size_t n)
{
    if (t->buffered > t->o.memcap || n > t->o.memcap - t->buffered) {
        t->ctr[FLOW_MEMCAP]++;
        return false;
    }
    t->buffered += n;
    return true;
}

static void budget_give(struct flow_table *t, size_t n)
{
    DP_BUG_ON(n > t->buffered);
    t->buffered -= n;
}

/*
 * tcp_reasm's allocations (a segment and its header) for the direction being fed, within the
 * budget. NULL when it is spent: the stream then gives up its earliest hole instead
 * (tcp_reasm.h's -ENOMEM policy), so that out-of-order bytes cannot grow past the memcap.
 */
static void *ooo_alloc(void *ctx, size_t size)
{
    struct flow_table *t = ctx;
    void *seg;

    if (t->buffered > t->o.memcap || size > t->o.memcap - t->buffered)
        return NULL;
    seg = malloc(size);
    if (seg != NULL) {
        t->buffered += size;
        t->cur->d[t->cur_dir].ooo_accounted += size;
    }
    return seg;
}

/* Charges the change of a stream's out-of-order bytes, their headers included. */
static void budget_sync_ooo(struct flow_table *t, struct dir *d)
{
    size_t now = d->st.ooo_bytes + d->st.ooo_segs * TCP_REASM_SEG_OVERHEAD;

    if (now > d->ooo_accounted)
        t->buffered += now - d->ooo_accounted;
    else
        budget_give(t, d->ooo_accounted - now);
    d->ooo_accounted = now;
}

/* ---- message builders ---- */

/* Gives the message (if any) and its charge back. */
static void builder_reset(struct flow_table *t, struct builder *b)
{
    if (b->m != NULL)
        dp_msg_unref(b->m);
    budget_give(t, b->charged);
    memset(b, 0, sizeof(*b));
}

static void builder_start(struct flow_table *t, struct builder *b, int64_t ts, uint32_t x)
{
    builder_reset(t, b);
    b->active = true;
    b->first_ts = ts;
    b->last_ts = ts;
    b->x = x;
}

static size_t builder_len(const struct builder *b)
{
    return b->m != NULL ? b->m->len : 0;
}

/* Makes room for <want> payload bytes, within the budget. False when it could not. */
static bool builder_grow(struct flow_table *t, struct builder *b, size_t want)
{
    struct dp_msg *g;

    DP_BUG_ON(b->charged != (b->m != NULL ? dp_msg_payload_cap(b->m) : 0));
    if (want <= b->charged)
        return true;
    if (!budget_take(t, want - b->charged))
        return false;
    budget_give(t, want - b->charged); /* charged below for what is really allocated */
    g = b->m != NULL ? dp_msg_grow(b->m, want) : dp_msg_reserve(DP_MSG_META_ROOM, want);
    if (g == NULL)
        return false;
    b->m = g;
    t->buffered += dp_msg_payload_cap(g) - b->charged; /* size classes round up */
    b->charged = dp_msg_payload_cap(g);
    return true;
}

/* Appends what fits of <p,n> under max_msg and the budget; the rest marks it truncated. */
static void builder_append(struct flow_table *t, struct builder *b, const uint8_t *p, size_t n)
{
    size_t len = builder_len(b);
    size_t cap = b->m != NULL ? dp_msg_payload_cap(b->m) : 0;
    size_t room;

    if (n == 0)
        return;
    if (len + n > cap && len < t->o.max_msg) {
        size_t want = DP_MIN(t->o.max_msg, DP_MAX(len + n, DP_MAX(cap * 2, BUILDER_MIN)));

        if (builder_grow(t, b, want))
            cap = dp_msg_payload_cap(b->m);
    }
    room = DP_MIN(cap, t->o.max_msg) - DP_MIN(len, DP_MIN(cap, t->o.max_msg));
    if (n > room) {
        b->truncated = true;
        n = room;
    }
    if (n > 0) {
        memcpy(dp_msg_payload(b->m) + len, p, n);
        b->m->len = len + n;
    }
}

/* The message is over (emitted or dropped): the builder holds nothing until the next one. */
static void builder_done(struct flow_table *t, struct builder *b)
{
    builder_reset(t, b);
}

static void put_hex(char *out, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 15];
    }
}

static void make_id(const struct conn *c, uint32_t x, char id[24])
{
    uint8_t raw[12];
    const uint8_t *ip4 = c->family == 4 ? c->cip : c->cip + 12;

    wr_be16(raw, c->cport);
    wr_be16(raw + 2, c->sport);
    memcpy(raw + 4, ip4, 4);
    wr_be32(raw + 8, x);
    put_hex(id, raw, sizeof(raw));
}

/* --input-raw-realip-header: the client's address (no port) in the request's head. */
static void set_realip(struct flow_table *t, const struct conn *c, struct dp_msg **mp)
{
    char ip[INET6_ADDRSTRLEN];
    const char *nul;

    /* a head that is not whole (truncated, gap) is left as it is, and counted */
    if (inet_ntop(c->family == 4 ? AF_INET : AF_INET6, c->cip, ip, sizeof(ip)) == NULL ||
            (nul = memchr(ip, '\0', sizeof(ip))) == NULL ||
            http_head_set(mp, t->o.realip_header, t->o.realip_header_len, ip,
                    (size_t)(nul - ip)) != 0)
        t->ctr[FLOW_REALIP_SKIPPED]++;
}

/* Emits the builder of direction <di> as a message of <type>, or drops it, and resets it. */
static void emit_builder(struct flow_table *t, struct conn *c, unsigned di, enum dp_msg_type type,
        uint32_t x)
{
    struct builder *b = &c->d[di].b;
    char id[24];
    struct dp_msg *m;

    if (b->truncated)
        t->ctr[FLOW_MSG_TRUNCATED]++;
    if (b->incomplete) {
        t->ctr[FLOW_MSG_INCOMPLETE]++;
        if (!t->o.allow_incomplete) {
            t->ctr[FLOW_MSG_DROPPED_INCOMPLETE]++;
            builder_done(t, b);
            return;
        }
    }
    t->ctr[type == DP_MSG_REQUEST ? FLOW_MSG_REQUESTS : FLOW_MSG_RESPONSES]++;
    if (type == DP_MSG_RESPONSE && !t->o.track_response) {
        builder_done(t, b);
        return;
    }
    m = b->m != NULL ? b->m : dp_msg_reserve(DP_MSG_META_ROOM, 0);
    b->m = NULL; /* the message leaves the table: so does its charge */
    budget_give(t, b->charged);
    b->charged = 0;
    if (m != NULL) {
        if (type == DP_MSG_REQUEST && t->o.realip_header != NULL && !t->o.binary)
            set_realip(t, c, &m);
        make_id(c, x, id);
        dp_msg_set_meta(m, type, (const uint8_t *)id, sizeof(id), b->first_ts,
                b->last_ts - b->first_ts);
        if (b->truncated)
            m->flags |= DP_MSG_TRUNCATED;
        if (b->incomplete)
            m->flags |= DP_MSG_INCOMPLETE;
        t->emit(t->ctx, m);
    }
    builder_done(t, b);
}

/* ---- HTTP: requests, responses, pairing ---- */

static struct pending *pend_at(struct conn *c, unsigned i)
{
    return &c->pend[(c->pend_head + i) & (c->pend_cap - 1u)];
}

/* Forgets the oldest pending request. */
static void pend_pop(struct conn *c)
{
    if (c->pend_len == 0)
        return;
    c->pend_head = (uint8_t)((c->pend_head + 1u) & (c->pend_cap - 1u));
    c->pend_len--;
}

/* A new pending request at the tail: the ring grows up to PENDING_MAX, then forgets its
 * oldest (never answered). NULL on ENOMEM (the request is then not paired). */
static struct pending *pend_push(struct flow_table *t, struct conn *c)
{
    if (c->pend_len == c->pend_cap && c->pend_cap < PENDING_MAX) {
        unsigned ncap = c->pend_cap == 0 ? PENDING_MIN : c->pend_cap * 2u;
        struct pending *np = malloc(ncap * sizeof(*np));

        if (np == NULL)
            return NULL;
        for (unsigned i = 0; i < c->pend_len; i++)
            np[i] = *pend_at(c, i);
        free(c->pend);
        c->pend = np;
        c->pend_cap = (uint8_t)ncap;
        c->pend_head = 0;
    }
    if (c->pend_len == c->pend_cap) {
        t->ctr[FLOW_MSG_NO_RESPONSE]++;
        pend_pop(c);
    }
    return pend_at(c, c->pend_len++);
}

/* A request starts: it gets its id now, so that an interim response (100 Continue) sent
 * before its body finds it. */
/* The id's X for a request starting in the current packet: its Ack, plus k for the k-th
 * request in a row that starts with the same Ack (pipelining). */
static uint32_t request_x(struct conn *c)
{
    uint32_t ack = c->last_ack[0];

    if (c->have_req_ack && ack == c->last_req_ack)
        return ack + ++c->same_ack;
    c->have_req_ack = true;
    c->last_req_ack = ack;
    c->same_ack = 0;
    return ack;
}

static void request_start(struct flow_table *t, struct conn *c)
{
    struct dir *d = &c->d[0];
    uint32_t x = request_x(c);
    struct pending *p = pend_push(t, c);

    if (p != NULL) {
        p->x = x;
        p->method = RM_UNKNOWN;
    }
    http_frame_init(&d->fr, HTTP_FRAME_REQUEST, 0);
    builder_start(t, &d->b, c->cur_ts, x);
}

/* The newest pending request: the one being framed on the client side. */
static struct pending *pend_last(struct conn *c)
{
    return c->pend_len > 0 ? pend_at(c, c->pend_len - 1) : NULL;
}

/* A response starts at sequence number <seq>. */
static void response_start(struct flow_table *t, struct conn *c, uint32_t seq)
{
    struct dir *d = &c->d[1];
    uint32_t x = seq;

    http_frame_init(&d->fr, HTTP_FRAME_RESPONSE, 0);
    d->paired = c->pend_len > 0;
    /*
     * After a gap, order alone pairs wrongly. A response's first Seq is the Ack its request
     * carried (exactly, unless pipelined: then later), so a response that starts before the
     * oldest pending request's Ack answers a request lost in the gap.
     */
    if (d->paired && c->gapped && seq_lt(seq, pend_at(c, 0)->x))
        d->paired = false;
    if (d->paired) {
        struct pending *p = pend_at(c, 0);

        /* ...and one whose Seq is a later request's Ack means the responses to the requests
         * before that one were lost. */
        for (unsigned i = 1; i < c->pend_len && c->gapped; i++) {
            if (pend_at(c, i)->x == seq) {
                while (i-- > 0) {
                    t->ctr[FLOW_MSG_NO_RESPONSE]++;
                    pend_pop(c);
                }
                p = pend_at(c, 0);
                break;
            }
        }
        x = p->x;
        if (p->method == RM_HEAD)
            http_frame_set_request_method(&d->fr, "HEAD", 4);
        else if (p->method == RM_CONNECT)
            http_frame_set_request_method(&d->fr, "CONNECT", 7);
    }
    builder_start(t, &d->b, c->cur_ts, x);
}

/* Records the method of the request being framed, once its start line is parsed. */
static void request_note_method(struct conn *c)
{
    const struct http_frame_info *fi = http_frame_info(&c->d[0].fr);
    struct pending *p = pend_last(c);

    if (p != NULL && p->method == RM_UNKNOWN && fi->method_len > 0) {
        if (fi->method_len == 4 && memcmp(fi->method, "HEAD", 4) == 0)
            p->method = RM_HEAD;
        else if (fi->method_len == 7 && memcmp(fi->method, "CONNECT", 7) == 0)
            p->method = RM_CONNECT;
        else
            p->method = RM_OTHER;
    }
}

static void request_done(struct flow_table *t, struct conn *c)
{
    struct dir *d = &c->d[0];

    request_note_method(c);
    emit_builder(t, c, 0, DP_MSG_REQUEST, d->b.x);
}

static void response_done(struct flow_table *t, struct conn *c)
{
    struct dir *d = &c->d[1];
    const struct http_frame_info *fi = http_frame_info(&d->fr);

    if (!d->paired)
        t->ctr[FLOW_MSG_UNPAIRED]++;
    emit_builder(t, c, 1, DP_MSG_RESPONSE, d->b.x);
    if (d->paired && !fi->interim)
        pend_pop(c);
    if (fi->body_kind == HTTP_BODY_TUNNEL && !c->tunnel) {
        c->tunnel = true;
        t->ctr[FLOW_TUNNELS]++;
    }
}

/* A message that cannot complete (gap, garbage): drop it, or emit it flagged incomplete. */
static void http_abort(struct flow_table *t, struct conn *c, unsigned di)
{
    struct dir *d = &c->d[di];

    if (!d->b.active)
        return;
    d->b.incomplete = true;
    if (di == 0) {
        request_done(t, c);
    } else {
        emit_builder(t, c, 1, DP_MSG_RESPONSE, d->b.x);
        if (d->paired)
            pend_pop(c);
    }
}

/* In-order bytes <p,n> of direction <di>, the first at sequence number <seq>. */
static void http_data(struct flow_table *t, struct conn *c, unsigned di, const uint8_t *p,
        size_t n, uint32_t seq)
{
    struct dir *d = &c->d[di];
    enum http_frame_kind kind = di == 0 ? HTTP_FRAME_REQUEST : HTTP_FRAME_RESPONSE;

    while (n > 0) {
        enum http_frame_rc rc;
        size_t used = 0;

        if (c->tunnel) {
            t->ctr[FLOW_BYTES_SKIPPED] += n;
            return;
        }
        if (d->resync && !d->b.active) {
            size_t off = http_frame_find_start(p, n, kind);

            t->ctr[FLOW_BYTES_SKIPPED] += off;
            p += off;
            n -= off;
            seq += (uint32_t)off;
            if (n == 0)
                return;
            d->resync = false;
        }
        if (!d->b.active) {
            if (di == 0)
                request_start(t, c);
            else
                response_start(t, c, seq);
        }
        d->b.last_ts = c->cur_ts;
        rc = http_frame_feed(&d->fr, p, n, &used);
        if (used > n)
            used = n;
        if (di == 1 && !t->o.track_response) {
            /* responses are only framed (to pair and to find the next one), never kept */
        } else if (!d->b.sized && http_frame_info(&d->fr)->head_len > 0) {
            /* the head is complete: room for the whole message at once, not by doublings, up
             * to BUILDER_AHEAD past the bytes seen. Content-Length is the sender's word: heads
             * announcing 5 MB that never comes took 5 MB of the memcap each (200 of them spent
             * 1 GB); a longer message doubles from there as its bytes come. */
            const struct http_frame_info *fi = http_frame_info(&d->fr);
            size_t seen = builder_len(&d->b) + used;
            uint64_t whole = fi->head_len +
                    (fi->body_kind == HTTP_BODY_LENGTH ? fi->content_length : 0);

            d->b.sized = true;
            if (whole > seen)
                (void)builder_grow(t, &d->b, (size_t)DP_MIN(DP_MIN(whole, seen + BUILDER_AHEAD),
                                                     (uint64_t)t->o.max_msg));
        }
        if (di == 0 || t->o.track_response)
            builder_append(t, &d->b, p, used);
        p += used;
        n -= used;
        seq += (uint32_t)used;
        if (di == 0)
            request_note_method(c);
        if (rc == HTTP_FRAME_DONE) {
            if (di == 0)
                request_done(t, c);
            else
                response_done(t, c);
        } else if (rc == HTTP_FRAME_BAD) {
            t->ctr[FLOW_MSG_MALFORMED]++;
            if (di == 0 && c->pend_len > 0)
                c->pend_len--; /* the request that was not one */
            d->b.incomplete = false;
            builder_done(t, &d->b);
            d->resync = true;
            if (n > 0) { /* never look at the same start twice */
                t->ctr[FLOW_BYTES_SKIPPED]++;
                p++;
                n--;
                seq++;
            }
        }
    }
}

/* ---- binary mode: a message per direction turn ---- */

static void binary_flush(struct flow_table *t, struct conn *c, unsigned di)
{
    struct builder *b = &c->d[di].b;

    if (b->active)
        emit_builder(t, c, di, di == 0 ? DP_MSG_REQUEST : DP_MSG_RESPONSE, b->x);
}

static void binary_data(struct flow_table *t, struct conn *c, unsigned di, const uint8_t *p,
        size_t n, uint32_t seq)
{
    struct builder *b = &c->d[di].b;

    if (!b->active) {
        uint32_t x;

        binary_flush(t, c, 1 - di); /* the other side's turn ended */
        if (di == 0) {
            x = request_x(c);
            c->last_x = x;
            c->have_last_x = true;
        } else {
            x = c->have_last_x ? c->last_x : seq;
        }
        builder_start(t, b, c->cur_ts, x);
    }
    b->last_ts = c->cur_ts;
    if (di == 0 || t->o.track_response) /* a server turn is only emitted when tracked */
        builder_append(t, b, p, n);
}

/* ---- reassembly sinks ---- */

static void on_data(void *ctx, const uint8_t *p, size_t n)
{
    struct flow_table *t = ctx;
    struct conn *c = t->cur;
    uint32_t seq = c->d[t->cur_dir].st.next_seq; /* tcp_reasm moves it after the call */

    /* doppel registers its connections before it writes to them: asking at every delivery
     * (one atomic load) catches them before their first message */
    if (!c->self && !t->o.capture_self && dp_selfconn_has(c->cport, c->sport)) {
        c->self = true;
        t->ctr[FLOW_SELF_CONNS]++;
    }
    if (c->self) {
        t->ctr[FLOW_BYTES_SKIPPED] += n;
        return;
    }
    if (t->o.binary)
        binary_data(t, t->cur, t->cur_dir, p, n, seq);
    else
        http_data(t, t->cur, t->cur_dir, p, n, seq);
}

static void on_gap(void *ctx, uint64_t n)
{
    struct flow_table *t = ctx;
    struct conn *c = t->cur;
    struct dir *d = &c->d[t->cur_dir];

    t->ctr[FLOW_GAPS]++;
    t->ctr[FLOW_GAP_BYTES] += n;
    if (t->o.binary) {
        d->b.incomplete = d->b.active;
        return;
    }
    http_abort(t, c, t->cur_dir);
    d->resync = true;
    c->gapped = true;
}

/* The direction <di> of <c> ended (FIN, RST, expiry, end of capture). */
static void dir_end(struct flow_table *t, struct conn *c, unsigned di)
{
    struct dir *d = &c->d[di];
    const struct tcp_reasm_sink sink = { on_data, on_gap, t };

    if (d->ended)
        return;
    d->ended = true;
    t->cur = c;
    t->cur_dir = di;
    tcp_stream_flush(&d->st, &sink);
    budget_sync_ooo(t, d);
    if (t->o.binary) {
        binary_flush(t, c, di);
        return;
    }
    if (d->b.active && !c->tunnel) {
        if (http_frame_eof(&d->fr) == HTTP_FRAME_DONE) {
            if (di == 0)
                request_done(t, c);
            else
                response_done(t, c);
        } else {
            http_abort(t, c, di);
        }
    }
}

/* ---- connections ---- */

static void conn_free(struct flow_table *t, struct conn *c)
{
    for (unsigned i = 0; i < 2; i++) {
        tcp_stream_free(&c->d[i].st);
        budget_sync_ooo(t, &c->d[i]);
        builder_reset(t, &c->d[i].b);
    }
    free(c->pend);
    free(c);
}

static void conn_remove(struct flow_table *t, struct conn *c, enum flow_ctr why)
{
    struct conn **pp = &t->buckets[c->hash & (t->nbuckets - 1)];

    dir_end(t, c, 0);
    dir_end(t, c, 1);
    t->ctr[FLOW_MSG_NO_RESPONSE] += c->pend_len;
    t->ctr[why]++;
    while (*pp != c)
        pp = &(*pp)->hnext;
    *pp = c->hnext;
    list_unlink(t, c);
    t->len--;
    conn_free(t, c);
}

/* Who is the client of a new connection whose first packet is <p>: 0 the sender, 1 the
 * receiver. */
static unsigned client_side(const struct flow_table *t, const struct pkt *p)
{
    if ((p->tcp_flags & (PKT_TH_SYN | PKT_TH_ACK)) == PKT_TH_SYN)
        return 0;
    if ((p->tcp_flags & (PKT_TH_SYN | PKT_TH_ACK)) == (PKT_TH_SYN | PKT_TH_ACK))
        return 1;
    if (t->o.is_server_port != NULL) {
        bool d = t->o.is_server_port(t->o.port_ctx, p->dport);
        bool s = t->o.is_server_port(t->o.port_ctx, p->sport);

        if (d != s)
            return d ? 0 : 1;
    }
    if (p->payload_len >= 5 && memcmp(p->payload, "HTTP/", 5) == 0)
        return 1;
    return 0;
}

static struct conn *conn_new(struct flow_table *t, const struct pkt *p, uint32_t hash)
{
    size_t alen = p->family == 4 ? 4 : 16;
    struct conn *c;
    struct conn **bucket;

    if (t->len >= t->o.max_flows && t->oldest != NULL)
        conn_remove(t, t->oldest, FLOW_CONN_EVICTED);
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->hash = hash;
    c->family = p->family;
    if (client_side(t, p) == 0) {
        c->cport = p->sport;
        c->sport = p->dport;
        memcpy(c->cip, p->src, alen);
        memcpy(c->sip, p->dst, alen);
    } else {
        c->cport = p->dport;
        c->sport = p->sport;
        memcpy(c->cip, p->dst, alen);
        memcpy(c->sip, p->src, alen);
    }
    tcp_stream_init(&c->d[0].st, &t->reasm);
    tcp_stream_init(&c->d[1].st, &t->reasm);
    bucket = &t->buckets[hash & (t->nbuckets - 1)];
    c->hnext = *bucket;
    *bucket = c;
    list_append(t, c);
    t->len++;
    t->ctr[FLOW_CONN_OPENED]++;
    return c;
}

void flow_table_packet(struct flow_table *t, int64_t ts_ns, const struct pkt *p)
{
    uint32_t hash = flow_hash(t, p);
    struct conn *c = t->buckets[hash & (t->nbuckets - 1)];
    const struct tcp_reasm_sink sink = { on_data, on_gap, t };
    const struct tcp_reasm_limits lim = { .max_ooo_bytes = t->o.max_ooo, .alloc = ooo_alloc,
                                          .alloc_ctx = t };
    struct tcp_reasm_ctr before;
    unsigned di = 0;
    struct dir *d;
    int m = -1;

    if (ts_ns > t->now)
        t->now = ts_ns;
    for (; c != NULL; c = c->hnext) {
        if (c->hash == hash && (m = conn_match(c, p)) >= 0)
            break;
    }
    if (c == NULL) {
        /* A lone RST or FIN/ACK of a connection we never saw carries nothing. */
        if ((p->tcp_flags & PKT_TH_RST) != 0 || (p->payload_len == 0 &&
                                                     (p->tcp_flags & PKT_TH_SYN) == 0))
            return;
        c = conn_new(t, p, hash);
        if (c == NULL)
            return;
        m = conn_match(c, p);
        /* Picked up mid-stream: the first bytes may be the middle of a message, so each side
         * starts by looking for a start line (a keep-alive connection's next request or
         * response usually begins a packet). */
        if (!t->o.binary && (p->tcp_flags & PKT_TH_SYN) == 0)
            c->d[0].resync = c->d[1].resync = true;
    }
    di = (unsigned)m;
    d = &c->d[di];
    if (ts_ns < c->last_ts)
        c->reordered = true;
    c->last_ts = ts_ns > c->last_ts ? ts_ns : c->last_ts;
    if (t->newest != c) {
        list_unlink(t, c);
        list_append(t, c);
    }
    c->cur_ts = ts_ns;
    if ((p->tcp_flags & PKT_TH_ACK) != 0)
        c->last_ack[di] = p->ack;
    t->cur = c;
    t->cur_dir = di;
    if ((p->tcp_flags & PKT_TH_RST) != 0) {
        conn_remove(t, c, FLOW_CONN_CLOSED);
        return;
    }
    if ((p->tcp_flags & PKT_TH_SYN) != 0) {
        tcp_stream_syn(&d->st, p->seq);
        return;
    }
    /*
     * The peer acknowledged bytes past a hole in the other direction: it received them, the
     * capture missed them. Waiting longer only holds back what follows the hole. Not when
     * the capture itself is out of time order: then the bytes may still come.
     */
    if ((p->tcp_flags & PKT_TH_ACK) != 0 && !c->reordered) {
        struct dir *o = &c->d[1 - di];

        if (o->st.have_base && o->st.ooo_bytes > 0 && seq_lt(o->st.next_seq, p->ack)) {
            t->cur_dir = 1 - di;
            tcp_stream_skip_to(&o->st, p->ack, &sink);
            budget_sync_ooo(t, o);
            t->cur_dir = di;
        }
    }
    before = t->reasm;
    if (p->payload_len > 0 || (p->tcp_flags & PKT_TH_FIN) != 0) {
        /* Bytes the capture cut (snaplen) are a gap, not data. */
        uint32_t n = p->payload_len;
        bool fin = (p->tcp_flags & PKT_TH_FIN) != 0 && n == p->payload_wire;

        if (tcp_stream_segment(&d->st, &lim, p->seq, p->payload, n, fin, &sink) != 0)
            t->ctr[FLOW_MEMCAP]++;
        if (n < p->payload_wire && d->st.have_base && d->st.next_seq == p->seq + n) {
            /* The capture cut this segment (snaplen): its missing bytes are a gap now, not
             * a hole that holds back every later segment. */
            tcp_stream_skip_to(&d->st, p->seq + p->payload_wire, &sink);
        }
        budget_sync_ooo(t, d);
    }
    t->ctr[FLOW_RETRANS_BYTES] += t->reasm.retrans_bytes - before.retrans_bytes +
            t->reasm.overlap_bytes - before.overlap_bytes;
    t->ctr[FLOW_OOO_SEGMENTS] += t->reasm.ooo_segments - before.ooo_segments;
    if (tcp_stream_finished(&d->st)) {
        dir_end(t, c, di);
        if (c->d[1 - di].ended || tcp_stream_finished(&c->d[1 - di].st))
            conn_remove(t, c, FLOW_CONN_CLOSED);
    }
}

void flow_table_advance(struct flow_table *t, int64_t now_ns)
{
    if (now_ns > t->now)
        t->now = now_ns;
    while (t->oldest != NULL && t->now - t->oldest->last_ts > t->o.expire_ns)
        conn_remove(t, t->oldest, FLOW_CONN_EXPIRED);
}

void flow_table_finish(struct flow_table *t)
{
    while (t->oldest != NULL)
        conn_remove(t, t->oldest, FLOW_CONN_EXPIRED);
}

int flow_table_new(const struct flow_opts *o, flow_emit_fn *emit, void *ctx,
        struct flow_table **out)
{
    struct flow_table *t = calloc(1, sizeof(*t));

    *out = NULL;
    if (t == NULL)
        return -ENOMEM;
    t->o = *o;
    if (t->o.max_flows == 0)
        t->o.max_flows = 1;
    t->nbuckets = 1024;
    while (t->nbuckets < t->o.max_flows && t->nbuckets < ((size_t)1 << 20))
        t->nbuckets *= 2;
    t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
    if (t->buckets == NULL) {
        free(t);
        return -ENOMEM;
    }
    /* without the kernel's randomness a fixed key still hashes well, but can be attacked */
    if (getrandom(t->key, sizeof(t->key), 0) != (ssize_t)sizeof(t->key)) {
        t->key[0] = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)t;
        t->key[1] = (uint64_t)time(NULL);
    }
    t->emit = emit;
    t->ctx = ctx;
    t->now = INT64_MIN;
    *out = t;
    return 0;
}

void flow_table_free(struct flow_table *t)
{
    if (t == NULL)
        return;
    while (t->oldest != NULL) {
        struct conn *c = t->oldest;

        list_unlink(t, c);
        conn_free(t, c);
    }
    free(t->buckets);
    free(t);
}

size_t flow_table_len(const struct flow_table *t)
{
    return t->len;
}

size_t flow_table_buffered(const struct flow_table *t)
{
    return t->buffered;
}

const uint64_t *flow_table_ctr(const struct flow_table *t)
{
    return t->ctr;
}
