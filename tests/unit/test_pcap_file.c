/*
 * test_pcap_file.c: the pcap/pcapng reader on files built byte by byte (both byte orders,
 * microseconds and nanoseconds, old versions, sections, interfaces with their own link types and
 * clocks, every packet block, blocks to skip), read through buffers and reads of many sizes, cut
 * at every byte offset, patched into every malformation, and compared with libpcap on the files
 * libpcap can read, including every real capture in ../shared/corpus/public.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dp_test.h"

#include "capture/pcap_file.h"
#include "core/common.h"

#define MAGIC_US  0xa1b2c3d4u
#define MAGIC_NS  0xa1b23c4du
#define MAGIC_KUZ 0xa1b2cd34u
#define BT_SHB    0x0a0d0d0au
#define BT_IDB    1u
#define BT_PB     2u
#define BT_SPB    3u
#define BT_NRB    4u
#define BT_ISB    5u
#define BT_EPB    6u
#define BT_CB     0x00000bad
#define NS        1000000000LL
#define LT_RAW    101 /* LINKTYPE_RAW, read as DLT_RAW */
#define NO_RESOL  (-1)

/* ---- file builder ----------------------------------------------------------------------- */

/* A file under construction, in byte order <be>; ends[] are the offsets where blocks end. */
struct fb {
    uint8_t *b;
    size_t n, cap;
    bool be;
    size_t ends[64];
    size_t nends;
    size_t hdr_end; /* where pcap_file_open() stops reading: the header or the first IDB */
};

static void put(struct fb *f, const void *p, size_t n)
{
    if (f->n + n > f->cap) {
        f->cap = DP_MAX(f->cap * 2, f->n + n + 4096);
        f->b = realloc(f->b, f->cap);
        assert_non_null(f->b);
    }
    if (n > 0)
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
    uint8_t b[2];

    if (f->be) {
        wr_be16(b, (uint16_t)v);
    } else {
        b[0] = (uint8_t)v;
        b[1] = (uint8_t)(v >> 8);
    }
    put(f, b, 2);
}

static void put32(struct fb *f, uint32_t v)
{
    uint8_t b[4];

    if (f->be) {
        wr_be32(b, v);
    } else {
        b[0] = (uint8_t)v;
        b[1] = (uint8_t)(v >> 8);
        b[2] = (uint8_t)(v >> 16);
        b[3] = (uint8_t)(v >> 24);
    }
    put(f, b, 4);
}

static void put64(struct fb *f, uint64_t v)
{
    put32(f, f->be ? (uint32_t)(v >> 32) : (uint32_t)v);
    put32(f, f->be ? (uint32_t)v : (uint32_t)(v >> 32));
}

static void put32s(struct fb *f, size_t n, const uint32_t *v)
{
    for (size_t i = 0; i < n; i++)
        put32(f, v[i]);
}

/* An option with a 4-byte value field whatever <len> says. */
static void put_opt32(struct fb *f, unsigned code, unsigned len, uint32_t v)
{
    put16(f, code);
    put16(f, len);
    put32(f, v);
}

/* The fixed part of an IDB: Ethernet, no snaplen. */
static void idb_fixed(struct fb *f)
{
    put16(f, 1);
    put16(f, 0);
    put32(f, 0);
}

/* The 8 bytes a Kuznetzov record header adds: ifindex, protocol, packet type, padding. */
static void kuz_extra(struct fb *f)
{
    put32(f, 7);
    put16(f, 0x800);
    put8(f, 0);
    put8(f, 0);
}

static void patch32(struct fb *f, size_t at, uint32_t v)
{
    size_t n = f->n;

    f->n = at;
    put32(f, v);
    f->n = n;
}

/* Records a block end; big files keep only their first ends (check_cuts() refuses them). */
static void mark(struct fb *f)
{
    if (f->nends < DP_ARRAY_LEN(f->ends))
        f->ends[f->nends] = f->n;
    f->nends++;
}

static void fb_free(struct fb *f)
{
    free(f->b);
    memset(f, 0, sizeof(*f));
}

/* Packet bytes: a pattern that differs per packet, so a mix-up shows. */
static uint8_t pat(unsigned seed, size_t i)
{
    return (uint8_t)(seed * 37u + i * 7u + (i >> 8));
}

static void put_data(struct fb *f, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        put8(f, pat(seed, i));
}

static void pcap_hdr(struct fb *f, uint32_t magic, unsigned major, unsigned minor,
        uint32_t snaplen, uint32_t linktype)
{
    put32(f, magic);
    put16(f, major);
    put16(f, minor);
    put32(f, 0); /* thiszone */
    put32(f, 0); /* sigfigs */
    put32(f, snaplen);
    put32(f, linktype);
    f->hdr_end = f->n;
    mark(f);
}

/* A record; <datalen> bytes follow (normally == caplen, whatever the fields say). */
static void pcap_rec_raw(struct fb *f, uint32_t sec, uint32_t frac, uint32_t f3, uint32_t f4,
        size_t datalen, unsigned seed)
{
    put32(f, sec);
    put32(f, frac);
    put32(f, f3);
    put32(f, f4);
    put_data(f, datalen, seed);
    mark(f);
}

static void pcap_rec(struct fb *f, uint32_t sec, uint32_t frac, uint32_t caplen,
        uint32_t wirelen, unsigned seed)
{
    pcap_rec_raw(f, sec, frac, caplen, wirelen, caplen, seed);
}

static size_t ng_begin(struct fb *f, uint32_t type)
{
    size_t at = f->n;

    put32(f, type);
    put32(f, 0);
    return at;
}

static void ng_end(struct fb *f, size_t at)
{
    while ((f->n - at) % 4 != 0)
        put8(f, 0);
    put32(f, (uint32_t)(f->n - at + 4));
    patch32(f, at + 4, (uint32_t)(f->n - at));
    mark(f);
}

static void ng_shb_v(struct fb *f, unsigned major, unsigned minor)
{
    size_t at = ng_begin(f, BT_SHB);

    put32(f, 0x1a2b3c4d);
    put16(f, major);
    put16(f, minor);
    put64(f, UINT64_MAX); /* section length: not given */
    put16(f, 4);          /* shb_userappl */
    put16(f, 6);
    put(f, "doppel", 6);
    put16(f, 0);
    put16(f, 0);
    ng_end(f, at);
}

static void ng_shb(struct fb *f)
{
    ng_shb_v(f, 1, 0);
}

static void ng_idb(struct fb *f, unsigned lt, uint32_t snaplen, int tsresol, int64_t tsoffset)
{
    size_t at = ng_begin(f, BT_IDB);

    put16(f, lt);
    put16(f, 0);
    put32(f, snaplen);
    put16(f, 2); /* if_name, to be skipped */
    put16(f, 3);
    put(f, "eth", 3);
    put8(f, 0);
    if (tsresol != NO_RESOL) {
        put16(f, 9);
        put16(f, 1);
        put8(f, (unsigned)tsresol);
        put(f, "\0\0\0", 3);
    }
    if (tsoffset != 0) {
        put16(f, 14);
        put16(f, 8);
        put64(f, (uint64_t)tsoffset);
    }
    put16(f, 0);
    put16(f, 0);
    ng_end(f, at);
    if (f->hdr_end == 0)
        f->hdr_end = f->n;
}

