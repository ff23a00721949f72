#include "http/http_head.h"

#include <errno.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "core/common.h"

static bool is_ows(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static uint8_t lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* True when <a, n> (a line's first bytes) and <b, n> (a name) are the same up to ASCII case
 * and hold no ':' (a field name ends at the line's first colon): 8 bytes at a time while they
 * are the same bytes (they mostly are), then byte by byte. */
static inline bool same_name(const uint8_t *a, const uint8_t *b, size_t n)
{
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        uint64_t y;
        uint64_t c;

        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            break;
        c = x ^ 0x3a3a3a3a3a3a3a3aull; /* a zero byte where x has a ':' */
        if (((c - 0x0101010101010101ull) & ~c & 0x8080808080808080ull) != 0)
            return false;
    }
    for (; i < n; i++) {
        if (a[i] == ':' || (a[i] != b[i] && lower(a[i]) != lower(b[i])))
            return false;
    }
    return true;
}

/* True when the line [off, lf) is empty (RFC 9112 §2.2: CRLF or a bare LF). */
static bool is_blank(const uint8_t *p, size_t off, size_t lf)
{
    return lf == off || (lf == off + 1 && p[off] == '\r');
}

/*
 * The LFs in the 16 bytes at <blk> of <p, len> (fewer at the end), one bit each, bit 0 for
 * <blk>: a head's lines are short, and a memchr() call per line costs more than the line. With
 * SSE2, 16 bytes in 3 instructions; the last block is loaded to end at <len>, never past it.
 */
static uint32_t lf_block(const uint8_t *p, size_t len, size_t blk)
{
    uint32_t m = 0;

#ifdef __SSE2__
    if (len >= 16) {
        size_t o = len - blk >= 16 ? blk : len - 16;
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + o));

        m = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')));
        return m >> (blk - o);
    }
#endif
    for (size_t j = 0; j < 16 && blk + j < len; j++)
        m |= (uint32_t)(p[blk + j] == '\n') << j;
    return m;
}

/* lf_block64() of fewer than 64 bytes, or without SSE2. */
static uint64_t lf_block64_short(const uint8_t *p, size_t len, size_t blk)
{
    uint64_t m = 0;

    for (size_t j = 0; j < 64 && blk + j < len; j += 16)
        m |= (uint64_t)lf_block(p, len, blk + j) << j;
    return m;
}

/* The LFs in the 64 bytes at <blk> of <p, len> (fewer at the end), bit 0 for <blk>. */
static inline __attribute__((always_inline)) uint64_t lf_block64(const uint8_t *p, size_t len,
        size_t blk)
{
#ifdef __SSE2__
    if (len >= 64) { /* the last 64 bytes are loaded to end at <len>, never past it */
        size_t o = len - blk >= 64 ? blk : len - 64;
        __m128i lf = _mm_set1_epi8('\n');
        const uint8_t *q = p + o;
        uint64_t m0 = (uint32_t)_mm_movemask_epi8(
                _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)q), lf));
        uint64_t m1 = (uint32_t)_mm_movemask_epi8(
                _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(q + 16)), lf));
        uint64_t m2 = (uint32_t)_mm_movemask_epi8(
                _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(q + 32)), lf));
        uint64_t m3 = (uint32_t)_mm_movemask_epi8(
                _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(q + 48)), lf));

        return (m0 | m1 << 16 | m2 << 32 | m3 << 48) >> (blk - o);
    }
#endif
    return lf_block64_short(p, len, blk);
}

/*
 * The LFs of <p, len> from an offset on, in order, 64 bytes at a time (lf_block64): how the
 * functions here walk a head's lines (index_lines() has its own loop, see there). A memchr()
 * call per line costs more than the line. lines_next() returns <len> once they are all read.
 */
struct lines {
    size_t blk;    /* where <mask>'s bit 0 is */
    uint64_t mask; /* the LFs in [blk, blk + 64) not returned yet */
};

static inline __attribute__((always_inline)) void lines_init(struct lines *it, const uint8_t *p,
        size_t len, size_t off)
{
    it->blk = DP_MIN(off, len);
    it->mask = off < len ? lf_block64(p, len, off) : 0;
}

