/*
 * tcp_reasm.c: TCP stream reassembly with a bounded out-of-order buffer.
 *
 * Positions are handled as int64_t offsets relative to next_seq ("rel"): a segment that passed
 * the garbage check lies within [-2^31, TCP_REASM_MAX_AHEAD], so the offsets never wrap and
 * every buffered segment is less than 2^31 ahead, where seq_lt() is exact.
 */
#include "capture/tcp_reasm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Offset of <seq> from next_seq, in (-2^31, 2^31]. */
static int64_t rel_of(const struct tcp_stream *s, uint32_t seq)
{
    return (int32_t)(seq - s->next_seq);
}

static void emit_data(struct tcp_stream *s, const struct tcp_reasm_sink *sink, const uint8_t *p,
                      size_t len)
{
    if (len == 0)
        return;
    sink->data(sink->ctx, p, len);
    s->next_seq += (uint32_t)len;
    s->ctr->delivered_bytes += len;
}

static void emit_gap(struct tcp_stream *s, const struct tcp_reasm_sink *sink, uint64_t len)
{
    if (len == 0)
        return;
    sink->gap(sink->ctx, len);
    s->next_seq += (uint32_t)len;
    s->ctr->gaps++;
    s->ctr->gap_bytes += len;
}

static void update_closed(struct tcp_stream *s)
{
    if (s->fin_seen && s->next_seq == s->fin_seq)
        s->closed = true;
}

/* Unlinks and frees the head segment. */
static void pop_head(struct tcp_stream *s)
{
    struct tcp_seg *seg = s->ooo;

    s->ooo = seg->next;
    s->ooo_bytes -= seg->len;
    s->ooo_segs--;
    free(seg);
}

/* Delivers the buffered segments that are now in order. */
static void drain(struct tcp_stream *s, const struct tcp_reasm_sink *sink)
{
    while (s->ooo != NULL && s->ooo->seq == s->next_seq) {
        emit_data(s, sink, s->ooo->data, s->ooo->len);
        pop_head(s);
    }
    update_closed(s);
}

/*
 * Delivers <len> bytes at <p> that start exactly at next_seq, straight from the caller's buffer.
 * Where a buffered segment starts inside them, the buffered copy was first and wins: it is
 * delivered instead and the new bytes it covers are counted as overlap.
 */
static void deliver_in_order(struct tcp_stream *s, const struct tcp_reasm_sink *sink,
                             const uint8_t *p, size_t len)
{
    while (len > 0) {
        struct tcp_seg *seg = s->ooo;
        size_t n = len;

        if (seg != NULL && seg->seq == s->next_seq) {
            n = DP_MIN(len, (size_t)seg->len);
            s->ctr->overlap_bytes += n;
            emit_data(s, sink, seg->data, seg->len);
            pop_head(s);
        } else {
            /* A segment left behind next_seq (someone wrote next_seq) would be read as huge. */
            DP_BUG_ON(seg != NULL && rel_of(s, seg->seq) <= 0);
            if (seg != NULL && rel_of(s, seg->seq) < (int64_t)len)
                n = (size_t)rel_of(s, seg->seq);
            emit_data(s, sink, p, n);
        }
        p += n;
        len -= n;
    }
    drain(s, sink);
}

/* Records a FIN ending the data at <fin_seq>; buffered bytes beyond it become garbage. */
static void note_fin(struct tcp_stream *s, uint32_t fin_seq)
{
    struct tcp_seg **pp = &s->ooo;

    if (s->fin_seen || seq_lt(fin_seq, s->next_seq))
        return; /* the first FIN wins; a stale one says nothing */
    s->fin_seen = true;
    s->fin_seq = fin_seq;
    while (*pp != NULL) {
        struct tcp_seg *seg = *pp;
        int64_t over = rel_of(s, seg->seq) + seg->len - rel_of(s, fin_seq);

        if (over <= 0) {
            pp = &seg->next;
            continue;
        }
        s->ctr->garbage_bytes += (uint64_t)DP_MIN(over, (int64_t)seg->len);
        if (over >= (int64_t)seg->len) {
            *pp = seg->next;
            s->ooo_bytes -= seg->len;
            s->ooo_segs--;
            free(seg);
            continue;
        }
        seg->len -= (uint32_t)over;
        s->ooo_bytes -= (size_t)over;
        pp = &seg->next;
    }
    update_closed(s);
}

