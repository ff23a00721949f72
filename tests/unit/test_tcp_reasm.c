/*
 * test_tcp_reasm.c: TCP stream reassembly.
 *
 * Timelines (STYLE.md rule 27) give each segment as REASM_STEP(seq, "seg", len, "expected", len):
 * <seq> is an offset from the stream's first byte, "expected" is what the sink receives during
 * that step, with every gap written "<N>". Each timeline runs at several initial sequence
 * numbers, some of which make the stream cross 2^32. Segments are copied in front of a guard
 * page, so a read past a segment's end faults.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_test.h"

#include "capture/tcp_reasm.h"

/* First byte of the stream for each run; those near 2^32 wrap inside the timelines. */
static const uint32_t bases[] = { 0, 1, 12345, 0x7FFFFFFEu, 0xFFFFFFF0u, 0xFFFFFFFBu, 0xFFFFFFFFu };

/* ---- a sink that records data, and gaps as "<N>" ---- */

struct rec {
    uint8_t buf[4096];
    size_t len;
    const uint8_t *last_ptr; /* the pointer of the last data call */
    uint64_t data_calls;
};

static void rec_data(void *ctx, const uint8_t *p, size_t len)
{
    struct rec *r = ctx;

    assert_true(len > 0);
    assert_true(r->len + len <= sizeof(r->buf));
    memcpy(r->buf + r->len, p, len);
    r->len += len;
    r->last_ptr = p;
    r->data_calls++;
}

static void rec_gap(void *ctx, uint64_t len)
{
    struct rec *r = ctx;
    int n;

    assert_true(len > 0);
    n = snprintf((char *)r->buf + r->len, sizeof(r->buf) - r->len, "<%llu>",
                 (unsigned long long)len);
    assert_true(n > 0 && (size_t)n < sizeof(r->buf) - r->len);
    r->len += (size_t)n;
}

/* ---- an allocator that counts calls and fails on request ---- */

struct count_alloc {
    unsigned calls;
    unsigned fail_from; /* calls numbered >= this fail (1-based); 0: never */
};

static void *count_alloc(void *ctx, size_t size)
{
    struct count_alloc *a = ctx;

    a->calls++;
    if (a->fail_from != 0 && a->calls >= a->fail_from)
        return NULL;
    return malloc(size);
}

/* ---- timelines ---- */

enum step_op {
    STEP_SEG = 1,
    STEP_FLUSH,
    STEP_SKIP, /* tcp_stream_skip_to(seq) */
    STEP_COUNT,
};

struct reasm_step {
    enum step_op op;
    uint32_t seq; /* offset from the stream's first byte */
    const char *seg;
    size_t seg_len;
    bool fin;
    const char *expect; /* what the sink receives during this step */
    size_t expect_len;
    int rc;
};

/* clang-format off */
#define REASM_STEP(seq, seg, seg_len, exp, exp_len)                                                \
    { STEP_SEG, (seq), (seg), (seg_len), false, (exp), (exp_len), 0 }
#define REASM_STEP_FIN(seq, seg, seg_len, exp, exp_len)                                            \
    { STEP_SEG, (seq), (seg), (seg_len), true, (exp), (exp_len), 0 }
#define REASM_STEP_RC(seq, seg, seg_len, exp, exp_len, rc)                                         \
    { STEP_SEG, (seq), (seg), (seg_len), false, (exp), (exp_len), (rc) }
#define REASM_FLUSH(exp, exp_len) { STEP_FLUSH, 0, NULL, 0, false, (exp), (exp_len), 0 }
#define REASM_SKIP(seq, exp, exp_len) { STEP_SKIP, (seq), NULL, 0, false, (exp), (exp_len), 0 }

struct timeline {
    const char *name;
    bool syn;             /* tcp_stream_syn() first; else mid-stream pickup */
    size_t max_ooo_bytes; /* 0 here means "no cap" */
    size_t max_ooo_segs;
    const struct reasm_step *steps;
    size_t nsteps;
    bool finished;
    /* expected counters at the end; UINT64_MAX: not checked */
    uint64_t retrans_bytes, overlap_bytes, gap_bytes, garbage_bytes;
};