static void ng_epb(struct fb *f, uint32_t id, uint64_t ts, uint32_t caplen, uint32_t wirelen,
        unsigned seed)
{
    size_t at = ng_begin(f, BT_EPB);

    put32(f, id);
    put32(f, (uint32_t)(ts >> 32));
    put32(f, (uint32_t)ts);
    put32(f, caplen);
    put32(f, wirelen);
    put_data(f, caplen, seed);
    while ((f->n - at) % 4 != 0)
        put8(f, 0);
    put16(f, 2); /* epb_flags: inbound */
    put16(f, 4);
    put32(f, 1);
    put16(f, 0);
    put16(f, 0);
    ng_end(f, at);
}

static void ng_pb(struct fb *f, unsigned id, uint64_t ts, uint32_t caplen, uint32_t wirelen,
        unsigned seed)
{
    size_t at = ng_begin(f, BT_PB);

    put16(f, id);
    put16(f, 0); /* drops */
    put32(f, (uint32_t)(ts >> 32));
    put32(f, (uint32_t)ts);
    put32(f, caplen);
    put32(f, wirelen);
    put_data(f, caplen, seed);
    ng_end(f, at);
}

static void ng_spb(struct fb *f, uint32_t wirelen, size_t datalen, unsigned seed)
{
    size_t at = ng_begin(f, BT_SPB);

    put32(f, wirelen);
    put_data(f, datalen, seed);
    ng_end(f, at);
}

/* A block to skip: <n> bytes of body. */
static void ng_other(struct fb *f, uint32_t type, size_t n)
{
    size_t at = ng_begin(f, type);

    put_data(f, n, 99);
    ng_end(f, at);
}

/* ---- expected packets ------------------------------------------------------------------- */

struct want {
    int64_t ts;
    uint32_t caplen, wirelen;
    int linktype;
    uint32_t iface;
    unsigned seed;
};

static void check_rec(const struct pcap_rec *r, const struct want *w, size_t k)
{
    if (r->ts_ns != w->ts || r->caplen != w->caplen || r->wirelen != w->wirelen ||
            r->linktype != w->linktype || r->iface != w->iface)
        fail_msg("packet %zu: ts %lld caplen %u wirelen %u linktype %d iface %u; want %lld %u "
                 "%u %d %u",
                k, (long long)r->ts_ns, r->caplen, r->wirelen, r->linktype, r->iface,
                (long long)w->ts, w->caplen, w->wirelen, w->linktype, w->iface);
    for (size_t i = 0; i < r->caplen; i++)
        if (r->data[i] != pat(w->seed, i))
            fail_msg("packet %zu: byte %zu", k, i);
}

/* ---- sources ---------------------------------------------------------------------------- */

/* Serves a copy of the file that ends on a guard page, <chunk> bytes a read at most (0: any);
 * from byte <fail_at> on, returns <err>. */
struct mem_src {
    struct dp_guarded g;
    size_t pos;
    size_t chunk;
    size_t fail_at;
    int err;
};

static ssize_t mem_read(void *arg, uint8_t *buf, size_t cap)
{
    struct mem_src *s = arg;
    size_t n = s->g.len - s->pos;

    assert_true(cap > 0);
    if (s->err != 0 && s->pos >= s->fail_at)
        return s->err;
    if (s->err != 0 && n > s->fail_at - s->pos)
        n = s->fail_at - s->pos;
    if (s->chunk != 0 && n > s->chunk)
        n = s->chunk;
    if (n > cap)
        n = cap;
    if (n > 0)
        memcpy(buf, s->g.ptr + s->pos, n);
    s->pos += n;
    return (ssize_t)n;
}

static int open_mem(struct mem_src *s, const void *data, size_t len, size_t chunk,
        size_t bufsize, unsigned fail_alloc, struct pcap_file **out, struct dp_err *err)
{
    struct pcap_file_src src = {
        .name = "mem", .read = mem_read, .ctx = s, .bufsize = bufsize, .fail_alloc = fail_alloc
    };

    memset(s, 0, sizeof(*s));
    dp_guarded_init(&s->g, data, len);
    s->chunk = chunk;
    return pcap_file_open_src(&src, out, err);
}

static ssize_t fd_read(void *arg, uint8_t *buf, size_t cap)
{
    ssize_t n = read(*(int *)arg, buf, cap);

    return n == -1 ? -errno : n;
}

/* Buffer sizes and read sizes every well-formed file is read with. */
static const size_t BUFSIZES[] = { 0, 1, 13, 64, 200, 4096 };
static const size_t CHUNKS[] = { 0, 1, 7 };

/* Reads <f> through every buffer and read size and asserts it yields <w> then a clean end. */
static void check_reads(const struct fb *file, const struct want *w, size_t nw, int linktype)
{
    for (size_t b = 0; b < DP_ARRAY_LEN(BUFSIZES); b++) {
        for (size_t c = 0; c < DP_ARRAY_LEN(CHUNKS); c++) {
            struct mem_src s;
            struct pcap_file *pf;
            struct dp_err err = { 0 };
            struct pcap_rec rec;
            size_t k = 0;
            int r;

            r = open_mem(&s, file->b, file->n, CHUNKS[c], BUFSIZES[b], 0, &pf, &err);
            if (r != 0)
                fail_msg("open (bufsize %zu chunk %zu): %s", BUFSIZES[b], CHUNKS[c], err.msg);
            assert_int_equal(pcap_file_linktype(pf), linktype);
            while ((r = pcap_file_next(pf, &rec)) == 1) {
                assert_true(k < nw);
                check_rec(&rec, &w[k], k);
                k++;
            }
            if (r != 0)
                fail_msg("bufsize %zu chunk %zu: %d %s", BUFSIZES[b], CHUNKS[c], r,
                        pcap_file_error(pf));
            assert_int_equal(k, nw);
            assert_int_equal(pcap_file_offset(pf), file->n);
            assert_string_equal(pcap_file_error(pf), "");
            assert_int_equal(pcap_file_next(pf, &rec), 0); /* and again */
            pcap_file_close(pf);
            dp_guarded_free(&s.g);
        }
    }
}

/* ---- libpcap comparison ----------------------------------------------------------------- */