static inline __attribute__((always_inline)) size_t lines_next(struct lines *it,
        const uint8_t *p, size_t len)
{
    size_t lf;

    while (it->mask == 0) {
        if (len - it->blk <= 64) {
            it->blk = len;
            return len;
        }
        it->blk += 64;
        it->mask = lf_block64(p, len, it->blk);
    }
    lf = it->blk + (unsigned)__builtin_ctzll(it->mask);
    it->mask &= it->mask - 1;
    return lf;
}

bool http_is_token(const char *p, size_t len)
{
    /* tchar, RFC 9110 §5.6.2: digits, letters and !#$%&'*+-.^_`|~ */
    static const uint8_t tchar[256] = {
        ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
        ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
        ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
        ['8'] = 1, ['9'] = 1,
        ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
        ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
        ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
        ['Y'] = 1, ['Z'] = 1,
        ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
        ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
        ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
        ['y'] = 1, ['z'] = 1,
    };

    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!tchar[(uint8_t)p[i]])
            return false;
    }
    return true;
}

/* The start line of <p, len> through <it>, a walk from 0: just past its LF, or 0 when it has
 * none. The lines before it that are empty are skipped (RFC 9112 §2.2). */
static inline __attribute__((always_inline)) size_t walk_start(struct lines *it,
        const uint8_t *p, size_t len)
{
    size_t off = 0;

    for (;;) {
        size_t lf = lines_next(it, p, len);

        if (lf == len)
            return 0;
        if (!is_blank(p, off, lf))
            return lf + 1;
        off = lf + 1;
    }
}

size_t http_head_start_end(const uint8_t *p, size_t len)
{
    struct lines it;

    lines_init(&it, p, len, 0);
    return walk_start(&it, p, len);
}

size_t http_head_len(const uint8_t *p, size_t len)
{
    struct lines it;
    size_t off;

    lines_init(&it, p, len, 0);
    off = walk_start(&it, p, len);
    while (off > 0) {
        size_t lf = lines_next(&it, p, len);

        if (lf == len)
            return 0;
        if (is_blank(p, off, lf))
            return lf + 1;
        off = lf + 1;
    }
    return 0;
}

/* *<f> for the field line [off, end) (its LF included, when it has one) whose name is
 * <name_len> bytes long: its value without the OWS around it and the CR before the LF. */
static inline void field_fill(const uint8_t *p, size_t off, size_t end, size_t name_len,
        struct http_field *f)
{
    size_t e = end;
    size_t v;

    if (p[e - 1] == '\n')
        e--;
    if (e > off && p[e - 1] == '\r')
        e--;
    v = off + name_len + 1;
    while (v < e && is_ows(p[v]))
        v++;
    while (e > v && is_ows(p[e - 1]))
        e--;
    f->line_off = off;
    f->line_len = end - off;
    f->name_len = name_len;
    f->value_off = v;
    f->value_len = e - v;
}

/* The field <name> in the line [off, end) (its LF included, when it has one), as
 * http_head_find(): true and *<f> filled. */
static inline bool line_match(const uint8_t *p, size_t off, size_t end, const char *name,
        size_t name_len, struct http_field *f)
{
    /* an obs-fold line is no field */
    if (name_len >= end - off || p[off + name_len] != ':' || is_ows(p[off]) ||
            !same_name(p + off, (const uint8_t *)name, name_len))
        return false;
    field_fill(p, off, end, name_len, f);
    return true;
}

/* http_head_find() from the line at <off> on, <it> walking from there. */
static bool find_walk(struct lines *it, const uint8_t *p, size_t len, size_t off,
        const char *name, size_t name_len, struct http_field *f)
{
    for (;;) {
        size_t lf = lines_next(it, p, len);

        if (is_blank(p, off, lf))
            return false; /* the blank line (the end of the head), or no line left */
        if (line_match(p, off, lf < len ? lf + 1 : len, name, name_len, f))
            return true;
        if (lf == len)
            return false;
        off = lf + 1;
    }
}

