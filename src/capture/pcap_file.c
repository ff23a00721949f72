/*
 * pcap_file.c: pcap and pcapng records parsed in place in one read() buffer.
 *
 * fill() is the only place that reads: it makes n bytes available at buf + pos, moving the
 * unconsumed tail (less than one record) to the front first and growing the buffer, up to
 * MAX_BUF, only for a record larger than it. Every length from the file is checked against
 * its cap before fill() is asked for it, and against the bytes of its record or block before
 * a byte is read (STYLE.md rule 12). Formats: the pcap file format (draft-ietf-opsawg-pcap)
 * and PCAP Next Generation (draft-ietf-opsawg-pcapng), with libpcap 1.10's readings of the
 * corner cases (sf-pcap.c, sf-pcapng.c); docs/internals/pcap_file.md lists where we differ.
 */
#include "capture/pcap_file.h"

#include <errno.h>
#include <fcntl.h>
#include <pcap/dlt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PCAP_MAGIC_US  0xa1b2c3d4u /* microsecond timestamps */
#define PCAP_MAGIC_NS  0xa1b23c4du /* nanosecond timestamps */
#define PCAP_MAGIC_KUZ 0xa1b2cd34u /* Alexey Kuznetzov's patched libpcap: 24-byte records */
#define PCAP_HDR_LEN   24
#define PCAP_REC_LEN   16
#define PCAP_KUZ_LEN   24

/* pcapng block types and option codes (draft-ietf-opsawg-pcapng sections 4, 4.2, 11) */
#define NG_SHB         0x0a0d0d0au
#define NG_IDB         1u
#define NG_PB          2u /* obsolete Packet Block (appendix A) */
#define NG_SPB         3u
#define NG_EPB         6u
#define NG_BOM         0x1a2b3c4du
#define NG_MIN_BLOCK   12 /* type, total length, trailing total length */
#define NG_SHB_BODY    16 /* byte-order magic, major, minor, section length */
#define NG_IDB_BODY    8  /* link type, reserved, snaplen */
#define NG_EPB_BODY    20 /* interface id, timestamp (2 words), captured and original length */
#define NG_SPB_BODY    4  /* original length */
#define NG_OPT_END     0
#define NG_IF_TSRESOL  9
#define NG_IF_TSOFFSET 14
#define NG_MAX_IFACES  65536u /* per section */

#define NS_PER_S 1000000000u
#define MAX_BUF  ((size_t)PCAP_FILE_MAX_REC + PCAP_KUZ_LEN)

enum pf_format {
    PF_PCAP = 1,
    PF_PCAPNG = 2,
};

/* caplen and len fields of pcap records before version 2.3 (libpcap's lengths_swapped) */
enum pf_swap {
    PF_LEN_NOT_SWAPPED = 0,
    PF_LEN_MAYBE_SWAPPED = 1, /* 2.3: swapped when caplen > len */
    PF_LEN_SWAPPED = 2,       /* 2.0-2.2, 543.0 (DG/UX) */
};

/* One pcapng interface (IDB) of the current section. */
struct ng_if {
    int linktype;      /* DLT_* */
    uint32_t snaplen;  /* 0: none */
    uint64_t units;    /* timestamp units per second: 10^n or 2^n */
    uint64_t offset_s; /* if_tsoffset in seconds, two's complement */
    uint8_t shift;     /* units == 1 << shift when binary */
    bool binary;
};

