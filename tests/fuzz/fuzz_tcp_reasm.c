/*
 * fuzz_tcp_reasm.c: TCP reassembly driven by arbitrary segment sequences, against a model.
 *
 * Byte 0 picks the byte cap, byte 1 the ISN, SYN or mid-stream pickup, the segment cap and the
 * allocation failures to inject. Then each 5-byte record is one operation:
 *   op   bits 0-1: 0-2 segment, 3 special (bits 2-3: 11 skip_to(off), 01 flush, else a
 *        garbage (bit 3) or stale segment, with a FIN if bit 4)
 *        bit 2: FIN (segments); bits 3-7: the content version
 *   off  uint16 BE: the segment's offset from the stream's first byte
 *   len  uint16 BE: its length, modulo 2048
 * Byte o of a segment holds content(o, version): copies of the same bytes may differ, which
 * exercises first-copy-wins.
 *
 * Invariants: every delivered byte is the first copy received of that offset; delivered bytes and
 * gaps are contiguous and monotonic (next_seq follows them); a gap never covers a byte that was
 * received (only holes are skipped); gaps happen only on -ENOBUFS/-ENOMEM or a flush; the buffer
 * stays within both caps; tcp_stream_check() holds after every operation; after the final flush
 * nothing is buffered and a known FIN is reached.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capture/tcp_reasm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LEN 2048
#define SPACE   (65536 + MAX_LEN)
#define NO_BYTE (-1)

struct model {
    int16_t first[SPACE]; /* first copy received of each offset while it was ahead, or NO_BYTE */
    size_t hi;            /* first[] is NO_BYTE from here on */
    uint64_t pos;         /* offset of next_seq */
    uint64_t delivered;
    uint64_t gap_bytes;
    unsigned gaps_this_op;
};

static struct model m;

static uint8_t content(uint64_t off, unsigned version)
{
    return (uint8_t)(off * 131u + version * 29u + (off >> 8));
}

static void on_data(void *ctx, const uint8_t *p, size_t len)
{
    struct model *md = ctx;

    if (len == 0 || md->pos + len > SPACE)
        abort();
    for (size_t i = 0; i < len; i++)
        if (md->first[md->pos + i] != (int16_t)p[i])
            abort();
    md->pos += len;
    md->delivered += len;
}

static void on_gap(void *ctx, uint64_t len)
{
    struct model *md = ctx;

    if (len == 0 || md->pos + len > SPACE)
        abort();
    for (uint64_t i = 0; i < len; i++)
        if (md->first[md->pos + i] != NO_BYTE)
            abort(); /* a captured byte was given up */
    md->pos += len;
    md->gap_bytes += len;
    md->gaps_this_op++;
}

struct fail_alloc {
    unsigned calls;
    unsigned every; /* fail each <every>th call; 0: never */
};

