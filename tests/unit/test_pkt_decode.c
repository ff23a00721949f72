/*
 * test_pkt_decode.c: the packet decoder on frames built byte by byte, cut at every offset in
 * front of a guard page, patched into every kind of bad header, filtered, and on real captures.
 */
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_test.h"

#include "capture/pkt_decode.h"
#include "core/common.h"

/* ---- frame builder ---------------------------------------------------------------------- */

struct fb {
    uint8_t b[4096];
    size_t n;
};

static void put(struct fb *f, const void *p, size_t n)
{
    assert_true(f->n + n <= sizeof(f->b));
    memcpy(f->b + f->n, p, n);
    f->n += n;
}

static void put8(struct fb *f, unsigned v)
{
    uint8_t b = (uint8_t)v;

    put(f, &b, 1);
}

static void put16(struct fb *f, unsigned v)
{
    put8(f, v >> 8);
    put8(f, v & 0xff);
}

static void put32(struct fb *f, uint32_t v)
{
    put16(f, v >> 16);
    put16(f, v & 0xffff);
}

static void fill(struct fb *f, unsigned byte, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put8(f, byte);
}

static void patch16(struct fb *f, size_t off, size_t v)
{
    f->b[off] = (uint8_t)(v >> 8);
    f->b[off + 1] = (uint8_t)v;
}

struct tag {
    uint16_t tpid;
    uint16_t tci;
};

static const uint8_t MACS[12] = { 0x00, 0x10, 0xdb, 0x88, 0xd2, 0xef, 0xc8, 0xbc, 0xc8, 0x96,
    0xd2, 0xa0 };
