/*
 * pkt_decode.h: one captured frame -> a view of the TCP segment inside it.
 *
 *   link            [VLAN tags]     network              [VXLAN, once]               transport
 *   Ethernet II ---+-- 802.1Q   --+-- IPv4 (options) --+-- UDP:vxlan_port -> VXLAN -+-- TCP
 *   Linux SLL   ---+   802.1ad   +-- IPv6 (ext hdrs) -+      -> inner Ethernet ... |
 *   Linux SLL2  ---+   0x9100    |                    +----------------------------+
 *   raw IP      -----------------+
 *   BSD null/loop ---------------+
 *
 * The decoder never copies: pkt.payload points into the frame and is valid as long as the frame
 * is. It never reads outside <frame, caplen>. Each header is checked against what was captured
 * (caplen) and against what was on the wire (the IP length, wirelen): a frame cut inside its
 * headers is PKT_MALFORMED, a frame cut inside its TCP payload is PKT_TCP with
 * payload_len < payload_wire. Ethernet padding and trailers past the IP length are trimmed.
 * See docs/internals/pkt_decode.md.
 */
#ifndef DP_CAPTURE_PKT_DECODE_H
#define DP_CAPTURE_PKT_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pkt_rc {
    PKT_TCP = 0,       /* *out describes a TCP segment */
    PKT_NOT_TCP = 1,   /* ARP, UDP (not VXLAN), ICMP, other ethertypes/protocols */
    PKT_FRAGMENT = 2,  /* an IPv4/IPv6 fragment (not reassembled) */
    PKT_MALFORMED = 3, /* truncated headers, bad lengths, bad IHL/data offset, bad version */
    PKT_FILTERED = 4,  /* VLAN id or VXLAN VNI not allowed by the decoder's filters */
    PKT_RC_COUNT
};

extern const char *const pkt_rc_names[PKT_RC_COUNT];

/* pkt.tcp_flags bits (RFC 9293 section 3.1, RFC 3168 section 23.2 for ECE/CWR). */
#define PKT_TH_FIN 0x01
#define PKT_TH_SYN 0x02
#define PKT_TH_RST 0x04
#define PKT_TH_PSH 0x08
#define PKT_TH_ACK 0x10
#define PKT_TH_URG 0x20
#define PKT_TH_ECE 0x40
#define PKT_TH_CWR 0x80

/* LINKTYPE_RAW from pcap files; libpcap maps it to DLT_RAW but a caller may pass it as is. */
#define PKT_LINKTYPE_RAW 101

/* Limits on hostile stacks: deeper ones are PKT_MALFORMED. */
#define PKT_MAX_TAGS    8 /* VLAN tags in one Ethernet frame */
#define PKT_MAX_IP6_EXT 8 /* IPv6 extension headers before the upper layer */

/*
 * The decoded segment. Fully valid only on PKT_TCP; on other results the fields reached before
 * the decision (vlan, vxlan, vni, addresses) are filled and the rest is zero.
 */
struct pkt {
    uint8_t family;           /* 4 or 6 */
    uint8_t tcp_flags;        /* PKT_TH_*: FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 URG 0x20 */
    uint16_t sport, dport;    /* host order */
    uint8_t src[16], dst[16]; /* IPv4: first 4 bytes, the rest zero */
    uint32_t seq, ack;        /* host order */
    uint16_t window;          /* as on the wire, not scaled */
    const uint8_t *payload;   /* points into the frame */
    uint32_t payload_len;     /* TCP payload bytes present in the capture */
    uint32_t payload_wire;    /* TCP payload bytes on the wire (from the IP length); > payload_len
                                 when the capture truncated it (snaplen) */
    uint16_t vlan[2];         /* VLAN ids (12 bits), outermost first */
    uint8_t nvlan;            /* ids stored in vlan[], 0..2 */
    uint8_t vlan_depth;       /* tags in the frame, may exceed 2 (Q-in-Q-in-Q) */
    bool vxlan;               /* decapsulated from VXLAN */
    uint32_t vni;             /* the VXLAN network identifier when vxlan */
};

#define PKT_MAX_VIDS 16
#define PKT_MAX_VNIS 16

/*
 * Decoder configuration and counters. Filters:
 *  - VLAN (vlan_only, vids) look at the tags of the frame handed to the decoder: the captured
 *    frame for pkt_decode(), the inner Ethernet frame for pkt_decode_vxlan(). Tags of a frame
 *    found inside VXLAN by pkt_decode() are skipped, not filtered and not recorded.
 *  - VNI (vnis) looks at every VXLAN header decapsulated.
 * A filtered frame is PKT_FILTERED even when it would not have been TCP.
 */
struct pkt_decoder {
    int linktype;        /* DLT_* from libpcap (pcap_datalink) */
    uint16_t vxlan_port; /* UDP port of VXLAN inside captures, 0 = don't decapsulate (default
                            4789 set by init) */
    bool vlan_only;      /* --input-raw-vlan: only 802.1Q-tagged frames pass */
    uint16_t vids[PKT_MAX_VIDS]; /* --input-raw-vlan-vid OR list (any tag of the frame matching */
    uint8_t nvids;               /* passes); empty = all */
    uint32_t vnis[PKT_MAX_VNIS]; /* --input-raw-vxlan-vni: allow list, */
    uint8_t nvnis;               /* or deny list when vni_deny; empty = all */
    bool vni_deny;
    uint64_t ctr[PKT_RC_COUNT]; /* pkt_decode() and pkt_decode_vxlan() count every result here */
};

/* Zeroes <d> (no filters, counters at 0) and sets <linktype> and vxlan_port 4789 (RFC 7348). */
void pkt_decoder_init(struct pkt_decoder *d, int linktype);

/* True when pkt_decode() understands frames of <linktype> (a DLT_* value or LINKTYPE_RAW). */
bool pkt_linktype_supported(int linktype);

/*
 * Decodes the frame <frame, caplen> captured from a packet of <wirelen> bytes (a <wirelen> below
 * <caplen> is taken as <caplen>) with <d>'s link type and filters. Fills *<out> and returns what
 * the frame is; PKT_TCP means every field of *<out> is valid. Borrows <frame> until return;
 * out->payload points into it. Bumps d->ctr[result]. An unsupported link type is PKT_NOT_TCP.
 */
enum pkt_rc pkt_decode(struct pkt_decoder *d, const uint8_t *frame, size_t caplen, size_t wirelen,
        struct pkt *out);

/*
 * VXLAN listener engine: decodes the payload of one UDP datagram received on the VXLAN port,
 * <udp_payload, len> = the 8-byte VXLAN header (RFC 7348 section 5) and an inner Ethernet frame.
 * Applies the VNI filter, then the VLAN filters to the inner frame. Does not decapsulate a
 * second VXLAN level. Returns and fills *<out> as pkt_decode() does; bumps d->ctr[result].
 */
enum pkt_rc pkt_decode_vxlan(struct pkt_decoder *d, const uint8_t *udp_payload, size_t len,
        struct pkt *out);

#endif
