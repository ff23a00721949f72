/*
 * gorfile.h: GoReplay's .gor record format, read and written byte-compatibly.
 *
 *   "1 8f3a...e2 1611642131487022000 405000\n"   meta line: TYPE ID TIMESTAMP_NS [LATENCY_NS]
 *   "GET / HTTP/1.1\r\nHost: a\r\n\r\n"           payload, any bytes
 *   "\n\xf0\x9f\x90\xb5\xf0\x9f\x99\x88\xf0\x9f\x99\x89\n"   separator: LF 🐵🙈🙉 LF (14 bytes)
 *
 * There is no escaping: a record ends at the first separator, exactly where GoReplay's
 * line-based reader ends it. The reader pulls bytes from a source callback through one buffer
 * with a hard cap, so a record without a separator (a corrupt or endless file) costs at most
 * --copy-buffer-size of memory: its payload is truncated and counted, never grown without limit.
 */
#ifndef DP_FORMAT_GORFILE_H
#define DP_FORMAT_GORFILE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "core/common.h"
#include "core/msg.h"

#define GOR_SEP     "\n\xf0\x9f\x90\xb5\xf0\x9f\x99\x88\xf0\x9f\x99\x89\n"
#define GOR_SEP_LEN 14

/* Reads up to <cap> bytes into <buf>: returns the count, 0 at end of input, or -errno. */
typedef ssize_t gor_source_fn(void *src, uint8_t *buf, size_t cap);

enum gor_status {
    GOR_RECORD = 0,     /* *out holds a message (one reference, the caller's) */
    GOR_EOF = 1,        /* end of input after a whole record */
    GOR_MALFORMED = 2,  /* a record with a bad meta line was skipped; call again */
    GOR_UNTERMINATED = 3, /* input ended inside a record (no separator): it is dropped */
    GOR_ERROR = 4,      /* the source failed (-errno in reader.error) or out of memory */
    GOR_STATUS_COUNT
};

extern const char *const gor_status_names[GOR_STATUS_COUNT];

struct gor_reader {
    gor_source_fn *read;
    void *src;
    uint8_t *buf;
    size_t cap;        /* allocated bytes of buf */
    size_t max_cap;    /* hard cap of buf */
    size_t start;      /* first byte of the current record */
    size_t scan;       /* where the separator search resumes */
    size_t end;        /* bytes valid in buf */
    size_t max_payload; /* payload bytes kept per record (--copy-buffer-size) */
    struct dp_msg *pending; /* truncated record whose separator is still being looked for */
    uint64_t offset;   /* input offset of buf[0] */
    bool eof;
    bool skip_bad; /* skipping a too-long record with a bad meta line */
    int error;
    /* counters */
    uint64_t records;
    uint64_t malformed;
    uint64_t truncated;
    uint64_t unterminated;
    uint64_t bytes;
};

/*
 * Prepares <r> to read from <read,src>, keeping at most <max_payload> payload bytes per record.
 * Returns 0 or -ENOMEM.
 */
int gor_reader_init(struct gor_reader *r, gor_source_fn *read, void *src, size_t max_payload)
        DP_WUR;

/* Frees the buffer and any pending message. The source is the caller's. */
void gor_reader_free(struct gor_reader *r);

/*
 * Returns the next record in <*out> (GOR_RECORD) or another status. A payload longer than
 * max_payload is cut and the message flagged DP_MSG_TRUNCATED (and counted).
 */
enum gor_status gor_reader_next(struct gor_reader *r, struct dp_msg **out) DP_WUR;

/* Input offset where the current (unfinished or last) record starts, for error messages. */
uint64_t gor_reader_record_offset(const struct gor_reader *r);


/* Fills <iov> with the three parts of <m>'s record (meta, payload, separator); returns the
 * record's length in bytes. <m> must outlive the iovecs. */
size_t gor_record_iov(struct dp_msg *m, struct iovec iov[3]);

#endif