struct pcap_file {
    pcap_file_read_fn *read;
    void *ctx;
    int fd;        /* closed by pcap_file_close() when >= 0 */
    uint8_t *buf;  /* bytes [pos, end) are read but not consumed */
    size_t cap;    /* allocated bytes of buf, <= MAX_BUF */
    size_t pos;
    size_t end;
    uint64_t base; /* file offset of buf[0] */
    bool eof;      /* the source returned 0 */
    bool be;       /* the file (pcapng: the section) is big-endian */
    enum pf_format format;
    int err;       /* sticky: 0 or the -errno every call returns */
    unsigned allocs;
    unsigned fail_alloc;
    int linktype;      /* first interface */
    uint32_t snaplen;  /* first interface */
    /* pcap */
    size_t rec_len;    /* record header: 16, or 24 for PCAP_MAGIC_KUZ */
    uint32_t ts_mult;  /* 1000 (microseconds) or 1 */
    uint32_t max_caplen; /* a caplen above is an error */
    uint32_t cut;      /* a caplen above is cut to it (0: never) */
    enum pf_swap len_swap;
    /* pcapng */
    struct ng_if *ifs; /* interfaces of the current section */
    uint32_t nifs;
    uint32_t ifs_cap;
    uint32_t if_base;  /* interfaces of the earlier sections */
    int64_t last_ts;   /* for SPBs, which have no timestamp */
    char name[256];
    char msg[512];
};

static void *pf_alloc(struct pcap_file *f, size_t n)
{
    if (f->fail_alloc > 0 && ++f->allocs >= f->fail_alloc)
        return NULL;
    return malloc(n);
}

/* Records error <code> with a message after the file's name; every later call returns it. */
DP_PRINTF(3, 4) static int pf_fail(struct pcap_file *f, int code, const char *fmt, ...)
{
    va_list ap;
    int n;

    n = snprintf(f->msg, sizeof(f->msg), "%s: ", f->name);
    if (n < 0 || (size_t)n >= sizeof(f->msg))
        n = 0;
    va_start(ap, fmt);
    vsnprintf(f->msg + n, sizeof(f->msg) - (size_t)n, fmt, ap);
    va_end(ap);
    f->err = code;
    return code;
}

static unsigned long long pf_at(const struct pcap_file *f)
{
    return (unsigned long long)(f->base + f->pos);
}

static uint16_t rd16(const struct pcap_file *f, const uint8_t *p)
{
    return f->be ? rd_be16(p) : rd_le16(p);
}

static uint32_t rd32(const struct pcap_file *f, const uint8_t *p)
{
    return f->be ? rd_be32(p) : rd_le32(p);
}

static uint64_t rd64(const struct pcap_file *f, const uint8_t *p)
{
    if (f->be)
        return (uint64_t)rd_be32(p) << 32 | rd_be32(p + 4);
    return (uint64_t)rd_le32(p + 4) << 32 | rd_le32(p);
}

/*
 * Makes <n> (<= MAX_BUF) bytes available at buf + pos. Returns 1 when they are, 0 when the
 * input ended with fewer (end - pos of them), or -EIO/-ENOMEM with the error recorded. Moves
 * the unconsumed bytes to the front of the buffer, so pointers into it are stale afterwards.
 */
static int fill(struct pcap_file *f, size_t n)
{
    size_t have = f->end - f->pos;

    if (have >= n)
        return 1;
    DP_BUG_ON(n > MAX_BUF);
    if (f->eof)
        return 0;
    if (n > f->cap) {
        size_t cap = DP_MIN(DP_MAX(n, f->cap * 2), MAX_BUF);
        uint8_t *nb = pf_alloc(f, cap);

        if (nb == NULL)
            return pf_fail(f, -ENOMEM, "out of memory for a %zu-byte buffer", cap);
        if (have > 0)
            memcpy(nb, f->buf + f->pos, have);
        free(f->buf);
        f->buf = nb;
        f->cap = cap;
    } else if (f->pos > 0 && have > 0) {
        memmove(f->buf, f->buf + f->pos, have);
    }
    f->base += f->pos;
    f->pos = 0;
    f->end = have;
    while (f->end < n) {
        ssize_t r = f->read(f->ctx, f->buf + f->end, f->cap - f->end);

        if (r < 0)
            return pf_fail(f, -EIO, "read error at offset %llu: %s",
                    (unsigned long long)(f->base + f->end), strerror((int)-r));
        if (r == 0) {
            f->eof = true;
            return 0;
        }
        DP_BUG_ON((size_t)r > f->cap - f->end);
        f->end += (size_t)r;
    }
    return 1;
}

