/*
 * out_http.h: --output-http, the HTTP/1.x replay output.
 *
 * One instance per --output-http URL (several URLs: several instances; --split-output shares
 * the requests among them). Each instance keeps a pool of keep-alive connections to its target
 * on the loop, at most --output-http-workers of them, one request in flight per connection (no
 * pipelining), and a bounded queue (--output-http-queue-len) in front of them.
 *
 *   accept() --> queue --> idle connection (or a new one) --> write request --> read response
 *                  |                                                              |
 *                  full: writable() false (file inputs pause; live ones drop)     framer
 *                                                                                 |
 *                         type-3 message (--output-http-track-response) <--------+
 *
 * The request goes out as captured, byte for byte, except: the Host header gets the target's
 * host (unless --http-original-host), URL credentials become "Authorization: Basic ...", and a
 * URL path other than "/" replaces the request-target. Responses are framed by http/http_frame
 * (Content-Length, chunked, close-delimited, HEAD, 1xx). Every accepted request ends delivered
 * (a final response, any status) or failed (counted by reason). See docs/internals/out_http.md.
 */
#ifndef DP_OUTPUTS_OUT_HTTP_H
#define DP_OUTPUTS_OUT_HTTP_H

#include "core/plugin.h"

extern const struct dp_output_ops out_http_ops;

#endif