/* http_head_find() in one walk: *<start_end> is http_head_start_end(). */
static bool find_field(const uint8_t *p, size_t len, const char *name, size_t name_len,
        struct http_field *f, size_t *start_end)
{
    struct lines it;

    lines_init(&it, p, len, 0);
    *start_end = walk_start(&it, p, len);
    return *start_end > 0 && name_len > 0 && find_walk(&it, p, len, *start_end, name,
            name_len, f);
}

bool http_head_find(const uint8_t *p, size_t len, const char *name, size_t name_len,
        struct http_field *f)
{
    size_t start_end;

    return find_field(p, len, name, name_len, f, &start_end);
}

void http_names_init(struct http_names *nm, const struct http_name *v, size_t n)
{
    DP_BUG_ON(n > HTTP_NAMES_MAX);
    memset(nm, 0, sizeof(*nm));
    nm->v = v;
    nm->n = n;
    for (size_t k = 0; k < n; k++) {
        uint8_t bit = (uint8_t)(1u << k);

        /* an empty name is never found, nor one with a ':' (a field's name ends at the first) */
        if (v[k].len == 0 || memchr(v[k].name, ':', v[k].len) != NULL)
            continue;
        for (unsigned c = 0; c < 256; c++) {
            if (lower((uint8_t)c) == lower((uint8_t)v[k].name[0]))
                nm->first[c] |= bit;
        }
        nm->by_len[DP_MIN(v[k].len, 16)] |= bit;
        for (size_t i = 0; i < v[k].len && i < 16; i++)
            nm->low[k][i] = lower((uint8_t)v[k].name[i]);
    }
}

/* The names <cand> of <nm> (bits k for v[k]) that the <ll> bytes at <q>, a line (its LF
 * included, when it has one), are a field of, as line_match(): bits k. */
static __attribute__((noinline)) uint32_t name_check_bytes(const uint8_t *q, size_t ll,
        const struct http_names *nm, uint32_t cand)
{
    uint32_t found = 0;

    for (; cand != 0; cand &= cand - 1) {
        unsigned k = (unsigned)__builtin_ctz(cand);
        size_t nl = nm->v[k].len;

        if (nl < ll && q[nl] == ':' && same_name(q, (const uint8_t *)nm->v[k].name, nl))
            found |= 1u << k;
    }
    return found;
}

/*
 * The names <cand> of <nm> (bits k for v[k]; first[] let them through) that the line [off, end)
 * of <p, len> (its LF included, when it has one) is a field of, as line_match(): bits k. Out of
 * line: few lines get here, and the loop keeps its registers.
 */
static __attribute__((noinline)) uint32_t name_check(const uint8_t *p, size_t len, size_t off,
        size_t end, const struct http_names *nm, uint32_t cand)
{
    const uint8_t *q = p + off;
    size_t c = 0; /* the line's first ':' within its first 16 bytes, or 16 */

    if (is_ows(q[0]))
        return 0; /* an obs-fold line is no field */
#ifdef __SSE2__
    if (len - off >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
        uint32_t m = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(':')));
        uint32_t found = 0;
        __m128i up;

        c = (size_t)__builtin_ctz(m | 1u << 16);
        cand &= nm->by_len[c];
        if (c == 16)
            return cand != 0 ? name_check_bytes(q, end - off, nm, cand) : 0;
        if (cand == 0 || c >= end - off)
            return 0; /* no name of <c> bytes, or that ':' is on a later line */
        /* the line's first <c> bytes in lower case, against each name's */
        up = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('A' - 1)),
                _mm_cmplt_epi8(v, _mm_set1_epi8('Z' + 1)));
        v = _mm_or_si128(v, _mm_and_si128(up, _mm_set1_epi8(0x20)));
        for (; cand != 0; cand &= cand - 1) {
            unsigned k = (unsigned)__builtin_ctz(cand);
            __m128i w = _mm_loadu_si128((const __m128i *)(const void *)nm->low[k]);
            uint32_t eq = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, w));

            if ((~eq & ((1u << c) - 1)) == 0)
                found |= 1u << k;
        }
        return found;
    }
#endif
    while (c < 16 && off + c < len && q[c] != ':')
        c++;
    if (off + c == len)
        c = 16;
    cand &= nm->by_len[c];
    return cand != 0 ? name_check_bytes(q, end - off, nm, cand) : 0;
}