static const uint8_t V4_SRC[4] = { 192, 0, 2, 1 };
static const uint8_t V4_DST[4] = { 192, 0, 2, 2 };
static const uint8_t V4_ISRC[4] = { 10, 0, 0, 1 }; /* inside VXLAN */
static const uint8_t V4_IDST[4] = { 10, 0, 0, 2 };
static const uint8_t V6_SRC[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t V6_DST[16] = { 0x20, 0x01, 0x0d, 0xb8, [14] = 0xab, [15] = 2 };

#define T_SPORT 40000
#define T_DPORT 80
#define T_SEQ   0x11223344u
#define T_ACK   0x55667788u
#define T_FLAGS (PKT_TH_PSH | PKT_TH_ACK)
#define T_WIN   0x1234

static void put_eth(struct fb *f, const struct tag *tags, size_t ntags, uint16_t type)
{
    put(f, MACS, sizeof(MACS));
    for (size_t i = 0; i < ntags; i++) {
        put16(f, tags[i].tpid);
        put16(f, tags[i].tci);
    }
    put16(f, type);
}

/* Linux cooked v1: packet type, ARPHRD_ETHER, address length, address (8), protocol. */
static void put_sll(struct fb *f, uint16_t proto)
{
    put16(f, 0);
    put16(f, 1);
    put16(f, 6);
    put(f, MACS, 6);
    put16(f, 0);
    put16(f, proto);
}

/* Linux cooked v2: protocol, reserved, ifindex, ARPHRD_ETHER, packet type, addr len, addr (8). */
static void put_sll2(struct fb *f, uint16_t proto)
{
    put16(f, proto);
    put16(f, 0);
    put32(f, 2);
    put16(f, 1);
    put8(f, 4); /* PACKET_OUTGOING */
    put8(f, 6);
    put(f, MACS, 6);
    put16(f, 0);
}

static size_t ip4_begin(struct fb *f, uint8_t proto, size_t optlen, const uint8_t *src,
        const uint8_t *dst)
{
    size_t at = f->n;

    put8(f, 0x40 | (unsigned)(5 + optlen / 4));
    put8(f, 0);
    put16(f, 0); /* total length, set by ip4_end() */
    put16(f, 0xbeef);
    put16(f, 0x4000); /* DF */
    put8(f, 64);
    put8(f, proto);
    put16(f, 0);
    put(f, src, 4);
    put(f, dst, 4);
    if (optlen > 0) { /* router alert (RFC 2113), then NOPs and an end-of-list */
        put8(f, 0x94);
        put8(f, 4);
        put16(f, 0);
    }
    if (optlen > 4) {
        fill(f, 0x01, optlen - 5);
        put8(f, 0x00);
    }
    return at;
}

static void ip4_end(struct fb *f, size_t at)
{
    patch16(f, at + 2, f->n - at);
}

static size_t ip6_begin(struct fb *f, uint8_t nh)
{
    size_t at = f->n;

    put32(f, 0x60012345); /* version, traffic class, flow label */
    put16(f, 0);          /* payload length, set by ip6_end() */
    put8(f, nh);
    put8(f, 64);
    put(f, V6_SRC, 16);
    put(f, V6_DST, 16);
    return at;
}

static void ip6_end(struct fb *f, size_t at)
{
    patch16(f, at + 4, f->n - at - 40);
}

/* One IPv6 extension header of type <type> followed by <nh>; <frag> is the fragment word. */
static void ip6_ext(struct fb *f, uint8_t type, uint8_t nh, uint16_t frag)
{
    put8(f, nh);
    switch (type) {
    case 44:
        put8(f, 0);
        put16(f, frag);
        put32(f, 0xcafe);
        break;
    case 51: /* AH: 12 bytes, length field (12 / 4) - 2 = 1 */
        put8(f, 1);
        fill(f, 0xa5, 10);
        break;
    case 43: /* routing: 24 bytes, type 0 segments left 0 */
        put8(f, 2);
        fill(f, 0, 22);
        break;
    case 60: /* destination options: 16 bytes, Pad1s */
        put8(f, 1);
        fill(f, 0, 14);
        break;
    default: /* hop-by-hop: 8 bytes, PadN */
        put8(f, 0);
        put8(f, 1);
        put8(f, 4);
        fill(f, 0, 4);
        break;
    }
}

static void put_tcp(struct fb *f, size_t optlen, size_t payload)
{
    put16(f, T_SPORT);
    put16(f, T_DPORT);
    put32(f, T_SEQ);
    put32(f, T_ACK);
    put8(f, (unsigned)(5 + optlen / 4) << 4);
    put8(f, T_FLAGS);
    put16(f, T_WIN);
    put16(f, 0);
    put16(f, 0);
    if (optlen > 0) { /* MSS 1460, then NOPs */
        put8(f, 2);
        put8(f, 4);
        put16(f, 1460);
        fill(f, 0x01, optlen - 4);
    }
    for (size_t i = 0; i < payload; i++)
        put8(f, 'a' + (unsigned)(i % 26));
}

static size_t udp_begin(struct fb *f, uint16_t dport)
{
    size_t at = f->n;

    put16(f, 51234);
    put16(f, dport);
    put16(f, 0);
    put16(f, 0);
    return at;
}

static void udp_end(struct fb *f, size_t at)
{
    patch16(f, at + 4, f->n - at);
}

static void put_vxlan(struct fb *f, uint8_t flags, uint32_t vni)
{
    put8(f, flags);
    fill(f, 0, 3);
    put32(f, vni << 8);
}

/* ---- frames from a description ---------------------------------------------------------- */

struct fspec {
    const char *name;
    int link;
    uint32_t af; /* DLT_NULL / DLT_LOOP family; 0: from <ip> */
    uint8_t ntags;
    struct tag tags[PKT_MAX_TAGS + 1];
    uint8_t ip;      /* 4 or 6 (outer when vxlan) */
    uint8_t ip4_opt; /* option bytes, a multiple of 4 */
    uint8_t next_n;  /* IPv6 extension headers */
    uint8_t next[PKT_MAX_IP6_EXT + 1];
    uint16_t frag6; /* the fragment word of a type 44 extension */
    uint8_t tcp_opt;
    uint16_t payload;
    uint8_t pad; /* bytes after the IP packet: Ethernet padding, FCS */
    bool vxlan;
    uint32_t vni;
    uint8_t inner_ip;
    bool inner_tag;
    enum pkt_rc rc;
};

struct built {
    struct fb f;
    size_t off_ip;  /* the outer IP header */
    size_t off_tcp; /* the TCP header */
    size_t off_vx;  /* the VXLAN header */
    size_t off_pl;  /* the TCP payload */
    size_t end_pl;  /* the end of the TCP payload */
};

static uint16_t ethertype_of(uint8_t ip)
{
    return ip == 6 ? 0x86dd : 0x0800;
}

static void build_ip_tcp(struct built *b, const struct fspec *s, uint8_t ip, bool inner)
{
    struct fb *f = &b->f;
    size_t at;

    if (ip == 4) {
        at = ip4_begin(f, 6, inner ? 0 : s->ip4_opt, inner ? V4_ISRC : V4_SRC,
                inner ? V4_IDST : V4_DST);
    } else {
        at = ip6_begin(f, inner || s->next_n == 0 ? 6 : s->next[0]);
        for (size_t i = 0; !inner && i < s->next_n; i++)
            ip6_ext(f, s->next[i], i + 1 < s->next_n ? s->next[i + 1] : 6, s->frag6);
    }
    b->off_tcp = f->n;
    put_tcp(f, s->tcp_opt, s->payload);
    b->off_pl = f->n - s->payload;
    b->end_pl = f->n;
    if (ip == 4)
        ip4_end(f, at);
    else
        ip6_end(f, at);
}

static void build(struct built *b, const struct fspec *s)
{
    struct fb *f = &b->f;
    uint16_t et = ethertype_of(s->ip);
    uint32_t af = s->af != 0 ? s->af : (s->ip == 6 ? 10 : 2);

    memset(b, 0, sizeof(*b));
    switch (s->link) {
    case DLT_EN10MB:
        put_eth(f, s->tags, s->ntags, et);
        break;
    case DLT_LINUX_SLL:
        if (s->ntags > 0) { /* libpcap puts the tag back after the cooked header */
            put_sll(f, s->tags[0].tpid);
            put16(f, s->tags[0].tci);
            put16(f, et);
        } else {
            put_sll(f, et);
        }
        break;
    case DLT_LINUX_SLL2:
        put_sll2(f, et);
        break;
    case DLT_NULL:
        put(f, &af, 4);
        break;
    case DLT_LOOP:
        put32(f, af);
        break;
    default: /* raw */
        break;
    }
    b->off_ip = f->n;
    if (!s->vxlan) {
        build_ip_tcp(b, s, s->ip, false);
    } else {
        size_t ip_at = s->ip == 4 ? ip4_begin(f, 17, s->ip4_opt, V4_SRC, V4_DST) : ip6_begin(f, 17);
        size_t udp_at = udp_begin(f, 4789);
        struct tag it = { 0x8100, 0x0e07 }; /* vid 0xe07 */

        b->off_vx = f->n;
        put_vxlan(f, 0x08, s->vni);
        put_eth(f, &it, s->inner_tag ? 1 : 0, ethertype_of(s->inner_ip));
        build_ip_tcp(b, s, s->inner_ip, true);
        udp_end(f, udp_at);
        if (s->ip == 4)
            ip4_end(f, ip_at);
        else
            ip6_end(f, ip_at);
    }
    fill(f, 0, s->pad);
}

#define ETH   DLT_EN10MB
#define Q(v)  { 0x8100, (v) }
#define AD(v) { 0x88a8, (v) }

static const struct fspec FRAMES[] = {
    { .name = "eth4", .link = ETH, .ip = 4, .payload = 37 },
    { .name = "eth4 padded to 60 + fcs", .link = ETH, .ip = 4, .payload = 1, .pad = 10 },
    { .name = "eth4 empty padded", .link = ETH, .ip = 4, .pad = 6 },
    { .name = "eth4 options", .link = ETH, .ip = 4, .ip4_opt = 12, .tcp_opt = 12, .payload = 9 },
    { .name = "eth4 max options", .link = ETH, .ip = 4, .ip4_opt = 40, .tcp_opt = 40,
            .payload = 3 },
    { .name = "eth6", .link = ETH, .ip = 6, .tcp_opt = 8, .payload = 20, .pad = 4 },
    { .name = "eth6 ext", .link = ETH, .ip = 6, .next_n = 5, .next = { 0, 43, 51, 44, 60 },
            .payload = 11 },
    { .name = "eth6 atomic fragment", .link = ETH, .ip = 6, .next_n = 1, .next = { 44 },
            .payload = 5 },
    { .name = "dot1q", .link = ETH, .ntags = 1, .tags = { Q(0xa064) }, .ip = 4, .payload = 8,
            .pad = 6 },
    { .name = "qinq", .link = ETH, .ntags = 2, .tags = { AD(30), Q(20) }, .ip = 6, .payload = 8 },
    { .name = "qinqinq", .link = ETH, .ntags = 3, .tags = { Q(30), Q(20), { 0x9100, 10 } },
            .ip = 4, .payload = 8 },
    { .name = "8 tags", .link = ETH, .ntags = 8,
            .tags = { Q(1), Q(2), Q(3), Q(4), Q(5), Q(6), Q(7), Q(8) }, .ip = 4, .payload = 2 },
    { .name = "sll4", .link = DLT_LINUX_SLL, .ip = 4, .payload = 19 },
    { .name = "sll6 tagged", .link = DLT_LINUX_SLL, .ntags = 1, .tags = { Q(7) }, .ip = 6,
            .payload = 19 },
    { .name = "sll2 v6", .link = DLT_LINUX_SLL2, .ip = 6, .tcp_opt = 4, .payload = 19 },
    { .name = "sll2 v4", .link = DLT_LINUX_SLL2, .ip = 4, .payload = 0 },
    { .name = "raw4", .link = DLT_RAW, .ip = 4, .payload = 5 },
    { .name = "raw6", .link = DLT_RAW, .ip = 6, .payload = 5 },
    { .name = "linktype_raw", .link = PKT_LINKTYPE_RAW, .ip = 6, .next_n = 1, .next = { 0 },
            .payload = 5 },
    { .name = "ipv4", .link = DLT_IPV4, .ip = 4, .payload = 5 },
    { .name = "ipv6", .link = DLT_IPV6, .ip = 6, .payload = 5 },
    { .name = "null4", .link = DLT_NULL, .ip = 4, .payload = 6 },
    { .name = "null6 darwin", .link = DLT_NULL, .af = 30, .ip = 6, .payload = 6 },
    { .name = "null6 swapped", .link = DLT_NULL, .af = 0x18000000, .ip = 6, .payload = 6 },
    { .name = "loop4", .link = DLT_LOOP, .ip = 4, .payload = 6 },
    { .name = "loop6 freebsd", .link = DLT_LOOP, .af = 28, .ip = 6, .payload = 6 },
    { .name = "vxlan 4/4", .link = ETH, .ntags = 1, .tags = { Q(99) }, .ip = 4, .vxlan = true,
            .vni = 0xabcdef, .inner_ip = 4, .tcp_opt = 4, .payload = 13, .pad = 2 },
    { .name = "vxlan 6/6 tagged inside", .link = ETH, .ip = 6, .next_n = 1, .next = { 60 },
            .vxlan = true, .vni = 42, .inner_ip = 6, .inner_tag = true, .payload = 13 },
    { .name = "vxlan over raw", .link = DLT_RAW, .ip = 4, .ip4_opt = 4, .vxlan = true, .vni = 1,
            .inner_ip = 6, .payload = 1 },
    /* Not TCP, or refused. */
    { .name = "eth6 fragment offset", .link = ETH, .ip = 6, .next_n = 1, .next = { 44 },
            .frag6 = 0x0008, .payload = 5, .rc = PKT_FRAGMENT },
    { .name = "eth6 fragment more", .link = ETH, .ip = 6, .next_n = 2, .next = { 0, 44 },
            .frag6 = 0x0001, .payload = 5, .rc = PKT_FRAGMENT },
    { .name = "9 tags", .link = ETH, .ntags = 9,
            .tags = { Q(1), Q(2), Q(3), Q(4), Q(5), Q(6), Q(7), Q(8), Q(9) }, .ip = 4,
            .payload = 2, .rc = PKT_MALFORMED },
    { .name = "8 ext headers", .link = ETH, .ip = 6, .next_n = 8,
            .next = { 0, 60, 60, 60, 60, 60, 60, 60 }, .payload = 1 },
    { .name = "9 ext headers", .link = ETH, .ip = 6, .next_n = 9,
            .next = { 0, 60, 60, 60, 60, 60, 60, 60, 60 }, .payload = 1, .rc = PKT_MALFORMED },
    { .name = "null unknown family", .link = DLT_NULL, .af = 7, .ip = 4, .payload = 1,
            .rc = PKT_NOT_TCP },
    { .name = "unsupported linktype", .link = DLT_PPP, .ip = 4, .payload = 1,
            .rc = PKT_NOT_TCP },
};

static const uint8_t *expect_src(const struct fspec *s)
{
    uint8_t ip = s->vxlan ? s->inner_ip : s->ip;

    if (ip == 6)
        return V6_SRC;
    return s->vxlan ? V4_ISRC : V4_SRC;
}

static const uint8_t *expect_dst(const struct fspec *s)
{
    uint8_t ip = s->vxlan ? s->inner_ip : s->ip;

    if (ip == 6)
        return V6_DST;
    return s->vxlan ? V4_IDST : V4_DST;
}

/* Every field of <p>, decoded from <frame> (a copy of <b>) captured up to <caplen>. */
static void check_tcp(const struct fspec *s, const struct built *b, const uint8_t *frame,
        size_t caplen, const struct pkt *p)
{
    uint8_t ip = s->vxlan ? s->inner_ip : s->ip;
    uint8_t zero[12] = { 0 };
    size_t nvlan = s->ntags < 2 ? s->ntags : 2;

    assert_int_equal(p->family, ip);
    assert_memory_equal(p->src, expect_src(s), ip == 4 ? 4 : 16);
    assert_memory_equal(p->dst, expect_dst(s), ip == 4 ? 4 : 16);
    if (ip == 4) {
        assert_memory_equal(p->src + 4, zero, 12);
        assert_memory_equal(p->dst + 4, zero, 12);
    }
    assert_int_equal(p->sport, T_SPORT);
    assert_int_equal(p->dport, T_DPORT);
    assert_int_equal(p->seq, T_SEQ);
    assert_int_equal(p->ack, T_ACK);
    assert_int_equal(p->tcp_flags, T_FLAGS);
    assert_int_equal(p->window, T_WIN);
    assert_ptr_equal(p->payload, frame + b->off_pl);
    assert_int_equal(p->payload_wire, s->payload);
    assert_int_equal(p->payload_len, DP_MIN(caplen, b->end_pl) - b->off_pl);
    assert_int_equal(p->nvlan, nvlan);
    assert_int_equal(p->vlan_depth, s->ntags);
    for (size_t i = 0; i < nvlan; i++)
        assert_int_equal(p->vlan[i], s->tags[i].tci & 0x0fff);
    for (size_t i = nvlan; i < 2; i++)
        assert_int_equal(p->vlan[i], 0);
    assert_int_equal(p->vxlan, s->vxlan);
    assert_int_equal(p->vni, s->vxlan ? s->vni : 0);
    if (p->payload_len > 0)
        assert_memory_equal(p->payload, b->f.b + b->off_pl, p->payload_len);
}

static void test_frames(void **state)
{
    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(FRAMES); i++) {
        const struct fspec *s = &FRAMES[i];
        struct built b;
        struct dp_guarded g;
        struct pkt p;
        struct pkt_decoder d;
        enum pkt_rc rc;

        build(&b, s);
        dp_guarded_init(&g, b.f.b, b.f.n);
        pkt_decoder_init(&d, s->link);
        rc = pkt_decode(&d, g.ptr, g.len, g.len, &p);
        if (rc != s->rc)
            fail_msg("%s: %s, want %s", s->name, pkt_rc_names[rc], pkt_rc_names[s->rc]);
        assert_int_equal(d.ctr[rc], 1);
        if (rc == PKT_TCP)
            check_tcp(s, &b, g.ptr, g.len, &p);
        dp_guarded_free(&g);
    }
}