/*
 * For [rel, rel + len) ahead of next_seq: counts the bytes and the pieces not yet covered by a
 * buffered segment.
 */
static void count_uncovered(const struct tcp_stream *s, int64_t rel, int64_t len, int64_t *bytes,
                            size_t *pieces)
{
    int64_t cur = rel;
    int64_t end = rel + len;

    *bytes = 0;
    *pieces = 0;
    for (const struct tcp_seg *seg = s->ooo; seg != NULL && cur < end; seg = seg->next) {
        int64_t s0 = rel_of(s, seg->seq);
        int64_t s1 = s0 + seg->len;

        if (s1 <= cur)
            continue;
        if (s0 >= end)
            break;
        if (s0 > cur) {
            *bytes += s0 - cur;
            (*pieces)++;
        }
        cur = s1;
    }
    if (cur < end) {
        *bytes += end - cur;
        (*pieces)++;
    }
}

static struct tcp_seg *seg_new(const struct tcp_stream *s, const struct tcp_reasm_limits *lim,
                               int64_t rel, const uint8_t *p, int64_t len)
{
    size_t size = sizeof(struct tcp_seg) + (size_t)len;
    struct tcp_seg *seg = lim->alloc != NULL ? lim->alloc(lim->alloc_ctx, size) : malloc(size);

    if (seg == NULL)
        return NULL;
    seg->next = NULL;
    seg->seq = s->next_seq + (uint32_t)rel;
    seg->len = (uint32_t)len;
    memcpy(seg->data, p, (size_t)len);
    return seg;
}

/*
 * Copies the uncovered pieces of [rel, rel + len) (bytes at <p>) into the buffer. All pieces are
 * allocated before any is linked, so a failure leaves the buffer as it was. 0 or -ENOMEM.
 */
static int buffer_pieces(struct tcp_stream *s, const struct tcp_reasm_limits *lim, int64_t rel,
                         const uint8_t *p, int64_t len)
{
    struct tcp_seg *chain = NULL;
    struct tcp_seg **tail = &chain;
    struct tcp_seg **pp = &s->ooo;
    int64_t cur = rel;
    int64_t end = rel + len;

    for (const struct tcp_seg *seg = s->ooo; cur < end; seg = seg->next) {
        int64_t s0 = seg != NULL ? rel_of(s, seg->seq) : end;
        int64_t s1 = seg != NULL ? s0 + seg->len : end;

        if (s1 <= cur)
            continue;
        s0 = DP_MIN(s0, end);
        if (s0 > cur) {
            *tail = seg_new(s, lim, cur, p + (cur - rel), s0 - cur);
            if (*tail == NULL)
                goto fail;
            tail = &(*tail)->next;
        }
        cur = s1;
        if (seg == NULL)
            break;
    }
    /* Merge: pieces fall into holes of the list, so each goes before the first later segment. */
    while (chain != NULL) {
        struct tcp_seg *piece = chain;

        chain = piece->next;
        while (*pp != NULL && seq_lt((*pp)->seq, piece->seq))
            pp = &(*pp)->next;
        piece->next = *pp;
        *pp = piece;
        pp = &piece->next;
        s->ooo_bytes += piece->len;
        s->ooo_segs++;
    }
    return 0;

fail:
    while (chain != NULL) {
        struct tcp_seg *next = chain->next;

        free(chain);
        chain = next;
    }
    return -ENOMEM;
}

/* Counts what a call returns: one -ENOBUFS or -ENOMEM per call, however many holes it skipped. */
static int counted(struct tcp_stream *s, int rc)
{
    if (rc == -ENOBUFS)
        s->ctr->cap_hits++;
    else if (rc == -ENOMEM)
        s->ctr->nomem++;
    return rc;
}

