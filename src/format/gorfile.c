#include "format/gorfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *const gor_status_names[GOR_STATUS_COUNT] = {
    [GOR_RECORD] = "record",       [GOR_EOF] = "eof",     [GOR_MALFORMED] = "malformed",
    [GOR_UNTERMINATED] = "unterminated", [GOR_ERROR] = "error",
};

/* The separator line without its leading LF: a record that is empty starts with it. */
#define SEP_LINE     (&GOR_SEP[1])
#define SEP_LINE_LEN (GOR_SEP_LEN - 1)
#define READ_CHUNK   (256 * 1024)

int gor_reader_init(struct gor_reader *r, gor_source_fn *read, void *src, size_t max_payload)
{
    memset(r, 0, sizeof(*r));
    r->read = read;
    r->src = src;
    r->max_payload = max_payload;
    /* Room for one whole record at the cap plus one read: the buffer never grows past it. */
    r->max_cap = DP_MSG_META_MAX + max_payload + GOR_SEP_LEN + READ_CHUNK;
    r->cap = DP_MIN(r->max_cap, (size_t)4 * READ_CHUNK);
    r->buf = malloc(r->cap);
    return r->buf != NULL ? 0 : -ENOMEM;
}

void gor_reader_free(struct gor_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    if (r->pending != NULL)
        dp_msg_unref(r->pending);
    r->pending = NULL;
}

uint64_t gor_reader_record_offset(const struct gor_reader *r)
{
    return r->offset + r->start;
}

/* Makes room for one more read: drops consumed bytes, then grows up to the cap. */
static int reader_make_room(struct gor_reader *r)
{
    if (r->cap - r->end >= READ_CHUNK / 4)
        return 0;
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->offset += r->start;
        r->end -= r->start;
        r->scan -= r->start;
        r->start = 0;
        if (r->cap - r->end >= READ_CHUNK / 4)
            return 0;
    }
    if (r->cap < r->max_cap) {
        size_t ncap = DP_MIN(r->max_cap, r->cap * 2);
        uint8_t *nbuf = realloc(r->buf, ncap);

        if (nbuf == NULL)
            return -ENOMEM;
        r->buf = nbuf;
        r->cap = ncap;
        return 0;
    }
    return -ENOBUFS;
}

static int reader_fill(struct gor_reader *r)
{
    ssize_t n;
    int rc = reader_make_room(r);

    if (rc != 0)
        return rc;
    n = r->read(r->src, r->buf + r->end, DP_MIN(r->cap - r->end, (size_t)READ_CHUNK / 2));
    if (n < 0)
        return (int)n;
    if (n == 0)
        r->eof = true;
    r->end += (size_t)n;
    r->bytes += (uint64_t)n;
    return 0;
}

/* Turns the record buf[start, stop) into a message; stop excludes the separator. */
static enum gor_status reader_emit(struct gor_reader *r, size_t stop, struct dp_msg **out)
{
    const uint8_t *rec = r->buf + r->start;
    size_t len = stop - r->start;
    struct dp_msg probe;
    struct dp_msg *m;
    size_t payload;

    if (dp_msg_parse_meta(&probe, rec, len) != 0) {
        r->malformed++;
        return GOR_MALFORMED;
    }
    payload = len - probe.meta_len;
    if (payload > r->max_payload)
        payload = r->max_payload;
    m = dp_msg_alloc(probe.meta_len + payload);
    if (m == NULL) {
        r->error = -ENOMEM;
        return GOR_ERROR;
    }
    memcpy(m->buf, rec, probe.meta_len + payload);
    m->type = probe.type;
    m->meta_len = probe.meta_len;
    m->id_off = probe.id_off;
    m->id_len = probe.id_len;
    m->ts_ns = probe.ts_ns;
    m->latency_ns = probe.latency_ns;
    m->len = payload;
    if (payload < len - probe.meta_len) {
        m->flags |= DP_MSG_TRUNCATED;
        r->truncated++;
    }
    r->records++;
    *out = m;
    return GOR_RECORD;
}

/*
 * The first separator in <b,n>, or NULL. memchr for its first 0xF0 byte, which HTTP text
 * hardly ever contains, runs several times faster than memmem on the whole pattern.
 */
