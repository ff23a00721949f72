/*
 * limiter.h: GoReplay's "ADDR|N" and "ADDR|N%" suffixes, parsed once for any plugin.
 *
 *   ADDR|N     at most N messages per one-second window; the rest are dropped and counted
 *   ADDR|N%    each message passes with probability N/100 (an independent draw per message)
 *   FILE|N%    on input-file: replay speed N/100 instead (200% = twice as fast); nothing dropped
 *   FILE|max   on input-file: as fast as the outputs accept (doppel)
 *
 * The window starts at the first message after the previous one expired, as GoReplay's does.
 */
#ifndef DP_CORE_LIMITER_H
#define DP_CORE_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

enum dp_limit_kind {
    DP_LIMIT_NONE = 0,
    DP_LIMIT_RATE = 1,    /* N per second */
    DP_LIMIT_PERCENT = 2, /* N% sampled */
    DP_LIMIT_MAX = 3,     /* "max": no pacing (input-file only) */
    DP_LIMIT_KIND_COUNT
};

struct dp_limiter {
    enum dp_limit_kind kind;
    int64_t n;          /* N of "|N" or "|N%" */
    int64_t window_ns;  /* start of the current one-second window */
    int64_t in_window;  /* messages passed in it */
    uint64_t rng;       /* xorshift64* state */
};

/*
 * Splits "<addr>|<spec>" in place at the first '|': <addr> keeps the address, the limiter is
 * filled from the spec (or left DP_LIMIT_NONE). Returns 0, or -EINVAL with <err> naming <flag>.
 */
int dp_limiter_parse(struct dp_limiter *l, char *addr, const char *flag, struct dp_err *err);

/* True when a message arriving at <now_ns> (monotonic) may pass; updates the window. */
bool dp_limiter_pass(struct dp_limiter *l, int64_t now_ns);

#endif
