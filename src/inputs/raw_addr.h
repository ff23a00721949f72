/*
 * raw_addr.h: --input-raw addresses, parsed as GoReplay does, and the BPF filter they imply.
 *
 *   :80            every interface, port 80        127.0.0.1:80   the interface owning the IP
 *   :80,8080       several ports; :0 all ports     [::1]:80       IPv6
 *   eth0:80        by interface name               eth*:80        interfaces whose name starts "eth"
 *   file.pcap[:80] a capture file (pcap or pcapng); no port means every port
 */
#ifndef DP_INPUTS_RAW_ADDR_H
#define DP_INPUTS_RAW_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define RAW_ADDR_MAX_PORTS 32

enum raw_addr_kind {
    RAW_ADDR_ANY = 0,          /* every interface */
    RAW_ADDR_IP = 1,           /* the interface owning <host>; BPF also filters on <host> */
    RAW_ADDR_IFACE = 2,        /* interface <host> */
    RAW_ADDR_IFACE_PREFIX = 3, /* interfaces whose name starts with <host> */
    RAW_ADDR_FILE = 4,         /* capture file <host> */
    RAW_ADDR_KIND_COUNT
};

extern const char *const raw_addr_kind_names[RAW_ADDR_KIND_COUNT];

struct raw_addr {
    enum raw_addr_kind kind;
    char host[256];
    bool ipv6; /* <host> is an IPv6 address */
    uint16_t ports[RAW_ADDR_MAX_PORTS];
    unsigned n_ports; /* 0: every port */
};

/*
 * Parses <s>. <force_file> treats it as a capture file whatever its name (--input-raw-engine
 * pcap_file). Returns 0, or -EINVAL with <err> saying what is wrong.
 */
int raw_addr_parse(const char *s, bool force_file, struct raw_addr *out, struct dp_err *err);

/* True when <port> is one of <a>'s ports (or <a> takes every port). */
bool raw_addr_has_port(const struct raw_addr *a, uint16_t port);

struct raw_bpf_opts {
    bool track_response; /* also the server's side: src port */
    bool promisc;        /* no host part */
    bool vlan;           /* also match inside up to two 802.1Q tags */
};

/*
 * Writes the BPF filter for <a> into <out> (capacity <cap>), as GoReplay builds it:
 * "(tcp dst port 80) and (dst host 10.0.0.1)" on the request side, plus the src side with
 * track_response. Returns the length or -ENAMETOOLONG.
 */
int raw_addr_bpf(const struct raw_addr *a, const struct raw_bpf_opts *o, char *out, size_t cap);

#endif
