#include "modify/prettify.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "http/http_head.h"

const char *const dp_pretty_ctr_names[DP_PRETTY_CTR_COUNT] = {
    [DP_PRETTY_DECHUNKED] = "dechunked",
    [DP_PRETTY_GUNZIPPED] = "gunzipped",
    [DP_PRETTY_BAD_CHUNKED] = "bad_chunked",
    [DP_PRETTY_BAD_GZIP] = "bad_gzip",
    [DP_PRETTY_TOO_BIG] = "too_big",
};

/* The offset of the LF ending the line at <i>, or <n>. */
static size_t lf_at(const uint8_t *p, size_t n, size_t i)
{
    const uint8_t *lf = memchr(p + i, '\n', n - i);

    return lf != NULL ? (size_t)(lf - p) : n;
}

ssize_t dp_dechunk(const uint8_t *p, size_t n, uint8_t *out, size_t cap)
{
    size_t i = 0;
    size_t o = 0;

    for (;;) {
        size_t lf = lf_at(p, n, i);
        uint64_t size = 0;
        size_t k = i;

        if (lf == n)
            return -EINVAL;
        for (; k < lf && dp_hex_val(p[k]) >= 0; k++) {
            if (size > (UINT64_MAX >> 4))
                return -EINVAL;
            size = size << 4 | (uint64_t)dp_hex_val(p[k]);
        }
        if (k == i || (k < lf && p[k] != ';' && p[k] != ' ' && p[k] != '\t' && p[k] != '\r'))
            return -EINVAL;
        i = lf + 1;
        if (size == 0)
            break;
        if (size > n - i)
            return -EINVAL;
        if (size > cap - o)
            return -E2BIG;
        memcpy(out + o, p + i, (size_t)size);
        o += (size_t)size;
        i += (size_t)size;
        if (i < n && p[i] == '\r')
            i++;
        if (i >= n || p[i] != '\n')
            return -EINVAL;
        i++;
    }
    /* trailer fields, then the blank line */
    for (;;) {
        size_t lf = lf_at(p, n, i);

        if (lf == n)
            return -EINVAL;
        if (lf == i || (lf == i + 1 && p[i] == '\r'))
            break;
        i = lf + 1;
    }
    return (ssize_t)o;
}

/* gunzips <p, n> into a new buffer *<out> (at most <cap> bytes, grown as needed): the length,
 * -EINVAL (not gzip, corrupt, truncated), -E2BIG or -ENOMEM. */
static ssize_t gunzip(const uint8_t *p, size_t n, uint8_t **out, size_t cap)
{
    z_stream zs;
    size_t size = DP_MIN(cap, DP_MAX(n * 4, (size_t)4096));
    uint8_t *buf = malloc(size);
    int rc;

    *out = NULL;
    if (buf == NULL)
        return -ENOMEM;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        free(buf);
        return -ENOMEM;
    }
    zs.next_in = (Bytef *)(uintptr_t)p;
    zs.avail_in = (uInt)DP_MIN(n, (size_t)UINT32_MAX);
    for (;;) {
        zs.next_out = buf + zs.total_out;
        zs.avail_out = (uInt)DP_MIN(size - zs.total_out, (size_t)UINT32_MAX);
        rc = inflate(&zs, Z_FINISH);
        if (rc == Z_STREAM_END && zs.avail_in > 0) {
            /* another member follows (Go's reader is multistream); anything else is bad */
            uLong done = zs.total_out;

            if (inflateReset(&zs) != Z_OK) {
                rc = Z_DATA_ERROR;
                break;
            }
            zs.total_out = done;
            continue;
        }
        if (rc == Z_STREAM_END || (rc != Z_BUF_ERROR && rc != Z_OK) || zs.avail_out > 0) {
            if (rc == Z_BUF_ERROR || rc == Z_OK)
                rc = Z_DATA_ERROR; /* truncated */
            break;
        }
        if (size == cap) { /* full at the cap */
            rc = Z_MEM_ERROR;
            break;
        }
        {
            size_t ns = DP_MIN(cap, size * 2);
            uint8_t *nb = realloc(buf, ns);

            if (nb == NULL) {
                rc = Z_STREAM_ERROR;
                break;
            }
            buf = nb;
            size = ns;
        }
    }
    inflateEnd(&zs);
    if (rc == Z_STREAM_END) {
        *out = buf;
        return (ssize_t)zs.total_out;
    }
    free(buf);
    return rc == Z_MEM_ERROR ? -E2BIG : rc == Z_STREAM_ERROR ? -ENOMEM : -EINVAL;
}

static bool header_is(struct dp_msg *m, const char *name, size_t nl, const char *want, size_t wl)
{
    struct http_field f;
    const uint8_t *p = dp_msg_payload(m);

    return http_head_find(p, http_head_len(p, m->len), name, nl, &f) && f.value_len == wl &&
            memcmp(p + f.value_off, want, wl) == 0;
}

/* Replaces the body of *<mp> (from <hl>) with <body, n>, removes <drop> and sets
 * Content-Length. False when out of memory (*<mp> may be half edited: it is still whole). */
static bool rebody(struct dp_msg **mp, size_t hl, const uint8_t *body, size_t n,
        const char *drop, size_t drop_len)
{
    char cl[24];
    int cl_len = snprintf(cl, sizeof(cl), "%zu", n);

    return dp_msg_splice(mp, hl, (*mp)->len - hl, body, n) == 0 &&
            http_head_remove(mp, drop, drop_len) >= 0 &&
            http_head_set(mp, "Content-Length", 14, cl, (size_t)cl_len) == 0;
}

void dp_prettify(struct dp_msg **mp, size_t cap, uint64_t ctr[DP_PRETTY_CTR_COUNT])
{
    bool chunked = header_is(*mp, "Transfer-Encoding", 17, "chunked", 7);
    bool gz = header_is(*mp, "Content-Encoding", 16, "gzip", 4);
    size_t hl;

    if (!chunked && !gz)
        return;
    hl = http_head_len(dp_msg_payload(*mp), (*mp)->len);
    if (hl == 0)
        return;
    if (chunked) {
        size_t body = (*mp)->len - hl; /* de-chunked bytes are fewer */
        uint8_t *buf = malloc(body > 0 ? body : 1);
        ssize_t n;

        if (buf == NULL)
            return;
        n = dp_dechunk(dp_msg_payload(*mp) + hl, body, buf, body);
        if (n < 0) {
            ctr[DP_PRETTY_BAD_CHUNKED]++;
            free(buf);
            return;
        }
        if (!rebody(mp, hl, buf, (size_t)n, "Transfer-Encoding", 17)) {
            free(buf);
            return;
        }
        free(buf);
        ctr[DP_PRETTY_DECHUNKED]++;
        hl = http_head_len(dp_msg_payload(*mp), (*mp)->len);
    }
    if (gz && hl > 0) {
        uint8_t *buf;
        ssize_t n = gunzip(dp_msg_payload(*mp) + hl, (*mp)->len - hl, &buf, cap);

        if (n < 0) {
            if (n != -ENOMEM)
                ctr[n == -E2BIG ? DP_PRETTY_TOO_BIG : DP_PRETTY_BAD_GZIP]++;
            return;
        }
        if (rebody(mp, hl, buf, (size_t)n, "Content-Encoding", 16))
            ctr[DP_PRETTY_GUNZIPPED]++;
        free(buf);
    }
}
