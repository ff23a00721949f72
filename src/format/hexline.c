#include "format/hexline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *const hexline_bad_names[HEXLINE_BAD_COUNT] = {
    [HEXLINE_NOT_HEX] = "not_hex",
    [HEXLINE_BAD_META] = "bad_meta",
    [HEXLINE_TOO_LONG] = "too_long",
};

/* ---- encoding ---- */

/* Two lowercase digits per byte value, built at compile time: the encoder is one load and one
 * 2-byte store per byte, with no branches. */
#define HX(n)      ((n) < 10 ? '0' + (n) : 'a' + (n) - 10)
#define P(h, l)    HX(h), HX(l)
#define ROW(h)                                                                                     \
    P(h, 0), P(h, 1), P(h, 2), P(h, 3), P(h, 4), P(h, 5), P(h, 6), P(h, 7), P(h, 8), P(h, 9),      \
            P(h, 10), P(h, 11), P(h, 12), P(h, 13), P(h, 14), P(h, 15)

static const uint8_t enc_tab[512] = {
    ROW(0), ROW(1), ROW(2),  ROW(3),  ROW(4),  ROW(5),  ROW(6),  ROW(7),
    ROW(8), ROW(9), ROW(10), ROW(11), ROW(12), ROW(13), ROW(14), ROW(15),
};

#undef ROW
#undef P
#undef HX

static uint8_t *encode_bytes(uint8_t *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        memcpy(out, &enc_tab[2 * (size_t)p[i]], 2);
        out += 2;
    }
    return out;
}

size_t hexline_len(const struct dp_msg *m)
{
    return 2 * ((size_t)m->meta_len + m->len) + 1;
}

void hexline_encode(const struct dp_msg *m, uint8_t *out)
{
    const uint8_t *meta = m->buf + m->meta_off;

    out = encode_bytes(out, meta, m->meta_len);
    out = encode_bytes(out, meta + m->meta_len, m->len);
    *out = '\n';
}

/* ---- decoding ---- */

/* A hex digit's value with bit 4 set; 0 for any other byte. Upper and lower case. */
#define D(c, v) [c] = 0x10 | (v)
static const uint8_t dec_tab[256] = {
    D('0', 0),   D('1', 1),   D('2', 2),   D('3', 3),   D('4', 4),   D('5', 5),
    D('6', 6),   D('7', 7),   D('8', 8),   D('9', 9),   D('a', 10),  D('b', 11),
    D('c', 12),  D('d', 13),  D('e', 14),  D('f', 15),  D('A', 10),  D('B', 11),
    D('C', 12),  D('D', 13),  D('E', 14),  D('F', 15),
};
#undef D

/* The decode buffer starts at this size and doubles up to the line's limit. */
#define DEC_MIN_CAP  4096
/* A buffer grown past this for one long line is released when that line ends. */
#define DEC_KEEP_CAP ((size_t)1 << 20)

void hexline_dec_init(struct hexline_dec *d, size_t max_line, hexline_msg_fn *on_msg,
        hexline_bad_fn *on_bad, void *ctx)
{
    memset(d, 0, sizeof(*d));
    d->max_line = max_line != 0 ? max_line : 2 * ((size_t)64 * 1024 * 1024 + DP_MSG_META_MAX);
    d->on_msg = on_msg;
    d->on_bad = on_bad;
    d->ctx = ctx;
    d->half = -1;
}

void hexline_dec_free(struct hexline_dec *d)
{
    free(d->buf);
    d->buf = NULL;
    d->cap = 0;
    d->len = 0;
}

/* Forgets the current line (its bytes, its state), keeping the buffer unless it grew large. */
static void line_reset(struct hexline_dec *d)
{
    d->len = 0;
    d->digits = 0;
    d->half = -1;
    d->skipping = false;
    d->cr = false;
    if (d->cap > DEC_KEEP_CAP)
        hexline_dec_free(d);
}

/* The current line is bad: report it (its number is line_no + 1) and ignore it up to its LF. */
static void line_bad(struct hexline_dec *d, enum hexline_bad why)
{
    d->skipping = true;
    d->len = 0;
    d->half = -1;
    d->cr = false;
    d->on_bad(d->ctx, d->line_no + 1, why);
}

/* Room for the decoded bytes of <digits> hex digits. 0 or -ENOMEM. */
static int reserve(struct hexline_dec *d, size_t digits)
{
    size_t need = digits / 2 + 1;
    size_t ncap;
    uint8_t *nbuf;

    if (need <= d->cap)
        return 0;
    ncap = d->cap != 0 ? d->cap : DEC_MIN_CAP;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    /* Never more than the longest line needs. */
    ncap = DP_MAX(need, DP_MIN(ncap, d->max_line / 2 + 1));
    nbuf = realloc(d->buf, ncap);
    if (nbuf == NULL)
        return -ENOMEM;
    d->buf = nbuf;
    d->cap = ncap;
    return 0;
}

/*
 * Decodes <p, n> (no LF, no trailing CR) into the line's buffer, which has room. Returns the
 * number of bytes consumed: n, or the offset of the first byte that is not a hex digit.
 */
