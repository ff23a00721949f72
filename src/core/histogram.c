#include "core/histogram.h"

static unsigned bucket_of(uint64_t v)
{
    unsigned msb;

    if (v < (1u << DP_HIST_SUB_BITS))
        return (unsigned)v; /* exact for small values */
    msb = 63u - (unsigned)__builtin_clzll(v);
    return ((msb - DP_HIST_SUB_BITS + 1) << DP_HIST_SUB_BITS) |
            (unsigned)((v >> (msb - DP_HIST_SUB_BITS)) & ((1u << DP_HIST_SUB_BITS) - 1));
}

/* The largest value bucket <b> holds. */
static uint64_t bucket_top(unsigned b)
{
    unsigned exp = b >> DP_HIST_SUB_BITS;
    uint64_t sub = b & ((1u << DP_HIST_SUB_BITS) - 1);
    unsigned shift;

    if (exp == 0)
        return sub;
    shift = exp - 1;
    return (((uint64_t)1 << DP_HIST_SUB_BITS | sub) << shift) + ((uint64_t)1 << shift) - 1;
}

void dp_hist_add(struct dp_hist *h, int64_t v)
{
    uint64_t u = v > 0 ? (uint64_t)v : 0;

    h->n[bucket_of(u)]++;
    h->count++;
    if ((int64_t)u > h->max)
        h->max = (int64_t)u;
}

int64_t dp_hist_pct(const struct dp_hist *h, double pct)
{
    uint64_t want;
    uint64_t seen = 0;

    if (h->count == 0)
        return 0;
    want = (uint64_t)((double)h->count * pct / 100.0 + 0.5);
    if (want == 0)
        want = 1;
    for (unsigned b = 0; b < DP_HIST_BUCKETS; b++) {
        seen += h->n[b];
        if (seen >= want) {
            uint64_t top = bucket_top(b);

            return top > (uint64_t)h->max ? h->max : (int64_t)top;
        }
    }
    return h->max;
}
