/*
 * pcap_live.h: one live libpcap handle set up so that nothing it can see is lost.
 *
 * Defaults differ from GoReplay's on purpose: snaplen 262144 (GRO/TSO super-packets are never
 * cut), a 10 ms ring block timeout (no 2 s batching delay), a 64 MiB kernel ring, nanosecond
 * timestamps.
 * On the loopback device only incoming packets are taken: every loopback packet is seen twice
 * otherwise (once leaving, once arriving).
 */
#ifndef DP_CAPTURE_PCAP_LIVE_H
#define DP_CAPTURE_PCAP_LIVE_H

#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

#define PCAP_LIVE_SNAPLEN      262144
#define PCAP_LIVE_BUFFER_SIZE  (64 * 1024 * 1024)
#define PCAP_LIVE_TIMEOUT_MS   10 /* ring block timeout: the most a packet waits */

struct pcap_live_opts {
    int64_t buffer_size;     /* kernel buffer in bytes; 0: PCAP_LIVE_BUFFER_SIZE */
    int64_t timeout_ns;      /* 0: PCAP_LIVE_TIMEOUT_MS; else the read timeout */
    bool promisc;
    bool monitor;
    bool loopback;           /* take incoming packets only */
    const char *tstamp_type; /* NULL or a pcap name: host, adapter, adapter_unsynced ... */
    const char *bpf;         /* the filter; NULL or "" for none */
};

/*
 * Opens and activates a non-blocking capture on <dev> with <o>. Returns 0 with *out set, or
 * -errno with <err> saying what failed (permission, no such device, bad BPF with its text).
 */
int pcap_live_open(const char *dev, const struct pcap_live_opts *o, pcap_t **out,
        struct dp_err *err);

#endif
