/*
 * msg.h: the message, the one thing that flows from inputs through the pipeline to outputs.
 *
 * A message is one HTTP request (type 1), one original response (type 2), one replayed response
 * (type 3), or one chunk of a raw TCP session. It owns one allocation:
 *
 *   +-------------------+--------------------------------------------------+
 *   | struct dp_msg     | meta line "1 ID TS LAT\n" | payload bytes ...     |
 *   +-------------------+--------------------------------------------------+
 *                       ^ buf                       ^ buf + meta_len
 *
 * The meta line is kept as bytes so that a record read from a .gor file is written back byte
 * for byte (3-field metas, 40-hex ids, CRLF metas: whatever GoReplay wrote). Parsed fields sit
 * beside it. The payload may contain NULs: it is never a C string.
 *
 * Lifetime: dp_msg_new() returns a message with one reference, owned by the caller. Fan-out to
 * N outputs copies nothing: an output that keeps a message past accept() takes a reference with
 * dp_msg_ref() and drops it with dp_msg_unref(). The code that refs a message unrefs it.
 * Reference counts are not atomic: messages are shared only on the loop thread (capture threads
 * hand them over whole, through the SPSC ring).
 */
#ifndef DP_CORE_MSG_H
#define DP_CORE_MSG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/common.h"

enum dp_msg_type {
    DP_MSG_OTHER = 0, /* a meta type other than 1-3, read from a file and passed through */
    DP_MSG_REQUEST = 1,
    DP_MSG_RESPONSE = 2,
    DP_MSG_REPLAY = 3,
    DP_MSG_TYPE_COUNT
};

extern const char *const dp_msg_type_names[DP_MSG_TYPE_COUNT];

enum dp_msg_flag {
    DP_MSG_TRUNCATED = 1 << 0,  /* payload cut at --copy-buffer-size */
    DP_MSG_INCOMPLETE = 1 << 1, /* capture gap inside the payload */
    DP_MSG_RETRIED = 1 << 2,    /* output-http sent it a second time (stale keep-alive) */
};

/* Longest meta line accepted (type, id, timestamp, latency and any extra fields). */
#define DP_MSG_META_MAX 1024

struct dp_msg {
    uint32_t refs;
    uint8_t type;  /* enum dp_msg_type */
    uint8_t flags; /* enum dp_msg_flag */
    uint16_t meta_len;
    uint16_t meta_off; /* the meta line is buf[meta_off, meta_off + meta_len) */
    uint16_t id_off;   /* the id is meta[id_off, id_off + id_len) */
    uint16_t id_len;
    uint32_t input; /* index of the input instance it came from */
    int64_t ts_ns;
    int64_t latency_ns;
    uint64_t seq; /* order of arrival in the pipeline */
    size_t len;   /* payload length */
    size_t cap;   /* bytes allocated after the struct */
    uint8_t buf[];
};

static inline uint8_t *dp_msg_meta(struct dp_msg *m)
{
    return m->buf + m->meta_off;
}

static inline uint8_t *dp_msg_payload(struct dp_msg *m)
{
    return m->buf + m->meta_off + m->meta_len;
}

/* Payload bytes the allocation holds without growing. */
static inline size_t dp_msg_payload_cap(const struct dp_msg *m)
{
    return m->cap - m->meta_off - m->meta_len;
}

static inline struct dp_bytes dp_msg_id(const struct dp_msg *m)
{
    return (struct dp_bytes){ m->buf + m->meta_off + m->id_off, m->id_len };
}

/* Allocates a message with room for <cap> bytes of meta and payload; refs = 1. NULL on ENOMEM. */
struct dp_msg *dp_msg_alloc(size_t cap) DP_WUR;

/*
 * Builds a message with the meta line "TYPE ID TS LATENCY\n" and a copy of <payload,len>.
 * <id,id_len> is any byte string without spaces or newlines. NULL on ENOMEM.
 */
struct dp_msg *dp_msg_new(enum dp_msg_type type, const uint8_t *id, size_t id_len, int64_t ts_ns,
        int64_t latency_ns, const uint8_t *payload, size_t len) DP_WUR;

/* Room for a meta line "T ID TS LAT\n" with an id up to 24 bytes: two int64s, spaces, LF. */
#define DP_MSG_META_ROOM 72

/*
 * A message with no meta line yet, <meta_room> bytes of room for one (DP_MSG_META_ROOM, plus
 * the length of any extra field), and room for at least <payload_cap> payload bytes: the caller
 * writes the payload at dp_msg_payload(), sets len, and calls dp_msg_set_meta() before handing
 * it on. NULL on ENOMEM.
 */
struct dp_msg *dp_msg_reserve(size_t meta_room, size_t payload_cap) DP_WUR;

/*
 * Makes room for <payload_cap> payload bytes in <m>, which must have one reference. Returns the
 * message (it may have moved) or NULL on ENOMEM, <m> then unchanged.
 */
struct dp_msg *dp_msg_grow(struct dp_msg *m, size_t payload_cap) DP_WUR;

/*
 * Writes the meta line "TYPE ID TS LATENCY\n" of <m> right before its payload, in the room
 * there (dp_msg_reserve: any id up to 24 bytes fits). Sets type, id, ts and latency.
 */
void dp_msg_set_meta(struct dp_msg *m, enum dp_msg_type type, const uint8_t *id, size_t id_len,
        int64_t ts_ns, int64_t latency_ns);

/* The same with a fifth field, "TYPE ID TS LATENCY EXTRA\n" (<extra> without spaces or LF).
 * Readers that take 4 fields (GoReplay's, ours) ignore it. */
void dp_msg_set_meta_ext(struct dp_msg *m, enum dp_msg_type type, const uint8_t *id,
        size_t id_len, int64_t ts_ns, int64_t latency_ns, const uint8_t *extra, size_t extra_len);

/*
 * Replaces payload bytes [off, off + del) of *<mp> with <ins, ins_len> (off + del <= len).
 * A message with other references is copied first (they keep the original); one that must
 * grow may move. <ins> must not point into the message; NULL inserts <ins_len> zero bytes for
 * the caller to fill. 0, or -ENOMEM with *<mp> unchanged.
 */
int dp_msg_splice(struct dp_msg **mp, size_t off, size_t del, const uint8_t *ins,
        size_t ins_len) DP_WUR;

/*
 * Parses the meta line at the start of <buf> (bytes up to and including the first '\n'): at
 * least 3 space-separated fields, type, id, timestamp, optional latency. Fills the parsed fields
 * of <m> (type, id_off/len, ts, latency, meta_len). Returns 0, or -EINVAL for a malformed meta
 * line (no '\n', fewer than 3 fields, empty id, longer than DP_MSG_META_MAX).
 */
int dp_msg_parse_meta(struct dp_msg *m, const uint8_t *buf, size_t len) DP_WUR;

/* Takes a reference to <m>; returns <m>. */
static inline struct dp_msg *dp_msg_ref(struct dp_msg *m)
{
    m->refs++;
    return m;
}

/* Drops a reference to <m>, freeing it with the last one. */
void dp_msg_unref(struct dp_msg *m);

/* Frees the calling thread's cache of freed messages; every thread that frees messages calls it
 * before it ends. */
void dp_msg_cache_drain(void);

/* Random 24-hex id, as GoReplay's uuid() for synthetic messages. <out> gets 24 bytes. */
void dp_msg_random_id(uint8_t out[24]);

#endif
