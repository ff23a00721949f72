#include "core/msg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

const char *const dp_msg_type_names[DP_MSG_TYPE_COUNT] = {
    [DP_MSG_OTHER] = "other",
    [DP_MSG_REQUEST] = "request",
    [DP_MSG_RESPONSE] = "response",
    [DP_MSG_REPLAY] = "replay",
};

/*
 * Freed messages up to 64 KiB are kept per thread in power-of-two size classes and reused:
 * a replay moves millions of short-lived messages of a few hundred bytes, and malloc's own
 * caches miss on their varied sizes. Each class keeps at most CACHE_CLASS_BYTES, so the cache
 * holds under 2 MiB per thread. A message freed on another thread than the one that made it
 * (capture thread -> loop) simply lands in the freeing thread's cache.
 */
#define CACHE_MIN_SHIFT   8  /* 256 B */
#define CACHE_MAX_SHIFT   16 /* 64 KiB */
#define CACHE_CLASSES     (CACHE_MAX_SHIFT - CACHE_MIN_SHIFT + 1)
#define CACHE_CLASS_BYTES (256 * 1024)

struct free_block {
    struct free_block *next;
};

struct msg_cache {
    struct free_block *head[CACHE_CLASSES];
    uint32_t count[CACHE_CLASSES];
};

static _Thread_local struct msg_cache cache;

/* Size class of an allocation of <total> bytes, or -1 when it is too big to cache. */
static int cache_class(size_t total)
{
    int c = 0;

    if (total > ((size_t)1 << CACHE_MAX_SHIFT))
        return -1;
    while (((size_t)1 << (CACHE_MIN_SHIFT + c)) < total)
        c++;
    return c;
}

struct dp_msg *dp_msg_alloc(size_t cap)
{
    struct dp_msg *m;
    size_t total;
    int c;

    if (cap > SIZE_MAX - sizeof(*m))
        return NULL;
    total = sizeof(*m) + cap;
    c = cache_class(total);
    if (c >= 0) {
        total = (size_t)1 << (CACHE_MIN_SHIFT + c);
        m = (struct dp_msg *)cache.head[c];
        if (m != NULL) {
            cache.head[c] = cache.head[c]->next;
            cache.count[c]--;
        } else {
            m = malloc(total);
        }
    } else {
        m = malloc(total);
    }
    if (m == NULL)
        return NULL;
    memset(m, 0, sizeof(*m));
    m->refs = 1;
    m->cap = total - sizeof(*m);
    return m;
}

void dp_msg_cache_drain(void)
{
    for (int c = 0; c < CACHE_CLASSES; c++) {
        while (cache.head[c] != NULL) {
            struct free_block *b = cache.head[c];

            cache.head[c] = b->next;
            free(b);
        }
        cache.count[c] = 0;
    }
}

void dp_msg_unref(struct dp_msg *m)
{
    int c;

    DP_BUG_ON(m->refs == 0);
    if (--m->refs > 0)
        return;
    c = cache_class(sizeof(*m) + m->cap);
    if (c >= 0 && (size_t)(cache.count[c] + 1) << (CACHE_MIN_SHIFT + c) <= CACHE_CLASS_BYTES) {
        struct free_block *b = (struct free_block *)m;

        b->next = cache.head[c];
        cache.head[c] = b;
        cache.count[c]++;
        return;
    }
    free(m);
}

/* Writes "TYPE ID" + <tail> (" TS LAT\n") at <dst>; returns the length written. */
static size_t write_meta(uint8_t *dst, enum dp_msg_type type, const uint8_t *id, size_t id_len,
        const char *tail, size_t tail_len)
{
    dst[0] = (uint8_t)('0' + type);
    dst[1] = ' ';
    memcpy(dst + 2, id, id_len);
    memcpy(dst + 2 + id_len, tail, tail_len);
    return 2 + id_len + tail_len;
}

/* Writes " <v>" in decimal at <out>; returns the length (at most 21). */
static size_t put_i64(char *out, int64_t v)
{
    char tmp[20];
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    size_t n = 0;
    size_t len = 0;

    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    out[len++] = ' ';
    if (v < 0)
        out[len++] = '-';
    while (n > 0)
        out[len++] = tmp[--n];
    return len;
}

/* " TS LAT\n", as printf's " %" PRId64 " %" PRId64 "\n" (a hot path: no printf). */
static size_t meta_tail(char tail[48], int64_t ts_ns, int64_t latency_ns)
{
    size_t n = put_i64(tail, ts_ns);

    n += put_i64(tail + n, latency_ns);
    tail[n++] = '\n';
    return n;
}