/* For http_head_index_names(): records line <i>, [off, end) of <p, len>, in line[k] for each
 * name v[k] of <nm> left in *<wanted> (bits k) that it is a field of, and takes them out. */
static inline __attribute__((always_inline)) void names_line(const uint8_t *p, size_t len,
        size_t off, size_t end, size_t i, const struct http_names *nm, uint32_t *wanted,
        int32_t *line)
{
    uint32_t f;

    if (nm == NULL)
        return; /* http_head_index() */
    f = nm->first[p[off]] & *wanted;
    if (f == 0)
        return; /* most lines end here */
    f = name_check(p, len, off, end, nm, f);
    *wanted &= ~f;
    for (; f != 0; f &= f - 1)
        line[__builtin_ctz(f)] = (int32_t)i;
}

/* http_head_index(), and http_head_index_names() when <nm> is not NULL. The modifiers' hot path:
 * it walks the LFs itself rather than through lines_next(), which keeps its state in registers
 * (lines_next() cost 50 instructions more per request in bench/modify_rate.sh's (b)). */
static inline __attribute__((always_inline)) void index_lines(const uint8_t *p, size_t len,
        size_t max, struct http_head_idx *ix, const struct http_names *nm, int32_t *found)
{
    uint32_t wanted = 0; /* the names of <nm> not found yet, bit k for v[k] */
    size_t blk = 0;
    uint64_t mask; /* the LFs at blk + bit, not read yet */
    size_t s = 0;  /* the line being read */
    size_t n = 0;
    size_t lf;

    DP_BUG_ON(max > HTTP_IDX_MAX);
    if (nm != NULL)
        wanted = (1u << nm->n) - 1;
    ix->max = max;
    ix->more = false;
    if (len == 0)
        goto none;
    mask = lf_block64(p, len, 0);
    for (;;) { /* the start line, after any empty lines (RFC 9112 §2.2) */
        while (mask == 0) {
            blk += 64;
            if (blk >= len)
                goto none;
            mask = lf_block64(p, len, blk);
        }
        lf = blk + (unsigned)__builtin_ctzll(mask);
        mask &= mask - 1;
        if (!is_blank(p, s, lf))
            break;
        s = lf + 1;
    }
    ix->start = s;
    ix->start_end = s = lf + 1;
    if (max == 0)
        goto full;
    for (;;) { /* field lines, up to the blank line */
        while (mask == 0) {
            blk += 64;
            if (blk >= len) {
                if (s < len && !is_blank(p, s, len)) { /* a last line without LF */
                    names_line(p, len, s, len, n, nm, &wanted, found);
                    ix->line[n++] = s;
                    s = len;
                }
                goto done;
            }
            mask = lf_block64(p, len, blk);
        }
        lf = blk + (unsigned)__builtin_ctzll(mask);
        mask &= mask - 1;
        if (lf - s <= 1 && is_blank(p, s, lf))
            goto done;
        names_line(p, len, s, lf + 1, n, nm, &wanted, found);
        ix->line[n++] = s;
        s = lf + 1;
        if (n == max)
            goto full;
    }
none:
    ix->start = 0; /* no whole start line */
    ix->start_end = 0;
    s = 0;
    goto done;
full:
    /* more field lines unless a blank line (or a lone CR at the end) comes next */
    ix->more = s < len && p[s] != '\n' && !(p[s] == '\r' && (s + 1 == len || p[s + 1] == '\n'));
done:
    ix->line[n] = s;
    ix->n = n;
}

void http_head_index(const uint8_t *p, size_t len, size_t max, struct http_head_idx *ix)
{
    index_lines(p, len, max, ix, NULL, NULL);
}

void http_head_index_names(const uint8_t *p, size_t len, size_t max, struct http_head_idx *ix,
        const struct http_names *nm, int32_t *line)
{
    index_lines(p, len, max, ix, nm, line);
}