#define NOCHK UINT64_MAX
#define TL(n, syn, cap, segs, steps, fin, re, ov, gb, gr)                                          \
    { n, syn, cap, segs, steps, DP_ARRAY_LEN(steps), fin, re, ov, gb, gr }

static const struct reasm_step tl_syn_data[] = {
    REASM_STEP(0, "abc", 3, "abc", 3),
    REASM_STEP(3, "d\0f", 3, "d\0f", 3),
    REASM_STEP(6, "", 0, "", 0), /* pure ACK */
};

static const struct reasm_step tl_pickup[] = {
    REASM_STEP(10, "klm", 3, "klm", 3),   /* the first segment seen sets the start */
    REASM_STEP(5, "fghij", 5, "", 0),     /* before it: taken as a retransmission */
    REASM_STEP(8, "ijklmno", 7, "no", 2), /* partly before: trimmed */
};

static const struct reasm_step tl_reorder[] = {
    REASM_STEP(3, "def", 3, "", 0),
    REASM_STEP(6, "ghi", 3, "", 0),
    REASM_STEP(0, "abc", 3, "abcdefghi", 9),
};

static const struct reasm_step tl_retrans[] = {
    REASM_STEP(0, "abc", 3, "abc", 3),
    REASM_STEP(0, "abc", 3, "", 0),          /* whole retransmission */
    REASM_STEP(1, "bcd", 3, "d", 1),         /* partly before next_seq */
    REASM_STEP(6, "ghi", 3, "", 0),          /* ahead: buffered */
    REASM_STEP(6, "GHI", 3, "", 0),          /* duplicate of buffered: first copy wins */
    REASM_STEP(4, "ef", 2, "efghi", 5),      /* fills the hole */
    REASM_STEP(0, "ABCDEFGHI", 9, "", 0),    /* never changes delivered bytes */
};

/* New segment overlaps the left part of a buffered one. */
static const struct reasm_step tl_overlap_left[] = {
    REASM_STEP(4, "efgh", 4, "", 0),
    REASM_STEP(2, "CDEF", 4, "", 0),
    REASM_STEP(0, "ab", 2, "abCDefgh", 8),
};

static const struct reasm_step tl_overlap_right[] = {
    REASM_STEP(4, "efgh", 4, "", 0),
    REASM_STEP(6, "GHIJ", 4, "", 0),
    REASM_STEP(0, "abcd", 4, "abcdefghIJ", 10),
};

/* New segment contains a buffered one: split in two pieces around it. */
static const struct reasm_step tl_overlap_containing[] = {
    REASM_STEP(4, "ef", 2, "", 0),
    REASM_STEP(2, "CDEFGH", 6, "", 0),
    REASM_STEP(0, "ab", 2, "abCDefGH", 8),
};

static const struct reasm_step tl_overlap_contained[] = {
    REASM_STEP(2, "cdefgh", 6, "", 0),
    REASM_STEP(4, "EF", 2, "", 0),
    REASM_STEP(0, "ab", 2, "abcdefgh", 8),
};

/* An in-order segment running over buffered data: the buffered copies win. */
static const struct reasm_step tl_overlap_in_order[] = {
    REASM_STEP(2, "cd", 2, "", 0),
    REASM_STEP(6, "gh", 2, "", 0),
    REASM_STEP(10, "klmn", 4, "", 0),
    REASM_STEP(0, "abCDefGHijKL", 12, "abcdefghijklmn", 14),
};

static const struct reasm_step tl_fin_in_order[] = {
    REASM_STEP_FIN(0, "abc", 3, "abc", 3),
    REASM_STEP(3, "def", 3, "", 0),      /* beyond the FIN: garbage */
    REASM_STEP_FIN(0, "abc", 3, "", 0),  /* retransmitted FIN */
    REASM_STEP_FIN(1, "bcde", 4, "", 0), /* a later FIN does not move the end */
};

