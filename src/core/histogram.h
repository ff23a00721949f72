/*
 * histogram.h: latency percentiles in fixed memory, HDR-histogram style.
 *
 * Values (nanoseconds) fall into log-linear buckets: 16 sub-buckets per power of two, so every
 * bucket is within 1/16 (6.25%) of the values it holds; 64 x 16 counters cover all of int64.
 * Recording is O(1); a percentile walks the 1024 counters (8 KiB). The exact maximum is kept aside.
 */
#ifndef DP_CORE_HISTOGRAM_H
#define DP_CORE_HISTOGRAM_H

#include <stdint.h>

#define DP_HIST_SUB_BITS 4
#define DP_HIST_BUCKETS  (64 << DP_HIST_SUB_BITS)

struct dp_hist {
    uint64_t count;
    int64_t max;
    uint64_t n[DP_HIST_BUCKETS]; /* 64 bits: 2^32 values in one bucket is a day of replay */
};

/* Adds <v> (negative values count as 0). */
void dp_hist_add(struct dp_hist *h, int64_t v);

/* The value below which <pct> percent of the recorded values fall (the bucket's upper edge,
 * capped at the maximum); 0 when empty. */
int64_t dp_hist_pct(const struct dp_hist *h, double pct);

#endif
