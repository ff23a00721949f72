/*
 * fuzz_http_frame.c: the streaming HTTP/1.x framer on hostile bytes.
 *
 * Byte 0 picks max_head (bits 0-1) and the request method that responses answer (bits 2-3);
 * byte 1 picks the piece sizes; the rest is the stream. The stream is framed as requests and as
 * responses, each time fed whole, in pieces whose sizes come from the input bytes, and (for small
 * inputs) one byte at a time; every piece is a malloc'd copy of exactly its size, so ASan sees any
 * read past it. After DONE the next message starts where the previous one ended.
 * Invariants: the three feedings give the same results (rc, end offset, info); used <= len and
 * AGAIN consumes everything; DONE and BAD are sticky; lengths add up (a Content-Length message is
 * head_len + content_length long, a body-less one head_len); find_start() points at a line start
 * from which the framer does not fail inside what find_start() checked.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RES 64

struct res {
    uint64_t end; /* absolute offset: end of the message, or the bad byte, or the input end */
    uint64_t cl;
    uint64_t head_len;
    uint64_t total_len;
    int status;
    uint8_t rc;
    uint8_t eof;
    uint8_t body;
    uint8_t bits;
};

struct run_cfg {
    enum http_frame_kind kind;
    uint32_t max_head;
    const char *method;
    const uint8_t *sizes; /* piece sizes, cycled */
    size_t nsizes;
    int mode; /* 0 whole, 1 one byte at a time, 2 sizes from the input */
};

static void start(struct http_frame *f, const struct run_cfg *c)
{
    http_frame_init(f, c->kind, c->max_head);
    if (c->kind == HTTP_FRAME_RESPONSE)
        http_frame_set_request_method(f, c->method, strlen(c->method));
}

static struct res record(const struct http_frame *f, enum http_frame_rc rc, uint64_t end, bool eof)
{
    const struct http_frame_info *in = http_frame_info(f);
    struct res r = { 0 };

    r.rc = (uint8_t)rc;
    r.end = end;
    r.eof = eof;
    r.total_len = in->total_len;
    if (rc == HTTP_FRAME_DONE) {
        r.cl = in->content_length;
        r.head_len = in->head_len;
        r.status = in->status;
        r.body = (uint8_t)in->body_kind;
        r.bits = (uint8_t)(in->interim | in->connection_close << 1 | in->expect_continue << 2);
        if (in->body_kind >= HTTP_BODY_KIND_COUNT || in->head_len == 0 ||
            in->head_len > in->total_len || in->lead_len > in->head_len)
            abort();
        if (in->status != 0 && (in->status < 100 || in->status > 999))
            abort();
        if (in->body_kind == HTTP_BODY_LENGTH && in->total_len != in->head_len + in->content_length)
            abort();
        if ((in->body_kind == HTTP_BODY_NONE || in->body_kind == HTTP_BODY_TUNNEL) &&
            in->total_len != in->head_len)
            abort();
    }
    return r;
}

static size_t run(const uint8_t *p, size_t len, const struct run_cfg *c, struct res *out)
{
    struct http_frame f;
    size_t nres = 0;
    size_t a = 0;
    size_t k = 0;
    uint64_t msg_start = 0;

    start(&f, c);
    while (a < len) {
        size_t n = len - a;
        size_t off = 0;
        uint8_t *piece;

        if (c->mode == 1)
            n = 1;
        else if (c->mode == 2 && c->sizes[k++ % c->nsizes] % 64 + 1u < n)
            n = c->sizes[(k - 1) % c->nsizes] % 64 + 1u;
        piece = malloc(n);
        if (piece == NULL)
            abort();
        memcpy(piece, p + a, n);
        while (off < n) {
            size_t used = SIZE_MAX;
            enum http_frame_rc rc = http_frame_feed(&f, piece + off, n - off, &used);

            if (used > n - off || rc >= HTTP_FRAME_RC_COUNT)
                abort();
            if (rc == HTTP_FRAME_AGAIN) {
                if (used != n - off)
                    abort();
                break;
            }
            off += used;
            if (http_frame_info(&f)->total_len != a + off - msg_start)
                abort();
            out[nres++] = record(&f, rc, a + off, false);
            if (http_frame_feed(&f, piece + off, n - off, &used) != rc || used != 0)
                abort();
            if (rc == HTTP_FRAME_BAD || http_frame_info(&f)->body_kind == HTTP_BODY_TUNNEL ||
                nres == MAX_RES) {
                free(piece);
                return nres;
            }
            msg_start = a + off;
            start(&f, c);
        }
        free(piece);
        a += n;
    }
    if (http_frame_info(&f)->total_len != len - msg_start)
        abort();
    out[nres] = record(&f, http_frame_eof(&f), len, true);
    return nres + 1;
}

static void check_find_start(const uint8_t *p, size_t len, const struct run_cfg *c)
{
    size_t s = http_frame_find_start(p, len, c->kind);
    struct http_frame f;
    size_t used;
    size_t line_end;

    if (s > len)
        abort();
    if (s == len)
        return;
    if (s > 0 && p[s - 1] != '\n')
        abort();
    /* The framer may only fail at or after the end of what find_start() checked: the CR/LF after
     * "HTTP/1.d" (requests) or after the status code (responses). */
    line_end = s;
    while (line_end < len && p[line_end] != '\r' && p[line_end] != '\n')
        line_end++;
    if (c->kind == HTTP_FRAME_RESPONSE)
        line_end = s + 12;
    start(&f, c);
    if (http_frame_feed(&f, p + s, len - s, &used) == HTTP_FRAME_BAD && s + used < line_end &&
        used < c->max_head)
        abort();
}

static bool same(const struct res *a, size_t na, const struct res *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        if (a[i].rc != b[i].rc || a[i].end != b[i].end || a[i].eof != b[i].eof ||
            a[i].cl != b[i].cl || a[i].head_len != b[i].head_len ||
            a[i].total_len != b[i].total_len || a[i].status != b[i].status ||
            a[i].body != b[i].body || a[i].bits != b[i].bits)
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t caps[] = { 0, 8, 64, 512 };
    static const char *const methods[] = { "GET", "HEAD", "CONNECT", "POST" };
    struct res whole[MAX_RES + 1];
    struct res other[MAX_RES + 1];
    const uint8_t *p;
    size_t len;

    if (size < 2 || size > 65536)
        return 0;
    p = data + 2;
    len = size - 2;
    for (int kind = 0; kind < HTTP_FRAME_KIND_COUNT; kind++) {
        struct run_cfg c = {
            .kind = (enum http_frame_kind)kind,
            .max_head = caps[data[0] & 3],
            .method = methods[data[0] >> 2 & 3],
            .sizes = data + 1,
            .nsizes = size - 1,
            .mode = 0,
        };
        size_t nw = run(p, len, &c, whole);
        size_t no;

        if (data[1] & 0x80)
            c.nsizes = 1; /* one piece size for the whole stream */
        c.mode = 2;
        no = run(p, len, &c, other);
        if (!same(whole, nw, other, no))
            abort();
        if (len <= 2048) {
            c.mode = 1;
            no = run(p, len, &c, other);
            if (!same(whole, nw, other, no))
                abort();
        }
        c.max_head = c.max_head != 0 ? c.max_head : 65536;
        check_find_start(p, len, &c);
    }
    return 0;
}
