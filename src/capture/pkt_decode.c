/*
 * pkt_decode.c: link layer -> VLAN tags -> IPv4/IPv6 -> TCP, or UDP -> VXLAN -> again once.
 *
 * Every layer reads through pull(), which checks the length before handing out a header and
 * moves the cursor only on success (STYLE.md rule 12). Each layer ends where its length field
 * says (trim()), so Ethernet padding never becomes payload; the bytes of the layer that were on
 * the wire but not captured are carried in dec.missing, which is how a snaplen cut inside the
 * TCP payload is told from a lying length field.
 */
#include "capture/pkt_decode.h"

#include <pcap/dlt.h>
#include <string.h>

#include "core/common.h"

const char *const pkt_rc_names[PKT_RC_COUNT] = {
    [PKT_TCP] = "tcp",
    [PKT_NOT_TCP] = "not_tcp",
    [PKT_FRAGMENT] = "fragment",
    [PKT_MALFORMED] = "malformed",
    [PKT_FILTERED] = "filtered",
};

#define ETH_HLEN   14
#define VLAN_HLEN  4
#define SLL_HLEN   16
#define SLL2_HLEN  20
#define NULL_HLEN  4
#define IP4_HLEN   20
#define IP6_HLEN   40
#define IP6_EXTLEN 8 /* the smallest extension header, and the fragment header's size */
#define TCP_HLEN   20
#define UDP_HLEN   8
#define VXLAN_HLEN 8

#define ETHERTYPE_IPV4   0x0800
#define ETHERTYPE_IPV6   0x86dd
#define ETHERTYPE_8021Q  0x8100
#define ETHERTYPE_8021AD 0x88a8
#define ETHERTYPE_QINQ   0x9100 /* pre-802.1ad Q-in-Q, still seen on some switches */

#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_TCP_     6
#define IPPROTO_UDP_     17
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAG_    44
#define IPPROTO_AH_      51
#define IPPROTO_NONE_    59
#define IPPROTO_DSTOPTS_ 60

#define VXLAN_FLAG_I 0x08
#define VXLAN_PORT   4789 /* RFC 7348 section 5 */

struct dec {
    struct pkt_decoder *d;
    struct pkt *out;
    size_t missing; /* bytes of the current layer on the wire past the end of the capture */
    bool in_vxlan;  /* one VXLAN header was taken off: do not decapsulate another */
};

/* Hands out the next <n> bytes at *<p> and moves past them, or NULL when fewer are left. */
static const uint8_t *pull(const uint8_t **p, const uint8_t *end, size_t n)
{
    const uint8_t *h = *p;

    if ((size_t)(end - h) < n)
        return NULL;
    *p = h + n;
    return h;
}

/*
 * Ends the layer starting at <p> after <len> bytes (its length field): captured bytes past it
 * are padding or a trailer and go. When fewer than <len> bytes were captured, the shortfall must
 * fit in what the capture cut off (s->missing), otherwise the length field lies.
 */
static bool trim(struct dec *s, const uint8_t *p, const uint8_t **end, size_t len)
{
    size_t have = (size_t)(*end - p);

    if (len <= have) {
        *end = p + len;
        s->missing = 0;
        return true;
    }
    if (len - have > s->missing)
        return false;
    s->missing = len - have;
    return true;
}

/* RFC 9293 section 3.1. */
static enum pkt_rc dec_tcp(struct dec *s, const uint8_t **p, const uint8_t *end)
{
    const uint8_t *h = *p;
    size_t have = (size_t)(end - h);
    size_t doff;

    if (have < TCP_HLEN)
        return PKT_MALFORMED;
    doff = (size_t)(h[12] >> 4) * 4;
    if (doff < TCP_HLEN || doff > have) /* options cut by the capture or past the segment */
        return PKT_MALFORMED;
    s->out->sport = rd_be16(h);
    s->out->dport = rd_be16(h + 2);
    s->out->seq = rd_be32(h + 4);
    s->out->ack = rd_be32(h + 8);
    s->out->tcp_flags = h[13];
    s->out->window = rd_be16(h + 14);
    s->out->payload = h + doff;
    /* Both fit: the IP layer below bounded the segment by a 16-bit length. */
    s->out->payload_len = (uint32_t)(have - doff);
    s->out->payload_wire = (uint32_t)(have + s->missing - doff);
    *p = end;
    return PKT_TCP;
}

