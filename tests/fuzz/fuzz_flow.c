/*
 * fuzz_flow.c: the flow table (reassembly, HTTP framing, pairing) on hostile packet sequences.
 *
 * Byte 0 picks options (binary mode, track responses, allow incomplete, tiny caps). Then each
 * packet is: 1 byte flags+direction, 1 byte connection (4 possible), 2 bytes seq offset,
 * 1 byte time step, 1 byte payload length, payload bytes. Invariants: no crash or leak, every
 * message has a 24-hex id and a payload within max_msg, memory bounded by the caps.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capture/flow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t max_msg;

static void on_msg(void *ctx, struct dp_msg *m)
{
    (*(uint64_t *)ctx)++;
    if (m->id_len != 24 || m->len > max_msg)
        abort();
    dp_msg_unref(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const seed_payload = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    struct flow_opts o;
    struct flow_table *t;
    uint64_t emitted = 0;
    int64_t ts = 1000000000;
    uint32_t seq[4][2] = { { 1000, 5000 }, { 1u << 31, 7 }, { 0xfffffff0u, 0 }, { 0, 0 } };
    size_t i = 1;

    if (size < 1)
        return 0;
    memset(&o, 0, sizeof(o));
    o.binary = (data[0] & 1) != 0;
    o.track_response = (data[0] & 2) != 0;
    o.allow_incomplete = (data[0] & 4) != 0;
    o.max_msg = (data[0] & 8) != 0 ? 64 : 4096;
    o.max_flows = (data[0] & 16) != 0 ? 2 : 100;
    o.max_ooo = (data[0] & 32) != 0 ? 32 : 65536;
    o.memcap = (data[0] & 64) != 0 ? 4096 : 1 << 20;
    o.expire_ns = 2000000000;
    max_msg = o.max_msg;
    if (flow_table_new(&o, on_msg, &emitted, &t) != 0)
        return 0;
    while (i + 6 <= size) {
        struct pkt p;
        unsigned conn = data[i + 1] & 3;
        unsigned dir = (data[i] >> 7) & 1;
        size_t len = data[i + 5];
        bool snapped = (data[i + 1] & 0x80) != 0; /* as if the capture cut 7 bytes */

        memset(&p, 0, sizeof(p));
        p.family = (conn & 1) ? 6 : 4;
        p.tcp_flags = data[i] & 0x3f;
        p.src[0] = dir ? 10 : 192;
        p.dst[0] = dir ? 192 : 10;
        p.src[3] = p.dst[3] = (uint8_t)conn;
        p.sport = dir ? 80 : (uint16_t)(40000 + conn);
        p.dport = dir ? (uint16_t)(40000 + conn) : 80;
        p.seq = seq[conn][dir] + (uint32_t)(data[i + 2] << 8 | data[i + 3]) - 32768u;
        p.ack = seq[conn][1 - dir];
        ts += (int64_t)data[i + 4] * 20000000;
        i += 6;
        if (len > size - i)
            len = size - i;
        if (len == 0 && (p.tcp_flags & 0x02) == 0 && data[i - 2] == 0xff) {
            p.payload = (const uint8_t *)seed_payload;
            len = strlen(seed_payload);
        } else {
            p.payload = data + i;
            i += len;
        }
        p.payload_len = (uint32_t)len;
        p.payload_wire = (uint32_t)len + (snapped ? 7u : 0u);
        seq[conn][dir] = p.seq + p.payload_wire;
        flow_table_packet(t, ts, &p);
        if (flow_table_len(t) > o.max_flows)
            abort();
    }
    flow_table_finish(t);
    if (flow_table_len(t) != 0)
        abort();
    flow_table_free(t);
    dp_msg_cache_drain();
    return 0;
}
