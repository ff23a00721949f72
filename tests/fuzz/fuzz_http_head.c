/*
 * fuzz_http_head.c: finding and setting header fields on hostile bytes.
 *
 * Byte 0 picks the field name and how many lines the index holds; the rest is the message.
 * Invariants: every offset found lies inside the input; setting a field changes the length by
 * exactly what it replaced or inserted, and afterwards the first field of that name holds the
 * new value; bytes outside the edit are unchanged. The head index (http_head_index) finds the
 * start line http_head_start_end() finds, every lookup through it answers as http_head_find(),
 * and setting a field through it gives http_head_set()'s bytes and leaves the index what
 * http_head_index() builds anew. http_head_index_names() builds the same index and finds the
 * lines http_head_idx_find() finds. http_head_len() and http_head_remove() answer as plain
 * byte-by-byte versions of them written here (removing one field at a time).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = { "Host", "X-Real-IP", "a", "Content-Length", "x" };
static const size_t maxes[] = { 0, 1, 2, HTTP_IDX_MAX };

/* Every name: http_head_idx_find() through <ix> answers as http_head_find(). */
static void check_finds(const struct http_head_idx *ix, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct http_field f;
        struct http_field g;
        bool a = http_head_find(p, len, names[i], strlen(names[i]), &f);
        bool b = http_head_idx_find(ix, p, len, names[i], strlen(names[i]), &g);

        if (a != b || (a && memcmp(&f, &g, sizeof(f)) != 0))
            abort();
    }
}

static void check_index(const struct http_head_idx *ix, const uint8_t *p, size_t len);

/* http_head_index_names() builds the index http_head_index() builds, and finds each name on
 * the line http_head_idx_find() finds (when the index holds them all). Names of 16 bytes and
 * more, of the same length, in another case and empty ones take the other paths. */
static void check_index_names(const struct http_head_idx *ix, const uint8_t *p, size_t len)
{
    static const struct http_name nn[] = {
        { "host", 4 }, { "X-Real-IP", 9 }, { "HOST", 4 }, { "Content-Encoding", 16 },
        { "Content-Security-Policy", 23 }, { "x", 1 }, { "", 0 }, { "a-b-c-d-e-f-g-h", 15 },
    };
    int32_t line[sizeof(nn) / sizeof(nn[0])];
    struct http_head_idx jx;
    struct http_names nm;

    http_names_init(&nm, nn, sizeof(nn) / sizeof(nn[0]));
    memset(line, 0xff, sizeof(line));
    http_head_index_names(p, len, ix->max, &jx, &nm, line);
    if (jx.start != ix->start || jx.start_end != ix->start_end || jx.n != ix->n ||
            jx.more != ix->more || memcmp(jx.line, ix->line, (ix->n + 1) * sizeof(size_t)))
        abort();
    for (size_t k = 0; k < sizeof(nn) / sizeof(nn[0]); k++) {
        struct http_field f;
        struct http_field g;
        bool a = http_head_idx_find(ix, p, len, nn[k].name, nn[k].len, &f);

        if (line[k] < -1 || (line[k] >= 0 && (size_t)line[k] >= jx.n))
            abort();
        if (line[k] >= 0) {
            http_head_idx_field(&jx, p, (size_t)line[k], nn[k].len, &g);
            if (!a || memcmp(&f, &g, sizeof(f)) != 0)
                abort();
        } else if (a && !ix->more) {
            abort();
        } else if (a && f.line_off < ix->line[ix->n]) {
            abort(); /* found among the indexed lines, but not by http_head_index_names() */
        }
    }
}

/* http_head_idx_set() through a copy of <ix0>, the index of <data, size>, gives
 * http_head_set()'s bytes and leaves the index valid. */
static void check_idx_set(const uint8_t *data, size_t size, const struct http_head_idx *ix0,
        const char *name, const char *value)
{
    struct http_head_idx ix = *ix0;
    struct dp_msg *a = dp_msg_new(DP_MSG_REQUEST, (const uint8_t *)"id", 2, 0, 0, data, size);
    struct dp_msg *b = dp_msg_new(DP_MSG_REQUEST, (const uint8_t *)"id", 2, 0, 0, data, size);

    if (a != NULL && b != NULL) {
        int ra = http_head_set(&a, name, strlen(name), value, strlen(value));
        int rb = http_head_idx_set(&b, &ix, name, strlen(name), value, strlen(value));

        if (ra != rb || (ra == 0 && (a->len != b->len ||
                                            memcmp(dp_msg_payload(a), dp_msg_payload(b),
                                                    a->len) != 0)))
            abort();
        if (rb == 0)
            check_index(&ix, dp_msg_payload(b), b->len);
    }
    if (a != NULL)
        dp_msg_unref(a);
    if (b != NULL)
        dp_msg_unref(b);
}

/* <ix> is what http_head_index() builds anew for <p, len> (as many lines). */
static void check_index(const struct http_head_idx *ix, const uint8_t *p, size_t len)
{
    struct http_head_idx fresh;

    http_head_index(p, len, ix->n, &fresh);
    if (fresh.start != ix->start || fresh.start_end != ix->start_end || fresh.n != ix->n ||
            fresh.more != ix->more || memcmp(fresh.line, ix->line, (ix->n + 1) * sizeof(size_t)))
        abort();
    check_finds(ix, p, len);
}

