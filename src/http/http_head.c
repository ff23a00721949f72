#include "http/http_head.h"

#include <errno.h>
#include <string.h>

#include "core/common.h"

static bool is_ows(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static uint8_t lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* End of the line starting at <off>: the offset of its LF, or <len>. */
static size_t line_lf(const uint8_t *p, size_t len, size_t off)
{
    const uint8_t *lf = memchr(p + off, '\n', len - off);

    return lf != NULL ? (size_t)(lf - p) : len;
}

/* Length of the line [off, lf) without a CR before the LF. */
static size_t content_len(const uint8_t *p, size_t off, size_t lf)
{
    return lf > off && p[lf - 1] == '\r' ? lf - 1 - off : lf - off;
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

size_t http_head_start_end(const uint8_t *p, size_t len)
{
    size_t off = 0;

    while (off < len) {
        size_t lf = line_lf(p, len, off);

        if (lf == len)
            return 0;
        if (content_len(p, off, lf) > 0)
            return lf + 1;
        off = lf + 1; /* an empty line before the start line (RFC 9112 §2.2) */
    }
    return 0;
}

size_t http_head_len(const uint8_t *p, size_t len)
{
    size_t off = http_head_start_end(p, len);

    while (off > 0 && off < len) {
        size_t lf = line_lf(p, len, off);

        if (lf == len)
            return 0;
        if (content_len(p, off, lf) == 0)
            return lf + 1;
        off = lf + 1;
    }
    return 0;
}

bool http_head_find(const uint8_t *p, size_t len, const char *name, size_t name_len,
        struct http_field *f)
{
    size_t off = http_head_start_end(p, len);

    if (off == 0 || name_len == 0)
        return false;
    while (off < len) {
        size_t lf = line_lf(p, len, off);
        size_t n = content_len(p, off, lf);
        const uint8_t *colon;

        if (n == 0)
            return false; /* the blank line: end of the head */
        colon = is_ows(p[off]) ? NULL : memchr(p + off, ':', n);
        if (colon != NULL && (size_t)(colon - (p + off)) == name_len) {
            size_t i = 0;

            while (i < name_len && lower(p[off + i]) == lower((uint8_t)name[i]))
                i++;
            if (i == name_len) {
                size_t v = off + name_len + 1;
                size_t e = off + n;

                while (v < e && is_ows(p[v]))
                    v++;
                while (e > v && is_ows(p[e - 1]))
                    e--;
                f->line_off = off;
                f->line_len = (lf < len ? lf + 1 : len) - off;
                f->name_len = name_len;
                f->value_off = v;
                f->value_len = e - v;
                return true;
            }
        }
        off = lf + 1;
    }
    return false;
}

int http_head_set(struct dp_msg **mp, const char *name, size_t name_len, const char *value,
        size_t value_len)
{
    struct dp_msg *m = *mp;
    const uint8_t *p = dp_msg_payload(m);
    struct http_field f;
    size_t at = http_head_start_end(p, m->len);
    int rc;

    if (at == 0)
        return -EINVAL;
    if (http_head_find(p, m->len, name, name_len, &f))
        return dp_msg_splice(mp, f.value_off, f.value_len, (const uint8_t *)value, value_len);
    rc = dp_msg_splice(mp, at, 0, NULL, name_len + value_len + 4);
    if (rc == 0) {
        uint8_t *q = dp_msg_payload(*mp) + at;

        memcpy(q, name, name_len);
        memcpy(q + name_len, ": ", 2);
        memcpy(q + name_len + 2, value, value_len);
        memcpy(q + name_len + 2 + value_len, "\r\n", 2);
    }
    return rc;
}

int http_head_remove(struct dp_msg **mp, const char *name, size_t name_len)
{
    struct http_field f;
    int removed = 0;

    while (http_head_find(dp_msg_payload(*mp), (*mp)->len, name, name_len, &f)) {
        const uint8_t *p = dp_msg_payload(*mp);
        size_t end = f.line_off + f.line_len;
        int rc;

        while (end < (*mp)->len && is_ows(p[end])) /* obs-fold continuation lines */
            end = DP_MIN(line_lf(p, (*mp)->len, end) + 1, (*mp)->len);
        rc = dp_msg_splice(mp, f.line_off, end - f.line_off, NULL, 0);
        if (rc != 0)
            return rc;
        removed++;
    }
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
    while (p[start] == '\r' || p[start] == '\n') /* leading empty lines */
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