static void write_tmp(char *path, size_t size, const struct fb *f)
{
    int fd;

    snprintf(path, size, "/tmp/test_pcap_file.XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, f->b, f->n), (ssize_t)f->n);
    close(fd);
}

/*
 * Reads <path> with libpcap (nanosecond precision, pcap_next_ex) and with pcap_file through a
 * buffer of <bufsize> (0: pcap_file_open() itself) and asserts the same packets (time, lengths,
 * bytes, link type) and the same ending: both clean, or both an error after the same packets.
 * Returns the number of packets, or -1 when libpcap cannot open the file (nor must we).
 */
static long long same_as_libpcap(const char *path, size_t bufsize)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    struct pcap_file *pf = NULL;
    struct dp_err err = { 0 };
    struct pcap_pkthdr *h;
    const u_char *data;
    long long n = 0;
    pcap_t *pc;
    int fd = -1, r1, r2;

    pc = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (bufsize == 0) {
        r2 = pcap_file_open(path, &pf, &err);
    } else {
        struct pcap_file_src src = { .name = path, .read = fd_read, .bufsize = bufsize };

        fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        src.ctx = &fd;
        r2 = pcap_file_open_src(&src, &pf, &err);
    }
    if (pc == NULL) {
        if (r2 == 0)
            fail_msg("%s: libpcap cannot open it (%s), we can", path, errbuf);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (r2 != 0)
        fail_msg("%s: %s", path, err.msg);
    assert_int_equal(pcap_file_linktype(pf), pcap_datalink(pc));
    {
        /* libpcap's snapshot: none or above 262144 is 262144; +14 for Kuznetzov's format */
        uint32_t snap = pcap_file_snaplen(pf);

        snap = snap == 0 || snap > 262144 ? 262144 : snap;
        if ((int)snap != pcap_snapshot(pc) && (int)snap + 14 != pcap_snapshot(pc))
            fail_msg("%s: snaplen %u, libpcap %d", path, snap, pcap_snapshot(pc));
    }
    for (;;) {
        struct pcap_rec rec;

        r1 = pcap_next_ex(pc, &h, &data);
        r2 = pcap_file_next(pf, &rec);
        if (r1 != 1 || r2 != 1)
            break;
        if (rec.ts_ns != (int64_t)h->ts.tv_sec * NS + h->ts.tv_usec ||
                rec.caplen != h->caplen || rec.wirelen != h->len ||
                rec.linktype != pcap_datalink(pc) || memcmp(rec.data, data, h->caplen) != 0)
            fail_msg("%s packet %lld: ts %lld/%lld caplen %u/%u wirelen %u/%u", path, n + 1,
                    (long long)rec.ts_ns, (long long)h->ts.tv_sec * NS + h->ts.tv_usec,
                    rec.caplen, h->caplen, rec.wirelen, h->len);
        n++;
    }
    if (r1 == PCAP_ERROR_BREAK && r2 != 0)
        fail_msg("%s after %lld packets: libpcap ends, we say %s", path, n, pcap_file_error(pf));
    if (r1 == PCAP_ERROR && r2 >= 0)
        fail_msg("%s after %lld packets: libpcap says %s, we %s", path, n, pcap_geterr(pc),
                r2 == 1 ? "go on" : "end");
    if (r1 == 1)
        fail_msg("%s after %lld packets: libpcap goes on, we say %d %s", path, n, r2,
                pcap_file_error(pf));
    pcap_close(pc);
    pcap_file_close(pf);
    if (fd >= 0)
        close(fd);
    return n;
}

/* Writes <f> to a temporary file and compares libpcap and us on it; returns the packets. */
static long long libpcap_agrees(const struct fb *f)
{
    char path[64];
    long long n, n2;

    write_tmp(path, sizeof(path), f);
    n = same_as_libpcap(path, 0);
    n2 = same_as_libpcap(path, 64);
    assert_int_equal(n, n2);
    unlink(path);
    return n;
}

/* ---- classic pcap ----------------------------------------------------------------------- */

static void test_pcap_orders_and_precisions(void **state)
{
    (void)state;
    for (int be = 0; be < 2; be++) {
        for (int ns = 0; ns < 2; ns++) {
            struct fb f = { .be = be };
            int64_t m = ns ? 1 : 1000;
            uint32_t frac = ns ? 123456789 : 123456;
            const struct want w[] = {
                { 1700000000 * NS + frac * m, 60, 60, DLT_EN10MB, 0, 1 },
                { 1700000001 * NS, 0, 0, DLT_EN10MB, 0, 2 },
                { 1700000001 * NS + (ns ? 999999999 : 999999000), 1514, 1514, DLT_EN10MB, 0, 3 },
                { 1700000002 * NS + 5 * m, 96, 1514, DLT_EN10MB, 0, 4 },
                { 0, 1, 1, DLT_EN10MB, 0, 5 },
                /* seconds past 2038: unsigned in the format (libpcap would go negative) */
                { 3000000000LL * NS, 1, 2, DLT_EN10MB, 0, 6 },
            };

            /* FCS length 4 and its valid bit in the upper bits of the link type */
            pcap_hdr(&f, ns ? MAGIC_NS : MAGIC_US, 2, 4, 65535, 0x44000000u | 1);
            pcap_rec(&f, 1700000000, frac, 60, 60, 1);
            pcap_rec(&f, 1700000001, 0, 0, 0, 2);
            pcap_rec(&f, 1700000001, ns ? 999999999 : 999999, 1514, 1514, 3);
            pcap_rec(&f, 1700000002, 5, 96, 1514, 4);
            pcap_rec(&f, 0, 0, 1, 1, 5);
            check_reads(&f, w, 5, DLT_EN10MB);
            pcap_rec(&f, 3000000000u, 0, 1, 2, 6);
            check_reads(&f, w, DP_ARRAY_LEN(w), DLT_EN10MB);
            f.n -= 17; /* without the last record, libpcap reads the same */
            f.nends--;
            assert_int_equal(libpcap_agrees(&f), 5);
            fb_free(&f);
        }
    }
}

static void test_pcap_versions(void **state)
{
    struct fb f = { 0 };
    struct mem_src s;
    struct pcap_file *pf;
    struct dp_err err = { 0 };
    static const struct {
        unsigned major, minor;
        const char *msg;
    } bad[] = {
        { 1, 0, "mem: archaic pcap version 1.0" },
        { 2, 5, "mem: unsupported pcap version 2.5" },
        { 3, 0, "mem: unsupported pcap version 3.0" },
        { 543, 1, "mem: unsupported pcap version 543.1" },
    };

    (void)state;
    /* 2.2 and DG/UX's 543.0: len before caplen */
    for (int v = 0; v < 2; v++) {
        const struct want w[] = {
            { 10 * NS + 1000, 60, 100, DLT_EN10MB, 0, 1 },
            { 11 * NS, 70, 70, DLT_EN10MB, 0, 2 },
        };

        f.be = v == 1;
        pcap_hdr(&f, MAGIC_US, v == 0 ? 2 : 543, 0 + (v == 0 ? 2 : 0), 65535, 1);
        pcap_rec_raw(&f, 10, 1, 100, 60, 60, 1);
        pcap_rec_raw(&f, 11, 0, 70, 70, 70, 2);
        check_reads(&f, w, 2, DLT_EN10MB);
        assert_int_equal(libpcap_agrees(&f), 2);
        fb_free(&f);
    }
    /* 2.3: swapped only where caplen > len says so */
    {
        const struct want w[] = {
            { 10 * NS, 60, 100, DLT_EN10MB, 0, 1 },
            { 11 * NS, 60, 100, DLT_EN10MB, 0, 2 },
        };

        pcap_hdr(&f, MAGIC_US, 2, 3, 65535, 1);
        pcap_rec_raw(&f, 10, 0, 100, 60, 60, 1);
        pcap_rec_raw(&f, 11, 0, 60, 100, 60, 2);
        check_reads(&f, w, 2, DLT_EN10MB);
        assert_int_equal(libpcap_agrees(&f), 2);
        fb_free(&f);
    }
    /* Kuznetzov's 24-byte records; on Ethernet the snaplen grows by 14 (a cooked header) */
    for (int be = 0; be < 2; be++) {
        const struct want w[] = {
            { 10 * NS + 2000, 114, 114, DLT_EN10MB, 0, 1 },
            { 11 * NS, 114, 200, DLT_EN10MB, 0, 2 },
            { 12 * NS, 5, 5, DLT_EN10MB, 0, 3 },
        };

        f.be = be;
        pcap_hdr(&f, MAGIC_KUZ, 2, 4, 100, 1);
        pcap_rec_raw(&f, 10, 2, 114, 114, 0, 0);
        kuz_extra(&f);
        put_data(&f, 114, 1);
        pcap_rec_raw(&f, 11, 0, 120, 200, 0, 0);
        kuz_extra(&f);
        put_data(&f, 120, 2);
        pcap_rec_raw(&f, 12, 0, 5, 5, 0, 0);
        kuz_extra(&f);
        put_data(&f, 5, 3);
        check_reads(&f, w, 3, DLT_EN10MB);
        assert_int_equal(libpcap_agrees(&f), 3);
        fb_free(&f);
    }
    for (size_t i = 0; i < DP_ARRAY_LEN(bad); i++) {
        pcap_hdr(&f, MAGIC_US, bad[i].major, bad[i].minor, 65535, 1);
        pcap_rec(&f, 1, 0, 10, 10, 1);
        assert_int_equal(open_mem(&s, f.b, f.n, 0, 0, 0, &pf, &err), -EINVAL);
        assert_int_equal(err.code, -EINVAL);
        assert_string_equal(err.msg, bad[i].msg);
        assert_null(pf);
        assert_int_equal(libpcap_agrees(&f), -1);
        dp_guarded_free(&s.g);
        fb_free(&f);
    }
}

/* Reads <f> with the default buffer: <ok> packets, then <rc> with <msg> (NULL: clean end). */
static void read_expect(const struct fb *f, size_t bufsize, int ok, int rc, const char *msg)
{
    struct mem_src s;
    struct pcap_file *pf;
    struct dp_err err = { 0 };
    struct pcap_rec rec;
    int n = 0, r;

    r = open_mem(&s, f->b, f->n, 0, bufsize, 0, &pf, &err);
    if (r != 0)
        fail_msg("open: %s", err.msg);
    while ((r = pcap_file_next(pf, &rec)) == 1)
        n++;
    assert_int_equal(n, ok);
    assert_int_equal(r, rc);
    if (msg != NULL && strstr(pcap_file_error(pf), msg) == NULL)
        fail_msg("error \"%s\", want \"%s\"", pcap_file_error(pf), msg);
    assert_int_equal(pcap_file_next(pf, &rec), rc); /* sticky */
    pcap_file_close(pf);
    dp_guarded_free(&s.g);
}

static void test_pcap_caplen(void **state)
{
    struct fb f = { 0 };

    (void)state;
    /* above the snaplen, within 262144: cut to the snaplen, the rest skipped (libpcap) */
    {
        const struct want w[] = {
            { 1 * NS, 64, 100, DLT_EN10MB, 0, 1 },
            { 2 * NS, 10, 10, DLT_EN10MB, 0, 2 },
            { 3 * NS, 64, 70000, DLT_EN10MB, 0, 3 },
        };

        pcap_hdr(&f, MAGIC_US, 2, 4, 64, 1);
        pcap_rec(&f, 1, 0, 100, 100, 1);
        pcap_rec(&f, 2, 0, 10, 10, 2);
        pcap_rec(&f, 3, 0, 70000, 70000, 3);
        check_reads(&f, w, 3, DLT_EN10MB);
        assert_int_equal(libpcap_agrees(&f), 3);
        fb_free(&f);
    }
    /* above 262144 with a smaller snaplen: damage, as for libpcap */
    pcap_hdr(&f, MAGIC_US, 2, 4, 65535, 1);
    pcap_rec(&f, 1, 0, 10, 10, 1);
    pcap_rec(&f, 2, 0, 262145, 262145, 2);
    read_expect(&f, 0, 1, -EINVAL, "mem: bad record at offset 50: caplen 262145 exceeds the "
                                   "maximum 262144");
    assert_int_equal(libpcap_agrees(&f), 1);
    fb_free(&f);
    /* snaplen 0 (none): 262144 fits, in a buffer that has to grow from 64 bytes */
    {
        const struct want w[] = { { 1 * NS, 262144, 262144, DLT_RAW, 0, 1 },
            { 2 * NS, 1, 1, DLT_RAW, 0, 2 } };

        pcap_hdr(&f, MAGIC_US, 2, 4, 0, LT_RAW);
        pcap_rec(&f, 1, 0, 262144, 262144, 1);
        pcap_rec(&f, 2, 0, 1, 1, 2);
        check_reads(&f, w, 2, DLT_RAW);
        assert_int_equal(libpcap_agrees(&f), 2);
        fb_free(&f);
    }
    /* a snaplen above 262144 is believed (libpcap stops at 262144): a 1.5 MiB record grows the
     * 1 MiB buffer */
    {
        const uint32_t big = 3u << 19;
        const struct want w[] = { { 1 * NS, 10, 10, DLT_EN10MB, 0, 1 },
            { 2 * NS, big, big, DLT_EN10MB, 0, 2 }, { 3 * NS, 10, 10, DLT_EN10MB, 0, 3 } };
        struct mem_src s;
        struct pcap_file *pf;
        struct dp_err err;
        struct pcap_rec rec;

        pcap_hdr(&f, MAGIC_NS, 2, 4, 2u << 20, 1);
        pcap_rec(&f, 1, 0, 10, 10, 1);
        pcap_rec(&f, 2, 0, big, big, 2);
        pcap_rec(&f, 3, 0, 10, 10, 3);
        for (size_t c = 0; c < 2; c++) {
            assert_int_equal(open_mem(&s, f.b, f.n, c == 0 ? 0 : 65536, 0, 0, &pf, &err), 0);
            for (size_t k = 0; k < 3; k++) {
                assert_int_equal(pcap_file_next(pf, &rec), 1);
                check_rec(&rec, &w[k], k);
            }
            assert_int_equal(pcap_file_next(pf, &rec), 0);
            pcap_file_close(pf);
            dp_guarded_free(&s.g);
        }
        fb_free(&f);
    }
    /* nothing above the 16 MiB cap, whatever the snaplen */
    pcap_hdr(&f, MAGIC_US, 2, 4, UINT32_MAX, 1);
    pcap_rec_raw(&f, 1, 0, (16u << 20) + 1, 100, 0, 1);
    read_expect(&f, 0, 0, -EINVAL, "at offset 24: caplen 16777217 exceeds the maximum 16777216");
    fb_free(&f);
}

/* ---- pcapng ----------------------------------------------------------------------------- */

/*
 * Two sections in opposite byte orders; interfaces with their own link types, snaplens and
 * clocks; every packet block; blocks to skip everywhere. libpcap refuses files like this (one
 * link type and snaplen for all interfaces, one byte order), so the expectations are by hand.
 */
static void build_ng_mixed(struct fb *f, bool be, struct want *w, size_t *nw)
{
    size_t n = 0;

    memset(f, 0, sizeof(*f));
    f->be = be;
    ng_shb(f);
    ng_other(f, BT_NRB, 12);
    ng_idb(f, DLT_EN10MB, 0, NO_RESOL, 0);      /* microseconds */
    ng_idb(f, LT_RAW, 1500, 9, 100);           /* nanoseconds, +100 s */
    ng_epb(f, 0, 1700000000123456ull, 60, 60, 1);
    w[n++] = (struct want){ 1700000000123456000LL, 60, 60, DLT_EN10MB, 0, 1 };
    ng_epb(f, 1, 5000000001ull, 40, 40, 2);
    w[n++] = (struct want){ 105000000001LL, 40, 40, DLT_RAW, 1, 2 };
    ng_spb(f, 70, 70, 3); /* no time: the previous packet's */
    w[n++] = (struct want){ 105000000001LL, 70, 70, DLT_EN10MB, 0, 3 };
    ng_other(f, BT_CB, 8);
    ng_other(f, 0x40000bad, 0);
    ng_other(f, BT_ISB, 20);
    ng_pb(f, 1, 7, 10, 20, 4);
    w[n++] = (struct want){ 100 * NS + 7, 10, 20, DLT_RAW, 1, 4 };
    ng_epb(f, 1, 1, 1600, 1600, 5); /* above its snaplen: cut */
    w[n++] = (struct want){ 100 * NS + 1, 1500, 1600, DLT_RAW, 1, 5 };
    ng_spb(f, 3000, 20, 6); /* the block holds less than the wire length */
    w[n++] = (struct want){ 100 * NS + 1, 20, 3000, DLT_EN10MB, 0, 6 };
    f->be = !be;
    ng_shb(f);
    ng_idb(f, DLT_LINUX_SLL, 65535, 0x94, 0); /* 2^-20 s */
    ng_idb(f, DLT_EN10MB, 0, 3, -5);           /* milliseconds, -5 s */
    ng_epb(f, 1, 1234567, 30, 31, 7);
    w[n++] = (struct want){ 1229567 * 1000000LL, 30, 31, DLT_EN10MB, 3, 7 };
    ng_epb(f, 0, (3u << 20) + (1u << 19) + 1, 0, 0, 8);
    w[n++] = (struct want){ 3 * NS + 500000000 + 953, 0, 0, DLT_LINUX_SLL, 2, 8 };
    ng_spb(f, 0, 0, 9);
    w[n++] = (struct want){ 3 * NS + 500000000 + 953, 0, 0, DLT_LINUX_SLL, 2, 9 };
    ng_idb(f, DLT_RAW, 0, 0xa8, 0); /* 2^-40 s */
    ng_idb(f, DLT_RAW, 0, 0xbf, 0); /* 2^-63 s */
    ng_epb(f, 2, (5ull << 40) + (1ull << 39) + (1ull << 20), 1, 1, 10);
    w[n++] = (struct want){ 5 * NS + 500000000 + 953, 1, 1, DLT_RAW, 4, 10 };
    ng_epb(f, 3, (1ull << 63) + (1ull << 62) + (1ull << 43), 2, 2, 11);
    w[n++] = (struct want){ 1 * NS + 500000000 + 953, 2, 2, DLT_RAW, 5, 11 };
    ng_other(f, BT_ISB, 4);
    *nw = n;
}

static void test_pcapng_mixed(void **state)
{
    (void)state;
    for (int be = 0; be < 2; be++) {
        struct fb f;
        struct want w[16];
        size_t nw;

        build_ng_mixed(&f, be, w, &nw);
        assert_true(nw <= DP_ARRAY_LEN(w));
        check_reads(&f, w, nw, DLT_EN10MB);
        fb_free(&f);
    }
}

/* What libpcap reads too: one byte order, one link type and snaplen, two sections. */
static void build_ng_plain(struct fb *f, bool be)
{
    memset(f, 0, sizeof(*f));
    f->be = be;
    ng_shb(f);
    ng_other(f, BT_NRB, 12);
    ng_idb(f, DLT_EN10MB, 0, NO_RESOL, 0);
    ng_idb(f, DLT_EN10MB, 0, 9, 100);
    ng_epb(f, 0, 1700000000123456ull, 60, 60, 1);
    ng_epb(f, 1, 5000000001ull, 40, 40, 2);
    ng_other(f, BT_CB, 8);
    ng_pb(f, 1, 7, 10, 20, 4);
    ng_epb(f, 0, 1, 1600, 1600, 5);
    ng_shb(f);
    ng_idb(f, DLT_EN10MB, 0, 3, -5);
    ng_idb(f, DLT_EN10MB, 0, 0x94, 0);
    ng_epb(f, 0, 1234567, 30, 31, 7);
    ng_epb(f, 1, (3u << 20) + (1u << 19) + 1, 0, 0, 8);
    ng_other(f, BT_ISB, 4);
}

static void test_pcapng_libpcap(void **state)
{
    (void)state;
    for (int be = 0; be < 2; be++) {
        struct fb f;

        build_ng_plain(&f, be);
        assert_int_equal(libpcap_agrees(&f), 6);
        fb_free(&f);
    }
}

/*
 * libpcap opens files whose first section header has a wrong trailing length or a length that
 * is not a multiple of 4, and skips other section headers before the first IDB unread: we open
 * them too, and read the same packets.
 */
static void test_pcapng_libpcap_quirks(void **state)
{
    (void)state;
    for (int quirk = 0; quirk < 3; quirk++) {
        struct fb f = { 0 };

        if (quirk == 0) {
            ng_shb(&f);
            patch32(&f, f.n - 4, 12);
        } else if (quirk == 1) {
            ng_shb(&f);
            ng_shb(&f);
            f.b[f.n - 36] ^= 0xff; /* the second one's byte-order magic */
        } else {
            put32s(&f, 2, (const uint32_t[]){ BT_SHB, 30 });
            put32s(&f, 2, (const uint32_t[]){ 0x1a2b3c4d, 1 });
            put64(&f, UINT64_MAX);
            put(&f, "xy", 2);
            put32(&f, 30);
        }
        ng_idb(&f, DLT_EN10MB, 0, NO_RESOL, 0);
        ng_epb(&f, 0, 1, 10, 10, 1);
        if (libpcap_agrees(&f) != 1)
            fail_msg("quirk %d", quirk);
        fb_free(&f);
    }
}

/* ---- malformed pcapng ------------------------------------------------------------------- */

enum ng_bad {
    BAD_LEN13 = 0,
    BAD_LEN8,
    BAD_TRAILER,
    BAD_IFACE,
    BAD_CAPLEN_BLOCK,
    BAD_HUGE,
    BAD_EPB_FIRST,
    BAD_NO_IDB,
    BAD_BOM2,
    BAD_MAJOR,
    BAD_MAJOR2,
    BAD_RESOL10,
    BAD_RESOL2,
    BAD_RESOL_TWICE,
    BAD_RESOL_LEN,
    BAD_OFFSET_LEN,
    BAD_OPT_OVERRUN,
    BAD_IDB_SHORT,
    BAD_EPB_SHORT,
    BAD_SPB_SHORT,
    BAD_SPB_NO_IDB,
    BAD_CAPLEN_MAX,
    BAD_SHB_SHORT,
    BAD_COUNT
};

/* '@' stands for the offset of the bad block. */
static const struct {
    bool at_open; /* else after one good packet */
    const char *msg;
} NG_BAD[BAD_COUNT] = {
    [BAD_LEN13] = { false, "mem: block at offset @: bad length 13" },
    [BAD_LEN8] = { false, "mem: block at offset @: bad length 8" },
    [BAD_TRAILER] = { false, "mem: block at offset @: length 48, trailing length 33" },
    [BAD_IFACE] = { false, "mem: packet block at offset @: interface 2, but the section has 2" },
    [BAD_CAPLEN_BLOCK] = { false, "mem: packet block at offset @: caplen 13 exceeds the block" },
    [BAD_HUGE] = { false, "mem: block at offset @: length 16777220 exceeds the maximum 16777216" },
    [BAD_EPB_FIRST] = { true, "mem: packet block at offset @ before any interface block" },
    [BAD_NO_IDB] = { true, "mem: no interface description block" },
    [BAD_BOM2] = { false, "mem: section header block at offset @: bad byte-order magic" },
    [BAD_MAJOR] = { true, "mem: unsupported pcapng version 2.0 at offset @" },
    [BAD_MAJOR2] = { false, "mem: unsupported pcapng version 0.1 at offset @" },
    [BAD_RESOL10] = { false, "mem: interface block at offset @: if_tsresol 10^-20" },
    [BAD_RESOL2] = { false, "mem: interface block at offset @: if_tsresol 2^-64" },
    [BAD_RESOL_TWICE] = { false, "mem: interface block at offset @: bad if_tsresol" },
    [BAD_RESOL_LEN] = { false, "mem: interface block at offset @: bad if_tsresol" },
    [BAD_OFFSET_LEN] = { false, "mem: interface block at offset @: bad if_tsoffset" },
    [BAD_OPT_OVERRUN] = { false, "mem: interface block at offset @: option 2 overruns it" },
    [BAD_IDB_SHORT] = { false, "mem: interface block at offset @ is too short" },
    [BAD_EPB_SHORT] = { false, "mem: packet block at offset @ is too short" },
    [BAD_SPB_SHORT] = { false, "mem: simple packet block at offset @ is too short" },
    [BAD_SPB_NO_IDB] = { false,
            "mem: packet block at offset @: interface 0, but the section has 0" },
    [BAD_CAPLEN_MAX] = { false,
            "mem: packet block at offset @: caplen 300000 exceeds the maximum 262144" },
    [BAD_SHB_SHORT] = { false, "mem: section header block at offset @ is too short" },
};

/*
 * A section with two interfaces and one good packet, then the malformation <bad> in byte
 * order <be>; returns the offset of the bad block.
 */
static size_t build_ng_bad(struct fb *f, enum ng_bad bad, bool be)
{
    size_t at;

    memset(f, 0, sizeof(*f));
    f->be = be;
    if (bad == BAD_MAJOR) {
        ng_shb_v(f, 2, 0);
        ng_idb(f, DLT_EN10MB, 0, NO_RESOL, 0);
        return 0;
    }
    ng_shb(f);
    at = f->n;
    if (bad == BAD_EPB_FIRST) {
        ng_epb(f, 0, 0, 4, 4, 1);
        ng_idb(f, DLT_EN10MB, 0, NO_RESOL, 0);
        return at;
    }
    if (bad == BAD_NO_IDB) {
        ng_other(f, BT_NRB, 8);
        return at;
    }
    ng_idb(f, DLT_EN10MB, 0, NO_RESOL, 0);
    ng_idb(f, DLT_EN10MB, 0, 9, 1);
    ng_epb(f, 0, 0, 0, 0, 1);
    at = f->n;
    switch (bad) {
    case BAD_LEN13:
        ng_epb(f, 0, 0, 4, 4, 2);
        patch32(f, at + 4, 13);
        break;
    case BAD_LEN8:
        ng_epb(f, 0, 0, 4, 4, 2);
        patch32(f, at + 4, 8);
        break;
    case BAD_TRAILER:
        ng_epb(f, 0, 0, 4, 4, 2);
        patch32(f, f->n - 4, 33);
        break;
    case BAD_IFACE:
        ng_epb(f, 2, 0, 4, 4, 2);
        break;
    case BAD_CAPLEN_BLOCK:
        at = ng_begin(f, BT_EPB);
        put32s(f, 5, (const uint32_t[]){ 0, 0, 0, 13, 13 });
        put_data(f, 12, 2);
        ng_end(f, at);
        break;
    case BAD_HUGE:
        put32(f, BT_EPB);
        put32(f, (16u << 20) + 4);
        put32(f, 0);
        break;
    case BAD_BOM2:
        ng_shb(f);
        f->b[at + 8] ^= 0xff;
        break;
    case BAD_MAJOR2:
        ng_shb_v(f, 0, 1);
        break;
    case BAD_RESOL10:
        ng_idb(f, DLT_EN10MB, 0, 20, 0);
        break;
    case BAD_RESOL2:
        ng_idb(f, DLT_EN10MB, 0, 0xc0, 0);
        break;
    case BAD_RESOL_TWICE:
        at = ng_begin(f, BT_IDB);
        idb_fixed(f);
        put_opt32(f, 9, 1, 6);
        put_opt32(f, 9, 1, 6);
        ng_end(f, at);
        break;
    case BAD_RESOL_LEN:
        at = ng_begin(f, BT_IDB);
        idb_fixed(f);
        put_opt32(f, 9, 2, 6);
        ng_end(f, at);
        break;
    case BAD_OFFSET_LEN:
        at = ng_begin(f, BT_IDB);
        idb_fixed(f);
        put_opt32(f, 14, 4, 6);
        ng_end(f, at);
        break;
    case BAD_OPT_OVERRUN:
        at = ng_begin(f, BT_IDB);
        idb_fixed(f);
        put_opt32(f, 2, 5, 6);
        ng_end(f, at);
        break;
    case BAD_IDB_SHORT:
        at = ng_begin(f, BT_IDB);
        put32(f, 1);
        ng_end(f, at);
        break;
    case BAD_EPB_SHORT:
        at = ng_begin(f, BT_EPB);
        put32s(f, 4, (const uint32_t[]){ 0, 0, 0, 0 });
        ng_end(f, at);
        break;
    case BAD_SPB_SHORT:
        ng_other(f, BT_SPB, 0);
        break;
    case BAD_SPB_NO_IDB:
        ng_shb(f);
        at = f->n;
        ng_spb(f, 4, 4, 2);
        break;
    case BAD_CAPLEN_MAX:
        ng_epb(f, 0, 0, 300000, 300000, 2);
        break;
    case BAD_SHB_SHORT:
        at = ng_begin(f, BT_SHB);
        put32(f, 0x1a2b3c4d);
        put16(f, 1);
        put16(f, 0);
        ng_end(f, at);
        break;
    default:
        fail();
    }
    return at;
}

/* <tmpl> with its '@' replaced by <at>. */
static void expand(char *out, size_t size, const char *tmpl, size_t at)
{
    const char *c = strchr(tmpl, '@');

    if (c == NULL)
        snprintf(out, size, "%s", tmpl);
    else
        snprintf(out, size, "%.*s%zu%s", (int)(c - tmpl), tmpl, at, c + 1);
}

static void test_pcapng_malformed(void **state)
{
    (void)state;
    for (int bad = 0; bad < BAD_COUNT; bad++) {
        for (int be = 0; be < 2; be++) {
            struct fb f;
            struct mem_src s;
            struct pcap_file *pf;
            struct dp_err err = { 0 };
            struct pcap_rec rec;
            char want[256];
            size_t at;
            int r;

            at = build_ng_bad(&f, (enum ng_bad)bad, be);
            expand(want, sizeof(want), NG_BAD[bad].msg, at);
            r = open_mem(&s, f.b, f.n, 0, 0, 0, &pf, &err);
            if (NG_BAD[bad].at_open) {
                assert_int_equal(r, -EINVAL);
                assert_null(pf);
                if (strcmp(err.msg, want) != 0)
                    fail_msg("case %d: \"%s\", want \"%s\"", bad, err.msg, want);
            } else {
                if (r != 0)
                    fail_msg("case %d: %s", bad, err.msg);
                assert_int_equal(pcap_file_next(pf, &rec), 1);
                r = pcap_file_next(pf, &rec);
                assert_int_equal(r, -EINVAL);
                if (strcmp(pcap_file_error(pf), want) != 0)
                    fail_msg("case %d: \"%s\", want \"%s\"", bad, pcap_file_error(pf), want);
                assert_int_equal(pcap_file_offset(pf), at);
                assert_int_equal(pcap_file_next(pf, &rec), -EINVAL);
                pcap_file_close(pf);
            }
            dp_guarded_free(&s.g);
            fb_free(&f);
        }
    }
}

/* ---- every cut ---------------------------------------------------------------------------- */

/*
 * Cuts <f> at every byte offset and reads the cut file through several buffers: the packets of
 * the whole blocks come out, then a clean end where the cut falls between blocks, else
 * -EINVAL "truncated"; the open fails while the header (pcapng: to the first IDB) is cut.
 */
static void check_cuts(const struct fb *f, const struct want *w)
{
    static const size_t bufs[] = { 0, 8, 100 };

    assert_true(f->nends <= DP_ARRAY_LEN(f->ends));
    for (size_t cut = 0; cut <= f->n; cut++) {
        size_t pkts = 0, last_end = 0;
        bool at_end = false;

        for (size_t e = 0; e < f->nends; e++) {
            if (f->ends[e] <= cut)
                last_end = f->ends[e];
            at_end |= f->ends[e] == cut;
        }
        for (size_t b = 0; b < DP_ARRAY_LEN(bufs); b++) {
            struct mem_src s;
            struct pcap_file *pf;
            struct dp_err err = { 0 };
            struct pcap_rec rec;
            size_t k = 0;
            int r;

            r = open_mem(&s, f->b, cut, b == 2 ? 3 : 0, bufs[b], 0, &pf, &err);
            if (cut < f->hdr_end) {
                assert_int_equal(r, -EINVAL);
                assert_int_equal(err.code, -EINVAL);
                if (strstr(err.msg, "truncated") == NULL && strstr(err.msg, "empty") == NULL &&
                        !(at_end && strstr(err.msg, "no interface description block")))
                    fail_msg("cut %zu: %s", cut, err.msg);
                dp_guarded_free(&s.g);
                continue;
            }
            if (r != 0)
                fail_msg("cut %zu: %s", cut, err.msg);
            while ((r = pcap_file_next(pf, &rec)) == 1) {
                check_rec(&rec, &w[k], k);
                k++;
            }
            if (at_end) {
                if (r != 0)
                    fail_msg("cut %zu: %s", cut, pcap_file_error(pf));
            } else {
                assert_int_equal(r, -EINVAL);
                if (strstr(pcap_file_error(pf), "truncated") == NULL)
                    fail_msg("cut %zu: %s", cut, pcap_file_error(pf));
            }
            if (b == 0)
                pkts = k;
            assert_int_equal(k, pkts);
            assert_int_equal(pcap_file_offset(pf), last_end);
            pcap_file_close(pf);
            dp_guarded_free(&s.g);
        }
    }
}

static void test_truncate_every_offset(void **state)
{
    (void)state;
    for (int be = 0; be < 2; be++) {
        struct fb f = { .be = be };
        const struct want w[] = {
            { 1 * NS + 1000, 3, 3, DLT_EN10MB, 0, 1 },
            { 2 * NS, 0, 60, DLT_EN10MB, 0, 2 },
            { 3 * NS, 20, 20, DLT_EN10MB, 0, 3 },
        };
        struct want wm[16];
        size_t nw;

        pcap_hdr(&f, MAGIC_US, 2, 4, 65535, 1);
        pcap_rec(&f, 1, 1, 3, 3, 1);
        pcap_rec(&f, 2, 0, 0, 60, 2);
        pcap_rec(&f, 3, 0, 20, 20, 3);
        check_cuts(&f, w);
        {
            char path[64];

            /* libpcap agrees on every cut too (same packets, then its "truncated dump file") */
            for (size_t cut = f.hdr_end; cut <= f.n; cut++) {
                struct fb g = f;

                g.n = cut;
                write_tmp(path, sizeof(path), &g);
                same_as_libpcap(path, 0);
                unlink(path);
            }
        }
        fb_free(&f);
        build_ng_mixed(&f, be, wm, &nw);
        check_cuts(&f, wm);
        fb_free(&f);
    }
}

/* ---- opening -------------------------------------------------------------------------------- */

static void test_open_errors(void **state)
{
    static const struct {
        const char *bytes;
        size_t len;
        const char *msg;
    } cases[] = {
        { "", 0, "mem: empty file, not a pcap or pcapng file" },
        { "GET / HTTP/1.1\r\n\r\n", 18, "mem: not a pcap or pcapng file" },
        { "\xd4\xc3\xb2", 3, "mem: truncated header: 3 bytes" },
        { "\xa1\xb2", 2, "mem: truncated header: 2 bytes" },
        { "\x0a\x0d\x0d", 3, "mem: truncated header: 3 bytes" },
        { "ab", 2, "mem: not a pcap or pcapng file" },
        { "\xd4\xc3\xb2\xa1\x02\x00\x04\x00\0\0\0\0\0\0\0\0\xff\xff\0\0", 20,
                "mem: truncated header: 20 of 24 bytes" },
        { "\x0a\x0d\x0d\x0a\x1c\0\0\0\x4d\x3c\x2b\x1a\x01\x00", 14,
                "mem: truncated header: 14 of 28 bytes" },
        { "\x0a\x0d\x0d\x0a\x1c\0\0", 7, "mem: truncated header: 7 bytes" },
        { "\n\r\r\nfrom a text file", 20, "mem: not a pcap or pcapng file" },
    };
    struct pcap_file *pf;
    struct dp_err err = { 0 };
    char dir[] = "/tmp/test_pcap_file.dir.XXXXXX";

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        struct mem_src s;

        assert_int_equal(open_mem(&s, cases[i].bytes, cases[i].len, 0, 0, 0, &pf, &err),
                -EINVAL);
        assert_null(pf);
        assert_string_equal(err.msg, cases[i].msg);
        dp_guarded_free(&s.g);
    }
    assert_int_equal(pcap_file_open("/nonexistent/x.pcap", &pf, &err), -ENOENT);
    assert_null(pf);
    assert_string_equal(err.msg, "/nonexistent/x.pcap: No such file or directory");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(pcap_file_open(dir, &pf, &err), -EISDIR);
    assert_non_null(strstr(err.msg, "Is a directory"));
    rmdir(dir);
    pcap_file_close(NULL);
}