static bool vni_allowed(const struct pkt_decoder *d, uint32_t vni)
{
    size_t n = DP_MIN((size_t)d->nvnis, (size_t)PKT_MAX_VNIS);
    bool listed = false;

    if (n == 0)
        return true;
    for (size_t i = 0; i < n && !listed; i++)
        listed = d->vnis[i] == vni;
    return d->vni_deny ? !listed : listed;
}

static bool vid_listed(const struct pkt_decoder *d, uint16_t vid)
{
    size_t n = DP_MIN((size_t)d->nvids, (size_t)PKT_MAX_VIDS);

    for (size_t i = 0; i < n; i++) {
        if (d->vids[i] == vid)
            return true;
    }
    return false;
}

/* The VLAN filters on the top frame: <depth> tags, <vid_match> when one of them is listed. */
static bool vlan_pass(const struct pkt_decoder *d, unsigned depth, bool vid_match)
{
    if (d->vlan_only && depth == 0)
        return false;
    return d->nvids == 0 || vid_match;
}

static enum pkt_rc dec_ether(struct dec *s, const uint8_t **p, const uint8_t *end, bool top);

/* RFC 7348 section 5: flags (I bit), 24 reserved bits, the 24-bit VNI, 8 reserved bits. */
static enum pkt_rc dec_vxlan(struct dec *s, const uint8_t **p, const uint8_t *end, bool top)
{
    const uint8_t *h = pull(p, end, VXLAN_HLEN);

    if (h == NULL || !(h[0] & VXLAN_FLAG_I))
        return PKT_MALFORMED;
    s->in_vxlan = true;
    s->out->vxlan = true;
    s->out->vni = rd_be32(h + 4) >> 8;
    if (!vni_allowed(s->d, s->out->vni))
        return PKT_FILTERED;
    return dec_ether(s, p, end, top);
}

/* RFC 768. Only UDP to the VXLAN port is looked into, and only outside VXLAN already. */
static enum pkt_rc dec_udp(struct dec *s, const uint8_t **p, const uint8_t *end)
{
    const uint8_t *h = *p;
    size_t ulen;

    if (s->d->vxlan_port == 0 || s->in_vxlan)
        return PKT_NOT_TCP;
    if ((size_t)(end - h) < UDP_HLEN)
        return PKT_MALFORMED;
    if (rd_be16(h + 2) != s->d->vxlan_port)
        return PKT_NOT_TCP;
    ulen = rd_be16(h + 4);
    if (ulen < UDP_HLEN || !trim(s, h, &end, ulen))
        return PKT_MALFORMED;
    *p = h + UDP_HLEN;
    return dec_vxlan(s, p, end, false);
}

static enum pkt_rc dec_l4(struct dec *s, uint8_t proto, const uint8_t **p, const uint8_t *end)
{
    if (proto == IPPROTO_TCP_)
        return dec_tcp(s, p, end);
    if (proto == IPPROTO_UDP_)
        return dec_udp(s, p, end);
    return PKT_NOT_TCP;
}

/* RFC 791 section 3.1. */
static enum pkt_rc dec_ip4(struct dec *s, const uint8_t **p, const uint8_t *end)
{
    const uint8_t *h = *p;
    size_t hl, tot;

    if ((size_t)(end - h) < IP4_HLEN || h[0] >> 4 != 4)
        return PKT_MALFORMED;
    hl = (size_t)(h[0] & 0x0f) * 4;
    tot = rd_be16(h + 2);
    /* A total length of 0 (TSO, IPv4 BIG TCP) is refused too: we cannot tell it from garbage. */
    if (hl < IP4_HLEN || tot < hl || !trim(s, h, &end, tot))
        return PKT_MALFORMED;
    if ((size_t)(end - h) < hl) /* options cut by the capture */
        return PKT_MALFORMED;
    s->out->family = 4;
    memset(s->out->src, 0, sizeof(s->out->src));
    memset(s->out->dst, 0, sizeof(s->out->dst));
    memcpy(s->out->src, h + 12, 4);
    memcpy(s->out->dst, h + 16, 4);
    if (rd_be16(h + 6) & 0x3fff) /* MF, or a fragment offset */
        return PKT_FRAGMENT;
    *p = h + hl;
    return dec_l4(s, h[9], p, end);
}

/* RFC 8200 sections 3 and 4; AH is RFC 4302 section 2.2. */
static enum pkt_rc dec_ip6(struct dec *s, const uint8_t **p, const uint8_t *end)
{
    const uint8_t *h = pull(p, end, IP6_HLEN);
    uint8_t nh;

