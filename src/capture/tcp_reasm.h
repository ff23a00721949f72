/*
 * tcp_reasm.h: one direction of a TCP connection turned into in-order bytes (DESIGN.md §3).
 *
 *   delivered (or skipped)  | hole     | buffered  | hole | buffered |      ... FIN
 *   ------------------------+----------+-----------+------+----------+----------+
 *                           ^next_seq  ^ooo->seq                                ^fin_seq
 *
 * Bytes at next_seq go straight to the sink from the caller's buffer (no copy, no allocation).
 * Bytes ahead of next_seq are copied into a sorted list of non-overlapping segments, bounded by
 * tcp_reasm_limits. Bytes before next_seq were already delivered or skipped and are dropped.
 *
 * Policy (docs/internals/tcp_reasm.md has the details):
 * - Bytes already delivered are never changed: a retransmission or overlap that reaches before
 *   next_seq is trimmed and counted (retrans_bytes).
 * - Among buffered bytes the first copy received wins: a later copy of the same sequence
 *   numbers, out of order or in order, is dropped and counted (overlap_bytes).
 * - When buffering would exceed the cap, holes are given up instead of captured bytes: the
 *   earliest hole is declared a gap and whatever follows it in order is delivered, until the new
 *   segment fits or is itself in order. The call then returns -ENOBUFS (or -ENOMEM when an
 *   allocation failed) and bumps cap_hits (nomem); it has already resolved the situation.
 *
 * Sequence numbers compare modulo 2^32. A segment that ends more than TCP_REASM_MAX_AHEAD beyond
 * next_seq is garbage: it is dropped and counted and never creates a gap.
 *
 * The sink borrows the bytes it is given until it returns. It must not call back into the same
 * stream. It is never called with a length of 0.
 */
#ifndef DP_CAPTURE_TCP_REASM_H
#define DP_CAPTURE_TCP_REASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/common.h"

/* Segments ending further than this beyond next_seq are garbage (1 GiB; a quarter of 2^32). */
#define TCP_REASM_MAX_AHEAD ((int64_t)1 << 30)

/* Default bound on the number of buffered segments when tcp_reasm_limits.max_ooo_segs is 0. */
#define TCP_REASM_DEFAULT_MAX_SEGS 1024

/* Bookkeeping bytes per buffered segment besides its payload (our header; malloc adds its own). */
#define TCP_REASM_SEG_OVERHEAD (sizeof(struct tcp_seg))

/* Where the bytes go: data in order; gap = <len> bytes that will never arrive (skipped). */
typedef void tcp_reasm_data_fn(void *ctx, const uint8_t *p, size_t len);
typedef void tcp_reasm_gap_fn(void *ctx, uint64_t len);

struct tcp_reasm_sink {
    tcp_reasm_data_fn *data;
    tcp_reasm_gap_fn *gap;
    void *ctx;
};

/*
 * Allocates <size> bytes for a buffered segment, or returns NULL. The memory is released with
 * free(). For accounting and for injecting allocation failures in tests and fuzzing.
 */
typedef void *tcp_reasm_alloc_fn(void *ctx, size_t size);

struct tcp_reasm_limits {
    size_t max_ooo_bytes;      /* per stream, e.g. 256 KiB; 0: never buffer (skip every hole) */
    size_t max_ooo_segs;       /* per stream; 0: TCP_REASM_DEFAULT_MAX_SEGS */
    tcp_reasm_alloc_fn *alloc; /* NULL: malloc() */
    void *alloc_ctx;
};

/*
 * Every payload byte given to tcp_stream_segment() ends up in exactly one of
 * delivered_bytes, retrans_bytes, overlap_bytes, garbage_bytes or (for now) tcp_stream.ooo_bytes.
 */
struct tcp_reasm_ctr {
    uint64_t segments;          /* calls to tcp_stream_segment() */
    uint64_t bytes;             /* payload bytes given to it */
    uint64_t retrans_bytes;     /* dropped: before next_seq (already delivered or skipped) */
    uint64_t overlap_bytes;     /* dropped: a buffered first copy of them won */
    uint64_t ooo_segments;      /* segments of which some bytes were buffered */
    uint64_t ooo_dropped_bytes; /* hole bytes given up early because of the cap or -ENOMEM */
    uint64_t gaps;              /* sink.gap calls */
    uint64_t gap_bytes;         /* their total length (ooo_dropped_bytes + flushed holes) */
    uint64_t delivered_bytes;   /* given to sink.data */
    uint64_t garbage_segments;  /* wholly dropped: too far ahead */
    uint64_t garbage_bytes;     /* dropped: too far ahead, or beyond the FIN */
    uint64_t cap_hits;          /* -ENOBUFS returns */
    uint64_t nomem;             /* -ENOMEM returns */
};