static const struct reasm_step tl_fin_ahead[] = {
    REASM_STEP_FIN(3, "def", 3, "", 0),
    REASM_STEP(0, "abc", 3, "abcdef", 6),
};

static const struct reasm_step tl_fin_empty[] = {
    REASM_STEP(0, "ab", 2, "ab", 2),
    REASM_STEP_FIN(3, "", 0, "", 0),
    REASM_STEP(2, "cdef", 4, "c", 1),
};

/* A FIN before buffered data: the buffered bytes beyond it are garbage. */
static const struct reasm_step tl_fin_trims[] = {
    REASM_STEP(4, "efghij", 6, "", 0),
    REASM_STEP_FIN(3, "de", 2, "", 0),
    REASM_STEP(0, "abc", 3, "abcde", 5),
};

static const struct reasm_step tl_flush_holes[] = {
    REASM_STEP(5, "fgh", 3, "", 0),
    REASM_STEP(12, "mn", 2, "", 0),
    REASM_STEP(20, "u", 1, "", 0),
    REASM_FLUSH("<5>fgh<4>mn<6>u", 15),
    REASM_STEP(21, "v", 1, "v", 1),
    REASM_STEP(0, "abc", 3, "", 0),
    REASM_FLUSH("", 0),
};

static const struct reasm_step tl_flush_fin[] = {
    REASM_STEP(0, "ab", 2, "ab", 2),
    REASM_STEP(5, "fg", 2, "", 0),
    REASM_STEP_FIN(10, "", 0, "", 0),
    REASM_FLUSH("<3>fg<3>", 8),
};

static const struct reasm_step tl_garbage[] = {
    REASM_STEP(0, "abc", 3, "abc", 3),
    REASM_STEP(0x40000002u, "xy", 2, "", 0),     /* ends 1 byte beyond 1 GiB ahead: garbage */
    REASM_STEP_FIN(0x50000000u, "z", 1, "", 0), /* garbage, and its FIN means nothing */
    REASM_STEP(0x40000002u, "w", 1, "", 0),      /* ends exactly 1 GiB ahead: buffered */
    REASM_STEP(3, "d", 1, "d", 1),
};

/* Cap 10. The hole before the oldest buffered segment is skipped, then the new one fits. */
static const struct reasm_step tl_cap_first_hole[] = {
    REASM_STEP(5, "fghij", 5, "", 0),
    REASM_STEP_RC(12, "mnopqr", 6, "<5>fghij", 8, -ENOBUFS),
    REASM_STEP(10, "kl", 2, "klmnopqr", 8),
};

/* Cap 10. The new segment is the earliest: skip to it and deliver it without buffering. */
static const struct reasm_step tl_cap_new_earliest[] = {
    REASM_STEP(20, "uvwxyzAB", 8, "", 0),
    REASM_STEP_RC(5, "fghij", 5, "<5>fghij", 8, -ENOBUFS),
    REASM_STEP(10, "klmnopqrst", 10, "klmnopqrstuvwxyzAB", 18),
};

/* Cap 10. A segment bigger than the cap with nothing buffered. */
static const struct reasm_step tl_cap_too_big[] = {
    REASM_STEP_RC(3, "defghijklmnop", 13, "<3>defghijklmnop", 16, -ENOBUFS),
    REASM_STEP(16, "q", 1, "q", 1),
};

/* Cap 10. Holes are skipped one at a time until the new segment fits. */
static const struct reasm_step tl_cap_holes[] = {
    REASM_STEP(2, "cd", 2, "", 0),
    REASM_STEP(6, "gh", 2, "", 0),
    REASM_STEP(12, "mnop", 4, "", 0),
    REASM_STEP_RC(20, "uvwxy", 5, "<2>cd<2>gh", 10, -ENOBUFS),
    REASM_FLUSH("<4>mnop<4>uvwxy", 15),
};