struct dp_msg *dp_msg_new(enum dp_msg_type type, const uint8_t *id, size_t id_len, int64_t ts_ns,
        int64_t latency_ns, const uint8_t *payload, size_t len)
{
    char tail[48];
    size_t tail_len = meta_tail(tail, ts_ns, latency_ns);
    size_t meta_len;
    struct dp_msg *m;

    DP_BUG_ON(id_len > DP_MSG_META_MAX - 64);
    meta_len = 2 + id_len + tail_len;
    if (len > SIZE_MAX - meta_len)
        return NULL;
    m = dp_msg_alloc(meta_len + len);
    if (m == NULL)
        return NULL;
    write_meta(m->buf, type, id, id_len, tail, tail_len);
    if (len > 0)
        memcpy(m->buf + meta_len, payload, len);
    m->type = (uint8_t)type;
    m->meta_len = (uint16_t)meta_len;
    m->id_off = 2;
    m->id_len = (uint16_t)id_len;
    m->ts_ns = ts_ns;
    m->latency_ns = latency_ns;
    m->len = len;
    return m;
}

struct dp_msg *dp_msg_reserve(size_t meta_room, size_t payload_cap)
{
    struct dp_msg *m;

    DP_BUG_ON(meta_room > DP_MSG_META_MAX);
    if (payload_cap > SIZE_MAX - sizeof(*m) - meta_room)
        return NULL;
    m = dp_msg_alloc(meta_room + payload_cap);
    if (m != NULL)
        m->meta_off = (uint16_t)meta_room;
    return m;
}

struct dp_msg *dp_msg_grow(struct dp_msg *m, size_t payload_cap)
{
    size_t head = (size_t)m->meta_off + m->meta_len;
    size_t total;
    struct dp_msg *n;
    int c;

    DP_BUG_ON(m->refs != 1);
    if (payload_cap <= dp_msg_payload_cap(m))
        return m;
    if (payload_cap > SIZE_MAX - sizeof(*m) - head)
        return NULL;
    total = sizeof(*m) + head + payload_cap;
    c = cache_class(total);
    if (c >= 0) /* stay a whole size class, so that dp_msg_unref() can cache it */
        total = (size_t)1 << (CACHE_MIN_SHIFT + c);
    n = realloc(m, total);
    if (n == NULL)
        return NULL;
    n->cap = total - sizeof(*n);
    return n;
}

void dp_msg_set_meta_ext(struct dp_msg *m, enum dp_msg_type type, const uint8_t *id,
        size_t id_len, int64_t ts_ns, int64_t latency_ns, const uint8_t *extra, size_t extra_len)
{
    char tail[48];
    size_t tail_len = meta_tail(tail, ts_ns, latency_ns);
    size_t start = (size_t)m->meta_off + m->meta_len; /* the payload's offset */
    size_t meta_len = 2 + id_len + tail_len + (extra_len > 0 ? 1 + extra_len : 0);
    uint8_t *p;

    DP_BUG_ON(meta_len > start);
    m->meta_off = (uint16_t)(start - meta_len);
    p = m->buf + m->meta_off;
    write_meta(p, type, id, id_len, tail, tail_len);
    if (extra_len > 0) { /* " EXTRA" goes before the LF */
        p[2 + id_len + tail_len - 1] = ' ';
        memcpy(p + 2 + id_len + tail_len, extra, extra_len);
        p[meta_len - 1] = '\n';
    }
    m->meta_len = (uint16_t)meta_len;
    m->type = (uint8_t)type;
    m->id_off = 2;
    m->id_len = (uint16_t)id_len;
    m->ts_ns = ts_ns;
    m->latency_ns = latency_ns;
}

void dp_msg_set_meta(struct dp_msg *m, enum dp_msg_type type, const uint8_t *id, size_t id_len,
        int64_t ts_ns, int64_t latency_ns)
{
    dp_msg_set_meta_ext(m, type, id, id_len, ts_ns, latency_ns, NULL, 0);
}

static void fill(uint8_t *dst, const uint8_t *src, size_t n)
{
    if (src != NULL)
        memcpy(dst, src, n);
    else
        memset(dst, 0, n);
}

/* dp_msg_splice() of a message with other references: a copy takes the edit, and the other
 * holders keep the original. */
static int splice_copy(struct dp_msg **mp, size_t off, size_t del, const uint8_t *ins,
        size_t ins_len, size_t nlen)
{
    struct dp_msg *m = *mp;
    size_t head = (size_t)m->meta_off + m->meta_len;
    struct dp_msg *c = dp_msg_alloc(head + nlen);
    size_t cap;

    if (c == NULL)
        return -ENOMEM;
    cap = c->cap;
    *c = *m;
    c->refs = 1;
    c->cap = cap;
    memcpy(c->buf, m->buf, head + off);
    fill(c->buf + head + off, ins, ins_len);
    memcpy(c->buf + head + off + ins_len, m->buf + head + off + del, m->len - off - del);
    c->len = nlen;
    dp_msg_unref(m);
    *mp = c;
    return 0;
}