/*
 * Every TCP frame cut after each byte, the cut's last byte against the guard page. With the
 * wire length known, a cut in the headers is MALFORMED and a cut in the payload is a truncated
 * TCP segment; with the wire length equal to the cut, every length field past it lies.
 */
static void test_truncate_every_offset(void **state)
{
    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(FRAMES); i++) {
        const struct fspec *s = &FRAMES[i];
        struct built b;
        struct dp_guarded g;
        struct pkt_decoder d;

        if (s->rc != PKT_TCP)
            continue;
        build(&b, s);
        dp_guarded_init(&g, b.f.b, b.f.n);
        pkt_decoder_init(&d, s->link);
        for (size_t cut = 0; cut <= b.f.n; cut++) {
            uint8_t *frame = g.ptr + g.len - cut;
            struct pkt p;
            enum pkt_rc rc;

            memcpy(frame, b.f.b, cut);
            rc = pkt_decode(&d, frame, cut, b.f.n, &p);
            if (rc != (cut < b.off_pl ? PKT_MALFORMED : PKT_TCP))
                fail_msg("%s cut at %zu/%zu: %s", s->name, cut, b.f.n, pkt_rc_names[rc]);
            if (rc == PKT_TCP)
                check_tcp(s, &b, frame, cut, &p);
            rc = pkt_decode(&d, frame, cut, cut, &p);
            if (rc != (cut < b.end_pl ? PKT_MALFORMED : PKT_TCP))
                fail_msg("%s cut at %zu/%zu, wire = cut: %s", s->name, cut, b.f.n,
                        pkt_rc_names[rc]);
        }
        assert_int_equal(d.ctr[PKT_TCP] + d.ctr[PKT_MALFORMED], 2 * (b.f.n + 1));
        dp_guarded_free(&g);
    }
}