/* Cap 10. The run delivered after the skipped hole reaches into the new segment. */
static const struct reasm_step tl_cap_run_overlaps[] = {
    REASM_STEP(2, "cdefgh", 6, "", 0),
    REASM_STEP_RC(4, "EFGHIJKLM", 9, "<2>cdefghIJKLM", 14, -ENOBUFS),
};

/* Cap 0: nothing is ever buffered. */
static const struct reasm_step tl_cap_zero[] = {
    REASM_STEP(0, "ab", 2, "ab", 2),
    REASM_STEP_RC(5, "fg", 2, "<3>fg", 5, -ENOBUFS),
};

/* 100 bytes but 2 segments at most. */
static const struct reasm_step tl_cap_segs[] = {
    REASM_STEP(2, "c", 1, "", 0),
    REASM_STEP(4, "e", 1, "", 0),
    REASM_STEP_RC(6, "g", 1, "<2>c", 4, -ENOBUFS),
    REASM_STEP(3, "d", 1, "de", 2),
    REASM_STEP(5, "f", 1, "fg", 2),
};

/* The capture cut segments: skip_to declares the holes up to a point, buffered bytes win. */
static const struct reasm_step tl_skip_to[] = {
    REASM_STEP(0, "ab", 2, "ab", 2),
    REASM_SKIP(5, "<3>", 3), /* the in-order segment [2,5) was cut to nothing */
    REASM_STEP(8, "ij", 2, "", 0),
    REASM_STEP(14, "op", 2, "", 0),
    REASM_SKIP(12, "<3>ij<2>", 8), /* holes before 12 go; "op" after it stays buffered */
    REASM_SKIP(3, "", 0),          /* stale */
    REASM_STEP_FIN(18, "", 0, "", 0),
    REASM_SKIP(25, "<2>op<2>", 8), /* clipped at the FIN */
};

static const struct timeline timelines[] = {
    TL("syn_data", true, 0, 0, tl_syn_data, false, 0, 0, 0, 0),
    TL("pickup", false, 0, 0, tl_pickup, false, 10, 0, 0, 0),
    TL("reorder", true, 0, 0, tl_reorder, false, 0, 0, 0, 0),
    TL("retrans", true, 0, 0, tl_retrans, false, 3 + 2 + 9, 3, 0, 0),
    TL("overlap_left", true, 0, 0, tl_overlap_left, false, 0, 2, 0, 0),
    TL("overlap_right", true, 0, 0, tl_overlap_right, false, 0, 2, 0, 0),
    TL("overlap_containing", true, 0, 0, tl_overlap_containing, false, 0, 2, 0, 0),
    TL("overlap_contained", true, 0, 0, tl_overlap_contained, false, 0, 2, 0, 0),
    TL("overlap_in_order", true, 0, 0, tl_overlap_in_order, false, 0, 6, 0, 0),
    TL("fin_in_order", true, 0, 0, tl_fin_in_order, true, 3 + 2, 0, 0, 3 + 2),
    TL("fin_ahead", true, 0, 0, tl_fin_ahead, true, 0, 0, 0, 0),
    TL("fin_empty", true, 0, 0, tl_fin_empty, true, 0, 0, 0, 3),
    TL("fin_trims", true, 0, 0, tl_fin_trims, true, 0, 1, 0, 5),
    TL("flush_holes", true, 0, 0, tl_flush_holes, false, 3, 0, 15, 0),
    TL("flush_fin", true, 0, 0, tl_flush_fin, true, 0, 0, 6, 0),
    TL("garbage", true, 0, 0, tl_garbage, false, 0, 0, 0, 3),
    TL("cap_first_hole", true, 10, 0, tl_cap_first_hole, false, 0, 0, 5, 0),
    TL("cap_new_earliest", true, 10, 0, tl_cap_new_earliest, false, 0, 0, 5, 0),
    TL("cap_too_big", true, 10, 0, tl_cap_too_big, false, 0, 0, 3, 0),
    TL("cap_holes", true, 10, 0, tl_cap_holes, false, 0, 0, 12, 0),
    TL("cap_run_overlaps", true, 10, 0, tl_cap_run_overlaps, false, 0, 4, 2, 0),
    TL("cap_zero", true, 0, 0, tl_cap_zero, false, 0, 0, 3, 0),
    TL("cap_segs", true, 100, 2, tl_cap_segs, false, 0, 0, 2, 0),
    TL("skip_to", true, 0, 0, tl_skip_to, true, 0, 0, 12, 0),
};
/* clang-format on */

