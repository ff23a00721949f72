/*
 * fuzz_hexline.c: the middleware line decoder on hostile bytes, fed in random pieces.
 * Byte 0 picks max_line, bytes 1-2 seed the piece sizes; the rest is the stream.
 * Invariants: what the streaming decoder reports (messages and bad lines, in order, with line
 * numbers) equals a reference decode of the whole input, line by line; memory stays within
 * max_line / 2; encoding the decoded messages and decoding that again is the identity.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/hexline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ev {
    bool bad;
    uint64_t line;
    enum hexline_bad why;
    struct dp_msg *m;
};

struct evs {
    struct ev *v;
    size_t n, cap;
    struct hexline_dec *d;
};

static void push(struct evs *e, struct ev ev)
{
    if (e->n == e->cap) {
        size_t ncap = e->cap != 0 ? 2 * e->cap : 16;
        struct ev *nv = realloc(e->v, ncap * sizeof(*nv));

        if (nv == NULL)
            abort();
        e->v = nv;
        e->cap = ncap;
    }
    e->v[e->n++] = ev;
}

static void on_msg(void *ctx, struct dp_msg *m)
{
    struct evs *e = ctx;

    push(e, (struct ev){ false, e->d != NULL ? e->d->line_no : 0, HEXLINE_NOT_HEX, m });
}

static void on_bad(void *ctx, uint64_t line_no, enum hexline_bad why)
{
    push(ctx, (struct ev){ true, line_no, why, NULL });
}

static void evs_free(struct evs *e)
{
    for (size_t i = 0; i < e->n; i++) {
        if (e->v[i].m != NULL)
            dp_msg_unref(e->v[i].m);
    }
    free(e->v);
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The rules of hexline.h, written the obvious way over one whole line. */
static void ref_line(struct evs *e, const uint8_t *l, size_t n, uint64_t line, size_t max_line)
{
    size_t k = 0;
    struct dp_msg probe;
    struct dp_msg *m;
    uint8_t *rec;

    if (n > 0 && l[n - 1] == '\r')
        n--;
    if (n == 0)
        return;
    while (k < n && hexval(l[k]) >= 0)
        k++;
    if (k < n && k < max_line) {
        on_bad(e, line, HEXLINE_NOT_HEX);
        return;
    }
    if (n > max_line) {
        on_bad(e, line, HEXLINE_TOO_LONG);
        return;
    }
    if (n % 2 != 0) {
        on_bad(e, line, HEXLINE_NOT_HEX);
        return;
    }
    rec = malloc(n / 2 + 1);
    if (rec == NULL)
        abort();
    for (size_t i = 0; i < n / 2; i++)
        rec[i] = (uint8_t)(hexval(l[2 * i]) << 4 | hexval(l[2 * i + 1]));
    memset(&probe, 0, sizeof(probe));
    if (dp_msg_parse_meta(&probe, rec, n / 2) != 0) {
        free(rec);
        on_bad(e, line, HEXLINE_BAD_META);
        return;
    }
    m = dp_msg_alloc(n / 2);
    if (m == NULL)
        abort();
    memcpy(m->buf, rec, n / 2);
    m->meta_len = probe.meta_len;
    m->len = n / 2 - probe.meta_len;
    m->type = probe.type;
    m->id_off = probe.id_off;
    m->id_len = probe.id_len;
    m->ts_ns = probe.ts_ns;
    m->latency_ns = probe.latency_ns;
    free(rec);
    push(e, (struct ev){ false, line, HEXLINE_NOT_HEX, m });
}

static void ref_decode(struct evs *e, const uint8_t *p, size_t n, size_t max_line)
{
    uint64_t line = 0;

    while (n > 0) {
        const uint8_t *lf = memchr(p, '\n', n);
        size_t len = lf != NULL ? (size_t)(lf - p) : n;

        ref_line(e, p, len, ++line, max_line);
        if (lf == NULL)
            break;
        n -= len + 1;
        p = lf + 1;
    }
}