/*
 * <len> bytes at <p> from <seq>, ahead of next_seq: buffers what is not covered yet. When that does
 * not fit (cap or allocation), gives up the earliest hole and retries, until the bytes fit or are
 * in order; so captured bytes are never dropped, only holes are skipped early.
 */
static int segment_ahead(struct tcp_stream *s, const struct tcp_reasm_limits *lim,
                         const struct tcp_reasm_sink *sink, uint32_t seq, const uint8_t *p,
                         int64_t len)
{
    size_t max_segs = lim->max_ooo_segs != 0 ? lim->max_ooo_segs : TCP_REASM_DEFAULT_MAX_SEGS;
    int rc = 0;

    for (;;) {
        struct tcp_seg *first = s->ooo;
        int64_t rel = rel_of(s, seq);
        int64_t need;
        size_t pieces;
        int64_t skip;

        if (rel <= 0) {
            /* The skipped hole and the run after it reached these bytes. */
            if (rel + len <= 0) {
                s->ctr->overlap_bytes += (uint64_t)len;
                return counted(s, rc);
            }
            s->ctr->overlap_bytes += (uint64_t)-rel;
            deliver_in_order(s, sink, p - rel, (size_t)(len + rel));
            return counted(s, rc);
        }
        count_uncovered(s, rel, len, &need, &pieces);
        if (need == 0) {
            s->ctr->overlap_bytes += (uint64_t)len;
            return counted(s, rc);
        }
        if ((uint64_t)need <= lim->max_ooo_bytes - DP_MIN(lim->max_ooo_bytes, s->ooo_bytes) &&
            pieces <= max_segs - DP_MIN(max_segs, s->ooo_segs)) {
            if (buffer_pieces(s, lim, rel, p, len) == 0) {
                s->ctr->overlap_bytes += (uint64_t)(len - need);
                s->ctr->ooo_segments++;
                return counted(s, rc);
            }
            rc = -ENOMEM;
        } else {
            rc = -ENOBUFS;
        }
        if (first == NULL || rel <= rel_of(s, first->seq)) {
            /* These bytes are the earliest: skip the hole before them and deliver them. */
            s->ctr->ooo_dropped_bytes += (uint64_t)rel;
            emit_gap(s, sink, (uint64_t)rel);
            deliver_in_order(s, sink, p, (size_t)len);
            return counted(s, rc);
        }
        skip = rel_of(s, first->seq);
        s->ctr->ooo_dropped_bytes += (uint64_t)skip;
        emit_gap(s, sink, (uint64_t)skip);
        drain(s, sink);
    }
}

void tcp_stream_init(struct tcp_stream *s, struct tcp_reasm_ctr *ctr)
{
    memset(s, 0, sizeof(*s));
    s->ctr = ctr;
}

void tcp_stream_free(struct tcp_stream *s)
{
    while (s->ooo != NULL)
        pop_head(s);
}

void tcp_stream_syn(struct tcp_stream *s, uint32_t isn)
{
    if (s->have_base)
        return;
    s->have_base = true;
    s->next_seq = isn + 1;
}

int tcp_stream_segment(struct tcp_stream *s, const struct tcp_reasm_limits *lim, uint32_t seq,
                       const uint8_t *p, size_t len, bool fin, const struct tcp_reasm_sink *sink)
{
    int64_t rel;
    int64_t end;

    s->ctr->segments++;
    s->ctr->bytes += len;
    if (DP_UNLIKELY(!s->have_base)) {
        s->have_base = true;
        s->next_seq = seq;
    }
    /* The fast path: in order, nothing waiting, no FIN to clip at. No copy, no allocation. */
    if (DP_LIKELY(seq == s->next_seq && s->ooo == NULL && !s->fin_seen && !fin &&
                  len <= (size_t)TCP_REASM_MAX_AHEAD)) {
        emit_data(s, sink, p, len);
        return 0;
    }
    rel = rel_of(s, seq);
    if (len > (size_t)TCP_REASM_MAX_AHEAD || rel + (int64_t)len > TCP_REASM_MAX_AHEAD) {
        s->ctr->garbage_segments++;
        s->ctr->garbage_bytes += len;
        return 0;
    }
    end = rel + (int64_t)len;
    if (fin)
        note_fin(s, seq + (uint32_t)len);
    if (s->fin_seen && end > rel_of(s, s->fin_seq)) {
        int64_t fin_rel = rel_of(s, s->fin_seq);
        int64_t over = DP_MIN(end - fin_rel, (int64_t)len);

        s->ctr->garbage_bytes += (uint64_t)over;
        end -= over;
    }
    if (end <= 0) {
        s->ctr->retrans_bytes += (uint64_t)(end - rel);
        return 0;
    }
    if (rel < 0) {
        s->ctr->retrans_bytes += (uint64_t)-rel;
        p -= rel;
        rel = 0;
    }
    if (end == rel)
        return 0; /* a pure ACK, or nothing left before the FIN */
    if (rel == 0) {
        deliver_in_order(s, sink, p, (size_t)end);
        return 0;
    }
    return segment_ahead(s, lim, sink, seq, p, end - rel);
}