/*
 * LINKTYPE_* (the value in files) to DLT_* (what pcap_datalink() returns), as libpcap's
 * linktype_to_dlt(): they differ only where a DLT_ value was not the same on every OS.
 */
static int linktype_to_dlt(uint32_t lt)
{
    switch (lt) {
    case 100:
        return DLT_ATM_RFC1483;
    case 101:
        return DLT_RAW;
    case 102:
        return DLT_SLIP_BSDOS;
    case 103:
        return DLT_PPP_BSDOS;
    case 106:
        return DLT_ATM_CLIP;
    case 246:
        return DLT_PFSYNC;
    case 258:
        return DLT_PKTAP;
    default:
        return (int)lt;
    }
}

/*
 * The caplen rules of both formats, from libpcap's pcap_next_packet(): a caplen above
 * max(snaplen, 262144) is damage; one above the snaplen but not the maximum is cut to the
 * snaplen (the rest of the record is skipped), so no packet handed out exceeds the snaplen.
 */
static uint32_t max_caplen(uint32_t snaplen)
{
    return DP_MIN(DP_MAX(snaplen, PCAP_FILE_MAX_SNAP), PCAP_FILE_MAX_REC);
}

/* ---- pcap ----------------------------------------------------------------------------- */

static int pcap_open_hdr(struct pcap_file *f, uint32_t magic)
{
    const uint8_t *p;
    unsigned major, minor;
    uint32_t lt;
    int r;

    r = fill(f, PCAP_HDR_LEN);
    if (r < 0)
        return r;
    if (r == 0)
        return pf_fail(f, -EINVAL, "truncated header: %zu of %d bytes", f->end - f->pos,
                PCAP_HDR_LEN);
    p = f->buf + f->pos;
    major = rd16(f, p + 4);
    minor = rd16(f, p + 6);
    f->snaplen = rd32(f, p + 16);
    lt = rd32(f, p + 20);
    if (major < 2)
        return pf_fail(f, -EINVAL, "archaic pcap version %u.%u", major, minor);
    if (!((major == 2 && minor <= 4) || (major == 543 && minor == 0)))
        return pf_fail(f, -EINVAL, "unsupported pcap version %u.%u", major, minor);
    if (major == 543 || minor < 3)
        f->len_swap = PF_LEN_SWAPPED;
    else if (minor == 3)
        f->len_swap = PF_LEN_MAYBE_SWAPPED;
    /* The upper 16 bits carry the FCS length and reserved bits (LT_LINKTYPE_EXT). */
    f->linktype = linktype_to_dlt(lt & 0xffff);
    f->format = PF_PCAP;
    f->ts_mult = magic == PCAP_MAGIC_NS ? 1 : 1000;
    f->rec_len = magic == PCAP_MAGIC_KUZ ? PCAP_KUZ_LEN : PCAP_REC_LEN;
    f->max_caplen = max_caplen(f->snaplen);
    f->cut = f->snaplen <= PCAP_FILE_MAX_SNAP ? f->snaplen : 0;
    /* libpcap: a Kuznetzov capture may be cooked, with a 14-byte fake header added. */
    if (magic == PCAP_MAGIC_KUZ && f->linktype == DLT_EN10MB && f->cut > 0)
        f->cut += 14;
    f->pos += PCAP_HDR_LEN;
    return 0;
}

