/*
 * fuzz_pkt_decode.c: the packet decoder on hostile frames.
 * Byte 0: bits 0-3 pick the link type (mod 10; 9 is the VXLAN listener engine), bit 4 claims
 * 64 more bytes were on the wire than captured (snaplen), bit 5 turns VXLAN decapsulation off,
 * bit 6 sets --input-raw-vlan, bit 7 sets a VLAN id list and a VNI deny list. The rest is the
 * frame, in its own allocation of exactly its size so that ASan sees any overread.
 * Invariants: the result is one of the enum and counted once; a TCP payload lies inside the
 * frame and is not longer than on the wire.
 */
#include <pcap/dlt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capture/pkt_decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int links[] = { DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW,
        PKT_LINKTYPE_RAW, DLT_IPV4, DLT_IPV6, DLT_NULL, DLT_LOOP };
    struct pkt_decoder d;
    struct pkt p;
    enum pkt_rc rc;
    uint8_t *frame;
    size_t len, which;
    uint64_t total = 0;

    if (size < 1)
        return 0;
    which = (size_t)(data[0] & 0x0f) % (sizeof(links) / sizeof(links[0]) + 1);
    len = size - 1;
    frame = malloc(len > 0 ? len : 1);
    if (frame == NULL)
        return 0;
    if (len > 0)
        memcpy(frame, data + 1, len);
    pkt_decoder_init(&d, which < 9 ? links[which] : DLT_EN10MB);
    if (data[0] & 0x20)
        d.vxlan_port = 0;
    d.vlan_only = (data[0] & 0x40) != 0;
    if (data[0] & 0x80) {
        d.vids[0] = 1;
        d.vids[1] = 100;
        d.nvids = 2;
        d.vnis[0] = 0;
        d.nvnis = 1;
        d.vni_deny = true;
    }
    if (which < 9)
        rc = pkt_decode(&d, frame, len, len + (data[0] & 0x10 ? 64 : 0), &p);
    else
        rc = pkt_decode_vxlan(&d, frame, len, &p);
    if ((unsigned)rc >= PKT_RC_COUNT || d.ctr[rc] != 1)
        abort();
    for (int i = 0; i < PKT_RC_COUNT; i++)
        total += d.ctr[i];
    if (total != 1)
        abort();
    if (rc == PKT_TCP) {
        if (p.payload < frame || p.payload > frame + len ||
                (size_t)(frame + len - p.payload) < p.payload_len)
            abort();
        if (p.payload_len > p.payload_wire || (p.family != 4 && p.family != 6) || p.nvlan > 2)
            abort();
        if (p.payload_len > 0) { /* touch both ends so ASan checks them */
            sink ^= p.payload[0];
            sink ^= p.payload[p.payload_len - 1];
        }
        if (p.vxlan && p.vni > 0xffffff)
            abort();
    }
    free(frame);
    return 0;
}