static uint32_t rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Feeds <p, n> in pieces of random sizes; checks the memory bound after each. */
static void stream_decode(struct hexline_dec *d, const uint8_t *p, size_t n, uint32_t seed,
        unsigned max_piece)
{
    while (n > 0) {
        size_t k = (size_t)(rnd(&seed) % max_piece) + 1;

        if (k > n)
            k = n;
        if (hexline_dec_feed(d, p, k) != 0)
            abort();
        if (d->cap > d->max_line / 2 + 1 && d->cap > 4096)
            abort();
        p += k;
        n -= k;
    }
    hexline_dec_finish(d);
}

static void same(const struct evs *a, const struct evs *b, bool lines)
{
    if (a->n != b->n)
        abort();
    for (size_t i = 0; i < a->n; i++) {
        const struct ev *x = &a->v[i], *y = &b->v[i];

        if (x->bad != y->bad || (lines && x->line != y->line))
            abort();
        if (x->bad) {
            if (x->why != y->why)
                abort();
            continue;
        }
        if (x->m->meta_len != y->m->meta_len || x->m->len != y->m->len ||
                x->m->type != y->m->type || x->m->id_off != y->m->id_off ||
                x->m->id_len != y->m->id_len || x->m->ts_ns != y->m->ts_ns ||
                x->m->latency_ns != y->m->latency_ns || x->m->flags != 0 ||
                memcmp(x->m->buf + x->m->meta_off, y->m->buf + y->m->meta_off,
                        x->m->meta_len + x->m->len) != 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t max_lines[] = { 0, 1, 2, 3, 16, 17, 40, 64, 1000 };
    struct hexline_dec d;
    struct evs got = { 0 }, want = { 0 }, again = { 0 }, only_msgs = { 0 };
    size_t max_line;
    uint32_t seed;
    unsigned max_piece;
    uint8_t *enc, *o;
    size_t enc_len = 0;

    if (size < 3)
        return 0;
    max_line = max_lines[data[0] % (sizeof(max_lines) / sizeof(max_lines[0]))];
    max_piece = (data[0] & 0x80) != 0 ? 3 : 64;
    seed = (uint32_t)data[1] << 8 | data[2] | 1u;
    data += 3;
    size -= 3;

    hexline_dec_init(&d, max_line, on_msg, on_bad, &got);
    got.d = &d;
    stream_decode(&d, data, size, seed, max_piece);
    ref_decode(&want, data, size, d.max_line);
    same(&got, &want, true);
    hexline_dec_free(&d);

    /* encode -> decode is the identity on what was decoded */
    for (size_t i = 0; i < got.n; i++) {
        if (!got.v[i].bad) {
            enc_len += hexline_len(got.v[i].m);
            push(&only_msgs, (struct ev){ false, 0, HEXLINE_NOT_HEX, dp_msg_ref(got.v[i].m) });
        }
    }
    enc = malloc(enc_len + 1);
    if (enc == NULL)
        abort();
    o = enc;
    for (size_t i = 0; i < only_msgs.n; i++) {
        const uint8_t *line = o;

        hexline_encode(only_msgs.v[i].m, o);
        o += hexline_len(only_msgs.v[i].m);
        for (const uint8_t *q = line; q < o - 1; q++) {
            if (hexval(*q) < 0 || (*q >= 'A' && *q <= 'F'))
                abort(); /* lowercase digits only */
        }
    }
    hexline_dec_init(&d, 0, on_msg, on_bad, &again);
    again.d = &d;
    stream_decode(&d, enc, enc_len, seed * 2654435761u, 97);
    same(&again, &only_msgs, false);
    hexline_dec_free(&d);

    free(enc);
    evs_free(&got);
    evs_free(&want);
    evs_free(&again);
    evs_free(&only_msgs);
    return 0;
}