/* ---- one bad field at a time ------------------------------------------------------------ */

enum where { AT_IP, AT_TCP, AT_VX, AT_UDP, AT_ETYPE, AT_LINK };

struct patch {
    const char *name;
    size_t frame; /* index in FRAMES */
    enum where at;
    size_t off;
    int width; /* 1 or 2 bytes */
    unsigned v;
    enum pkt_rc rc;
};

#define F_ETH4  0
#define F_ETH6  5
#define F_EXT6  6
#define F_SLL2  14
#define F_RAW4  16
#define F_RAW6  17
#define F_IPV4  19
#define F_NULL  21
#define F_VX44  26
#define F_VX66  27

static const struct patch PATCHES[] = {
    { "ip4 version 5", F_ETH4, AT_IP, 0, 1, 0x55, PKT_MALFORMED },
    { "ip4 version 6", F_ETH4, AT_IP, 0, 1, 0x65, PKT_MALFORMED },
    { "ip4 ihl 4", F_ETH4, AT_IP, 0, 1, 0x44, PKT_MALFORMED },
    { "ip4 ihl past total", F_ETH4, AT_IP, 0, 1, 0x4f, PKT_MALFORMED },
    { "ip4 total 19", F_ETH4, AT_IP, 2, 2, 19, PKT_MALFORMED },
    { "ip4 total 0", F_ETH4, AT_IP, 2, 2, 0, PKT_MALFORMED },
    { "ip4 total past frame", F_ETH4, AT_IP, 2, 2, 0xffff, PKT_MALFORMED },
    { "ip4 total short of tcp header", F_ETH4, AT_IP, 2, 2, 39, PKT_MALFORMED },
    { "ip4 total ends at payload", F_ETH4, AT_IP, 2, 2, 40, PKT_TCP },
    { "ip4 MF", F_ETH4, AT_IP, 6, 2, 0x2000, PKT_FRAGMENT },
    { "ip4 offset", F_ETH4, AT_IP, 6, 2, 0x0001, PKT_FRAGMENT },
    { "ip4 DF and reserved", F_ETH4, AT_IP, 6, 2, 0xc000, PKT_TCP },
    { "ip4 icmp", F_ETH4, AT_IP, 9, 1, 1, PKT_NOT_TCP },
    { "ip4 udp to port 80", F_ETH4, AT_IP, 9, 1, 17, PKT_NOT_TCP },
    { "ip4 sctp", F_ETH4, AT_IP, 9, 1, 132, PKT_NOT_TCP },
    { "tcp doff 4", F_ETH4, AT_TCP, 12, 1, 0x40, PKT_MALFORMED },
    { "tcp doff 0", F_ETH4, AT_TCP, 12, 1, 0x00, PKT_MALFORMED },
    { "tcp doff past segment", F_ETH4, AT_TCP, 12, 1, 0xf0, PKT_MALFORMED },
    { "tcp doff 14 ends at segment end", F_ETH4, AT_TCP, 12, 1, 0xe0, PKT_TCP },
    { "tcp all flags", F_ETH4, AT_TCP, 13, 1, 0xff, PKT_TCP },
    { "arp", F_ETH4, AT_ETYPE, 0, 2, 0x0806, PKT_NOT_TCP },
    { "802.3 length", F_ETH4, AT_ETYPE, 0, 2, 0x0050, PKT_NOT_TCP },
    { "mpls", F_ETH4, AT_ETYPE, 0, 2, 0x8847, PKT_NOT_TCP },
    { "ethertype v6 on v4", F_ETH4, AT_ETYPE, 0, 2, 0x86dd, PKT_MALFORMED },
    { "ip6 version 4", F_ETH6, AT_IP, 0, 1, 0x40, PKT_MALFORMED },
    { "ip6 jumbo", F_ETH6, AT_IP, 4, 2, 0, PKT_MALFORMED },
    { "ip6 plen past frame", F_ETH6, AT_IP, 4, 2, 0x1000, PKT_MALFORMED },
    { "ip6 plen short of tcp header", F_ETH6, AT_IP, 4, 2, 27, PKT_MALFORMED },
    { "ip6 no next header", F_ETH6, AT_IP, 6, 1, 59, PKT_NOT_TCP },
    { "ip6 icmp6", F_ETH6, AT_IP, 6, 1, 58, PKT_NOT_TCP },
    { "ip6 esp", F_ETH6, AT_IP, 6, 1, 50, PKT_NOT_TCP },
    { "ip6 ext no next", F_EXT6, AT_IP, 40, 1, 59, PKT_NOT_TCP },
    { "ip6 hbh length past packet", F_EXT6, AT_IP, 41, 1, 200, PKT_MALFORMED },
    { "ip6 plen cuts ext headers", F_EXT6, AT_IP, 4, 2, 20, PKT_MALFORMED },
    { "sll2 arp", F_SLL2, AT_LINK, 0, 2, 0x0806, PKT_NOT_TCP },
    { "raw version 5", F_RAW4, AT_IP, 0, 1, 0x55, PKT_MALFORMED },
    { "raw version 0", F_RAW6, AT_IP, 0, 1, 0x00, PKT_MALFORMED },
    { "dlt_ipv4 with a v6 packet", F_IPV4, AT_IP, 0, 1, 0x65, PKT_MALFORMED },
    { "vxlan no I flag", F_VX44, AT_VX, 0, 1, 0x00, PKT_MALFORMED },
    { "vxlan other flags", F_VX44, AT_VX, 0, 1, 0xff, PKT_TCP },
    { "vxlan other port", F_VX44, AT_UDP, 2, 2, 4790, PKT_NOT_TCP },
    { "udp length 7", F_VX44, AT_UDP, 4, 2, 7, PKT_MALFORMED },
    { "udp length past ip", F_VX66, AT_UDP, 4, 2, 0x2000, PKT_MALFORMED },
    { "udp length cuts inner", F_VX44, AT_UDP, 4, 2, 40, PKT_MALFORMED },
};

