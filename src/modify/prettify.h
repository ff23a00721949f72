/*
 * prettify.h: --prettify-http, GoReplay's http_prettifier: a chunked body is de-chunked and a
 * gzip body gunzipped, so that recordings and middleware see plain bodies.
 *
 *   Transfer-Encoding: chunked  -> body de-chunked (trailers dropped), the header removed,
 *                                  Content-Length set
 *   Content-Encoding: gzip      -> body gunzipped, the header removed, Content-Length set
 *
 * As GoReplay, the header values must be exactly "chunked" and "gzip" (one coding). Applies
 * to requests and responses. Difference, on purpose: a body that is not valid chunked or gzip
 * is kept as it is and counted (GoReplay drops the message on a bad gzip header). A body that
 * would inflate past the cap (--copy-buffer-size) is kept compressed and counted.
 */
#ifndef DP_MODIFY_PRETTIFY_H
#define DP_MODIFY_PRETTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/msg.h"

enum dp_pretty_ctr {
    DP_PRETTY_DECHUNKED = 0,
    DP_PRETTY_GUNZIPPED,
    DP_PRETTY_BAD_CHUNKED, /* kept as it was */
    DP_PRETTY_BAD_GZIP,    /* kept as it was */
    DP_PRETTY_TOO_BIG,     /* inflates past the cap: kept compressed */
    DP_PRETTY_CTR_COUNT
};

extern const char *const dp_pretty_ctr_names[DP_PRETTY_CTR_COUNT];

/* Prettifies *<mp> (the caller's reference; it may be replaced by a new message). Bodies are
 * decoded up to <cap> bytes. Counts into <ctr>. */
void dp_prettify(struct dp_msg **mp, size_t cap, uint64_t ctr[DP_PRETTY_CTR_COUNT]);

/* De-chunks the chunked body <p, n> into <out> (at most <cap> bytes): its length, or -EINVAL
 * (not valid chunked, or it does not end within <p, n>), or -E2BIG. */
ssize_t dp_dechunk(const uint8_t *p, size_t n, uint8_t *out, size_t cap);

#endif
