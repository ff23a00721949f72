/*
 * flow.h: the flow table: TCP connections seen by the capture, each cut into messages.
 *
 * Runs on a capture thread; knows nothing of libuv or the pipeline. Every decoded TCP segment
 * goes to flow_table_packet(): it finds the connection (both directions share one entry),
 * reassembles each direction (capture/tcp_reasm) and cuts the byte streams into messages:
 *
 *   HTTP mode     requests and responses framed by http/http_frame (RFC 9112 §6.3); responses
 *                 are paired with requests by their order on the connection.
 *   binary mode   any protocol: a message ends when the direction changes or the flow idles.
 *
 *       packet --> conn lookup --> tcp_stream (client->server) --> framer --> builder --> emit
 *                              \-> tcp_stream (server->client) --> framer --> builder --> emit
 *
 * Message ids are GoReplay's 24 hex digits: client port, server port, client IPv4 (or the
 * last 4 bytes of an IPv6 address) and X = the Ack of the request's first packet. A response
 * takes the id of the request it answers. Pipelined requests carry the same Ack: the k-th
 * request after the first with an unchanged Ack gets X = Ack + k, so every request of a
 * connection has its own id (GoReplay gives them all one id, issues #842, #930).
 *
 * Time is packet time: the table's clock is the newest packet timestamp it has seen (a live
 * capture also advances it with the wall clock while idle), so a capture file gives the same
 * messages, byte for byte, on every run.
 *
 * Bounds: max_flows connections (the least recently active one is evicted, counted), message
 * payloads up to max_msg bytes (the rest is counted, the message flagged truncated), and one
 * memory budget over all buffered bytes (message builders and out-of-order segments).
 */
#ifndef DP_CAPTURE_FLOW_H
#define DP_CAPTURE_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture/pkt_decode.h"
#include "core/common.h"
#include "core/msg.h"

/* Takes the one reference of <m>. */
typedef void flow_emit_fn(void *ctx, struct dp_msg *m);

/* Answers whether <port> is a server port we capture (decides who is the client). */
typedef bool flow_is_server_port_fn(void *ctx, uint16_t port);

struct flow_opts {
    bool binary;            /* --input-raw-protocol binary */
    bool track_response;    /* emit responses (type 2) */
    bool allow_incomplete;  /* emit messages with a capture gap, flagged DP_MSG_INCOMPLETE */
    size_t max_msg;         /* payload bytes kept per message (--copy-buffer-size) */
    size_t max_flows;       /* tracked connections */
    size_t max_ooo;         /* out-of-order bytes buffered per direction */
    size_t memcap;          /* all buffered bytes of all connections */
    int64_t expire_ns;      /* a connection idle this long is flushed and forgotten */
    const char *realip_header; /* --input-raw-realip-header: set in requests to the client IP */
    size_t realip_header_len;
    bool capture_self;      /* also cut doppel's own connections (core/selfconn): tests only */
    flow_is_server_port_fn *is_server_port; /* NULL: decide by SYN or by payload */
    void *port_ctx;
};

enum flow_ctr {
    FLOW_CONN_OPENED = 0,
    FLOW_CONN_CLOSED,   /* FIN from both sides, or RST */
    FLOW_CONN_EXPIRED,  /* idle for expire_ns */
    FLOW_CONN_EVICTED,  /* max_flows reached */
    FLOW_MSG_REQUESTS,  /* emitted */
    FLOW_MSG_RESPONSES, /* emitted (or framed, without track_response) */
    FLOW_MSG_INCOMPLETE,   /* ended by a gap, FIN/RST or expiry before its framing completed */
    FLOW_MSG_DROPPED_INCOMPLETE, /* ... and not emitted (no --input-raw-allow-incomplete) */
    FLOW_MSG_TRUNCATED, /* payload cut at max_msg or by the memory budget */
    FLOW_MSG_MALFORMED, /* not HTTP/1.x where a message should start: skipped to the next */
    FLOW_MSG_UNPAIRED,  /* a response with no request seen before it */
    FLOW_MSG_NO_RESPONSE, /* a request whose response was never seen (its connection ended) */
    FLOW_BYTES_SKIPPED, /* stream bytes that belonged to no message (resync, tunnels) */
    FLOW_GAPS,          /* holes in a stream (lost segments) */
    FLOW_GAP_BYTES,
    FLOW_RETRANS_BYTES, /* retransmitted or overlapping bytes, already delivered */
    FLOW_OOO_SEGMENTS,  /* segments that arrived ahead of a hole */
    FLOW_MEMCAP,        /* times the memory budget was hit */
    FLOW_TUNNELS,       /* connections that switched protocols (101, CONNECT) */
    FLOW_REALIP_SKIPPED, /* requests without a whole head to set --input-raw-realip-header in */
    FLOW_SELF_CONNS,    /* doppel's own replay connections seen, and skipped */
    FLOW_CTR_COUNT
};
extern const char *const flow_ctr_names[FLOW_CTR_COUNT];

struct flow_table;

/* Creates a table that hands every message to <emit,ctx>. 0 or -ENOMEM. */
int flow_table_new(const struct flow_opts *o, flow_emit_fn *emit, void *ctx,
        struct flow_table **out) DP_WUR;

/* Frees the table and every connection in it, without emitting anything. */
void flow_table_free(struct flow_table *t);

/* One decoded TCP segment captured at <ts_ns>. Borrows <p> until return. */
void flow_table_packet(struct flow_table *t, int64_t ts_ns, const struct pkt *p);

/* Moves the clock to <now_ns> (if later) and expires the connections idle past expire_ns. */
void flow_table_advance(struct flow_table *t, int64_t now_ns);

/* End of capture: every connection is flushed (what is complete is emitted) and forgotten. */
void flow_table_finish(struct flow_table *t);

/* Connections tracked now. */
size_t flow_table_len(const struct flow_table *t);

/* Bytes charged to the memory budget now: at most memcap, plus the size-class rounding of the
 * last message grown. */
size_t flow_table_buffered(const struct flow_table *t);

/* Counters, FLOW_CTR_COUNT of them. */
const uint64_t *flow_table_ctr(const struct flow_table *t);

#endif
