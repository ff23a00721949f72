/*
 * fuzz_spop.c: the SPOP agent (format/spop) on hostile bytes.
 *
 * Byte 0 picks the mode:
 *   0-1  a connection: the rest is what HAProxy sends (4-byte lengths and frames). Mode 1 puts
 *        a valid HAPROXY-HELLO first, so the fuzzer spends its time on NOTIFY frames. Each
 *        frame is cut as in_spop cuts it and handed to the state machine in a malloc'd copy of
 *        exactly its size; each NOTIFY's messages are rebuilt into requests.
 *   2    one NOTIFY payload (LIST-OF-MESSAGES) rebuilt into requests, without the agent.
 *   3    the codec: varints and typed data decoded, encoded back, decoded again.
 * Invariants: every reply the agent writes is one whole frame that our own decoder reads back,
 * with the type the verdict says (ACK with the NOTIFY's ids, AGENT-DISCONNECT with a §3.5
 * status, AGENT-HELLO with a max-frame-size in [256, HAProxy's]); after CLOSE nothing more is
 * read; a rebuilt request is exactly wire_len bytes, its head ends where the body starts (no
 * CR/LF smuggled into a line: http_head_len() finds the end of the head at wire_len - body), and
 * an id never holds a space or a control.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/spop.h"
#include "http/http_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Captured from HAProxy 2.6 (the lab): HAPROXY-HELLO with "pipelining,async", 16380 bytes. */
static const uint8_t hello[] = {
    0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x12, 's', 'u', 'p', 'p', 'o', 'r', 't', 'e',
    'd', '-', 'v', 'e', 'r', 's', 'i', 'o', 'n', 's', 0x08, 0x03, '2', '.', '0', 0x0e, 'm',
    'a', 'x', '-', 'f', 'r', 'a', 'm', 'e', '-', 's', 'i', 'z', 'e', 0x03, 0xfc, 0xf0, 0x06,
    0x0c, 'c', 'a', 'p', 'a', 'b', 'i', 'l', 'i', 't', 'i', 'e', 's', 0x08, 0x10, 'p', 'i',
    'p', 'e', 'l', 'i', 'n', 'i', 'n', 'g', ',', 'a', 's', 'y', 'n', 'c',
};

static void check_req(const struct spop_message *m)
{
    struct spop_req r;
    uint8_t *out;
    uint8_t id[64];
    size_t id_len;
    int64_t ts;

    if (spop_req_parse(m, &r) != SPOP_REQ_OK)
        return;
    out = malloc(r.wire_len);
    if (out == NULL)
        return;
    spop_req_write(&r, out);
    if (http_head_len(out, r.wire_len) != r.wire_len - r.body.len)
        abort();
    if (r.body.len > 0 && memcmp(out + r.wire_len - r.body.len, r.body.ptr, r.body.len) != 0)
        abort();
    free(out);
    id_len = spop_req_id(&r, id, sizeof(id));
    for (size_t i = 0; i < id_len; i++) {
        if (id[i] <= 0x20 || id[i] >= 0x7F)
            abort();
    }
    if (spop_req_ts(&r, &ts) && ts <= 0)
        abort();
}

static void check_messages(struct dp_bytes payload, bool checked)
{
    const uint8_t *p = payload.ptr;
    const uint8_t *end = payload.ptr + payload.len;

    while (p < end) {
        struct spop_message m;
        const uint8_t *before = p;

        if (spop_message_get(&p, end, &m) != 0) {
            if (checked || p != before) /* the agent checked it; a failure moves nothing */
                abort();
            return;
        }
        check_req(&m);
    }
}

static void check_reply(const struct spop_agent *a, enum spop_verdict v,
        const struct spop_frame *in, const uint8_t *out, size_t n)
{
    struct spop_frame f;
    size_t flen = 0;

    if (v == SPOP_V_SKIP) {
        if (n != 0)
            abort();
        return;
    }
    if (n < SPOP_LEN_PREFIX || n > SPOP_REPLY_MAX ||
            spop_frame_cut(out, n, 1u << 24, &flen) != SPOP_CUT_DONE ||
            flen + SPOP_LEN_PREFIX != n || spop_frame_get(out + SPOP_LEN_PREFIX, flen, &f) != 0 ||
            f.flags != SPOP_FLAG_FIN)
        abort();
    switch (v) {
    case SPOP_V_NOTIFY:
        if (f.type != SPOP_FRAME_ACK || f.stream_id != in->stream_id ||
                f.frame_id != in->frame_id || f.payload.len != 0)
            abort();
        break;
    case SPOP_V_REPLY:
        if (f.type != SPOP_FRAME_AGENT_HELLO || a->state != SPOP_AGENT_READY ||
                a->max_frame < SPOP_FRAME_MIN || a->max_frame > a->our_max_frame)
            abort();
        break;
    case SPOP_V_CLOSE:
        if (a->state != SPOP_AGENT_CLOSED)
            abort();
        if (f.type == SPOP_FRAME_AGENT_DISCONNECT) {
            struct spop_disconnect d;

            if (spop_disconnect_get(f.payload, &d) != SPOP_ST_NORMAL || !d.has_status ||
                    d.status != a->sent_status)
                abort();
        } else if (f.type != SPOP_FRAME_AGENT_HELLO || !a->healthcheck) {
            abort();
        }
        break;
    case SPOP_V_SKIP:
    case SPOP_V_COUNT:
        abort();
    }
}