    if (h == NULL || h[0] >> 4 != 6)
        return PKT_MALFORMED;
    /* Payload length 0 is a jumbogram (RFC 2675) or IPv6 BIG TCP: not supported. */
    if (rd_be16(h + 4) == 0 || !trim(s, *p, &end, rd_be16(h + 4)))
        return PKT_MALFORMED;
    s->out->family = 6;
    memcpy(s->out->src, h + 8, 16);
    memcpy(s->out->dst, h + 24, 16);
    nh = h[6];
    for (unsigned n = 0;; n++) {
        const uint8_t *e;
        size_t len;

        switch (nh) {
        case IPPROTO_TCP_:
        case IPPROTO_UDP_:
            return dec_l4(s, nh, p, end);
        case IPPROTO_HOPOPTS_:
        case IPPROTO_ROUTING_:
        case IPPROTO_DSTOPTS_:
        case IPPROTO_AH_:
        case IPPROTO_FRAG_:
            break;
        default: /* 59 no next header, ESP, ICMPv6, mobility, ... */
            return PKT_NOT_TCP;
        }
        e = *p;
        if (n == PKT_MAX_IP6_EXT || (size_t)(end - e) < IP6_EXTLEN)
            return PKT_MALFORMED;
        if (nh == IPPROTO_FRAG_) {
            /* RFC 8200 section 4.5; offset 0 with M clear is an atomic fragment (RFC 6946). */
            if (rd_be16(e + 2) & 0xfff9)
                return PKT_FRAGMENT;
            len = IP6_EXTLEN;
        } else if (nh == IPPROTO_AH_) {
            len = ((size_t)e[1] + 2) * 4;
        } else {
            len = ((size_t)e[1] + 1) * 8;
        }
        if (pull(p, end, len) == NULL)
            return PKT_MALFORMED;
        nh = e[0];
    }
}

static enum pkt_rc dec_ethertype(struct dec *s, uint16_t type, const uint8_t **p,
        const uint8_t *end)
{
    if (type == ETHERTYPE_IPV4)
        return dec_ip4(s, p, end);
    if (type == ETHERTYPE_IPV6)
        return dec_ip6(s, p, end);
    return PKT_NOT_TCP;
}

static bool is_tag(uint16_t type)
{
    return type == ETHERTYPE_8021Q || type == ETHERTYPE_8021AD || type == ETHERTYPE_QINQ;
}

/*
 * IEEE 802.1Q section 9.6 tags, stacked, in front of the ethertype <type>. On the decoder's
 * <top> frame they are recorded and filtered; inside VXLAN they are only skipped.
 */
static enum pkt_rc dec_tags(struct dec *s, uint16_t type, const uint8_t **p, const uint8_t *end,
        bool top)
{
    unsigned depth = 0;
    bool vid_match = false;

    while (is_tag(type)) {
        const uint8_t *h = pull(p, end, VLAN_HLEN);
        uint16_t vid;

        if (h == NULL || depth == PKT_MAX_TAGS)
            return PKT_MALFORMED;
        depth++;
        vid = rd_be16(h) & 0x0fff;
        type = rd_be16(h + 2);
        if (!top)
            continue;
        if (s->out->nvlan < DP_ARRAY_LEN(s->out->vlan))
            s->out->vlan[s->out->nvlan++] = vid;
        s->out->vlan_depth = (uint8_t)depth;
        vid_match = vid_match || vid_listed(s->d, vid);
    }
    if (top && !vlan_pass(s->d, depth, vid_match))
        return PKT_FILTERED;
    return dec_ethertype(s, type, p, end);
}

/* Ethernet II: destination, source, ethertype; 802.3 length frames (< 0x0600) are LLC. */
static enum pkt_rc dec_ether(struct dec *s, const uint8_t **p, const uint8_t *end, bool top)
{
    const uint8_t *h = pull(p, end, ETH_HLEN);

    if (h == NULL)
        return PKT_MALFORMED;
    return dec_tags(s, rd_be16(h + 12), p, end, top);
}

/* Raw IP: the version nibble says which. */
static enum pkt_rc dec_raw(struct dec *s, const uint8_t **p, const uint8_t *end)
{
    if (*p == end)
        return PKT_MALFORMED;
    if (**p >> 4 == 4)
        return dec_ip4(s, p, end);
    if (**p >> 4 == 6)
        return dec_ip6(s, p, end);
    return PKT_MALFORMED;
}