static int pcap_next_rec(struct pcap_file *f, struct pcap_rec *rec)
{
    const uint8_t *p = f->buf + f->pos;
    size_t have = f->end - f->pos, need;
    uint32_t sec, frac, caplen, wirelen;
    int r;

    if (DP_UNLIKELY(have < f->rec_len)) {
        r = fill(f, f->rec_len);
        if (r < 0)
            return r;
        if (r == 0) {
            if (f->end == f->pos)
                return 0;
            return pf_fail(f, -EINVAL, "truncated record at offset %llu: %zu of %zu header bytes",
                    pf_at(f), f->end - f->pos, f->rec_len);
        }
        p = f->buf + f->pos;
        have = f->end - f->pos;
    }
    sec = rd32(f, p);
    frac = rd32(f, p + 4);
    caplen = rd32(f, p + 8);
    wirelen = rd32(f, p + 12);
    if (DP_UNLIKELY(f->len_swap != PF_LEN_NOT_SWAPPED) &&
            (f->len_swap == PF_LEN_SWAPPED || caplen > wirelen)) {
        uint32_t t = caplen;

        caplen = wirelen;
        wirelen = t;
    }
    if (DP_UNLIKELY(caplen > f->max_caplen))
        return pf_fail(f, -EINVAL, "bad record at offset %llu: caplen %u exceeds the maximum %u",
                pf_at(f), caplen, f->max_caplen);
    need = f->rec_len + caplen;
    if (DP_UNLIKELY(have < need)) {
        r = fill(f, need);
        if (r < 0)
            return r;
        if (r == 0)
            return pf_fail(f, -EINVAL, "truncated record at offset %llu: %zu of %zu bytes",
                    pf_at(f), f->end - f->pos, need);
        p = f->buf + f->pos;
    }
    rec->ts_ns = (int64_t)((uint64_t)sec * NS_PER_S + (uint64_t)frac * f->ts_mult);
    rec->data = p + f->rec_len;
    rec->caplen = f->cut > 0 && caplen > f->cut ? f->cut : caplen;
    rec->wirelen = wirelen;
    rec->linktype = f->linktype;
    rec->iface = 0;
    f->pos += need;
    return 1;
}

/* ---- pcapng --------------------------------------------------------------------------- */

/* ts in <i>'s units -> nanoseconds; wraps (like libpcap) only where no real clock goes. */
static int64_t ng_ts(const struct ng_if *i, uint64_t t)
{
    uint64_t sec = t / i->units, frac = t % i->units, ns;

    if (i->binary) {
        /* frac * 10^9 / 2^shift without overflow: frac < 2^shift <= 2^63 */
        uint64_t hi = (frac >> 32) * NS_PER_S, lo = (frac & 0xffffffffu) * NS_PER_S;

        if (i->shift >= 32)
            ns = (hi + (lo >> 32)) >> (i->shift - 32);
        else
            ns = lo >> i->shift; /* frac < 2^32, so hi == 0 */
    } else if (i->units <= NS_PER_S) {
        ns = frac * (NS_PER_S / i->units);
    } else {
        ns = frac / (i->units / NS_PER_S);
    }
    return (int64_t)((sec + i->offset_s) * NS_PER_S + ns);
}

/* The section header: byte order (set by the caller), version; a new set of interfaces. */
static int ng_shb(struct pcap_file *f, const uint8_t *body, const uint8_t *bend)
{
    unsigned major, minor;

    if (bend - body < NG_SHB_BODY)
        return pf_fail(f, -EINVAL, "section header block at offset %llu is too short",
                pf_at(f));
    major = rd16(f, body + 4);
    minor = rd16(f, body + 6);
    if (major != 1)
        return pf_fail(f, -EINVAL, "unsupported pcapng version %u.%u at offset %llu", major,
                minor, pf_at(f));
    f->if_base += f->nifs;
    f->nifs = 0;
    return 0;
}

/* if_tsresol (draft-ietf-opsawg-pcapng section 4.2): 10^-v or, with bit 7, 2^-(v & 0x7f). */
static int ng_tsresol(struct pcap_file *f, struct ng_if *i, uint8_t v)
{
    if (v & 0x80) {
        if ((v & 0x7f) > 63)
            return pf_fail(f, -EINVAL, "interface block at offset %llu: if_tsresol 2^-%u",
                    pf_at(f), v & 0x7f);
        i->binary = true;
        i->shift = v & 0x7f;
        i->units = (uint64_t)1 << i->shift;
        return 0;
    }
    if (v > 19)
        return pf_fail(f, -EINVAL, "interface block at offset %llu: if_tsresol 10^-%u",
                pf_at(f), v);
    i->binary = false;
    i->units = 1;
    for (unsigned k = 0; k < v; k++)
        i->units *= 10;
    return 0;
}