static void test_read_errors(void **state)
{
    struct fb f = { 0 };

    (void)state;
    pcap_hdr(&f, MAGIC_US, 2, 4, 65535, 1);
    pcap_rec(&f, 1, 0, 100, 100, 1);
    pcap_rec(&f, 2, 0, 100, 100, 2);
    for (size_t at = 0; at < f.n; at += 7) {
        struct pcap_file_src src = { .name = "mem", .read = mem_read, .bufsize = 64 };
        struct mem_src s = { .chunk = 0, .fail_at = at, .err = -EBADF };
        struct pcap_file *pf;
        struct dp_err err = { 0 };
        struct pcap_rec rec;
        int r, k = 0;

        dp_guarded_init(&s.g, f.b, f.n);
        src.ctx = &s;
        r = pcap_file_open_src(&src, &pf, &err);
        if (at < 24) {
            assert_int_equal(r, -EIO);
            assert_non_null(strstr(err.msg, "mem: read error at offset"));
            assert_non_null(strstr(err.msg, "Bad file descriptor"));
        } else {
            assert_int_equal(r, 0);
            while ((r = pcap_file_next(pf, &rec)) == 1)
                k++;
            assert_int_equal(r, -EIO);
            assert_int_equal(k, at >= 140 ? 1 : 0);
            assert_non_null(strstr(pcap_file_error(pf), "read error at offset"));
            assert_int_equal(pcap_file_next(pf, &rec), -EIO);
            pcap_file_close(pf);
        }
        dp_guarded_free(&s.g);
    }
    fb_free(&f);
}

