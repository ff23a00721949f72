#include "modify/rx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

const char *const rx_shape_names[RX_SHAPE_COUNT] = {
    [RX_PCRE] = "pcre",
    [RX_LIT] = "lit",
    [RX_LIT_ANY] = "lit.*",
    [RX_LIT_GROUP] = "lit(.*)",
};

static bool is_meta(char c)
{
    static const char meta[] = "\\^$.|?*+()[]{}";

    return memchr(meta, c, sizeof(meta) - 1) != NULL;
}

/* Reads the shape of <pat, len> (see rx.h) into <r>. False on ENOMEM. */
static bool rx_shape(struct rx *r, const char *pat, size_t len)
{
    size_t i = len > 0 && pat[0] == '^' ? 1 : 0;
    size_t j = i;
    uint32_t opts = 0;
    uint32_t nl = 0;
    enum rx_shape shape = RX_PCRE;

    /* options set by (*...) at the start, or from the library's defaults (rx_compile()'s
     * NEVER_UTF aside): literals, '^' and '.' as read here hold without them; an alternative
     * may start without LIT */
    if (pcre2_pattern_info(r->code, PCRE2_INFO_ALLOPTIONS, &opts) != 0 ||
            (opts & ~(uint32_t)(PCRE2_ANCHORED | PCRE2_NEVER_UTF)) != 0 ||
            memchr(pat, '|', len) != NULL)
        return true;
    while (j < len && !is_meta(pat[j]))
        j++;
    if (j == len) {
        shape = j > i ? RX_LIT : RX_PCRE; /* "" and "^" match the empty string */
    } else if (pcre2_pattern_info(r->code, PCRE2_INFO_NEWLINE, &nl) == 0 &&
            nl == PCRE2_NEWLINE_LF) {
        /* '.' is any byte but LF (PCRE2 pattern syntax, "Full stop") */
        if (len - j == 2 && memcmp(pat + j, ".*", 2) == 0)
            shape = RX_LIT_ANY;
        else if (len - j == 4 && memcmp(pat + j, "(.*)", 4) == 0)
            shape = RX_LIT_GROUP;
    }
    /* '^' before a literal byte (or ".*") is no quantifier's operand: matches start at 0 */
    r->anchored = i == 1 && (j > i || shape != RX_PCRE);
    if (shape == RX_PCRE && j > i)
        j--; /* a quantifier may follow LIT's last byte, even past "(?#...)" or "\E" */
    r->shape = (uint8_t)shape;
    if (j > i) {
        r->lit = malloc(j - i);
        if (r->lit == NULL)
            return false;
        memcpy(r->lit, pat + i, j - i);
        r->lit_len = j - i;
        if (r->lit_len <= 8) {
            uint8_t b[8] = { 0 };
            uint8_t mk[8] = { 0 };

            memcpy(b, r->lit, r->lit_len);
            memset(mk, 0xff, r->lit_len);
            memcpy(&r->lit8, b, 8);
            memcpy(&r->lit8_mask, mk, 8);
        }
    }
    return true;
}

int rx_compile(struct rx *r, const char *pat, size_t len, int *ecode, size_t *eoff)
{
    PCRE2_SIZE off = 0;

    memset(r, 0, sizeof(*r));
    /* No "(*UTF)": traffic is any bytes, and PCRE2 10.42 has no safe linear way to match
     * them in UTF mode. JIT code reads past the end of an invalid sequence ("\X"), even with
     * PCRE2_MATCH_INVALID_UTF; the interpreter checks the subject from the start offset to
     * its end on every call, so a rewrite's calls, one per match, are quadratic. */
    r->code = pcre2_compile((PCRE2_SPTR)pat, len, PCRE2_NEVER_UTF, ecode, &off, NULL);
    if (r->code == NULL) {
        *eoff = off;
        return -EINVAL;
    }
    r->jit = pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE) == 0; /* else: the interpreter */
    r->md = pcre2_match_data_create_from_pattern(r->code, NULL);
    if (r->md == NULL || !rx_shape(r, pat, len)) {
        rx_free(r);
        return -ENOMEM;
    }
    r->ov = pcre2_get_ovector_pointer(r->md);
    r->groups = pcre2_get_ovector_count(r->md);
    if (pcre2_pattern_info(r->code, PCRE2_INFO_MINLENGTH, &r->minlen) != 0)
        r->minlen = 0;
    return 0;
}

void rx_error_message(int ecode, char *buf, size_t n)
{
    if (n == 0)
        return;
    if (pcre2_get_error_message(ecode, (PCRE2_UCHAR *)buf, n) < 0)
        buf[n - 1] = '\0'; /* truncated: PCRE2 wrote what fits */
}

/* memcmp(<a>, <b>, <n>) == 0 without a call (its registers would be saved around loops): 8
 * bytes a step, then one at a time. */
static inline bool same_bytes(const uint8_t *a, const char *b, size_t n)
{
    uint64_t x;
    uint64_t y;

    for (; n >= 8; a += 8, b += 8, n -= 8) {
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y)
            return false;
    }
    for (; n > 0; a++, b++, n--) {
        if (*a != (uint8_t)*b)
            return false;
    }
    return true;
}