static void run_conn(const uint8_t *data, size_t size, bool with_hello)
{
    struct spop_agent a;
    uint8_t *stream = malloc(size + sizeof(hello) + 4);
    size_t len = 0;
    size_t pos = 0;

    if (stream == NULL)
        return;
    if (with_hello) {
        wr_be32(stream, (uint32_t)sizeof(hello));
        memcpy(stream + 4, hello, sizeof(hello));
        len = sizeof(hello) + 4;
    }
    memcpy(stream + len, data, size);
    len += size;
    spop_agent_init(&a, 1u << 20);
    while (a.state != SPOP_AGENT_CLOSED) {
        uint8_t out[SPOP_REPLY_MAX];
        size_t n = 0;
        size_t flen = 0;
        enum spop_cut cut = spop_frame_cut(stream + pos, len - pos, a.max_frame, &flen);
        struct spop_frame f;
        uint8_t *copy;
        enum spop_verdict v;

        if (cut == SPOP_CUT_AGAIN)
            break;
        if (cut != SPOP_CUT_DONE) {
            n = spop_agent_fail(&a, cut == SPOP_CUT_TOO_BIG ? SPOP_ST_TOO_BIG : SPOP_ST_INVALID,
                    out, sizeof(out));
            check_reply(&a, SPOP_V_CLOSE, NULL, out, n);
            break;
        }
        if (flen > a.max_frame)
            abort();
        copy = malloc(flen);
        if (copy == NULL)
            break;
        memcpy(copy, stream + pos + SPOP_LEN_PREFIX, flen);
        v = spop_agent_frame(&a, copy, flen, &f, out, sizeof(out), &n);
        check_reply(&a, v, &f, out, n);
        if (v == SPOP_V_NOTIFY)
            check_messages(f.payload, true);
        free(copy);
        pos += SPOP_LEN_PREFIX + flen;
    }
    free(stream);
}

static void run_codec(const uint8_t *data, size_t size)
{
    const uint8_t *p = data;
    const uint8_t *end = data + size;

    while (p < end) {
        struct spop_data d;
        struct spop_data d2;
        const uint8_t *before = p;
        uint8_t buf[SPOP_VARINT_MAX + 8];
        uint8_t *w = buf;
        const uint8_t *q;
        uint64_t v;
        uint64_t v2;

        /* varint: decode, encode (canonical: the same bytes), decode */
        if (spop_varint_get(&p, end, &v) == 0) {
            if (spop_varint_put(&w, buf + sizeof(buf), v) != 0 ||
                    (size_t)(w - buf) != (size_t)(p - before) ||
                    memcmp(buf, before, (size_t)(p - before)) != 0 ||
                    spop_varint_len(v) != (size_t)(p - before))
                abort();
            q = buf;
            if (spop_varint_get(&q, w, &v2) != 0 || v2 != v)
                abort();
        } else if (p != before) {
            abort();
        }
        /* typed data from the same place */
        p = before;
        if (spop_data_get(&p, end, &d) != 0) {
            if (p != before)
                abort();
            p++;
            continue;
        }
        {
            size_t cap = (size_t)(p - before) + 16;
            uint8_t *enc = malloc(cap);
            uint8_t *e = enc;

            if (enc == NULL)
                return;
            if (spop_data_put(&e, enc + cap, &d) != 0)
                abort();
            q = enc;
            if (spop_data_get(&q, e, &d2) != 0 || q != e || d2.type != d.type ||
                    d2.u != d.u || d2.flag != d.flag || d2.bytes.len != d.bytes.len ||
                    (d.bytes.len > 0 && memcmp(d2.bytes.ptr, d.bytes.ptr, d.bytes.len) != 0))
                abort();
            free(enc);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy;

    if (size < 1)
        return 0;
    switch (data[0] % 4) {
    case 0:
    case 1:
        run_conn(data + 1, size - 1, data[0] % 4 == 1);
        break;
    case 2:
    default:
        if (size < 2)
            return 0;
        copy = malloc(size - 1); /* exactly the bytes: ASan sees any read past them */
        if (copy == NULL)
            return 0;
        memcpy(copy, data + 1, size - 1);
        if (data[0] % 4 == 2)
            check_messages((struct dp_bytes){ copy, size - 1 }, false);
        else
            run_codec(copy, size - 1);
        free(copy);
        break;
    }
    return 0;
}