/* BSD loopback: AF_INET is 2 everywhere, AF_INET6 differs per OS (Linux, BSDs, FreeBSD, Darwin). */
static enum pkt_rc dec_af(struct dec *s, uint32_t af, const uint8_t **p, const uint8_t *end)
{
    switch (af) {
    case 2:
        return dec_ip4(s, p, end);
    case 10:
    case 24:
    case 28:
    case 30:
        return dec_ip6(s, p, end);
    default:
        return PKT_NOT_TCP;
    }
}

static uint32_t swap32(uint32_t v)
{
    return v >> 24 | (v >> 8 & 0xff00) | (v << 8 & 0xff0000) | v << 24;
}

static enum pkt_rc dec_link(struct dec *s, const uint8_t **p, const uint8_t *end)
{
    const uint8_t *h;
    uint32_t af;

    switch (s->d->linktype) {
    case DLT_EN10MB:
        return dec_ether(s, p, end, true);
    case DLT_LINUX_SLL: /* packet type, ARPHRD, address length, address[8], protocol */
        h = pull(p, end, SLL_HLEN);
        return h == NULL ? PKT_MALFORMED : dec_tags(s, rd_be16(h + 14), p, end, true);
    case DLT_LINUX_SLL2: /* protocol, reserved, ifindex, ARPHRD, packet type, addr len, addr */
        h = pull(p, end, SLL2_HLEN);
        return h == NULL ? PKT_MALFORMED : dec_tags(s, rd_be16(h), p, end, true);
    default:
        break;
    }
    /* The link types below carry no tags: a VLAN filter can only refuse. */
    if (!pkt_linktype_supported(s->d->linktype))
        return PKT_NOT_TCP;
    if (!vlan_pass(s->d, 0, false))
        return PKT_FILTERED;
    switch (s->d->linktype) {
    case DLT_RAW:
#if DLT_RAW != PKT_LINKTYPE_RAW
    case PKT_LINKTYPE_RAW:
#endif
        return dec_raw(s, p, end);
    case DLT_IPV4:
        return dec_ip4(s, p, end);
    case DLT_IPV6:
        return dec_ip6(s, p, end);
    case DLT_NULL: /* the family in the capturing host's order; swapped as tcpdump does */
        h = pull(p, end, NULL_HLEN);
        if (h == NULL)
            return PKT_MALFORMED;
        memcpy(&af, h, sizeof(af));
        if (af & 0xffff0000u)
            af = swap32(af);
        return dec_af(s, af, p, end);
    case DLT_LOOP: /* the family in network order */
        h = pull(p, end, NULL_HLEN);
        return h == NULL ? PKT_MALFORMED : dec_af(s, rd_be32(h), p, end);
    default:
        return PKT_NOT_TCP;
    }
}

void pkt_decoder_init(struct pkt_decoder *d, int linktype)
{
    memset(d, 0, sizeof(*d));
    d->linktype = linktype;
    d->vxlan_port = VXLAN_PORT;
}

bool pkt_linktype_supported(int linktype)
{
    switch (linktype) {
    case DLT_EN10MB:
    case DLT_LINUX_SLL:
    case DLT_LINUX_SLL2:
    case DLT_RAW:
#if DLT_RAW != PKT_LINKTYPE_RAW
    case PKT_LINKTYPE_RAW:
#endif
    case DLT_IPV4:
    case DLT_IPV6:
    case DLT_NULL:
    case DLT_LOOP:
        return true;
    default:
        return false;
    }
}

enum pkt_rc pkt_decode(struct pkt_decoder *d, const uint8_t *frame, size_t caplen, size_t wirelen,
        struct pkt *out)
{
    struct dec s = { .d = d, .out = out, .missing = wirelen > caplen ? wirelen - caplen : 0 };
    const uint8_t *p = frame;
    enum pkt_rc rc;

    memset(out, 0, sizeof(*out));
    rc = caplen == 0 ? PKT_MALFORMED : dec_link(&s, &p, frame + caplen);
    d->ctr[rc]++;
    return rc;
}

enum pkt_rc pkt_decode_vxlan(struct pkt_decoder *d, const uint8_t *udp_payload, size_t len,
        struct pkt *out)
{
    struct dec s = { .d = d, .out = out, .missing = 0 };
    const uint8_t *p = udp_payload;
    enum pkt_rc rc;

    memset(out, 0, sizeof(*out));
    rc = len == 0 ? PKT_MALFORMED : dec_vxlan(&s, &p, udp_payload + len, true);
    d->ctr[rc]++;
    return rc;
}