bool http_head_idx_find(const struct http_head_idx *ix, const uint8_t *p, size_t len,
        const char *name, size_t name_len, struct http_field *f)
{
    if (ix->start_end == 0 || name_len == 0)
        return false;
    for (size_t i = 0; i < ix->n; i++) {
        size_t off = ix->line[i];

        /* most lines fail here, without a call */
        if (name_len < ix->line[i + 1] - off && p[off + name_len] == ':' &&
                line_match(p, off, ix->line[i + 1], name, name_len, f))
            return true;
    }
    if (ix->more) {
        struct lines it;

        lines_init(&it, p, len, ix->line[ix->n]);
        return find_walk(&it, p, len, ix->line[ix->n], name, name_len, f);
    }
    return false;
}

void http_head_idx_field(const struct http_head_idx *ix, const uint8_t *p, size_t i,
        size_t name_len, struct http_field *f)
{
    DP_BUG_ON(i >= ix->n);
    field_fill(p, ix->line[i], ix->line[i + 1], name_len, f);
}

/* Moves the offsets at or after <from> by <delta> (modulo SIZE_MAX + 1: it may be "negative"). */
static void idx_shift(struct http_head_idx *ix, size_t from, size_t delta)
{
    if (ix->start >= from)
        ix->start += delta;
    if (ix->start_end >= from)
        ix->start_end += delta;
    for (size_t i = 0; i <= ix->n; i++) {
        if (ix->line[i] >= from)
            ix->line[i] += delta;
    }
}

int http_head_idx_splice(struct dp_msg **mp, struct http_head_idx *ix, size_t off, size_t del,
        const uint8_t *ins, size_t ins_len)
{
    int rc = dp_msg_splice(mp, off, del, ins, ins_len);

    if (rc != 0)
        return rc;
    if (ins != NULL && memchr(ins, '\n', ins_len) != NULL) /* new lines */
        http_head_index(dp_msg_payload(*mp), (*mp)->len, ix->max, ix);
    else if (ins_len != del)
        idx_shift(ix, off + del, ins_len - del);
    return 0;
}

int http_head_idx_insert(struct dp_msg **mp, struct http_head_idx *ix, const uint8_t *line,
        size_t line_len)
{
    size_t at = ix->start_end;
    size_t keep;
    int rc;

    if (at == 0)
        return -EINVAL;
    DP_BUG_ON(line_len == 0 || line[line_len - 1] != '\n');
    rc = dp_msg_splice(mp, at, 0, line, line_len);
    if (rc != 0)
        return rc;
    /* the new line goes first; a full index lets its last line go */
    keep = ix->n < HTTP_IDX_MAX ? ix->n + 1 : ix->n;
    for (size_t i = keep; i > 0; i--)
        ix->line[i] = ix->line[i - 1] + line_len;
    ix->line[0] = at;
    if (ix->n < HTTP_IDX_MAX)
        ix->n++;
    else
        ix->more = true;
    return 0;
}

/* Inserts the line "name: value\r\n" at <at> of *<mp>. 0 or -ENOMEM. */
static int put_field(struct dp_msg **mp, size_t at, const char *name, size_t name_len,
        const char *value, size_t value_len)
{
    uint8_t *q;
    int rc = dp_msg_splice(mp, at, 0, NULL, name_len + value_len + 4);

    if (rc != 0)
        return rc;
    q = dp_msg_payload(*mp) + at;
    memcpy(q, name, name_len);
    memcpy(q + name_len, ": ", 2);
    memcpy(q + name_len + 2, value, value_len);
    memcpy(q + name_len + 2 + value_len, "\r\n", 2);
    return 0;
}

