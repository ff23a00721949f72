/*
 * fuzz_prettify.c: --prettify-http (de-chunking, gunzipping) on hostile messages.
 *
 * Byte 0 picks the mode: bits 0-2 the cap (0 B to 64 KiB), bits 3-4 the message type, bit 5
 * whether another holder keeps a reference. The rest is the payload. Invariants:
 *   - a message without "Transfer-Encoding: chunked" or "Content-Encoding: gzip" in its head is
 *     unchanged, byte for byte, and nothing is counted;
 *   - when no body was decoded (only bad_* or too_big counted) it is unchanged too;
 *   - a decoded message's body is at most the cap (gunzipped) or the old body (de-chunked); its
 *     head grows by at most one "Content-Length: N\r\n" line; its Content-Length is the body's;
 *   - the meta line and the type never change; another holder's bytes never change.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_head.h"
#include "modify/prettify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const size_t caps[8] = { 0, 1, 16, 64, 256, 1024, 4096, 65536 };

/* True when the head of <p, n> has field <name> whose value is exactly <want>. */
static bool header_is(const uint8_t *p, size_t n, const char *name, const char *want)
{
    struct http_field f;
    size_t hl = http_head_len(p, n);

    return hl > 0 && http_head_find(p, hl, name, strlen(name), &f) &&
            f.value_len == strlen(want) && memcmp(p + f.value_off, want, f.value_len) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum dp_msg_type types[4] = { DP_MSG_REQUEST, DP_MSG_RESPONSE, DP_MSG_REPLAY,
        DP_MSG_RESPONSE };
    uint64_t ctr[DP_PRETTY_CTR_COUNT] = { 0 };
    struct dp_msg *m;
    struct dp_msg *other = NULL;
    size_t cap;
    enum dp_msg_type type;
    bool chunked;
    bool gz;
    size_t in_hl;
    const uint8_t *p;
    uint8_t mode;
    char meta[16];

    if (size < 1)
        return 0;
    mode = data[0];
    cap = caps[mode & 7];
    type = types[(mode >> 3) & 3];
    snprintf(meta, sizeof(meta), "%d fz 3 4\n", (int)type);
    data++;
    size--;
    m = dp_msg_new(type, (const uint8_t *)"fz", 2, 3, 4, data, size);
    if (m == NULL)
        return 0;
    if (mode & 0x20)
        other = dp_msg_ref(m);
    chunked = header_is(data, size, "Transfer-Encoding", "chunked");
    gz = header_is(data, size, "Content-Encoding", "gzip");
    in_hl = http_head_len(data, size);

    dp_prettify(&m, cap, ctr);

    p = dp_msg_payload(m);
    if (m->type != type || m->meta_len != 9 || memcmp(dp_msg_meta(m), meta, 9) != 0)
        abort();
    if (other != NULL && (other->len != size || memcmp(dp_msg_payload(other), data, size) != 0))
        abort();
    if (!chunked && !gz) {
        for (int k = 0; k < DP_PRETTY_CTR_COUNT; k++)
            if (ctr[k] != 0)
                abort();
    }
    if (ctr[DP_PRETTY_DECHUNKED] + ctr[DP_PRETTY_GUNZIPPED] == 0) {
        if (m->len != size || memcmp(p, data, size) != 0)
            abort();
    } else {
        size_t hl = http_head_len(p, m->len);
        size_t body = m->len - hl;
        struct http_field f;
        char cl[24];
        int cl_len = snprintf(cl, sizeof(cl), "%zu", body);

        if (hl == 0 || in_hl == 0 || hl > in_hl + 16 + 20 + 2)
            abort();
        if (ctr[DP_PRETTY_GUNZIPPED] != 0 ? body > cap : body > size - in_hl)
            abort();
        /* the first Content-Length holds the new length */
        if (!http_head_find(p, hl, "Content-Length", 14, &f) || f.value_len != (size_t)cl_len ||
                memcmp(p + f.value_off, cl, f.value_len) != 0)
            abort();
        if (ctr[DP_PRETTY_DECHUNKED] != 0 && header_is(p, m->len, "Transfer-Encoding", "chunked"))
            abort();
        if (ctr[DP_PRETTY_GUNZIPPED] != 0 && header_is(p, m->len, "Content-Encoding", "gzip"))
            abort();
    }
    if (ctr[DP_PRETTY_DECHUNKED] + ctr[DP_PRETTY_BAD_CHUNKED] > (chunked ? 1u : 0u) ||
            ctr[DP_PRETTY_GUNZIPPED] + ctr[DP_PRETTY_BAD_GZIP] + ctr[DP_PRETTY_TOO_BIG] >
                    (gz ? 1u : 0u))
        abort();
    dp_msg_unref(m);
    if (other != NULL)
        dp_msg_unref(other);
    dp_msg_cache_drain();
    return 0;
}
