/* clock.h: the two clocks doppel uses, in int64 nanoseconds. */
#ifndef DP_CORE_CLOCK_H
#define DP_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic time: for intervals, pacing and rate windows. */
static inline int64_t dp_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Wall-clock time since the epoch: for timestamps and file names. */
static inline int64_t dp_wall_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
