/*
 * in_spop.h: --input-spop, an HAProxy SPOE agent (SPOP 2.0) that mirrors the requests HAProxy
 * sends it into the pipeline.
 *
 * HAProxy's SPOE filter sends a NOTIFY frame per request (its "spoe-message" args: method, url,
 * version, req.hdrs_bin, req.body) and holds the production request until the agent ACKs it.
 * So the agent runs on its own thread with its own libuv loop, which does nothing but SPOP: it
 * ACKs every NOTIFY as soon as the frame is decoded, before any mirroring work, and hands the
 * rebuilt requests to doppel's loop through a bounded SPSC ring (core/ring.h):
 *
 *   agent thread                                          doppel's loop
 *   HAProxy ==SPOP==> read buffer (<= 4 + max-frame-size)
 *           pass 1: decode every whole frame, write the ACKs at once
 *        <==ACK====/
 *           pass 2 (check handle, after every ready connection got its ACKs):
 *           rebuild each request (format/spop.h) --> ring --uv_async--> dp_pipeline_push(),
 *                                        (full: queue_drops)   (outputs full: queue_drops)
 *
 * An output that blocks the loop (a file write, a slow target's events) therefore never delays
 * an ACK: HAProxy would feel that on every request (DESIGN.md's one loop, bent here for that
 * reason; measured in docs/haproxy.md).
 *
 * Bounds: at most SPOP_CONNS_MAX connections (more are refused with an AGENT-DISCONNECT, status
 * 13); per connection a read buffer that grows to the negotiated max-frame-size at most and two
 * 2 KB reply buffers: when HAProxy stops reading our replies, we stop reading its frames; the
 * ring holds 4096 requests and 64 MB at most. A connection that does not say HELLO within 5 s
 * is disconnected (status 2). Idle connections after the handshake stay open as long as
 * HAProxy wants ("timeout idle" is its side). The agent's counters reach --stats through a
 * snapshot taken every 50 ms.
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