static int ng_idb(struct pcap_file *f, const uint8_t *body, const uint8_t *bend)
{
    const uint8_t *q = body + NG_IDB_BODY;
    bool saw_resol = false, saw_offset = false;
    struct ng_if i = { .units = 1000000 }; /* default resolution: microseconds */

    if (bend - body < NG_IDB_BODY)
        return pf_fail(f, -EINVAL, "interface block at offset %llu is too short", pf_at(f));
    if (f->nifs >= NG_MAX_IFACES)
        return pf_fail(f, -EINVAL, "more than %u interfaces in a section at offset %llu",
                NG_MAX_IFACES, pf_at(f));
    i.linktype = linktype_to_dlt(rd16(f, body));
    i.snaplen = rd32(f, body + 4);
    /* options: code, length, value padded to 32 bits (section 3.5); libpcap's checks */
    while (q < bend) {
        unsigned code, len;
        size_t padded;

        if (bend - q < 4)
            return pf_fail(f, -EINVAL, "interface block at offset %llu: option header cut",
                    pf_at(f));
        code = rd16(f, q);
        len = rd16(f, q + 2);
        padded = ((size_t)len + 3) & ~(size_t)3;
        q += 4;
        if ((size_t)(bend - q) < padded)
            return pf_fail(f, -EINVAL, "interface block at offset %llu: option %u overruns it",
                    pf_at(f), code);
        if (code == NG_OPT_END)
            break;
        if (code == NG_IF_TSRESOL) {
            if (len != 1 || saw_resol)
                return pf_fail(f, -EINVAL, "interface block at offset %llu: bad if_tsresol",
                        pf_at(f));
            saw_resol = true;
            if (ng_tsresol(f, &i, q[0]) < 0)
                return f->err;
        } else if (code == NG_IF_TSOFFSET) {
            if (len != 8 || saw_offset)
                return pf_fail(f, -EINVAL, "interface block at offset %llu: bad if_tsoffset",
                        pf_at(f));
            saw_offset = true;
            i.offset_s = rd64(f, q);
        }
        q += padded;
    }
    if (f->nifs == f->ifs_cap) {
        uint32_t ncap = f->ifs_cap == 0 ? 4 : f->ifs_cap * 2;
        struct ng_if *n = pf_alloc(f, ncap * sizeof(*n));

        if (n == NULL)
            return pf_fail(f, -ENOMEM, "out of memory for %u interfaces", ncap);
        if (f->nifs > 0)
            memcpy(n, f->ifs, f->nifs * sizeof(*n));
        free(f->ifs);
        f->ifs = n;
        f->ifs_cap = ncap;
    }
    f->ifs[f->nifs++] = i;
    return 0;
}