/* dp_msg_splice() past its common case: a copy, or a message that grows first. */
static __attribute__((noinline)) int splice_slow(struct dp_msg **mp, size_t off, size_t del,
        const uint8_t *ins, size_t ins_len)
{
    struct dp_msg *m = *mp;
    size_t nlen;

    if (ins_len > SIZE_MAX / 2 || m->len > SIZE_MAX / 2)
        return -ENOMEM;
    nlen = m->len - del + ins_len;
    if (m->refs > 1)
        return splice_copy(mp, off, del, ins, ins_len, nlen);
    m = dp_msg_grow(m, nlen);
    if (m == NULL)
        return -ENOMEM;
    *mp = m;
    return dp_msg_splice(mp, off, del, ins, ins_len); /* now in place */
}

int dp_msg_splice(struct dp_msg **mp, size_t off, size_t del, const uint8_t *ins, size_t ins_len)
{
    struct dp_msg *m = *mp;
    size_t tail;
    uint8_t *p;

    DP_BUG_ON(off > m->len || del > m->len - off);
    tail = m->len - off - del;
    /* no overflow: the room is at least <del>, as len <= payload cap */
    if (m->refs > 1 || ins_len > dp_msg_payload_cap(m) - off - tail)
        return splice_slow(mp, off, del, ins, ins_len);
    /* in place: the size classes leave room after most payloads */
    p = dp_msg_payload(m) + off;
    m->len = off + ins_len + tail;
    if (ins_len != del)
        memmove(p + ins_len, p + del, tail);
    fill(p, ins, ins_len);
    return 0;
}

/* Go's strconv.ParseInt(s, 10, 64): an error (or overflow) leaves 0, as GoReplay does. */
static int64_t parse_dec(const uint8_t *p, size_t len)
{
    bool neg = false;
    uint64_t v = 0;
    size_t i = 0;

    if (len > 0 && (p[0] == '-' || p[0] == '+')) {
        neg = p[0] == '-';
        i = 1;
    }
    if (i == len)
        return 0;
    for (; i < len; i++) {
        if (p[i] < '0' || p[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX + (neg ? 1 : 0))
        return 0;
    if (neg)
        return v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    return (int64_t)v;
}

int dp_msg_parse_meta(struct dp_msg *m, const uint8_t *buf, size_t len)
{
    const uint8_t *nl = memchr(buf, '\n', DP_MIN(len, (size_t)DP_MSG_META_MAX));
    struct dp_bytes field[4] = { { NULL, 0 } };
    size_t nfields = 0;
    const uint8_t *p = buf;
    const uint8_t *end;

    if (nl == NULL)
        return -EINVAL;
    end = nl;
    /* Fields are split on single spaces, as GoReplay's bytes.Split(meta, " "). */
    while (nfields < DP_ARRAY_LEN(field)) {
        const uint8_t *sp = memchr(p, ' ', (size_t)(end - p));
        const uint8_t *fe = sp != NULL ? sp : end;

        field[nfields].ptr = p;
        field[nfields].len = (size_t)(fe - p);
        nfields++;
        if (sp == NULL)
            break;
        p = sp + 1;
    }
    if (nfields < 3 || field[1].len == 0)
        return -EINVAL;
    m->type = field[0].len == 1 && field[0].ptr[0] >= '1' && field[0].ptr[0] <= '3'
            ? (uint8_t)(field[0].ptr[0] - '0')
            : DP_MSG_OTHER;
    m->id_off = (uint16_t)(field[1].ptr - buf);
    m->id_len = (uint16_t)field[1].len;
    /* A CRLF meta line: the '\r' belongs to the last field, which we read without it. */
    for (size_t i = 2; i < nfields; i++) {
        if (field[i].len > 0 && field[i].ptr + field[i].len == end && end[-1] == '\r')
            field[i].len--;
    }
    m->ts_ns = parse_dec(field[2].ptr, field[2].len);
    m->latency_ns = nfields > 3 ? parse_dec(field[3].ptr, field[3].len) : 0;
    m->meta_len = (uint16_t)(nl + 1 - buf);
    return 0;
}

/* A per-thread generator (splitmix64), seeded once from getrandom(): ids need to be unique,
 * not secret, and a system call per id was 6% of the SPOE agent's time. */
static _Thread_local uint64_t rnd_state;
static _Thread_local bool rnd_seeded;

static uint64_t rnd_next(void)
{
    uint64_t z;

    if (!rnd_seeded) {
        if (getrandom(&rnd_state, sizeof(rnd_state), 0) != (ssize_t)sizeof(rnd_state))
            rnd_state = (uint64_t)(uintptr_t)&rnd_state ^ 0x9e3779b97f4a7c15ull;
        rnd_seeded = true;
    }
    z = (rnd_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void dp_msg_random_id(uint8_t out[24])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = rnd_next();
    uint64_t b = rnd_next();
    uint8_t raw[12];

    memcpy(raw, &a, 8);
    memcpy(raw + 8, &b, 4);
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = (uint8_t)hex[raw[i] >> 4];
        out[2 * i + 1] = (uint8_t)hex[raw[i] & 15];
    }
}
