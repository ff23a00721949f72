/*
 * pcap_file.h: packets out of a pcap or pcapng capture file, for --input-raw FILE.
 *
 *    file --read()--> one reused buffer ----------------------------------+
 *                     | consumed | rec hdr | data ... | rec hdr | data ..|.. (read next)
 *                                ^pos                                     ^end
 *                     pcap_file_next() parses the record at pos in place: rec.data points
 *                     into the buffer; a record cut by the buffer's end is moved to the
 *                     front once and the rest is read after it.
 *
 * Formats: classic pcap (magic a1b2c3d4 microseconds, a1b23c4d nanoseconds, a1b2cd34 with
 * 24-byte record headers; either byte order; versions 2.0-2.4 and 543.0 as libpcap) and pcapng
 * (any number of sections, each in its own byte order; IDB with if_tsresol and if_tsoffset;
 * EPB, SPB, obsolete PB; every other block skipped). Records are checked against their lengths
 * before a byte of them is used; a bad or cut record stops the file with -EINVAL. Link types are
 * libpcap's DLT_* values (LINKTYPE_RAW 101 is DLT_RAW, ...), as pcap_datalink() returns them.
 * See docs/internals/pcap_file.md.
 */
#ifndef DP_CAPTURE_PCAP_FILE_H
#define DP_CAPTURE_PCAP_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/common.h"
#include "core/err.h"

/* Bytes the buffer starts with, and its hard cap: the largest record or block accepted. */
#define PCAP_FILE_BUFSIZE  (1u << 20)
#define PCAP_FILE_MAX_REC  (16u << 20)
/* caplen accepted whatever the snaplen says (libpcap's MAXIMUM_SNAPLEN). */
#define PCAP_FILE_MAX_SNAP 262144u

struct pcap_file;

/* One packet. data points into the reader's buffer and is valid until the next call. */
struct pcap_rec {
    int64_t ts_ns;         /* nanoseconds since the epoch (pcapng: + if_tsoffset) */
    const uint8_t *data;   /* caplen bytes */
    uint32_t caplen;       /* bytes in data; <= the interface's snaplen when it has one */
    uint32_t wirelen;      /* bytes on the wire, as recorded (may be < caplen in odd files) */
    int linktype;          /* DLT_* of the packet's interface */
    uint32_t iface;        /* pcapng: interface number counted across sections; pcap: 0 */
};

/*
 * Opens <path> ("-" is standard input) and reads its header (pcapng: up to the first
 * Interface Description Block). Returns 0 with *<out> set, or -errno with <err> filled with a
 * message starting with <path>: "FILE: not a pcap or pcapng file", "FILE: truncated header",
 * "FILE: unsupported pcap version 3.0", "FILE: No such file or directory", ...
 * Format errors are -EINVAL, out of memory -ENOMEM, others the errno of open()/read().
 */
int pcap_file_open(const char *path, struct pcap_file **out, struct dp_err *err) DP_WUR;

/*
 * Reads the next packet into *<rec>. Returns 1 with *<rec> filled (rec->data valid until the
 * next call on <f>), 0 at a clean end of file (after a whole record), or -EINVAL (malformed or
 * truncated record, including a file that ends inside one), -EIO (read error) or -ENOMEM (the
 * buffer could not grow for a large record): then pcap_file_error() says what and at which byte
 * offset, and every later call returns the same.
 */
int pcap_file_next(struct pcap_file *f, struct pcap_rec *rec) DP_WUR;

/* DLT_* of the first interface (pcap: of the file). */
int pcap_file_linktype(const struct pcap_file *f);

/* Snapshot length of the first interface (pcap: of the file); 0 means none was given. */
uint32_t pcap_file_snaplen(const struct pcap_file *f);

/* The message of the last error ("FILE: truncated record at offset N: ..."), or "". */
const char *pcap_file_error(const struct pcap_file *f);

/* Bytes of the file consumed: the end of the last record returned, or the start of the bad one
 * after an error. */
uint64_t pcap_file_offset(const struct pcap_file *f);

/* Closes the file and frees <f> (NULL is fine). Invalidates the last rec->data. */
void pcap_file_close(struct pcap_file *f);

/*
 * For tests and fuzz targets: the same reader on any source.
 * read: reads up to <cap> bytes into <buf>; returns the count, 0 at end of input, or -errno.
 * bufsize: the buffer's first size (0: PCAP_FILE_BUFSIZE); it grows, up to the cap, for a
 * record that does not fit, so tiny sizes exercise the move and growth paths.
 * fail_alloc: when > 0, allocation number <fail_alloc> (1 = the reader itself) and every later
 * one fail, to test the -ENOMEM paths.
 */
typedef ssize_t pcap_file_read_fn(void *ctx, uint8_t *buf, size_t cap);

struct pcap_file_src {
    const char *name; /* for messages; copied */
    pcap_file_read_fn *read;
    void *ctx;        /* borrowed until pcap_file_close() */
    size_t bufsize;
    unsigned fail_alloc;
};

/* Opens <src> like pcap_file_open(): 0 or -errno with <err> filled. */
int pcap_file_open_src(const struct pcap_file_src *src, struct pcap_file **out,
        struct dp_err *err) DP_WUR;

#endif
