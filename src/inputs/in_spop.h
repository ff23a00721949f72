/*
 * in_spop.h: --input-spop, an HAProxy SPOE agent (SPOP 2.0) that mirrors the requests HAProxy
 * sends it into the pipeline.
 *
 * HAProxy's SPOE filter sends a NOTIFY frame per request (its "spoe-message" args: method, url,
 * version, req.hdrs_bin, req.body) and holds the production request until the agent ACKs it.
 * So this input ACKs every NOTIFY as soon as the frame is decoded, before any mirroring work,
 * and mirroring never feeds back into HAProxy:
 *
 *   HAProxy ==SPOP==> read buffer (<= 4 + max-frame-size) --> pass 1: decode every whole frame,
 *        <==ACK====== reply buffer (bounded) <--------------------/  write the ACKs at once
 *                                                pass 2: rebuild each request (format/spop.h)
 *                                                        --> dp_pipeline_push(), or, when the
 *                                                        outputs are full, a counted drop
 *
 * Bounds: at most SPOP_CONNS_MAX connections (more are refused with an AGENT-DISCONNECT, status
 * 13); per connection a read buffer that grows to the negotiated max-frame-size at most and two
 * 2 KB reply buffers: when HAProxy stops reading our replies, we stop reading its frames. A
 * connection that does not say HELLO within 5 s is disconnected (status 2). Idle connections
 * after the handshake stay open as long as HAProxy wants ("timeout idle" is its side).
 *
 * The address is "host:port", "[v6]:port" or ":port"; the host is an IP address or
 * "localhost", and ":port" listens on 127.0.0.1 only (listen on all interfaces with
 * "0.0.0.0:port" or "[::]:port"). See docs/haproxy.md.
 */
#ifndef DP_INPUTS_IN_SPOP_H
#define DP_INPUTS_IN_SPOP_H

#include "core/pipeline.h"

#define SPOP_CONNS_MAX 1024 /* connections served at once, per --input-spop address */

extern const struct dp_input_ops in_spop_ops;

#endif