static void run_timeline(const struct timeline *t, uint32_t base)
{
    struct rec rec = { .len = 0 };
    struct tcp_reasm_sink sink = { rec_data, rec_gap, &rec };
    struct tcp_reasm_limits lim = { .max_ooo_bytes = t->max_ooo_bytes,
                                    .max_ooo_segs = t->max_ooo_segs };
    struct tcp_stream s;
    struct tcp_reasm_ctr ctr = { 0 };
    uint64_t enobufs = 0;

    /* cap_zero is the one timeline that means it; the others use 0 for "no cap". */
    if (lim.max_ooo_bytes == 0 && strcmp(t->name, "cap_zero") != 0)
        lim.max_ooo_bytes = SIZE_MAX;
    tcp_stream_init(&s, &ctr);
    if (t->syn)
        tcp_stream_syn(&s, base - 1);
    for (size_t i = 0; i < t->nsteps; i++) {
        const struct reasm_step *st = &t->steps[i];
        int rc = 0;

        rec.len = 0;
        if (st->op == STEP_FLUSH) {
            tcp_stream_flush(&s, &sink);
            assert_int_equal(s.ooo_bytes, 0);
        } else if (st->op == STEP_SKIP) {
            tcp_stream_skip_to(&s, base + st->seq, &sink);
        } else {
            struct dp_guarded g;

            dp_guarded_init(&g, st->seg, st->seg_len);
            rc = tcp_stream_segment(&s, &lim, base + st->seq, g.ptr, g.len, st->fin, &sink);
            dp_guarded_free(&g);
        }
        if (rc != st->rc || rec.len != st->expect_len || memcmp(rec.buf, st->expect, rec.len) != 0)
            fail_msg("%s base=%#x step %zu: rc %d (want %d), got \"%.*s\" want \"%.*s\"", t->name,
                     base, i, rc, st->rc, (int)rec.len, (const char *)rec.buf, (int)st->expect_len,
                     st->expect);
        enobufs += rc == -ENOBUFS;
        /* Memory: buffered payload within the cap, segment headers within the segment cap. */
        if (!tcp_stream_check(&s, &lim))
            fail_msg("%s base=%#x step %zu: invariants broken", t->name, base, i);
    }
    if (tcp_stream_finished(&s) != t->finished)
        fail_msg("%s base=%#x: finished %d", t->name, base, tcp_stream_finished(&s));
    if ((t->retrans_bytes != NOCHK && s.ctr->retrans_bytes != t->retrans_bytes) ||
        (t->overlap_bytes != NOCHK && s.ctr->overlap_bytes != t->overlap_bytes) ||
        (t->gap_bytes != NOCHK && s.ctr->gap_bytes != t->gap_bytes) ||
        (t->garbage_bytes != NOCHK && s.ctr->garbage_bytes != t->garbage_bytes))
        fail_msg("%s base=%#x: retrans %llu overlap %llu gap %llu garbage %llu", t->name, base,
                 (unsigned long long)s.ctr->retrans_bytes, (unsigned long long)s.ctr->overlap_bytes,
                 (unsigned long long)s.ctr->gap_bytes, (unsigned long long)s.ctr->garbage_bytes);
    assert_int_equal(s.ctr->cap_hits, enobufs); /* once per call, however many holes it skips */
    tcp_stream_free(&s);
    assert_int_equal(s.ooo_segs, 0);
}

