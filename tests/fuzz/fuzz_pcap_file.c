/*
 * fuzz_pcap_file.c: the pcap/pcapng reader on hostile files.
 * Byte 0: bits 0-2 pick the buffer's first size (the default 1 MiB, or 1 .. 65536 bytes, so
 * that records straddle its end and make it grow), bits 3-5 the size of each read, bit 6 injects
 * an allocation failure (byte 1 says which allocation), bit 7 (without bit 6) reads the file
 * with libpcap as well and compares. Byte 1 is skipped either way; the rest is the file, served
 * from an allocation of exactly its size.
 * Invariants: only documented results; once at an end or an error, the same result again; the
 * offset grows with every packet and stays within the file; every packet's bytes are bytes of
 * the file consumed for it (so within the buffer), caplen <= 16 MiB; the same packets as libpcap
 * for as long as libpcap returns packets, and the same ending where libpcap ends cleanly.
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/pcap_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct src {
    const uint8_t *p;
    size_t len, pos, chunk;
};

static ssize_t src_read(void *ctx, uint8_t *buf, size_t cap)
{
    struct src *s = ctx;
    size_t n = s->len - s->pos;

    if (s->chunk != 0 && n > s->chunk)
        n = s->chunk;
    if (n > cap)
        n = cap;
    memcpy(buf, s->p + s->pos, n);
    s->pos += n;
    return (ssize_t)n;
}

static volatile uint8_t sink;

/* libpcap rewrites the pseudo-headers of these link types in byte-swapped files. */
static bool pseudo_swapped(int dlt)
{
    return dlt == DLT_LINUX_SLL || dlt == DLT_LINUX_SLL2 || dlt == DLT_PFLOG ||
            dlt == DLT_USB_LINUX || dlt == DLT_USB_LINUX_MMAPPED || dlt == DLT_NFLOG ||
            dlt == DLT_USBPCAP || dlt == DLT_DBUS || dlt == DLT_EBHSCR;
}

/* Opens <file, len> with libpcap (nanoseconds), or NULL. */
static pcap_t *libpcap_open(const uint8_t *file, size_t len)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    FILE *fp;
    pcap_t *pc;

    if (len == 0)
        return NULL;
    fp = fmemopen((void *)(uintptr_t)file, len, "rb");
    if (fp == NULL)
        return NULL;
    pc = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (pc == NULL)
        fclose(fp);
    return pc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t bufsizes[] = { 0, 1, 8, 24, 64, 100, 4096, 65536 };
    static const size_t chunks[] = { 0, 1, 2, 3, 7, 64, 512, 4096 };
    struct pcap_file_src src = { .name = "fuzz", .read = src_read };
    struct src s = { 0 };
    struct pcap_file *pf;
    struct dp_err err = { 0 };
    struct pcap_rec rec;
    const uint8_t *file;
    uint8_t *copy;
    pcap_t *pc = NULL;
    bool classic, lib_live;
    uint64_t off = 0;
    size_t len;
    int r;

    if (size < 2)
        return 0;
    len = size - 2;
    copy = malloc(len > 0 ? len : 1);
    if (copy == NULL)
        return 0;
    if (len > 0)
        memcpy(copy, data + 2, len);
    file = copy;
    classic = len >= 4 && (memcmp(file, "\xd4\xc3\xb2\xa1", 4) == 0 ||
                                  memcmp(file, "\xa1\xb2\xc3\xd4", 4) == 0 ||
                                  memcmp(file, "\x4d\x3c\xb2\xa1", 4) == 0 ||
                                  memcmp(file, "\xa1\xb2\x3c\x4d", 4) == 0 ||
                                  memcmp(file, "\x34\xcd\xb2\xa1", 4) == 0 ||
                                  memcmp(file, "\xa1\xb2\xcd\x34", 4) == 0);
    s.p = file;
    s.len = len;
    s.chunk = chunks[(data[0] >> 3) & 7];
    src.ctx = &s;
    src.bufsize = bufsizes[data[0] & 7];
    if (data[0] & 0x40)
        src.fail_alloc = data[1] % 8 + 1;
    else if (data[0] & 0x80)
        pc = libpcap_open(file, len);
    r = pcap_file_open_src(&src, &pf, &err);
    if (r != 0) {
        if ((r != -EINVAL && r != -ENOMEM) || pf != NULL || err.code != r || err.msg[0] == '\0')
            abort();
        if (r == -ENOMEM && src.fail_alloc == 0)
            abort();
        if (pc != NULL && r == -EINVAL)
            abort(); /* libpcap opens what we refuse */
        goto out;
    }
    if (data[0] & 0x80 && !(data[0] & 0x40) && pc == NULL && classic)
        abort(); /* we open a classic pcap file libpcap refuses */
    /* libpcap 1.10 keeps the reserved bits 16-25 of a pcap link type; we keep the low 16 */
    if (pc != NULL && pcap_datalink(pc) <= 0xffff && pcap_datalink(pc) != pcap_file_linktype(pf))
        abort();
    lib_live = pc != NULL;
    for (;;) {
        uint64_t prev = off;
        struct pcap_pkthdr *h = NULL;
        const u_char *d = NULL;
        int r1 = 0;

        if (lib_live)
            r1 = pcap_next_ex(pc, &h, &d);
        r = pcap_file_next(pf, &rec);
        off = pcap_file_offset(pf);
        if (off < prev || off > len)
            abort();
        if (r != 1) {
            if (r != 0 && r != -EINVAL && r != -ENOMEM)
                abort();
            if (r == -ENOMEM && src.fail_alloc == 0)
                abort();
            if ((r == 0) != (pcap_file_error(pf)[0] == '\0'))
                abort();
            if (pcap_file_next(pf, &rec) != r || pcap_file_offset(pf) != off)
                abort();
            if (lib_live && r1 == 1)
                abort(); /* libpcap has a packet we do not */
            if (lib_live && r1 == PCAP_ERROR_BREAK && r != 0)
                abort(); /* libpcap ends cleanly, we do not */
            if (lib_live && r1 == PCAP_ERROR && classic && r == 0)
                abort(); /* a truncated or bad classic file must end in an error */
            break;
        }
        if (off <= prev || rec.caplen > PCAP_FILE_MAX_REC || rec.caplen > off - prev)
            abort();
        if (rec.linktype < 0 || rec.linktype > 0xffff || (classic && rec.iface != 0))
            abort();
        /* the packet's bytes are bytes of the file consumed for it */
        if (memmem(file + prev, (size_t)(off - prev), rec.data, rec.caplen) == NULL)
            abort();
        if (rec.caplen > 0) {
            sink ^= rec.data[0];
            sink ^= rec.data[rec.caplen - 1];
        }
        if (!lib_live)
            continue;
        if (r1 != 1) {
            /* libpcap stopped: an error where we are more lenient (pcapng only) */
            if (classic)
                abort();
            lib_live = false;
            continue;
        }
        if (h->caplen != rec.caplen || h->len != rec.wirelen)
            abort();
        if (!pseudo_swapped(rec.linktype) && memcmp(d, rec.data, rec.caplen) != 0)
            abort();
        /* libpcap's 32-bit signed seconds and fractions; pcapng times differ for SPBs */
        if (classic && h->ts.tv_sec >= 0 && h->ts.tv_usec >= 0 && h->ts.tv_usec < (1L << 31) &&
                rec.ts_ns != (int64_t)h->ts.tv_sec * 1000000000 + h->ts.tv_usec)
            abort();
    }
    pcap_file_close(pf);
out:
    if (pc != NULL)
        pcap_close(pc);
    free(copy);
    return 0;
}