static size_t decode_run(struct hexline_dec *d, const uint8_t *p, size_t n)
{
    uint8_t *out = d->buf + d->len;
    size_t i = 0;

    if (n > 0 && d->half >= 0) {
        uint8_t lo = dec_tab[p[0]];

        if (lo == 0)
            return 0;
        *out++ = (uint8_t)((unsigned)d->half << 4 | (lo & 15u));
        d->half = -1;
        i = 1;
    }
    /* 8 bytes per round with one branch; a round with a bad digit is redone below, pair by
     * pair, to find it (its output bytes are overwritten then). */
    for (; i + 16 <= n; i += 16) {
        unsigned ok = 0x10;

        for (size_t k = 0; k < 8; k++) {
            uint8_t hi = dec_tab[p[i + 2 * k]];
            uint8_t lo = dec_tab[p[i + 2 * k + 1]];

            ok &= hi & lo;
            out[k] = (uint8_t)((unsigned)(hi & 15u) << 4 | (lo & 15u));
        }
        if (ok == 0)
            break;
        out += 8;
    }
    for (; i + 1 < n; i += 2) {
        uint8_t hi = dec_tab[p[i]];
        uint8_t lo = dec_tab[p[i + 1]];

        if ((hi & lo & 0x10) == 0) {
            i += hi == 0 ? 0 : 1;
            d->len = (size_t)(out - d->buf);
            return i;
        }
        *out++ = (uint8_t)((unsigned)(hi & 15u) << 4 | (lo & 15u));
    }
    if (i < n) {
        uint8_t hi = dec_tab[p[i]];

        if (hi == 0) {
            d->len = (size_t)(out - d->buf);
            return i;
        }
        d->half = hi & 15;
        i++;
    }
    d->len = (size_t)(out - d->buf);
    return i;
}

/*
 * Adds <p, n>, content of the current line (no LF; a trailing CR already taken off). Reports a
 * bad line as soon as it is known: a non-hex byte within the first max_line, or more than
 * max_line digits. Returns 0 or -ENOMEM.
 */
static int line_add(struct hexline_dec *d, const uint8_t *p, size_t n)
{
    size_t room = d->max_line - d->digits; /* digits <= max_line always */
    size_t take = DP_MIN(n, room);
    size_t used;

    if (n == 0)
        return 0;
    if (d->cr) {
        /* The CR we held back was not the last byte of the line: a non-hex byte. */
        d->cr = false;
        line_bad(d, d->digits < d->max_line ? HEXLINE_NOT_HEX : HEXLINE_TOO_LONG);
        return 0;
    }
    if (take > 0 && reserve(d, d->digits + take) != 0) {
        line_bad(d, HEXLINE_TOO_LONG);
        return -ENOMEM;
    }
    used = decode_run(d, p, take);
    d->digits += used;
    if (used < take) {
        line_bad(d, HEXLINE_NOT_HEX);
        return 0;
    }
    if (take < n)
        line_bad(d, HEXLINE_TOO_LONG);
    return 0;
}

/* The current line ended (LF or end of stream). Returns 0 or -ENOMEM. */
static int line_end(struct hexline_dec *d)
{
    struct dp_msg probe;
    struct dp_msg *m;
    int rc = 0;

    d->line_no++;
    if (d->skipping || d->digits == 0)
        goto out; /* reported already, or an empty line: skipped silently */
    if (d->half >= 0) {
        d->on_bad(d->ctx, d->line_no, HEXLINE_NOT_HEX); /* an odd number of digits */
        goto out;
    }
    memset(&probe, 0, sizeof(probe));
    if (dp_msg_parse_meta(&probe, d->buf, d->len) != 0) {
        d->on_bad(d->ctx, d->line_no, HEXLINE_BAD_META);
        goto out;
    }
    m = dp_msg_alloc(d->len);
    if (m == NULL) {
        d->on_bad(d->ctx, d->line_no, HEXLINE_TOO_LONG);
        rc = -ENOMEM;
        goto out;
    }
    memcpy(m->buf, d->buf, d->len);
    m->type = probe.type;
    m->meta_len = probe.meta_len;
    m->id_off = probe.id_off;
    m->id_len = probe.id_len;
    m->ts_ns = probe.ts_ns;
    m->latency_ns = probe.latency_ns;
    m->len = d->len - probe.meta_len;
    line_reset(d);
    d->on_msg(d->ctx, m);
    return 0;
out:
    line_reset(d);
    return rc;
}

int hexline_dec_feed(struct hexline_dec *d, const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;
    int rc = 0;

    while (p < end) {
        const uint8_t *lf = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *stop = lf != NULL ? lf : end;

        if (!d->skipping) {
            size_t len = (size_t)(stop - p);
            bool cr = len > 0 && stop[-1] == '\r';

            /* A CR is allowed only right before the LF: hold it back until that is known. */
            if (line_add(d, p, len - (cr ? 1 : 0)) != 0)
                rc = -ENOMEM;
            if (cr && !d->skipping) {
                if (d->cr) {
                    line_bad(d, d->digits < d->max_line ? HEXLINE_NOT_HEX : HEXLINE_TOO_LONG);
                } else {
                    d->cr = true;
                }
            }
        }
        if (lf == NULL)
            break;
        if (line_end(d) != 0)
            rc = -ENOMEM;
        p = lf + 1;
    }
    return rc;
}

void hexline_dec_finish(struct hexline_dec *d)
{
    if (d->skipping || d->digits > 0 || d->half >= 0)
        (void)line_end(d);
    else
        line_reset(d); /* nothing, or a lone CR: an empty last line */
}
