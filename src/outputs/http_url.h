/*
 * http_url.h: --output-http targets.
 *
 *   [http://|https://][user[:password]@]host[:port][/path[?query]]
 *
 * No scheme means http (GoReplay fails on it). Credentials become "Authorization: Basic ..." on
 * every replayed request (GoReplay drops them). A path other than "/" replaces every request's
 * target, as GoReplay does; a bare "/" does not (GoReplay sends everything to "/").
 */
#ifndef DP_OUTPUTS_HTTP_URL_H
#define DP_OUTPUTS_HTTP_URL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

struct http_url {
    bool tls;
    char host[256];      /* without brackets for IPv6 */
    bool host_is_ipv6;
    uint16_t port;
    char hostport[272];  /* the Host header value: host, [v6], with :port unless default */
    char target[2048];   /* replacement request-target, "" when the URL has none (or "/") */
    char auth[512];      /* "Basic <base64>" or "" */
};

/* Parses <s>. Returns 0, or -EINVAL with <err> naming the part at fault. */
int http_url_parse(const char *s, struct http_url *out, struct dp_err *err);

#endif
