/*
 * capture.h: a capture thread: pcap handles -> decode -> flow table -> messages -> ring.
 *
 * The thread owns its pcap handles, decoder and flow table; the loop only drains the ring
 * (after the wake callback) and reads counter snapshots. Nothing is shared otherwise
 * (DESIGN.md §3).
 *
 *   capture thread                                  loop thread
 *   pcap_next_ex / poll --> pkt_decode --> flow --> dp_ring --> capture_drain() --> pipeline
 *                                                      \--> wake() (uv_async_send)
 *
 * The vxlan engine has no pcap handle: the thread reads VXLAN datagrams from a UDP socket
 * (recvmmsg, kernel receive timestamps, kernel drops from SO_RXQ_OVFL) and decodes each one's
 * inner Ethernet frame.
 *
 * A live capture never waits for the loop: when the ring is full a message is dropped and
 * counted. A capture file has no deadline: the thread waits for room instead, so reading a
 * file loses nothing to a slow pipeline.
 */
#ifndef DP_CAPTURE_CAPTURE_H
#define DP_CAPTURE_CAPTURE_H

#include <pcap/pcap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture/flow.h"
#include "capture/pcap_file.h"
#include "capture/pkt_decode.h"
#include "core/err.h"

#define CAPTURE_MAX_HANDLES 64

enum capture_ctr {
    CAP_PACKETS = 0,   /* frames read from pcap */
    CAP_KERNEL_DROPS,  /* pcap_stats ps_drop + ps_ifdrop (live) */
    CAP_TCP,           /* decoded TCP segments */
    CAP_NOT_TCP,
    CAP_FRAGMENTS,
    CAP_MALFORMED,
    CAP_FILTERED,      /* VLAN/VNI filters, or not one of the address's ports */
    CAP_RING_DROPS,    /* messages dropped because the loop was behind (live only) */
    CAP_CTR_COUNT
};
extern const char *const capture_ctr_names[CAP_CTR_COUNT];

/* A snapshot of every counter, taken by capture_stats(). */
struct capture_stats {
    uint64_t cap[CAP_CTR_COUNT];
    uint64_t flow[FLOW_CTR_COUNT];
    uint64_t conns; /* tracked now */
};

typedef void capture_wake_fn(void *ctx);
/* Called by the thread for each port check (is <port> one we capture). */
typedef bool capture_port_fn(void *ctx, uint16_t port);

struct capture_opts {
    struct flow_opts flow;
    bool live;
    size_t ring_cap;               /* messages */
    const char *label;             /* for log lines */
    capture_port_fn *port_ok;      /* NULL: every port */
    void *port_ctx;
    uint16_t vxlan_port;
    bool vlan_only;
    const int64_t *vids;           /* --input-raw-vlan-vid */
    size_t n_vids;
    const int64_t *vnis;           /* --input-raw-vxlan-vni (negative: deny) */
    size_t n_vnis;
    int udp_fd;                    /* vxlan engine: a bound UDP socket (taken), or -1 */
    struct pcap_file *file;        /* a capture file (taken), or NULL */
    struct bpf_program *file_bpf;  /* a compiled filter for the file (taken, malloc'd), or NULL */
};

struct capture;

/* Creates a capture over <handles> (it takes them: they are closed by capture_free), or, with
 * no handles, over o->file (a capture file, read by capture/pcap_file) or o->udp_fd (vxlan). On failure it takes nothing: the caller closes them. */
int capture_new(const struct capture_opts *o, pcap_t **handles, size_t n_handles,
        struct capture **out, struct dp_err *err) DP_WUR;

/* Starts the thread; <wake> is called from it whenever messages are ready. */
int capture_start(struct capture *c, capture_wake_fn *wake, void *wake_ctx,
        struct dp_err *err) DP_WUR;

/* Loop side: takes up to <max> messages (their references) into <out>; returns the count. */
size_t capture_drain(struct capture *c, struct dp_msg **out, size_t max);

/* Loop side, after capture_drain() found the ring empty: the thread wakes the loop at its next
 * message. True when a message came in meanwhile: drain again (no wake-up will come for it). */
bool capture_wait(struct capture *c);

/* True when the thread has ended (end of file, error or stop) and the ring is empty. */
bool capture_finished(struct capture *c);

/* Asks the thread to finish its flows and end, and waits for it. */
void capture_stop(struct capture *c);

void capture_stats(struct capture *c, struct capture_stats *out);

/* Joins the thread if needed, frees messages left in the ring, closes the handles. */
void capture_free(struct capture *c);

#endif