static void test_patches(void **state)
{
    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(PATCHES); i++) {
        const struct patch *t = &PATCHES[i];
        const struct fspec *s = &FRAMES[t->frame];
        struct built b;
        struct dp_guarded g;
        struct pkt_decoder d;
        struct pkt p;
        size_t at = 0;
        enum pkt_rc rc;

        build(&b, s);
        switch (t->at) {
        case AT_IP:
            at = b.off_ip;
            break;
        case AT_TCP:
            at = b.off_tcp;
            break;
        case AT_VX:
            at = b.off_vx;
            break;
        case AT_UDP:
            at = b.off_vx - 8;
            break;
        case AT_ETYPE:
            at = b.off_ip - 2;
            break;
        case AT_LINK:
            at = 0;
            break;
        }
        at += t->off;
        if (t->width == 1)
            b.f.b[at] = (uint8_t)t->v;
        else
            patch16(&b.f, at, t->v);
        dp_guarded_init(&g, b.f.b, b.f.n);
        pkt_decoder_init(&d, s->link);
        rc = pkt_decode(&d, g.ptr, g.len, g.len, &p);
        if (rc != t->rc)
            fail_msg("%s: %s, want %s", t->name, pkt_rc_names[rc], pkt_rc_names[t->rc]);
        if (rc == PKT_TCP)
            assert_true(p.payload >= g.ptr && p.payload + p.payload_len <= g.ptr + g.len);
        dp_guarded_free(&g);
    }
}