/* EPB, PB or SPB -> *rec. */
static int ng_packet(struct pcap_file *f, uint32_t type, const uint8_t *body,
        const uint8_t *bend, struct pcap_rec *rec)
{
    const struct ng_if *i;
    const uint8_t *data;
    uint32_t id, caplen, wirelen;
    uint64_t t = 0;

    if (type == NG_SPB) {
        if (bend - body < NG_SPB_BODY)
            return pf_fail(f, -EINVAL, "simple packet block at offset %llu is too short",
                    pf_at(f));
        id = 0; /* SPBs belong to the section's first interface (section 4.4) */
        wirelen = rd32(f, body);
        data = body + NG_SPB_BODY;
        caplen = (uint32_t)DP_MIN((size_t)wirelen, (size_t)(bend - data));
        if (f->nifs > 0 && f->ifs[0].snaplen > 0 && caplen > f->ifs[0].snaplen)
            caplen = f->ifs[0].snaplen;
    } else {
        if (bend - body < NG_EPB_BODY)
            return pf_fail(f, -EINVAL, "packet block at offset %llu is too short", pf_at(f));
        id = type == NG_EPB ? rd32(f, body) : rd16(f, body); /* PB: 16-bit id, drops */
        t = (uint64_t)rd32(f, body + 4) << 32 | rd32(f, body + 8);
        caplen = rd32(f, body + 12);
        wirelen = rd32(f, body + 16);
        data = body + NG_EPB_BODY;
        if (caplen > (size_t)(bend - data))
            return pf_fail(f, -EINVAL, "packet block at offset %llu: caplen %u exceeds the block",
                    pf_at(f), caplen);
    }
    if (id >= f->nifs)
        return pf_fail(f, -EINVAL,
                "packet block at offset %llu: interface %u, but the section has %u", pf_at(f),
                id, f->nifs);
    i = &f->ifs[id];
    if (caplen > max_caplen(i->snaplen))
        return pf_fail(f, -EINVAL, "packet block at offset %llu: caplen %u exceeds the maximum %u",
                pf_at(f), caplen, max_caplen(i->snaplen));
    if (i->snaplen > 0 && caplen > i->snaplen)
        caplen = i->snaplen;
    rec->ts_ns = type == NG_SPB ? f->last_ts : ng_ts(i, t);
    rec->data = data;
    rec->caplen = caplen;
    rec->wirelen = wirelen;
    rec->linktype = i->linktype;
    rec->iface = f->if_base + id;
    f->last_ts = rec->ts_ns;
    return 0;
}

/*
 * Reads blocks until a packet (1, *rec filled), the end of the file after a whole block (0) or
 * an error. With <until_idb> (NULL rec), stops after the first interface block instead (2).
 */
static int ng_next(struct pcap_file *f, struct pcap_rec *rec, bool until_idb)
{
    for (;;) {
        const uint8_t *p = f->buf + f->pos, *body, *bend;
        bool first = f->base + f->pos == 0;
        bool shb;
        uint32_t type, len;
        int r;

        if (f->end - f->pos < NG_MIN_BLOCK) {
            r = fill(f, NG_MIN_BLOCK);
            if (r < 0)
                return r;
            if (r == 0) {
                if (f->end == f->pos)
                    return 0;
                return pf_fail(f, -EINVAL, "truncated block at offset %llu: %zu bytes",
                        pf_at(f), f->end - f->pos);
            }
            p = f->buf + f->pos;
        }
        type = rd32(f, p);
        /*
         * libpcap skips section headers between the first one and the first IDB as unknown
         * blocks, and checks neither the first one's trailing length nor that its length is a
         * multiple of 4: so do we, so that we open every file it opens.
         */
        shb = type == NG_SHB && (first || !until_idb);
        if (shb) { /* the same in both byte orders; the magic tells the order */
            if (rd_be32(p + 8) == NG_BOM)
                f->be = true;
            else if (rd_le32(p + 8) == NG_BOM)
                f->be = false;
            else
                return pf_fail(f, -EINVAL,
                        "section header block at offset %llu: bad byte-order magic", pf_at(f));
        }
        len = rd32(f, p + 4);
        if (len < NG_MIN_BLOCK || (len % 4 != 0 && !first))
            return pf_fail(f, -EINVAL, "block at offset %llu: bad length %u", pf_at(f), len);
        if (len > PCAP_FILE_MAX_REC)
            return pf_fail(f, -EINVAL, "block at offset %llu: length %u exceeds the maximum %u",
                    pf_at(f), len, PCAP_FILE_MAX_REC);
        if (f->end - f->pos < len) {
            r = fill(f, len);
            if (r < 0)
                return r;
            if (r == 0)
                return pf_fail(f, -EINVAL, "truncated block at offset %llu: %zu of %u bytes",
                        pf_at(f), f->end - f->pos, len);
            p = f->buf + f->pos;
        }
        if (!first && rd32(f, p + len - 4) != len)
            return pf_fail(f, -EINVAL, "block at offset %llu: length %u, trailing length %u",
                    pf_at(f), len, rd32(f, p + len - 4));
        body = p + 8;
        bend = p + len - 4;
        r = 0;
        switch (type) {
        case NG_SHB:
            if (shb)
                r = ng_shb(f, body, bend);
            break;
        case NG_IDB:
            r = ng_idb(f, body, bend);
            if (r == 0 && until_idb) {
                f->pos += len;
                return 2;
            }
            break;
        case NG_EPB:
        case NG_PB:
        case NG_SPB:
            if (until_idb)
                return pf_fail(f, -EINVAL,
                        "packet block at offset %llu before any interface block", pf_at(f));
            r = ng_packet(f, type, body, bend, rec);
            if (r == 0) {
                f->pos += len;
                return 1;
            }
            break;
        default: /* NRB, ISB, DSB, custom and unknown blocks */
            break;
        }
        if (r < 0)
            return r;
        f->pos += len;
    }
}