static void *fail_alloc(void *ctx, size_t size)
{
    struct fail_alloc *a = ctx;

    a->calls++;
    if (a->every != 0 && a->calls % a->every == 0)
        return NULL;
    return malloc(size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t caps[] = { 0, 1, 7, 64, 1500, 4096, 65536, SIZE_MAX };
    static const uint32_t isns[] = { 0, 0xFFFFFFFFu, 0xFFFFFF00u, 0x7FFFFFF0u };
    static const size_t seg_caps[] = { 0, 1, 2, 5 };
    static bool ready;
    struct fail_alloc fa = { 0, 0 };
    struct tcp_reasm_limits lim = { 0 };
    struct tcp_reasm_sink sink = { on_data, on_gap, &m };
    struct tcp_stream s;
    struct tcp_reasm_ctr ctr = { 0 };
    uint32_t origin;
    bool based;
    int64_t fin_off = -1;

    if (size < 2)
        return 0;
    lim.max_ooo_bytes = caps[data[0] & 7];
    lim.max_ooo_segs = seg_caps[(data[0] >> 3) & 3];
    lim.alloc = fail_alloc;
    lim.alloc_ctx = &fa;
    fa.every = (data[0] >> 5) & 7; /* 0: never; 1: always */
    origin = isns[data[1] & 3] + 1;
    /* Only what the last input touched needs resetting: a full reset would dominate the run. */
    if (!ready) {
        for (size_t i = 0; i < SPACE; i++)
            m.first[i] = NO_BYTE;
        ready = true;
    }
    for (size_t i = 0; i < m.hi; i++)
        m.first[i] = NO_BYTE;
    m.hi = 0;
    m.pos = 0;
    m.delivered = 0;
    m.gap_bytes = 0;
    tcp_stream_init(&s, &ctr);
    based = (data[1] & 4) != 0;
    if (based)
        tcp_stream_syn(&s, origin - 1);
    data += 2;
    size -= 2;

    for (; size >= 5; data += 5, size -= 5) {
        unsigned op = data[0];
        uint64_t off = rd_be16(data + 1);
        size_t len = rd_be16(data + 3) % MAX_LEN;
        bool fin = (op & 4) != 0;
        unsigned version = op >> 3;
        uint64_t ctr_garbage = s.ctr->garbage_segments;
        uint64_t pos_before = m.pos;
        uint8_t *seg;
        int rc;

        m.gaps_this_op = 0;
        if ((op & 3) == 3 && (op & 12) == 12) {
            uint64_t to = off;

            /* The capture lost everything before <off>: only holes may become gaps. */
            tcp_stream_skip_to(&s, origin + (uint32_t)off, &sink);
            if (!based) {
                m.pos = off;
                based = true;
            }
            if (fin_off >= 0 && to > (uint64_t)fin_off)
                to = (uint64_t)fin_off;
            if (m.pos < to)
                abort();
            goto check;
        }
        if ((op & 3) == 3 && (op & 4) != 0) {
            tcp_stream_flush(&s, &sink);
            if (s.ooo_bytes != 0 || s.ooo != NULL)
                abort();
            if (fin_off >= 0 && (!tcp_stream_finished(&s) || m.pos != (uint64_t)fin_off))
                abort();
            goto check;
        }
        if ((op & 3) == 3) {
            /* Garbage (ends more than 1 GiB ahead) or stale (2 GiB behind): nothing happens. */
            uint8_t junk[16] = { 0 };
            uint32_t seq = origin + (uint32_t)m.pos +
                           ((op & 8) ? 0x40000000u + (uint32_t)off : 0x80000001u + (uint32_t)off);

            if (!based)
                continue;
            rc = tcp_stream_segment(&s, &lim, seq, junk, sizeof(junk), (op & 16) != 0, &sink);
            if (rc != 0 || m.pos != pos_before ||
                ((op & 8) && s.ctr->garbage_segments != ctr_garbage + 1))
                abort();
            goto check;
        }
        if (!based) {
            m.pos = off; /* mid-stream pickup: the first segment is the start */
            based = true;
        }
        /* The model: which bytes this copy is the first of, and whether its FIN counts. */
        if (fin && fin_off < 0 && off + len >= m.pos) {
            fin_off = (int64_t)(off + len);
            for (uint64_t o = (uint64_t)fin_off; o < m.hi; o++)
                m.first[o] = NO_BYTE; /* buffered bytes beyond the FIN are dropped */
        }
        seg = malloc(len != 0 ? len : 1); /* exactly sized: ASan sees any over-read */
        if (seg == NULL)
            return 0;
        for (size_t i = 0; i < len; i++) {
            uint64_t o = off + i;

            seg[i] = content(o, version);
            if (o >= m.pos && (fin_off < 0 || o < (uint64_t)fin_off) && m.first[o] == NO_BYTE) {
                m.first[o] = seg[i];
                m.hi = DP_MAX(m.hi, (size_t)o + 1);
            }
        }
        rc = tcp_stream_segment(&s, &lim, origin + (uint32_t)off, seg, len, fin, &sink);
        free(seg);
        if (rc != 0 && rc != -ENOBUFS && rc != -ENOMEM)
            abort();
        if (rc == 0 && m.gaps_this_op != 0)
            abort(); /* holes are skipped only when buffering failed */
        if (rc == -ENOMEM && fa.every == 0)
            abort();
    check:
        if (!tcp_stream_check(&s, &lim))
            abort();
        if (m.pos < pos_before || (based && s.next_seq != origin + (uint32_t)m.pos))
            abort();
        if (s.ooo_bytes > lim.max_ooo_bytes)
            abort();
    }
    tcp_stream_flush(&s, &sink);
    if (s.ooo != NULL || s.ooo_bytes != 0 || s.ooo_segs != 0 || !tcp_stream_check(&s, &lim))
        abort();
    if (fin_off >= 0 && (!tcp_stream_finished(&s) || m.pos != (uint64_t)fin_off))
        abort();
    if (s.ctr->delivered_bytes != m.delivered || s.ctr->gap_bytes != m.gap_bytes)
        abort();
    tcp_stream_free(&s);
    return 0;
}