/* ---- filters ---------------------------------------------------------------------------- */

static enum pkt_rc decode_spec(struct pkt_decoder *d, const struct fspec *s, struct pkt *p)
{
    struct built b;
    struct dp_guarded g;
    enum pkt_rc rc;

    build(&b, s);
    dp_guarded_init(&g, b.f.b, b.f.n);
    d->linktype = s->link;
    rc = pkt_decode(d, g.ptr, g.len, g.len, p);
    if (rc == PKT_TCP)
        check_tcp(s, &b, g.ptr, g.len, p);
    dp_guarded_free(&g);
    return rc;
}

static void test_vlan_filters(void **state)
{
    const struct fspec plain = { .link = ETH, .ip = 4, .payload = 3 };
    const struct fspec raw = { .link = DLT_RAW, .ip = 4, .payload = 3 };
    const struct fspec three = { .link = ETH, .ntags = 3, .tags = { Q(100), Q(200), Q(300) },
        .ip = 4, .payload = 3 };
    const struct fspec vid0 = { .link = ETH, .ntags = 1, .tags = { Q(0xa000) }, .ip = 6,
        .payload = 3 };
    struct pkt_decoder d;
    struct pkt p;

    (void)state;
    pkt_decoder_init(&d, ETH);
    d.vlan_only = true;
    assert_int_equal(decode_spec(&d, &plain, &p), PKT_FILTERED);
    assert_int_equal(decode_spec(&d, &raw, &p), PKT_FILTERED);
    assert_int_equal(decode_spec(&d, &three, &p), PKT_TCP);
    assert_int_equal(decode_spec(&d, &vid0, &p), PKT_TCP); /* priority tag, vid 0 */
    assert_int_equal(d.ctr[PKT_FILTERED], 2);
    assert_int_equal(d.ctr[PKT_TCP], 2);

    pkt_decoder_init(&d, ETH);
    d.vids[0] = 5;
    d.vids[1] = 300; /* the third tag, not recorded in vlan[] but filtered on */
    d.nvids = 2;
    assert_int_equal(decode_spec(&d, &three, &p), PKT_TCP);
    assert_int_equal(decode_spec(&d, &plain, &p), PKT_FILTERED);
    assert_int_equal(decode_spec(&d, &vid0, &p), PKT_FILTERED);
    d.vids[1] = 0;
    assert_int_equal(decode_spec(&d, &vid0, &p), PKT_TCP);
    assert_int_equal(decode_spec(&d, &three, &p), PKT_FILTERED);
    assert_int_equal(p.nvlan, 2);
    assert_int_equal(p.vlan[0], 100);
    assert_int_equal(p.vlan[1], 200);
    d.vids[0] = 100;
    assert_int_equal(decode_spec(&d, &three, &p), PKT_TCP);
}

static void test_vxlan_filters(void **state)
{
    const struct fspec vx = { .link = ETH, .ip = 4, .vxlan = true, .vni = 42, .inner_ip = 4,
        .payload = 3 };
    const struct fspec vx43 = { .link = ETH, .ip = 4, .vxlan = true, .vni = 43, .inner_ip = 4,
        .payload = 3 };
    const struct fspec vx_tagged = { .link = ETH, .ntags = 1, .tags = { Q(10) }, .ip = 6,
        .vxlan = true, .vni = 43, .inner_ip = 4, .inner_tag = true, .payload = 3 };
    struct pkt_decoder d;
    struct pkt p;

    (void)state;
    pkt_decoder_init(&d, ETH);
    d.vnis[0] = 7;
    d.vnis[1] = 42;
    d.nvnis = 2;
    assert_int_equal(decode_spec(&d, &vx, &p), PKT_TCP);
    assert_int_equal(decode_spec(&d, &vx43, &p), PKT_FILTERED);
    assert_true(p.vxlan);
    assert_int_equal(p.vni, 43);
    d.vni_deny = true;
    assert_int_equal(decode_spec(&d, &vx, &p), PKT_FILTERED);
    assert_int_equal(decode_spec(&d, &vx43, &p), PKT_TCP);
    /* The VLAN filters see the outer frame's tags only; inner tags are skipped. */
    d.vlan_only = true;
    assert_int_equal(decode_spec(&d, &vx, &p), PKT_FILTERED);
    assert_int_equal(decode_spec(&d, &vx_tagged, &p), PKT_TCP);
    d.vids[0] = 0xe07; /* the inner tag's vid */
    d.nvids = 1;
    assert_int_equal(decode_spec(&d, &vx_tagged, &p), PKT_FILTERED);
    /* Decapsulation off: VXLAN is plain UDP. */
    pkt_decoder_init(&d, ETH);
    d.vxlan_port = 0;
    assert_int_equal(decode_spec(&d, &vx, &p), PKT_NOT_TCP);
    assert_false(p.vxlan);
}

/* ---- VXLAN ------------------------------------------------------------------------------ */

/* A VXLAN payload with a tagged inner Ethernet frame; <nest> wraps one more VXLAN inside. */
static void build_vxlan_payload(struct fb *f, uint32_t vni, bool nest, size_t *off_pl)
{
    static const struct tag t = { 0x8100, 0x2064 }; /* pcp 1, vid 100 */
    size_t ip_at, udp_at = 0;

    put_vxlan(f, 0x08, vni);
    put_eth(f, &t, 1, 0x0800);
    ip_at = ip4_begin(f, nest ? 17 : 6, 0, V4_ISRC, V4_IDST);
    if (nest) {
        udp_at = udp_begin(f, 4789);
        put_vxlan(f, 0x08, vni + 1);
        put_eth(f, NULL, 0, 0x0800);
        size_t in_at = ip4_begin(f, 6, 0, V4_ISRC, V4_IDST);
        put_tcp(f, 0, 4);
        ip4_end(f, in_at);
        udp_end(f, udp_at);
    } else {
        put_tcp(f, 8, 4);
    }
    *off_pl = f->n - 4;
    ip4_end(f, ip_at);
    fill(f, 0, 3); /* inner Ethernet padding */
}