/* One buffered out-of-order segment; <data> holds <len> bytes starting at sequence <seq>. */
struct tcp_seg {
    struct tcp_seg *next;
    uint32_t seq;
    uint32_t len;
    uint8_t data[];
};

struct tcp_stream {
    bool have_base;      /* next_seq is known */
    uint32_t next_seq;   /* next byte expected */
    bool fin_seen;       /* fin_seq is known */
    bool closed;         /* every byte up to fin_seq was delivered (or skipped) */
    uint32_t fin_seq;    /* the sequence number the FIN ends the data at */
    struct tcp_seg *ooo; /* buffered segments sorted by seq, not overlapping, after next_seq */
    size_t ooo_bytes;    /* payload bytes in <ooo> */
    size_t ooo_segs;     /* segments in <ooo> */
    struct tcp_reasm_ctr *ctr; /* the caller's counters; many streams may share one block */
};

/* Modulo-2^32 comparisons: valid while the two are less than 2^31 apart. */
static inline bool seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

static inline bool seq_leq(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) <= 0;
}

/* Prepares <s>: nothing known, nothing buffered; it adds its counts to <ctr> (not zeroed: a
 * block shared by many streams keeps their sum). */
void tcp_stream_init(struct tcp_stream *s, struct tcp_reasm_ctr *ctr);

/* Frees the buffered segments (their bytes are lost); counters are kept for reading. */
void tcp_stream_free(struct tcp_stream *s);

/*
 * Sets next_seq to <isn> + 1, from a SYN; call before any segment. Ignored once next_seq is
 * known (a retransmitted SYN, or data seen first). Without it, the first segment's seq is the
 * start of the stream (mid-stream pickup). SYN payload (TCP Fast Open) is given to
 * tcp_stream_segment() with seq <isn> + 1.
 */
void tcp_stream_syn(struct tcp_stream *s, uint32_t isn);

/*
 * One segment: <len> bytes at <p> starting at sequence <seq>, borrowed until return. Delivers to
 * <sink> whatever becomes in order (possibly several pieces, possibly after a gap), copies what
 * is ahead into the buffer within <lim>, and trims and counts what is stale or duplicate. <fin>:
 * the FIN flag of this segment; the stream ends at <seq> + <len> (the first FIN that is not
 * stale wins, data beyond it is garbage). Returns 0, or -ENOBUFS / -ENOMEM when the bytes ahead
 * could not be buffered: the call has then already skipped the earliest hole(s), as the policy
 * above says, and every byte of this segment was delivered or buffered.
 */
int tcp_stream_segment(struct tcp_stream *s, const struct tcp_reasm_limits *lim, uint32_t seq,
                       const uint8_t *p, size_t len, bool fin,
                       const struct tcp_reasm_sink *sink) DP_WUR;

/*
 * Gives up waiting (FIN of the other side seen, RST, idle expiry, end of capture): declares the
 * gap before the first buffered segment and delivers everything buffered, in order, with gaps
 * between. When the FIN is known, the hole before it is declared too and the stream is
 * finished. Segments given afterwards continue from the new next_seq.
 */
void tcp_stream_flush(struct tcp_stream *s, const struct tcp_reasm_sink *sink);

/*
 * Everything before <seq> will never arrive (the capture cut a segment at its snaplen, say):
 * declares the holes before <seq> as gaps and delivers the buffered bytes between them, in
 * order; bytes buffered at or after <seq> stay. Use it instead of writing next_seq, which would
 * break the buffer's invariants. Ignored when <seq> is not ahead of next_seq, is more than
 * TCP_REASM_MAX_AHEAD ahead, or (clipped) beyond the FIN. Sets next_seq if it was unknown.
 */
void tcp_stream_skip_to(struct tcp_stream *s, uint32_t seq, const struct tcp_reasm_sink *sink);

/* True when all data up to the FIN has been delivered (or skipped by a flush or the cap). */
bool tcp_stream_finished(const struct tcp_stream *s);

/*
 * Walks the buffer and checks every invariant of docs/internals/tcp_reasm.md against <lim>
 * (NULL: skip the cap checks); the byte balance of the counters only holds, and is only
 * checked right, when <s> has its counter block to itself. True when they all hold. For tests
 * and fuzzing: O(segments).
 */
bool tcp_stream_check(const struct tcp_stream *s, const struct tcp_reasm_limits *lim);

#endif