static void test_alloc_failures(void **state)
{
    struct fb f = { 0 };
    bool done = false;

    (void)state;
    /* 9 interfaces (the table grows twice) and a packet larger than the 64-byte buffer */
    ng_shb(&f);
    for (int i = 0; i < 9; i++)
        ng_idb(&f, DLT_EN10MB, 0, NO_RESOL, 0);
    ng_epb(&f, 8, 0, 1000, 1000, 1);
    for (unsigned n = 1; !done; n++) {
        struct mem_src s;
        struct pcap_file *pf;
        struct dp_err err = { 0 };
        struct pcap_rec rec;
        int r;

        assert_true(n < 20);
        r = open_mem(&s, f.b, f.n, 0, 64, n, &pf, &err);
        if (r != 0) {
            assert_int_equal(r, -ENOMEM);
            assert_non_null(strstr(err.msg, "out of memory"));
        } else {
            r = pcap_file_next(pf, &rec);
            if (r == 1) {
                assert_int_equal(rec.caplen, 1000);
                assert_int_equal(pcap_file_next(pf, &rec), 0);
                done = true;
            } else {
                assert_int_equal(r, -ENOMEM);
                assert_non_null(strstr(pcap_file_error(pf), "out of memory"));
            }
            pcap_file_close(pf);
        }
        dp_guarded_free(&s.g);
    }
    fb_free(&f);
}

