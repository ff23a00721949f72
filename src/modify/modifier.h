/*
 * modifier.h: GoReplay's HTTP request modifiers (--http-*), with GoReplay 2.0's exact order and
 * matching rules (its http_modifier.go), as one pipeline stage.
 *
 *   request (type 1):  1 allow-method   2 set-header   3 set-param   4 allow-url
 *                      5 disallow-url   6 allow-header 7 disallow-header  8 basic-auth-filter
 *                      9 header-limiter 10 param-limiter 11 rewrite-url (first matching rule)
 *                      12 rewrite-header (every rule)
 *   response (2, 3):   dropped when its request was dropped (same id, within 60 s)
 *
 * Filters see the original request-target but the headers as set by 2; regexes are PCRE2
 * (JIT), compiled once at start, and match the request-target as written (path and query, not
 * the Host). Edits copy the message on write: other holders keep the original bytes.
 *
 * Differences from GoReplay, on purpose: requests with any method get the modifiers (GoReplay
 * passes PROPFIND, PURGE... through untouched and unfiltered); --http-rewrite-header applies
 * every rule (GoReplay stops at the first rule whose header is missing).
 */
#ifndef DP_MODIFY_MODIFIER_H
#define DP_MODIFY_MODIFIER_H

#include <stdbool.h>

#include "core/err.h"
#include "core/flags.h"
#include "core/msg.h"

enum dp_mod_ctr {
    DP_MOD_SEEN = 0,         /* requests looked at */
    DP_MOD_NOT_REQUEST,      /* type 1 without a request line: passed unmodified */
    DP_MOD_DROP_METHOD,
    DP_MOD_DROP_URL,         /* allow-url / disallow-url */
    DP_MOD_DROP_HEADER,      /* allow-header / disallow-header */
    DP_MOD_DROP_AUTH,
    DP_MOD_DROP_HASH,        /* header-limiter / param-limiter */
    DP_MOD_DROP_RESPONSE,    /* a response (2, 3) whose request was dropped */
    DP_MOD_REWRITTEN,        /* requests changed by set-*, rewrite-* */
    DP_MOD_NOMEM,            /* an edit that could not be made (passed unchanged) */
    DP_MOD_CTR_COUNT
};

extern const char *const dp_mod_ctr_names[DP_MOD_CTR_COUNT];

struct dp_modifier;

/* Builds the modifier the --http-* flags of <cfg> ask for: 0 with *out set, or with *out NULL
 * when no such flag is set (nothing to do); -EINVAL with <err> naming the flag and the value
 * (a bad regex, a missing ':'), -ENOMEM. */
int dp_modifier_new(const struct dp_config *cfg, struct dp_modifier **out, struct dp_err *err)
        DP_WUR;

/* Applies the modifiers to *<mp> (a reference the caller owns). True: pass it on (*<mp> may
 * now be another message, the caller's reference moved to it); false: drop it (the caller
 * still owns *<mp> and unrefs it). <now_ns>: a monotonic clock, for the 60 s memory of
 * dropped ids. */
bool dp_modifier_apply(struct dp_modifier *m, struct dp_msg **mp, int64_t now_ns);

const uint64_t *dp_modifier_ctr(const struct dp_modifier *m);

void dp_modifier_free(struct dp_modifier *m);

/* FNV-1a, 32 bits (offset 0x811c9dc5, prime 0x01000193): the hash limiters' hash. */
uint32_t dp_fnv32a(const uint8_t *p, size_t n);

#endif