static void test_decode_vxlan(void **state)
{
    struct fb f = { .n = 0 };
    struct dp_guarded g;
    struct pkt_decoder d;
    struct pkt p;
    size_t off_pl;

    (void)state;
    build_vxlan_payload(&f, 0x123456, false, &off_pl);
    dp_guarded_init(&g, f.b, f.n);
    pkt_decoder_init(&d, ETH);
    for (size_t cut = 0; cut <= f.n; cut++) {
        enum pkt_rc rc;

        memcpy(g.ptr + g.len - cut, f.b, cut);
        rc = pkt_decode_vxlan(&d, g.ptr + g.len - cut, cut, &p);
        /* No wire length here: any cut before the padding is a lying IP length. */
        if (rc != (cut < f.n - 3 ? PKT_MALFORMED : PKT_TCP))
            fail_msg("vxlan cut at %zu: %s", cut, pkt_rc_names[rc]);
    }
    assert_int_equal(pkt_decode_vxlan(&d, g.ptr, g.len, &p), PKT_TCP);
    assert_true(p.vxlan);
    assert_int_equal(p.vni, 0x123456);
    assert_int_equal(p.nvlan, 1);
    assert_int_equal(p.vlan[0], 100);
    assert_int_equal(p.family, 4);
    assert_memory_equal(p.src, V4_ISRC, 4);
    assert_memory_equal(p.dst, V4_IDST, 4);
    assert_int_equal(p.sport, T_SPORT);
    assert_int_equal(p.seq, T_SEQ);
    assert_ptr_equal(p.payload, g.ptr + off_pl);
    assert_int_equal(p.payload_len, 4);
    assert_int_equal(p.payload_wire, 4);
    /* Filters: VNI first, then the inner frame's tags. */
    d.vnis[0] = 0x123456;
    d.nvnis = 1;
    d.vni_deny = true;
    assert_int_equal(pkt_decode_vxlan(&d, g.ptr, g.len, &p), PKT_FILTERED);
    d.vni_deny = false;
    d.vids[0] = 101;
    d.nvids = 1;
    assert_int_equal(pkt_decode_vxlan(&d, g.ptr, g.len, &p), PKT_FILTERED);
    d.vids[0] = 100;
    assert_int_equal(pkt_decode_vxlan(&d, g.ptr, g.len, &p), PKT_TCP);
    assert_int_equal(pkt_decode_vxlan(&d, NULL, 0, &p), PKT_MALFORMED);
    dp_guarded_free(&g);

    /* VXLAN in VXLAN: the second level is not opened. */
    f.n = 0;
    build_vxlan_payload(&f, 9, true, &off_pl);
    dp_guarded_init(&g, f.b, f.n);
    pkt_decoder_init(&d, ETH);
    assert_int_equal(pkt_decode_vxlan(&d, g.ptr, g.len, &p), PKT_NOT_TCP);
    assert_int_equal(p.vni, 9);
    dp_guarded_free(&g);

    /* The same nesting inside a captured frame: one level is opened. */
    f.n = 0;
    put_eth(&f, NULL, 0, 0x0800);
    size_t ip_at = ip4_begin(&f, 17, 0, V4_SRC, V4_DST);
    size_t udp_at = udp_begin(&f, 8472);
    build_vxlan_payload(&f, 9, true, &off_pl);
    udp_end(&f, udp_at);
    ip4_end(&f, ip_at);
    dp_guarded_init(&g, f.b, f.n);
    pkt_decoder_init(&d, ETH);
    assert_int_equal(pkt_decode(&d, g.ptr, g.len, g.len, &p), PKT_NOT_TCP); /* 8472 != 4789 */
    d.vxlan_port = 8472;
    assert_int_equal(pkt_decode(&d, g.ptr, g.len, g.len, &p), PKT_NOT_TCP); /* inner 4789 */
    assert_true(p.vxlan);
    assert_int_equal(p.vni, 9);
    assert_int_equal(p.nvlan, 0);
    dp_guarded_free(&g);
}

/* ---- API odds and ends ------------------------------------------------------------------ */

static void test_api(void **state)
{
    static const int ok[] = { DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW, 101, DLT_IPV4,
        DLT_IPV6, DLT_NULL, DLT_LOOP };
    static const int no[] = { DLT_PPP, DLT_IEEE802_11, DLT_IEEE802_11_RADIO, -1, 9999 };
    const struct fspec s = { .link = ETH, .ip = 4, .payload = 10 };
    struct pkt_decoder d;
    struct built b;
    struct pkt p;

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(ok); i++)
        assert_true(pkt_linktype_supported(ok[i]));
    for (size_t i = 0; i < DP_ARRAY_LEN(no); i++)
        assert_false(pkt_linktype_supported(no[i]));
    for (int i = 0; i < PKT_RC_COUNT; i++)
        assert_non_null(pkt_rc_names[i]);
    assert_string_equal(pkt_rc_names[PKT_TCP], "tcp");
    assert_string_equal(pkt_rc_names[PKT_FILTERED], "filtered");

    pkt_decoder_init(&d, DLT_LINUX_SLL2);
    assert_int_equal(d.linktype, DLT_LINUX_SLL2);
    assert_int_equal(d.vxlan_port, 4789);
    assert_false(d.vlan_only);
    assert_int_equal(d.nvids + d.nvnis, 0);

    /* A wire length below the capture length is the capture length. */
    build(&b, &s);
    pkt_decoder_init(&d, ETH);
    assert_int_equal(pkt_decode(&d, b.f.b, b.f.n, 0, &p), PKT_TCP);
    assert_int_equal(p.payload_wire, 10);
    assert_int_equal(pkt_decode(&d, NULL, 0, 0, &p), PKT_MALFORMED);
    /* Snaplen: a short wire length cannot excuse a short capture. */
    assert_int_equal(pkt_decode(&d, b.f.b, b.f.n - 1, b.f.n - 1, &p), PKT_MALFORMED);
    assert_int_equal(pkt_decode(&d, b.f.b, b.f.n - 1, b.f.n, &p), PKT_TCP);
    assert_int_equal(p.payload_len, 9);
    assert_int_equal(p.payload_wire, 10);
    assert_int_equal(d.ctr[PKT_TCP], 2);
    assert_int_equal(d.ctr[PKT_MALFORMED], 2);
}

