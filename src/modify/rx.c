#include "modify/rx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

    /* options set by (*...) at the start, or from the library's defaults: literals, '^' and
     * '.' as read here hold without them; an alternative may start without LIT */
    if (pcre2_pattern_info(r->code, PCRE2_INFO_ALLOPTIONS, &opts) != 0 ||
            (opts & ~(uint32_t)PCRE2_ANCHORED) != 0 || memchr(pat, '|', len) != NULL)
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
    r->code = pcre2_compile((PCRE2_SPTR)pat, len, 0, ecode, &off, NULL);
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

/* memcmp(<a>, <b>, <n>) == 0 for the few bytes of a literal, without a call. */
static inline bool same_bytes(const uint8_t *a, const char *b, size_t n)
{
    size_t i = 0;

    if (n > 16)
        return memcmp(a, b, n) == 0;
    while (i < n && a[i] == (uint8_t)b[i])
        i++;
    return i == n;
}

/* True when <r>'s literal is at <p>, with at least 8 bytes there: one load (lit8_mask != 0). */
static inline bool lit8_at(const struct rx *r, const uint8_t *p)
{
    uint64_t w;

    memcpy(&w, p, 8);
    return ((w ^ r->lit8) & r->lit8_mask) == 0;
}

/* Where <r>'s literal first occurs in <p, n> at or after <from>, or SIZE_MAX. */
static size_t lit_find(const struct rx *r, const uint8_t *p, size_t n, size_t from)
{
    const char *lit = r->lit;
    size_t ll = r->lit_len;

    if (ll == 0)
        return from;
    if (r->lit8_mask != 0 && n - from >= 8) { /* most subjects start with it, or it is short */
        if (lit8_at(r, p + from))
            return from;
        from++;
    }
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

/* PCRE2's first match of <r> in <p, n> at or after <at>: kept out of rx_exec(), whose own
 * answers need no saved registers. */
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

bool rx_exec(struct rx *r, const uint8_t *p, size_t n, size_t start)
{
    size_t at = start;

    if (n - start < r->minlen)
        return false; /* PCRE2 answers the same without looking */
    if (r->anchored) {
        if (start > 0 || n < r->lit_len)
            return false;
        if (r->lit8_mask != 0 && n >= 8 ? !lit8_at(r, p) : !same_bytes(p, r->lit, r->lit_len))
            return false;
        at = 0;
    } else if (r->lit_len > 0) {
        at = lit_find(r, p, n, start);
        if (at == SIZE_MAX)
            return false;
    }
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
        const uint8_t *lf = memchr(p + g, '\n', n - g);
        size_t e = lf != NULL ? (size_t)(lf - p) : n;

        r->own_ov[0] = at;
        r->own_ov[1] = e;
        r->own_ov[2] = g;
        r->own_ov[3] = e;
        r->ov = r->own_ov;
        return true;
    }
    case RX_PCRE:
    case RX_SHAPE_COUNT:
        break;
    }
    return rx_pcre(r, p, n, at);
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