static void test_timelines(void **state)
{
    (void)state;
    for (size_t t = 0; t < DP_ARRAY_LEN(timelines); t++)
        for (size_t b = 0; b < DP_ARRAY_LEN(bases); b++)
            run_timeline(&timelines[t], bases[b]);
}

/* ---- the fast path ---- */

static void test_fast_path_no_copy(void **state)
{
    static const uint8_t data[] = "GET / HTTP/1.1\r\n\0\0Host: a\r\n\r\n";
    struct count_alloc ca = { 0, 0 };
    struct tcp_reasm_limits lim = { .max_ooo_bytes = 1024, .alloc = count_alloc, .alloc_ctx = &ca };
    struct rec rec = { .len = 0 };
    struct tcp_reasm_sink sink = { rec_data, rec_gap, &rec };
    struct tcp_stream s;
    struct tcp_reasm_ctr ctr = { 0 };
    size_t off = 0;

    (void)state;
    tcp_stream_init(&s, &ctr);
    tcp_stream_syn(&s, 0xFFFFFFFEu); /* the data starts at 0xFFFFFFFF and wraps at once */
    for (size_t n = 1; off < sizeof(data) - 1; n++) {
        size_t len = DP_MIN(n, sizeof(data) - 1 - off);

        assert_int_equal(tcp_stream_segment(&s, &lim, 0xFFFFFFFFu + (uint32_t)off, data + off, len,
                                            false, &sink),
                         0);
        assert_ptr_equal(rec.last_ptr, data + off); /* the caller's bytes, not a copy */
        off += len;
    }
    assert_int_equal(ca.calls, 0);
    assert_int_equal(s.ooo_bytes, 0);
    assert_int_equal(rec.len, sizeof(data) - 1);
    assert_memory_equal(rec.buf, data, sizeof(data) - 1);
    assert_int_equal(s.next_seq, 0xFFFFFFFFu + (uint32_t)(sizeof(data) - 1));
    assert_int_equal(s.ctr->delivered_bytes, sizeof(data) - 1);
    tcp_stream_free(&s);
}

/* ---- every order of 5 segments ---- */

struct span {
    uint32_t off;
    uint32_t len;
};

static bool next_perm(size_t *a, size_t n)
{
    size_t i = n - 1;
    size_t j = n - 1;

    while (i > 0 && a[i - 1] >= a[i])
        i--;
    if (i == 0)
        return false;
    while (a[j] <= a[i - 1])
        j--;
    size_t t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
    for (size_t k = i, l = n - 1; k < l; k++, l--) {
        t = a[k];
        a[k] = a[l];
        a[l] = t;
    }
    return true;
}

static void run_permutations(const struct span *spans, size_t total)
{
    uint8_t orig[64];
    size_t perm[5] = { 0, 1, 2, 3, 4 };
    unsigned runs = 0;

    for (size_t i = 0; i < total; i++)
        orig[i] = (uint8_t)(i * 37); /* includes NUL at 0 */
    do {
        for (size_t b = 0; b < DP_ARRAY_LEN(bases); b++) {
            struct rec rec = { .len = 0 };
            struct tcp_reasm_sink sink = { rec_data, rec_gap, &rec };
            struct tcp_reasm_limits lim = { .max_ooo_bytes = 256 * 1024 };
            struct tcp_stream s;
            struct tcp_reasm_ctr ctr = { 0 };

            tcp_stream_init(&s, &ctr);
            tcp_stream_syn(&s, bases[b] - 1);
            for (size_t k = 0; k < 5; k++) {
                const struct span *sp = &spans[perm[k]];
                struct dp_guarded g;

                dp_guarded_init(&g, orig + sp->off, sp->len);
                assert_int_equal(tcp_stream_segment(&s, &lim, bases[b] + sp->off, g.ptr, g.len,
                                                    sp->off + sp->len == total, &sink),
                                 0);
                dp_guarded_free(&g);
                assert_true(tcp_stream_check(&s, &lim));
            }
            assert_int_equal(rec.len, total);
            assert_memory_equal(rec.buf, orig, total);
            assert_true(tcp_stream_finished(&s));
            assert_int_equal(s.ooo_bytes, 0);
            assert_int_equal(s.ctr->gaps, 0);
            tcp_stream_free(&s);
        }
        runs++;
    } while (next_perm(perm, 5));
    assert_int_equal(runs, 120);
}