/* ---- open, next, close ------------------------------------------------------------------ */

/* True when the <n> bytes at <p> start one of the magic numbers (a cut header, not text). */
static bool magic_prefix(const uint8_t *p, size_t n)
{
    static const uint32_t magics[] = { PCAP_MAGIC_US, PCAP_MAGIC_NS, PCAP_MAGIC_KUZ, NG_SHB };

    for (size_t k = 0; k < DP_ARRAY_LEN(magics); k++) {
        uint8_t b[4];

        wr_be32(b, magics[k]);
        if (memcmp(p, b, n) == 0)
            return true;
        for (int j = 0; j < 2; j++) {
            uint8_t t = b[j];

            b[j] = b[3 - j];
            b[3 - j] = t;
        }
        if (memcmp(p, b, n) == 0)
            return true;
    }
    return false;
}

static int pf_open_hdr(struct pcap_file *f)
{
    const uint8_t *p;
    uint32_t le, len;
    int r;

    r = fill(f, 4);
    if (r < 0)
        return r;
    if (r == 0) {
        if (f->end == f->pos)
            return pf_fail(f, -EINVAL, "empty file, not a pcap or pcapng file");
        if (magic_prefix(f->buf + f->pos, f->end - f->pos))
            return pf_fail(f, -EINVAL, "truncated header: %zu bytes", f->end - f->pos);
        return pf_fail(f, -EINVAL, "not a pcap or pcapng file");
    }
    p = f->buf + f->pos;
    le = rd_le32(p);
    if (le == PCAP_MAGIC_US || le == PCAP_MAGIC_NS || le == PCAP_MAGIC_KUZ)
        return pcap_open_hdr(f, le);
    if (rd_be32(p) == PCAP_MAGIC_US || rd_be32(p) == PCAP_MAGIC_NS ||
            rd_be32(p) == PCAP_MAGIC_KUZ) {
        f->be = true;
        return pcap_open_hdr(f, rd_be32(p));
    }
    if (le != NG_SHB)
        return pf_fail(f, -EINVAL, "not a pcap or pcapng file");
    r = fill(f, NG_MIN_BLOCK);
    if (r < 0)
        return r;
    if (r == 0)
        return pf_fail(f, -EINVAL, "truncated header: %zu bytes", f->end - f->pos);
    p = f->buf + f->pos;
    if (rd_be32(p + 8) == NG_BOM)
        f->be = true;
    else if (rd_le32(p + 8) != NG_BOM)
        return pf_fail(f, -EINVAL, "not a pcap or pcapng file"); /* "\n\r\r\n" text */
    len = rd32(f, p + 4);
    if (len >= NG_MIN_BLOCK + NG_SHB_BODY && len <= PCAP_FILE_MAX_REC) {
        r = fill(f, len); /* so that a cut section header is told as such */
        if (r < 0)
            return r;
        if (r == 0)
            return pf_fail(f, -EINVAL, "truncated header: %zu of %u bytes", f->end - f->pos,
                    len);
    }
    f->format = PF_PCAPNG;
    r = ng_next(f, NULL, true);
    if (r < 0)
        return r;
    if (r == 0)
        return pf_fail(f, -EINVAL, "no interface description block");
    f->linktype = f->ifs[0].linktype;
    f->snaplen = f->ifs[0].snaplen;
    return 0;
}