static const uint8_t *find_sep(const uint8_t *b, size_t n)
{
    const uint8_t *end = b + n;
    const uint8_t *p = b + 1;

    if (n < GOR_SEP_LEN)
        return NULL;
    while ((p = memchr(p, GOR_SEP[1] & 0xff, (size_t)(end - p))) != NULL) {
        if ((size_t)(end - (p - 1)) < GOR_SEP_LEN)
            return NULL;
        if (p[-1] == '\n' && memcmp(p - 1, GOR_SEP, GOR_SEP_LEN) == 0)
            return p - 1;
        p++;
    }
    return NULL;
}

enum gor_status gor_reader_next(struct gor_reader *r, struct dp_msg **out)
{
    const size_t keep = DP_MSG_META_MAX + r->max_payload;

    *out = NULL;
    for (;;) {
        bool skipping = r->pending != NULL || r->skip_bad;
        size_t avail = r->end - r->scan;
        const uint8_t *sep;
        int rc;

        /* A record that is only a separator line (two separators in a row): GoReplay sees an
         * empty record and calls it malformed; so do we. */
        if (!skipping && r->scan == r->start && r->end - r->start >= SEP_LINE_LEN &&
                memcmp(r->buf + r->start, SEP_LINE, SEP_LINE_LEN) == 0) {
            r->start += SEP_LINE_LEN;
            r->scan = r->start;
            r->malformed++;
            return GOR_MALFORMED;
        }
        sep = find_sep(r->buf + r->scan, avail);
        if (sep != NULL) {
            size_t stop = (size_t)(sep - r->buf);
            enum gor_status st = GOR_RECORD;

            if (r->pending != NULL) {
                *out = r->pending;
                r->pending = NULL;
                r->records++;
            } else if (r->skip_bad) {
                r->skip_bad = false;
                r->malformed++;
                st = GOR_MALFORMED;
            } else {
                st = reader_emit(r, stop, out);
                if (st == GOR_ERROR)
                    return st;
            }
            r->start = stop + GOR_SEP_LEN;
            r->scan = r->start;
            return st;
        }
        /* Not found: the next search starts where a separator could still begin. */
        if (avail >= GOR_SEP_LEN)
            r->scan = r->end - (GOR_SEP_LEN - 1);
        /* The separator may start in the last GOR_SEP_LEN - 1 bytes: only bytes before them
         * are surely the record's. */
        if (!skipping && r->end - r->start > keep + GOR_SEP_LEN - 1) {
            /* Longer than any record we keep: cut it now and skip to its separator. */
            if (dp_msg_parse_meta(&(struct dp_msg){ 0 }, r->buf + r->start, keep) != 0) {
                r->skip_bad = true;
            } else {
                enum gor_status st = reader_emit(r, r->start + keep, &r->pending);

                if (st == GOR_ERROR)
                    return st;
                r->records--; /* counted when its separator is found */
                if ((r->pending->flags & DP_MSG_TRUNCATED) == 0) {
                    r->pending->flags |= DP_MSG_TRUNCATED;
                    r->truncated++;
                }
            }
            skipping = true;
        }
        if (skipping)
            r->start = r->scan; /* the bytes before scan are skipped payload */
        if (r->eof) {
            if (r->start == r->end && !skipping)
                return GOR_EOF;
            if (r->pending != NULL)
                dp_msg_unref(r->pending);
            r->pending = NULL;
            r->skip_bad = false;
            r->unterminated++;
            r->start = r->end;
            r->scan = r->end;
            return GOR_UNTERMINATED;
        }
        rc = reader_fill(r);
        if (rc != 0) {
            r->error = rc;
            return GOR_ERROR;
        }
    }
}

size_t gor_record_iov(struct dp_msg *m, struct iovec iov[3])
{
    iov[0].iov_base = dp_msg_meta(m);
    iov[0].iov_len = m->meta_len;
    iov[1].iov_base = dp_msg_payload(m);
    iov[1].iov_len = m->len;
    iov[2].iov_base = (void *)(uintptr_t)GOR_SEP;
    iov[2].iov_len = GOR_SEP_LEN;
    return m->meta_len + m->len + GOR_SEP_LEN;
}