/* ---- real captures ---------------------------------------------------------------------- */

struct capfile {
    const char *name;
    int linktype;
    uint64_t packets;
    uint64_t tcp;
    bool vlan;    /* every TCP packet is tagged */
    bool snaplen; /* some TCP payloads are cut by the capture */
};

/*
 * Expected counts from tcpdump 4.99 (tshark is not installed here); none of these files holds an
 * IP fragment (checked with 'ip[6:2] & 0x3fff != 0'), so BPF's "tcp" is what we call TCP:
 *   tcpdump -nr FILE | wc -l                                      packets
 *   tcpdump -nr FILE tcp | wc -l                                  tcp
 *   tcpdump -nr zeek_vlan_qinqinq.pcap 'vlan and vlan and vlan and tcp' | wc -l
 *   tcpdump -nr zeek_http_vlan_0.pcap 'vlan and tcp' | wc -l
 */
static const struct capfile CAPTURES[] = {
    { .name = "tcpflow_test4_rawip_ipv6.pcap", .linktype = DLT_RAW, .packets = 115, .tcp = 115 },
    { .name = "ndpi_log4j_webapp_exploit_sll.pcap", .linktype = DLT_LINUX_SLL,
            .packets = 426, .tcp = 422 },
    { .name = "ndpi_1kxun_mixed.pcap", .linktype = DLT_EN10MB, .packets = 1723, .tcp = 1381 },
    { .name = "zeek_vlan_qinqinq.pcap", .linktype = DLT_EN10MB,
            .packets = 14, .tcp = 14, .vlan = true },
    { .name = "zeek_http_vlan_0.pcap", .linktype = DLT_EN10MB,
            .packets = 14, .tcp = 14, .vlan = true },
    { .name = "zeek_spicy_gap_recovery_null.pcap", .linktype = DLT_NULL, .packets = 58, .tcp = 58 },
    { .name = "zeek_communityid_tcp_snaplen96.pcap", .linktype = DLT_EN10MB,
            .packets = 12, .tcp = 12, .snaplen = true },
};

static void test_captures(void **state)
{
    const char *shared = getenv("DP_SHARED");
    int ran = 0;

    (void)state;
    if (shared == NULL)
        shared = "../shared"; /* as tests/e2e/dp.py: the repository's sibling, from its root */
    for (size_t i = 0; i < DP_ARRAY_LEN(CAPTURES); i++) {
        const struct capfile *c = &CAPTURES[i];
        char path[1024], errbuf[PCAP_ERRBUF_SIZE];
        struct pkt_decoder d;
        struct pcap_pkthdr *h;
        const u_char *data;
        uint64_t n = 0, cut = 0;
        pcap_t *pc;
        int r;

        snprintf(path, sizeof(path), "%s/corpus/public/%s", shared, c->name);
        pc = pcap_open_offline(path, errbuf);
        if (pc == NULL)
            continue;
        ran++;
        assert_int_equal(pcap_datalink(pc), c->linktype);
        assert_true(pkt_linktype_supported(pcap_datalink(pc)));
        pkt_decoder_init(&d, pcap_datalink(pc));
        while ((r = pcap_next_ex(pc, &h, &data)) == 1) {
            struct dp_guarded g;
            struct pkt p;
            enum pkt_rc rc;

            dp_guarded_init(&g, data, h->caplen);
            rc = pkt_decode(&d, g.ptr, g.len, h->len, &p);
            if (rc == PKT_MALFORMED || rc == PKT_FILTERED)
                fail_msg("%s packet %llu: %s", c->name, (unsigned long long)n + 1,
                        pkt_rc_names[rc]);
            if (rc == PKT_TCP) {
                assert_true(p.family == 4 || p.family == 6);
                assert_true(p.payload >= g.ptr && p.payload + p.payload_len <= g.ptr + g.len);
                assert_true(p.payload_len <= p.payload_wire);
                cut += p.payload_len < p.payload_wire;
                if (c->vlan)
                    assert_true(p.nvlan > 0);
            }
            dp_guarded_free(&g);
            n++;
        }
        assert_int_equal(r, PCAP_ERROR_BREAK);
        pcap_close(pc);
        if (n != c->packets || d.ctr[PKT_TCP] != c->tcp)
            fail_msg("%s: %llu packets, %llu tcp", c->name, (unsigned long long)n,
                    (unsigned long long)d.ctr[PKT_TCP]);
        assert_int_equal(d.ctr[PKT_MALFORMED] + d.ctr[PKT_FILTERED] + d.ctr[PKT_FRAGMENT], 0);
        assert_int_equal(cut > 0, c->snaplen);
    }
    if (ran == 0)
        skip();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames),
        cmocka_unit_test(test_truncate_every_offset),
        cmocka_unit_test(test_patches),
        cmocka_unit_test(test_vlan_filters),
        cmocka_unit_test(test_vxlan_filters),
        cmocka_unit_test(test_decode_vxlan),
        cmocka_unit_test(test_api),
        cmocka_unit_test(test_captures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