int pcap_file_open_src(const struct pcap_file_src *src, struct pcap_file **out,
        struct dp_err *err)
{
    const char *name = src->name != NULL ? src->name : "capture";
    struct pcap_file *f;
    int r;

    *out = NULL;
    if (src->fail_alloc == 1 || (f = calloc(1, sizeof(*f))) == NULL)
        return dp_err_set(err, -ENOMEM, "%s: out of memory", name);
    f->allocs = 1;
    f->fail_alloc = src->fail_alloc;
    f->read = src->read;
    f->ctx = src->ctx;
    f->fd = -1;
    snprintf(f->name, sizeof(f->name), "%s", name);
    f->cap = src->bufsize > 0 ? DP_MIN(src->bufsize, MAX_BUF) : PCAP_FILE_BUFSIZE;
    f->buf = pf_alloc(f, f->cap);
    if (f->buf == NULL) {
        r = pf_fail(f, -ENOMEM, "out of memory for a %zu-byte buffer", f->cap);
        goto fail;
    }
    r = pf_open_hdr(f);
    if (r < 0)
        goto fail;
    *out = f;
    return 0;
fail:
    dp_err_set(err, r, "%s", f->msg);
    free(f->buf);
    free(f->ifs);
    free(f);
    return r;
}

static ssize_t fd_read(void *ctx, uint8_t *buf, size_t cap)
{
    int fd = (int)(intptr_t)ctx;

    for (;;) {
        ssize_t n = read(fd, buf, cap);

        if (n != -1)
            return n;
        if (errno != EINTR)
            return -errno;
    }
}

int pcap_file_open(const char *path, struct pcap_file **out, struct dp_err *err)
{
    bool std_in = path[0] == '-' && path[1] == '\0';
    struct pcap_file_src src = { .name = std_in ? "stdin" : path, .read = fd_read };
    struct stat st;
    int fd, r;

    *out = NULL;
    if (std_in) {
        fd = STDIN_FILENO;
    } else {
        do
            fd = open(path, O_RDONLY | O_CLOEXEC);
        while (fd == -1 && errno == EINTR);
        if (fd == -1) {
            r = errno;
            return dp_err_set(err, -r, "%s: %s", path, strerror(r));
        }
    }
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        r = dp_err_set(err, -EISDIR, "%s: %s", path, strerror(EISDIR));
        goto fail;
    }
    /* Readahead in larger windows; fails harmlessly on pipes. */
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    src.ctx = (void *)(intptr_t)fd;
    r = pcap_file_open_src(&src, out, err);
    if (r < 0)
        goto fail;
    (*out)->fd = std_in ? -1 : fd;
    return 0;
fail:
    if (!std_in)
        close(fd);
    return r;
}

int pcap_file_next(struct pcap_file *f, struct pcap_rec *rec)
{
    if (DP_UNLIKELY(f->err != 0))
        return f->err;
    if (f->format == PF_PCAP)
        return pcap_next_rec(f, rec);
    return ng_next(f, rec, false);
}

int pcap_file_linktype(const struct pcap_file *f)
{
    return f->linktype;
}

uint32_t pcap_file_snaplen(const struct pcap_file *f)
{
    return f->snaplen;
}

const char *pcap_file_error(const struct pcap_file *f)
{
    return f->err != 0 ? f->msg : "";
}

uint64_t pcap_file_offset(const struct pcap_file *f)
{
    return f->base + f->pos;
}

void pcap_file_close(struct pcap_file *f)
{
    if (f == NULL)
        return;
    if (f->fd >= 0)
        close(f->fd);
    free(f->buf);
    free(f->ifs);
    free(f);
}