static void test_permutations(void **state)
{
    static const struct span disjoint[5] = { { 0, 3 }, { 3, 1 }, { 4, 4 }, { 8, 1 }, { 9, 5 } };
    static const struct span overlapping[5] = { { 0, 4 }, { 2, 5 }, { 6, 3 }, { 8, 5 }, { 12, 2 } };

    (void)state;
    run_permutations(disjoint, 14);
    run_permutations(overlapping, 14);
}

/* ---- allocation failure ---- */

static void test_enomem(void **state)
{
    struct count_alloc ca = { 0, 3 }; /* the first two allocations work, the rest fail */
    struct tcp_reasm_limits lim = { .max_ooo_bytes = 1024, .alloc = count_alloc, .alloc_ctx = &ca };
    struct rec rec = { .len = 0 };
    struct tcp_reasm_sink sink = { rec_data, rec_gap, &rec };
    struct tcp_stream s;
    struct tcp_reasm_ctr ctr = { 0 };

    (void)state;
    tcp_stream_init(&s, &ctr);
    tcp_stream_syn(&s, 99);
    assert_int_equal(tcp_stream_segment(&s, &lim, 104, (const uint8_t *)"ef", 2, false, &sink), 0);
    /* Needs two pieces around "ef": the second one's allocation fails, the first is given back. */
    assert_int_equal(tcp_stream_segment(&s, &lim, 102, (const uint8_t *)"CDEFGH", 6, false, &sink),
                     -ENOMEM);
    assert_int_equal(ca.calls, 3);
    assert_int_equal(rec.len, 9);
    assert_memory_equal(rec.buf, "<2>CDefGH", 9);
    assert_int_equal(s.ctr->nomem, 1);
    assert_int_equal(s.ctr->ooo_dropped_bytes, 2);
    assert_true(tcp_stream_check(&s, &lim));
    tcp_stream_free(&s);
}

/* ---- random stress ---- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

#define STRESS_LEN      (100 * 1000)
#define STRESS_MAX_SEGS 1024

/* Checks that each delivered byte is the original byte at its offset. */
struct cmp_sink {
    const uint8_t *orig;
    uint64_t pos;
    uint64_t gap_bytes;
};

static void cmp_data(void *ctx, const uint8_t *p, size_t len)
{
    struct cmp_sink *c = ctx;

    assert_true(len > 0 && c->pos + len <= STRESS_LEN);
    assert_memory_equal(p, c->orig + c->pos, len);
    c->pos += len;
}

static void cmp_gap(void *ctx, uint64_t len)
{
    struct cmp_sink *c = ctx;

    assert_true(len > 0 && c->pos + len <= STRESS_LEN);
    c->pos += len;
    c->gap_bytes += len;
}

/* Splits <orig> into segments, shuffles them within a window, duplicates some. */
static size_t make_segments(struct span *segs, size_t max)
{
    size_t n = 0;
    uint32_t off = 0;

    while (off < STRESS_LEN && n < max) {
        uint32_t len = 1 + rnd(rnd(4) == 0 ? 40 : 1460); /* DP_MIN evaluates twice */

        len = DP_MIN(len, STRESS_LEN - off);

        segs[n++] = (struct span){ off, len };
        if (rnd(10) == 0 && n < max) {
            /* a duplicate with other boundaries: retransmitted, repacketized */
            uint32_t a = off > 3000 ? off - 3000 + rnd(6000) : rnd(6000);
            uint32_t b = a + 1 + rnd(2000);

            a = DP_MIN(a, STRESS_LEN - 1);
            segs[n++] = (struct span){ a, DP_MIN(b, STRESS_LEN) - a };
        }
        off += len;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        size_t j = i + rnd((uint32_t)(n - i < 16 ? n - i : 16));
        struct span t = segs[i];

        segs[i] = segs[j];
        segs[j] = t;
    }
    return n;
}