int http_head_idx_set(struct dp_msg **mp, struct http_head_idx *ix, const char *name,
        size_t name_len, const char *value, size_t value_len)
{
    struct http_field f;
    size_t ins = name_len + value_len + 4;
    uint8_t line[256];
    int rc;

    if (ix->start_end == 0)
        return -EINVAL;
    if (http_head_idx_find(ix, dp_msg_payload(*mp), (*mp)->len, name, name_len, &f))
        return http_head_idx_splice(mp, ix, f.value_off, f.value_len, (const uint8_t *)value,
                value_len);
    /* "name: value\r\n" right after the start line (GoReplay's SetHeader) */
    if (ins <= sizeof(line) && memchr(name, '\n', name_len) == NULL &&
            memchr(value, '\n', value_len) == NULL) {
        memcpy(line, name, name_len);
        memcpy(line + name_len, ": ", 2);
        memcpy(line + name_len + 2, value, value_len);
        memcpy(line + name_len + 2 + value_len, "\r\n", 2);
        return http_head_idx_insert(mp, ix, line, ins);
    }
    rc = put_field(mp, ix->start_end, name, name_len, value, value_len);
    if (rc == 0) /* a long line, or new ones */
        http_head_index(dp_msg_payload(*mp), (*mp)->len, ix->max, ix);
    return rc;
}

int http_head_set(struct dp_msg **mp, const char *name, size_t name_len, const char *value,
        size_t value_len)
{
    struct http_field f;
    size_t start_end;

    if (find_field(dp_msg_payload(*mp), (*mp)->len, name, name_len, &f, &start_end))
        return dp_msg_splice(mp, f.value_off, f.value_len, (const uint8_t *)value, value_len);
    if (start_end == 0)
        return -EINVAL;
    return put_field(mp, start_end, name, name_len, value, value_len);
}

int http_head_remove(struct dp_msg **mp, const char *name, size_t name_len)
{
    struct http_field f;
    struct lines it;
    bool skip = true; /* the lines at <r> belong to a removed field */
    int removed = 1;
    uint8_t *p;
    size_t len;
    size_t r;
    size_t w;

    if (!http_head_find(dp_msg_payload(*mp), (*mp)->len, name, name_len, &f))
        return 0;
    /* the first goes by a splice, which also makes the message ours to write */
    if (dp_msg_splice(mp, f.line_off, f.line_len, NULL, 0) != 0)
        return -ENOMEM;
    /* then one walk over the rest of the head: a kept line moves down over the removed ones
     * once, whatever their number (a splice for each would move the message each time) */
    p = dp_msg_payload(*mp);
    len = (*mp)->len;
    r = w = f.line_off;
    lines_init(&it, p, len, r);
    for (;;) {
        size_t lf = lines_next(&it, p, len);
        size_t end = lf < len ? lf + 1 : len;

        if (is_blank(p, r, lf))
            break; /* the end of the head, or of the bytes */
        if (!is_ows(p[r])) { /* else an obs-fold line: it goes with the field above */
            skip = line_match(p, r, end, name, name_len, &f);
            if (skip)
                removed++;
        }
        if (!skip) {
            memmove(p + w, p + r, end - r);
            w += end - r;
        }
        r = end;
    }
    if (r > w && dp_msg_splice(mp, w, r - w, NULL, 0) != 0)
        return -ENOMEM; /* a message held alone shrinks in place: not seen */
    return removed;
}

int http_head_set_target(struct dp_msg **mp, const char *method, size_t method_len,
        const char *target, size_t target_len)
{
    const uint8_t *p = dp_msg_payload(*mp);
    size_t end = http_head_start_end(p, (*mp)->len);
    size_t start = 0;
    const uint8_t *sp1;
    const uint8_t *sp2;
    int rc;

    if (end == 0)
        return -EINVAL;
    while (start < end && (p[start] == '\r' || p[start] == '\n')) /* leading empty lines */
        start++;
    sp1 = memchr(p + start, ' ', end - start);
    if (sp1 == NULL || sp1 == p + start)
        return -EINVAL;
    sp2 = memchr(sp1 + 1, ' ', (size_t)(p + end - (sp1 + 1)));
    if (sp2 == NULL)
        return -EINVAL;
    {
        size_t m_len = (size_t)(sp1 - (p + start)); /* offsets first: a splice may move p */
        size_t t_off = (size_t)(sp1 + 1 - p);
        size_t t_len = (size_t)(sp2 - (sp1 + 1));

        rc = dp_msg_splice(mp, t_off, t_len, (const uint8_t *)target, target_len);
        if (rc == 0 && method != NULL)
            rc = dp_msg_splice(mp, start, m_len, (const uint8_t *)method, method_len);
    }
    return rc;
}