/* True when <r>'s literal is at <p>, with at least 8 bytes there: one load (lit8_mask != 0). */
static inline bool lit8_at(const struct rx *r, const uint8_t *p)
{
    uint64_t w;

    memcpy(&w, p, 8);
    return ((w ^ r->lit8) & r->lit8_mask) == 0;
}

/* PCRE2's first match of <r> in <p, n> at or after <at>. */
static __attribute__((noinline)) bool rx_pcre(struct rx *r, const uint8_t *p, size_t n,
        size_t at)
{
    int rc;

    /* no match starts before <at>; lookbehinds still see the bytes before it */
    r->ov = pcre2_get_ovector_pointer(r->md);
    if (r->jit)
        rc = pcre2_jit_match(r->code, (PCRE2_SPTR)p, n, at, 0, r->md, NULL);
    else
        rc = pcre2_match(r->code, (PCRE2_SPTR)p, n, at, 0, r->md, NULL);
    return rc >= 0;
}

/* The first match of <r> in <p, n> at or after <at>, where its literal (if any) is. */
static __attribute__((noinline)) bool lit_match(struct rx *r, const uint8_t *p, size_t n,
        size_t at)
{
    switch ((enum rx_shape)r->shape) {
    case RX_LIT:
        r->own_ov[0] = at;
        r->own_ov[1] = at + r->lit_len;
        r->ov = r->own_ov;
        return true;
    case RX_LIT_ANY:
    case RX_LIT_GROUP: {
        /* greedy: up to the first LF, or the end (.* matches the empty string too) */
        size_t g = at + r->lit_len;
        const uint8_t *lf;

        r->own_ov[0] = at;
        r->own_ov[2] = g;
        r->ov = r->own_ov;
        lf = memchr(p + g, '\n', n - g);
        r->own_ov[1] = r->own_ov[3] = lf != NULL ? (size_t)(lf - p) : n;
        return true;
    }
    case RX_PCRE:
    case RX_SHAPE_COUNT:
        break;
    }
    return rx_pcre(r, p, n, at);
}

/*
 * Where <r>'s literal (not empty) first occurs in <p, n> at or after <from>, or SIZE_MAX.
 * With SSE2, the places whose first and last bytes are the literal's are found 16 at a time
 * (W. Mula, "SIMD-friendly algorithms for substring searching"): a memchr() per first byte
 * costs a call for each '/' of a target when the literal starts with one.
 */
static size_t lit_find(const struct rx *r, const uint8_t *p, size_t n, size_t from)
{
    const char *lit = r->lit;
    size_t ll = r->lit_len;
    size_t last; /* the last place it fits */

    if (n - from < ll)
        return SIZE_MAX;
    last = n - ll;
#ifdef __SSE2__
    if (last >= 15) {
        const __m128i first = _mm_set1_epi8(lit[0]);
        const __m128i end = _mm_set1_epi8(lit[ll - 1]);

        for (;;) {
            size_t i = DP_MIN(from, last - 15); /* the last step may go back over the one before */
            __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
            __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + i + ll - 1));
            uint32_t m = (uint32_t)_mm_movemask_epi8(
                    _mm_and_si128(_mm_cmpeq_epi8(a, first), _mm_cmpeq_epi8(b, end)));

            for (m &= ~0u << (from - i); m != 0; m &= m - 1) { /* not before <from> */
                size_t k = i + (size_t)__builtin_ctz(m);

                if (same_bytes(p + k, lit, ll))
                    return k;
            }
            if (i == last - 15)
                return SIZE_MAX;
            from = i + 16;
        }
    }
#endif
    while (n - from >= ll) {
        const uint8_t *q = memchr(p + from, (uint8_t)lit[0], n - from - ll + 1);

        if (q == NULL)
            break;
        from = (size_t)(q - p);
        if (same_bytes(q + 1, lit + 1, ll - 1))
            return from;
        from++;
    }
    return SIZE_MAX;
}

/* lit_match() at the first place at or after <from> (<= <n>) where <r>'s literal is: only 0 when
 * it is anchored. */
static __attribute__((noinline)) bool lit_find_match(struct rx *r, const uint8_t *p, size_t n,
        size_t from)
{
    size_t ll = r->lit_len;

    if (r->anchored || ll == 0)
        return n - from >= ll && same_bytes(p + from, r->lit, ll) && lit_match(r, p, n, from);
    from = lit_find(r, p, n, from);
    return from != SIZE_MAX && lit_match(r, p, n, from);
}

bool rx_exec(struct rx *r, const uint8_t *p, size_t n, size_t start)
{
    /* the answers for most subjects need no call, the others one tail call: this function
     * keeps no saved registers */
    if (n - start < r->minlen)
        return false; /* PCRE2 answers the same without looking */
    if (r->anchored && start > 0)
        return false;
    if (r->lit8_mask != 0 && n - start >= 8) { /* most subjects start with it, or it is short */
        if (lit8_at(r, p + start))
            return lit_match(r, p, n, start);
        if (r->anchored)
            return false;
        start++;
    }
    return lit_find_match(r, p, n, start);
}

int rx_group_number(const struct rx *r, const char *name)
{
    int g = pcre2_substring_number_from_name(r->code, (PCRE2_SPTR)name);

    return g >= 0 ? g : -1;
}

void rx_free(struct rx *r)
{
    pcre2_match_data_free(r->md);
    pcre2_code_free(r->code);
    free(r->lit);
    memset(r, 0, sizeof(*r));
}