static uint64_t stress_cap_hits;

static void run_stress(size_t cap, uint32_t base, bool expect_exact)
{
    static struct span segs[4 * STRESS_LEN / 40];
    static uint8_t orig[STRESS_LEN];
    struct cmp_sink c = { orig, 0, 0 };
    struct tcp_reasm_sink sink = { cmp_data, cmp_gap, &c };
    struct tcp_reasm_limits lim = { .max_ooo_bytes = cap, .max_ooo_segs = STRESS_MAX_SEGS };
    struct tcp_stream s;
    struct tcp_reasm_ctr ctr = { 0 };
    size_t n;

    for (size_t i = 0; i < STRESS_LEN; i++)
        orig[i] = (uint8_t)rnd(256);
    n = make_segments(segs, DP_ARRAY_LEN(segs));
    tcp_stream_init(&s, &ctr);
    tcp_stream_syn(&s, base - 1);
    for (size_t i = 0; i < n; i++) {
        int rc = tcp_stream_segment(&s, &lim, base + segs[i].off, orig + segs[i].off, segs[i].len,
                                    segs[i].off + segs[i].len == STRESS_LEN, &sink);

        assert_true(rc == 0 || (!expect_exact && rc == -ENOBUFS));
        assert_true(s.ooo_bytes <= cap);
        assert_true(s.ooo_segs <= STRESS_MAX_SEGS);
        if (i % 64 == 0)
            assert_true(tcp_stream_check(&s, &lim));
    }
    tcp_stream_flush(&s, &sink);
    assert_true(tcp_stream_check(&s, &lim));
    assert_true(tcp_stream_finished(&s));
    assert_int_equal(c.pos, STRESS_LEN);
    assert_int_equal(s.ooo_bytes, 0);
    assert_int_equal(c.gap_bytes, s.ctr->gap_bytes);
    if (expect_exact) {
        assert_int_equal(s.ctr->gaps, 0);
        assert_int_equal(s.ctr->delivered_bytes, STRESS_LEN);
        assert_true(s.ctr->retrans_bytes > 0 && s.ctr->overlap_bytes > 0 && s.ctr->ooo_segments > 0);
    }
    stress_cap_hits += s.ctr->cap_hits;
    tcp_stream_free(&s);
}

static void test_random_stress(void **state)
{
    (void)state;
    rng_state = 0x9E3779B97F4A7C15ull;
    for (unsigned round = 0; round < 24; round++)
        run_stress(SIZE_MAX, bases[round % DP_ARRAY_LEN(bases)] - (uint32_t)round * 4099u, true);
}

/* With a cap that reordering overflows: gaps appear, but every delivered byte is right. */
static void test_random_stress_capped(void **state)
{
    static const size_t caps[] = { 0, 1, 1500, 4096, 16384 };

    (void)state;
    rng_state = 0xD1B54A32D192ED03ull;
    stress_cap_hits = 0;
    for (unsigned round = 0; round < 15; round++)
        run_stress(caps[round % DP_ARRAY_LEN(caps)], bases[round % DP_ARRAY_LEN(bases)], false);
    assert_true(stress_cap_hits > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timelines),     cmocka_unit_test(test_fast_path_no_copy),
        cmocka_unit_test(test_permutations),  cmocka_unit_test(test_enomem),
        cmocka_unit_test(test_random_stress), cmocka_unit_test(test_random_stress_capped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
