/*
 * err.h: errors a user will read.
 *
 * Functions that can fail for reasons a user must see (bad flag, unreadable file) fill a
 * caller-provided struct dp_err and return -errno. The message is printed once, at the top.
 */
#ifndef DP_CORE_ERR_H
#define DP_CORE_ERR_H

#include "core/common.h"

struct dp_err {
    int code;      /* negative errno, 0 when no error */
    char msg[256]; /* one line, no trailing newline */
};

/* Fills <err> (which may be NULL) with <code> and a formatted message; returns <code>. */
int dp_err_set(struct dp_err *err, int code, const char *fmt, ...) DP_PRINTF(3, 4);

#endif