void tcp_stream_flush(struct tcp_stream *s, const struct tcp_reasm_sink *sink)
{
    while (s->ooo != NULL) {
        emit_gap(s, sink, (uint64_t)rel_of(s, s->ooo->seq));
        drain(s, sink);
    }
    if (s->fin_seen && !s->closed)
        emit_gap(s, sink, (uint64_t)rel_of(s, s->fin_seq));
    update_closed(s);
}

void tcp_stream_skip_to(struct tcp_stream *s, uint32_t seq, const struct tcp_reasm_sink *sink)
{
    int64_t rel;

    if (!s->have_base) {
        s->have_base = true;
        s->next_seq = seq;
        return;
    }
    rel = rel_of(s, seq);
    if (rel <= 0 || rel > TCP_REASM_MAX_AHEAD)
        return;
    if (s->fin_seen && seq_lt(s->fin_seq, seq))
        seq = s->fin_seq;
    while ((rel = rel_of(s, seq)) > 0) {
        if (s->ooo != NULL && rel_of(s, s->ooo->seq) < rel) {
            emit_gap(s, sink, (uint64_t)rel_of(s, s->ooo->seq));
            drain(s, sink);
            continue;
        }
        emit_gap(s, sink, (uint64_t)rel);
        drain(s, sink);
    }
    update_closed(s);
}

bool tcp_stream_finished(const struct tcp_stream *s)
{
    return s->closed;
}

bool tcp_stream_check(const struct tcp_stream *s, const struct tcp_reasm_limits *lim)
{
    size_t bytes = 0;
    size_t segs = 0;
    int64_t prev_end = 1; /* the first segment starts after next_seq */

    for (const struct tcp_seg *seg = s->ooo; seg != NULL; seg = seg->next) {
        int64_t r = rel_of(s, seg->seq);

        if (!s->have_base || seg->len == 0 || r < prev_end)
            return false; /* sorted, after next_seq, not overlapping, not empty */
        if (r + seg->len > TCP_REASM_MAX_AHEAD)
            return false;
        if (s->fin_seen && r + seg->len > rel_of(s, s->fin_seq))
            return false;
        prev_end = r + seg->len;
        bytes += seg->len;
        segs++;
    }
    if (bytes != s->ooo_bytes || segs != s->ooo_segs)
        return false;
    if (s->closed != (s->fin_seen && s->next_seq == s->fin_seq))
        return false;
    if (s->fin_seen && seq_lt(s->fin_seq, s->next_seq))
        return false;
    if (s->ctr->bytes != s->ctr->delivered_bytes + s->ctr->retrans_bytes + s->ctr->overlap_bytes +
                                s->ctr->garbage_bytes + s->ooo_bytes)
        return false;
    if (lim != NULL) {
        size_t max_segs = lim->max_ooo_segs != 0 ? lim->max_ooo_segs : TCP_REASM_DEFAULT_MAX_SEGS;

        if (s->ooo_bytes > lim->max_ooo_bytes || s->ooo_segs > max_segs)
            return false;
    }
    return true;
}