/* Link types as libpcap maps them (LINKTYPE_* in the file -> DLT_* in the API). */
static void test_linktypes(void **state)
{
    char path[64], errbuf[PCAP_ERRBUF_SIZE];

    (void)state;
    for (unsigned lt = 0; lt < 300; lt++) {
        for (int ng = 0; ng < 2; ng++) {
            struct fb f = { 0 };
            struct pcap_file *pf;
            struct dp_err err;
            pcap_t *pc;

            if (ng) {
                ng_shb(&f);
                ng_idb(&f, lt, 0, NO_RESOL, 0);
            } else {
                pcap_hdr(&f, MAGIC_US, 2, 4, 65535, lt);
            }
            write_tmp(path, sizeof(path), &f);
            pc = pcap_open_offline(path, errbuf);
            assert_non_null(pc);
            assert_int_equal(pcap_file_open(path, &pf, &err), 0);
            if (pcap_file_linktype(pf) != pcap_datalink(pc))
                fail_msg("linktype %u: %d, libpcap %d", lt, pcap_file_linktype(pf),
                        pcap_datalink(pc));
            pcap_close(pc);
            pcap_file_close(pf);
            unlink(path);
            fb_free(&f);
        }
    }
}

/* Files larger than the default buffer, read with read() as in production. */
static void test_big_files(void **state)
{
    uint32_t rnd = 12345;

    (void)state;
    for (int ng = 0; ng < 2; ng++) {
        struct fb f = { .be = ng == 0 };

        if (ng) {
            ng_shb(&f);
            ng_idb(&f, DLT_EN10MB, 0, 9, 0);
        } else {
            pcap_hdr(&f, MAGIC_NS, 2, 4, 262144, 1);
        }
        for (unsigned i = 0; f.n < (3u << 20) + 12345; i++) {
            uint32_t len;

            rnd = rnd * 1103515245u + 12345u;
            len = (rnd >> 16) % 1600;
            if (i % 97 == 0)
                len = 65535 + (rnd >> 8) % 100000;
            if (ng)
                ng_epb(&f, 0, 1000000000ull * i + rnd % 1000, len, len + i % 3, i);
            else
                pcap_rec(&f, i, rnd % 1000000000, len, len + i % 3, i);
        }
        assert_true(libpcap_agrees(&f) > 1000);
        fb_free(&f);
    }
}