/* The LF of the line at <off>, or <len>: byte by byte. */
static size_t ref_lf(const uint8_t *p, size_t len, size_t off)
{
    while (off < len && p[off] != '\n')
        off++;
    return off;
}

static bool ref_blank(const uint8_t *p, size_t off, size_t lf)
{
    return lf == off || (lf == off + 1 && p[off] == '\r');
}

/* http_head_len(), one line at a time. */
static size_t ref_head_len(const uint8_t *p, size_t len)
{
    size_t off = 0;
    size_t lf;

    for (;;) { /* the start line, after empty lines */
        lf = ref_lf(p, len, off);
        if (lf == len)
            return 0;
        if (!ref_blank(p, off, lf))
            break;
        off = lf + 1;
    }
    for (off = lf + 1;; off = lf + 1) {
        lf = ref_lf(p, len, off);
        if (lf == len)
            return 0;
        if (ref_blank(p, off, lf))
            return lf + 1;
    }
}

/* http_head_remove() of <name> gives the bytes and the count of removing the first field of
 * that name (http_head_find) with its obs-fold lines, again and again. */
static void check_remove(const uint8_t *data, size_t size, const char *name)
{
    struct dp_msg *a = dp_msg_new(DP_MSG_REQUEST, (const uint8_t *)"id", 2, 0, 0, data, size);
    struct dp_msg *b = dp_msg_new(DP_MSG_REQUEST, (const uint8_t *)"id", 2, 0, 0, data, size);
    size_t nl = strlen(name);
    struct http_field f;
    int want = 0;

    if (a != NULL && b != NULL) {
        int got = http_head_remove(&a, name, nl);

        while (want >= 0 && http_head_find(dp_msg_payload(b), b->len, name, nl, &f)) {
            const uint8_t *p = dp_msg_payload(b);
            size_t end = f.line_off + f.line_len;

            while (end < b->len && (p[end] == ' ' || p[end] == '\t')) {
                end = ref_lf(p, b->len, end);
                end = end < b->len ? end + 1 : b->len;
            }
            want = dp_msg_splice(&b, f.line_off, end - f.line_off, NULL, 0) == 0 ? want + 1 : -1;
        }
        if (want >= 0 && got >= 0 && (got != want || a->len != b->len ||
                                              memcmp(dp_msg_payload(a), dp_msg_payload(b),
                                                      a->len) != 0))
            abort();
    }
    if (a != NULL)
        dp_msg_unref(a);
    if (b != NULL)
        dp_msg_unref(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char value[] = "192.0.2.1";
    const char *name;
    size_t name_len;
    struct http_field f;
    struct http_head_idx ix;
    struct dp_msg *m;
    size_t start;
    bool found;
    int rc;

    if (size < 1)
        return 0;
    name = names[data[0] % (sizeof(names) / sizeof(names[0]))];
    name_len = strlen(name);
    http_head_index(data + 1, size - 1, maxes[data[0] / 5 % 4], &ix);
    data++;
    size--;
    start = http_head_start_end(data, size);
    if (start > size || ix.start_end != start)
        abort();
    check_finds(&ix, data, size);
    check_index_names(&ix, data, size);
    if (http_head_len(data, size) != ref_head_len(data, size))
        abort();
    check_remove(data, size, name);
    found = http_head_find(data, size, name, name_len, &f);
    if (found && (start == 0 || f.line_off < start || f.line_off + f.line_len > size ||
                         f.value_off < f.line_off + name_len + 1 ||
                         f.value_off + f.value_len > f.line_off + f.line_len))
        abort();
    m = dp_msg_new(DP_MSG_REQUEST, (const uint8_t *)"id", 2, 0, 0, data, size);
    if (m == NULL)
        return 0;
    rc = http_head_set(&m, name, name_len, value, sizeof(value) - 1);
    if (start == 0) {
        if (rc == 0 || m->len != size || memcmp(dp_msg_payload(m), data, size) != 0)
            abort();
    } else if (rc == 0) {
        struct http_field g;
        const uint8_t *p = dp_msg_payload(m);
        size_t at = found ? f.value_off : start;
        size_t del = found ? f.value_len : 0;
        size_t ins = found ? sizeof(value) - 1 : name_len + sizeof(value) - 1 + 4;

        if (m->len != size - del + ins || memcmp(p, data, at) != 0 ||
                memcmp(p + at + ins, data + at + del, size - at - del) != 0)
            abort();
        if (!http_head_find(p, m->len, name, name_len, &g) || g.value_len != sizeof(value) - 1 ||
                memcmp(p + g.value_off, value, g.value_len) != 0)
            abort();
    }
    /* the same edits through the index: the plain value, and one that makes a new line */
    check_idx_set(data, size, &ix, name, value);
    check_idx_set(data, size, &ix, name, "a\r\nX-Real-IP: b");
    dp_msg_unref(m);
    return 0;
}