/* ---- the corpus ------------------------------------------------------------------------- */

static void test_corpus(void **state)
{
    const char *shared = getenv("DP_SHARED");
    char dirpath[1024];
    struct dirent *e;
    int ran = 0;
    DIR *d;

    (void)state;
    if (shared == NULL)
        shared = "../shared"; /* as tests/e2e/dp.py: the repository's sibling, from its root */
    snprintf(dirpath, sizeof(dirpath), "%s/corpus/public", shared);
    d = opendir(dirpath);
    if (d == NULL)
        skip();
    while ((e = readdir(d)) != NULL) {
        char path[2048];
        size_t len = strlen(e->d_name);
        long long n;

        if (!(len > 5 && memcmp(e->d_name + len - 5, ".pcap", 5) == 0) &&
                !(len > 7 && memcmp(e->d_name + len - 7, ".pcapng", 7) == 0))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dirpath, e->d_name);
        n = same_as_libpcap(path, 0);
        if (n <= 0)
            fail_msg("%s: %lld packets", path, n);
        assert_int_equal(same_as_libpcap(path, 512), n);
        ran++;
    }
    closedir(d);
    if (ran == 0)
        skip();
    print_message("%d captures read the same as libpcap\n", ran);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pcap_orders_and_precisions),
        cmocka_unit_test(test_pcap_versions),
        cmocka_unit_test(test_pcap_caplen),
        cmocka_unit_test(test_pcapng_mixed),
        cmocka_unit_test(test_pcapng_libpcap),
        cmocka_unit_test(test_pcapng_libpcap_quirks),
        cmocka_unit_test(test_pcapng_malformed),
        cmocka_unit_test(test_truncate_every_offset),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_read_errors),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_linktypes),
        cmocka_unit_test(test_big_files),
        cmocka_unit_test(test_corpus),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
