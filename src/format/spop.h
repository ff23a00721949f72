/*
 * spop.h: HAProxy's Stream Processing Offload Protocol (SPOP 2.0), the agent's side, without I/O.
 *
 * The reference is HAProxy's doc/SPOE.txt (section numbers below are its own). On the wire:
 *
 *   <FRAME-LENGTH:4 bytes, big-endian> <FRAME>                                    §3.2
 *   FRAME    : <TYPE:1 byte> <FLAGS:4 bytes, big-endian> <STREAM-ID:varint> <FRAME-ID:varint>
 *              <PAYLOAD>
 *   PAYLOAD  : KV-LIST (HELLO, DISCONNECT) | LIST-OF-MESSAGES (NOTIFY) | LIST-OF-ACTIONS (ACK)
 *   KV-LIST  : [ <NAME:varint length + bytes> <TYPED-DATA> ... ]
 *   MESSAGES : [ <NAME:varint length + bytes> <NB-ARGS:1 byte> <KV-LIST of NB-ARGS items> ... ]
 *   TYPED-DATA: <TYPE:4 bits><FLAGS:4 bits> then nothing (NULL, BOOL), a varint (integers),
 *              4 or 16 bytes (IPv4, IPv6), or a varint length and bytes (STRING, BINARY) §3.1
 *
 * Four layers, each a set of pure functions on caller-owned bytes:
 *  - codec: varints, typed data, KV items, frames, messages (decoders take (const uint8_t **p,
 *    const uint8_t *end), check every length, and move *p only on success; STYLE.md rule 12);
 *  - encoders of the frames an agent sends (AGENT-HELLO, ACK, AGENT-DISCONNECT), and of any
 *    frame for tests and tools;
 *  - the agent's state machine (struct spop_agent): one complete frame in, the reply bytes and
 *    a verdict out; every error becomes an AGENT-DISCONNECT with the §3.5 status code;
 *  - the mirror request: the args of a NOTIFY message (arg_method, arg_path, arg_ver, arg_hdrs as
 *    req.hdrs_bin or req.hdrs, arg_body, arg_id, arg_ts, or unnamed in that order) rebuilt into
 *    the bytes of an HTTP/1.x request, with framing that is always consistent.
 */
#ifndef DP_FORMAT_SPOP_H
#define DP_FORMAT_SPOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/common.h"

#define SPOP_LEN_PREFIX   4   /* the frame length before every frame */
#define SPOP_FRAME_MIN    256 /* §3.2: the smallest max-frame-size a peer may announce */
#define SPOP_META_MIN     7   /* type, flags, two one-byte varints */
#define SPOP_VARINT_MAX   10  /* bytes of the longest varint (a 64-bit value) */
#define SPOP_FLAG_FIN     0x00000001u
#define SPOP_FLAG_ABORT   0x00000002u

/* The longest reply the agent state machine writes (an AGENT-HELLO or AGENT-DISCONNECT). */
#define SPOP_REPLY_MAX 160
/* The length of an ACK without actions: prefix, type, flags, two varints. */
#define SPOP_ACK_MAX (SPOP_LEN_PREFIX + 1 + 4 + 2 * SPOP_VARINT_MAX)

/* §3.2.2 */
enum spop_frame_type {
    SPOP_FRAME_UNSET = 0, /* a fragment after the first */
    SPOP_FRAME_HAPROXY_HELLO = 1,
    SPOP_FRAME_HAPROXY_DISCONNECT = 2,
    SPOP_FRAME_NOTIFY = 3,
    SPOP_FRAME_AGENT_HELLO = 101,
    SPOP_FRAME_AGENT_DISCONNECT = 102,
    SPOP_FRAME_ACK = 103,
    SPOP_FRAME_TYPE_COUNT
};

extern const char *const spop_frame_type_names[SPOP_FRAME_TYPE_COUNT];

/* §3.1 */
enum spop_data_type {
    SPOP_DATA_NULL = 0,
    SPOP_DATA_BOOL = 1,
    SPOP_DATA_INT32 = 2,
    SPOP_DATA_UINT32 = 3,
    SPOP_DATA_INT64 = 4,
    SPOP_DATA_UINT64 = 5,
    SPOP_DATA_IPV4 = 6,
    SPOP_DATA_IPV6 = 7,
    SPOP_DATA_STRING = 8,
    SPOP_DATA_BINARY = 9,
    SPOP_DATA_TYPE_COUNT /* 10-15 are reserved: a decoding error */
};

extern const char *const spop_data_type_names[SPOP_DATA_TYPE_COUNT];

/* §3.5: the status codes of DISCONNECT frames. */
enum spop_status {
    SPOP_ST_NORMAL = 0,
    SPOP_ST_IO = 1,
    SPOP_ST_TIMEOUT = 2,
    SPOP_ST_TOO_BIG = 3,
    SPOP_ST_INVALID = 4,
    SPOP_ST_NO_VSN = 5,
    SPOP_ST_NO_FRAME_SIZE = 6,
    SPOP_ST_NO_CAP = 7,
    SPOP_ST_BAD_VSN = 8,
    SPOP_ST_BAD_FRAME_SIZE = 9,
    SPOP_ST_FRAG_NOT_SUPPORTED = 10,
    SPOP_ST_INTERLACED_FRAMES = 11,
    SPOP_ST_FRAMEID_NOTFOUND = 12,
    SPOP_ST_RES = 13,
    SPOP_ST_UNKNOWN = 99,
    SPOP_ST_COUNT
};

/* The §3.5 description of <status>, or "unknown status" for a code the table does not name. */
const char *spop_status_name(uint64_t status);

/* §3.2.1 */
enum spop_cap {
    SPOP_CAP_PIPELINING = 1u << 0,
    SPOP_CAP_ASYNC = 1u << 1,
    SPOP_CAP_FRAGMENTATION = 1u << 2,
};

/* ---- codec ---- */

/*
 * Varints use HAProxy's encoding (§3.1, "Peers encoding"): values below 240 take one byte; above,
 * the first byte is 0xF0 | low 4 bits, then 7 bits per byte, high bit set on all but the last.
 * Every value has exactly one encoding. Returns 0 with *<v> set and *<p> moved, or -EBADMSG when
 * the varint is cut by <end> or does not fit 64 bits (then *<p> is unchanged).
 */
int spop_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v) DP_WUR;

/* Writes <v> at *<p> (at most SPOP_VARINT_MAX bytes). 0 with *<p> moved, or -ENOBUFS. */
int spop_varint_put(uint8_t **p, uint8_t *end, uint64_t v) DP_WUR;

/* The number of bytes spop_varint_put() writes for <v>. */
size_t spop_varint_len(uint64_t v);

/* A length-prefixed byte string (<LENGTH:varint><BYTES>): *<s> points into the input.
 * 0, or -EBADMSG (cut, or longer than the input). */
int spop_bytes_get(const uint8_t **p, const uint8_t *end, struct dp_bytes *s) DP_WUR;

/* Writes <s, len> length-prefixed. 0, or -ENOBUFS. */
int spop_bytes_put(uint8_t **p, uint8_t *end, const void *s, size_t len) DP_WUR;

struct spop_data {
    enum spop_data_type type;
    bool flag;             /* BOOL: its value */
    uint64_t u;            /* integers: the varint (signed types as two's complement) */
    struct dp_bytes bytes; /* STRING, BINARY: the bytes; IPV4, IPV6: the 4 or 16 address bytes */
};

/* One TYPED-DATA. 0, or -EBADMSG (cut, reserved type 10-15). */
int spop_data_get(const uint8_t **p, const uint8_t *end, struct spop_data *d) DP_WUR;

/* Writes <d>. 0, or -ENOBUFS. */
int spop_data_put(uint8_t **p, uint8_t *end, const struct spop_data *d) DP_WUR;

/* True with *<v> set when <d> is an integer not below 0 (any of the four integer types). */
bool spop_data_uint(const struct spop_data *d, uint64_t *v);

/* True when <d> is a STRING or a BINARY (then d->bytes holds it). */
static inline bool spop_data_is_bytes(const struct spop_data *d)
{
    return d->type == SPOP_DATA_STRING || d->type == SPOP_DATA_BINARY;
}

struct spop_kv {
    struct dp_bytes name; /* may be empty (unnamed message args) */
    struct spop_data value;
};

/* One KV item: a name then a TYPED-DATA. 0, or -EBADMSG. */
int spop_kv_get(const uint8_t **p, const uint8_t *end, struct spop_kv *kv) DP_WUR;

struct spop_frame {
    uint8_t type; /* enum spop_frame_type, or any other byte (unknown frames) */
    uint32_t flags;
    uint64_t stream_id;
    uint64_t frame_id;
    struct dp_bytes payload;
};

enum spop_cut {
    SPOP_CUT_DONE = 0, /* a whole frame is in the buffer */
    SPOP_CUT_AGAIN,    /* not yet: read more (the length is known once 4 bytes are in) */
    SPOP_CUT_TOO_BIG,  /* the frame is longer than <max_frame>: §3.5 status 3 */
    SPOP_CUT_SHORT,    /* the frame is shorter than its metadata: §3.5 status 4 */
    SPOP_CUT_COUNT
};

/*
 * Finds the frame at the start of <buf, len>. Once the 4 length bytes are in, *<frame_len> is the
 * length of the frame after them (so a caller can make room for it). DONE: the frame is
 * buf[4, 4 + *frame_len).
 */
enum spop_cut spop_frame_cut(const uint8_t *buf, size_t len, size_t max_frame,
        size_t *frame_len);

/* Decodes the type and metadata of <frame, len> (without the length prefix); f->payload is the
 * rest. 0, or -EBADMSG. */
int spop_frame_get(const uint8_t *frame, size_t len, struct spop_frame *f) DP_WUR;

/* Writes a whole frame with its length prefix. Returns the bytes written, or 0 when <cap> is too
 * small. <payload> may be NULL when <len> is 0. */
size_t spop_frame_put(uint8_t *out, size_t cap, uint8_t type, uint32_t flags, uint64_t stream_id,
        uint64_t frame_id, const uint8_t *payload, size_t len);

struct spop_message {
    struct dp_bytes name;
    unsigned nargs;
    struct dp_bytes args; /* the KV-LIST of its <nargs> args, already checked */
};

/* One message of a NOTIFY payload, its args checked. 0, or -EBADMSG. */
int spop_message_get(const uint8_t **p, const uint8_t *end, struct spop_message *m) DP_WUR;

/* ---- HELLO and DISCONNECT payloads ---- */

struct spop_hello {
    bool has_versions, has_max_frame, has_caps;
    struct dp_bytes versions; /* "supported-versions": "2.0" or "2.0, 1.5" */
    uint64_t max_frame;       /* "max-frame-size" */
    struct dp_bytes caps;     /* "capabilities": "pipelining,async" */
    bool healthcheck;         /* "healthcheck" */
    struct dp_bytes engine_id;
};

/*
 * Decodes a HAPROXY-HELLO payload (§3.2.4). Unknown items are skipped. Returns SPOP_ST_NORMAL,
 * SPOP_ST_INVALID (malformed list, or a known item of the wrong type), SPOP_ST_NO_VSN,
 * SPOP_ST_NO_FRAME_SIZE or SPOP_ST_NO_CAP.
 */
enum spop_status spop_hello_get(struct dp_bytes payload, struct spop_hello *h);

/* The capabilities named in a comma-separated list (spaces ignored, unknown names ignored). */
unsigned spop_caps_parse(struct dp_bytes list);

/* True when the comma-separated "Major.Minor" list announces major version <major>. */
bool spop_versions_have(struct dp_bytes list, unsigned major);

struct spop_disconnect {
    bool has_status;
    uint64_t status;
    struct dp_bytes message;
};

/* Decodes a DISCONNECT payload (§3.2.8). SPOP_ST_NORMAL or SPOP_ST_INVALID. */
enum spop_status spop_disconnect_get(struct dp_bytes payload, struct spop_disconnect *d);

/* ---- the frames an agent sends (each returns bytes written with the prefix, or 0) ---- */

/* AGENT-HELLO (§3.2.5): version "2.0", <max_frame>, the capabilities in <caps>. */
size_t spop_agent_hello_put(uint8_t *out, size_t cap, uint32_t max_frame, unsigned caps);

/* ACK (§3.2.7) of the NOTIFY <stream_id, frame_id>, without actions. */
size_t spop_ack_put(uint8_t *out, size_t cap, uint64_t stream_id, uint64_t frame_id);

/* AGENT-DISCONNECT (§3.2.9) with <status> and its §3.5 description as the message. */
size_t spop_disconnect_put(uint8_t *out, size_t cap, enum spop_status status);

/* ---- the agent's state machine ---- */

enum spop_agent_state {
    SPOP_AGENT_HELLO = 0, /* waiting for HAPROXY-HELLO */
    SPOP_AGENT_READY,     /* handshake done: NOTIFY frames */
    SPOP_AGENT_CLOSED,    /* the last reply is written: nothing more is read */
    SPOP_AGENT_STATE_COUNT
};

enum spop_verdict {
    SPOP_V_REPLY = 0, /* a reply was written; go on */
    SPOP_V_NOTIFY,    /* an ACK was written and <f> is a checked NOTIFY: mirror its messages */
    SPOP_V_SKIP,      /* nothing to answer (an unknown frame type, §3.2.2) */
    SPOP_V_CLOSE,     /* the last reply was written (AGENT-DISCONNECT, or the AGENT-HELLO of a
                         health check): send it, then close */
    SPOP_V_COUNT
};

struct spop_agent {
    enum spop_agent_state state;
    uint32_t our_max_frame; /* what we accept at most */
    uint32_t max_frame;     /* the longest frame accepted now: before the handshake 4096 (a
                               HAPROXY-HELLO is about 150 bytes), then the negotiated size */
    unsigned caps;          /* negotiated capabilities */
    bool healthcheck;       /* the handshake was a health check */
    uint32_t sent_status;   /* the status of the AGENT-DISCONNECT we wrote (CLOSED) */
    bool peer_disconnect;   /* CLOSED because HAProxy sent HAPROXY-DISCONNECT ... */
    uint64_t peer_status;   /* ... with this status */
};

/* Starts a connection's state; <our_max_frame> is clamped to [SPOP_FRAME_MIN, 2^24]. */
void spop_agent_init(struct spop_agent *a, uint32_t our_max_frame);

/*
 * Handles one whole frame <frame, len> (without its length prefix) and writes the reply, if
 * any, to <out> (<cap> >= SPOP_REPLY_MAX), setting *<out_len> (0 when nothing is written).
 * For SPOP_V_NOTIFY, *<f> is the decoded NOTIFY (its payload points into <frame>). Capabilities
 * announced: pipelining and async when HAProxy offers them; never fragmentation (a fragmented
 * frame is answered with status 10). Must not be called once a->state is SPOP_AGENT_CLOSED.
 */
enum spop_verdict spop_agent_frame(struct spop_agent *a, const uint8_t *frame, size_t len,
        struct spop_frame *f, uint8_t *out, size_t cap, size_t *out_len);

/* An error found outside a frame (a frame too big, a timeout): writes the AGENT-DISCONNECT with
 * <status> (<cap> >= SPOP_REPLY_MAX), closes the state and returns the bytes written. */
size_t spop_agent_fail(struct spop_agent *a, enum spop_status status, uint8_t *out, size_t cap);

/* ---- the mirror request ---- */

enum spop_arg {
    SPOP_ARG_METHOD = 0, /* "arg_method": STRING (method) */
    SPOP_ARG_PATH,       /* "arg_path": STRING (url) */
    SPOP_ARG_VER,        /* "arg_ver": STRING (req.ver: "1.1") */
    SPOP_ARG_HDRS,       /* "arg_hdrs": BINARY (req.hdrs_bin) or STRING (req.hdrs) */
    SPOP_ARG_BODY,       /* "arg_body": BINARY (req.body) */
    SPOP_ARG_ID,         /* "arg_id": STRING (unique-id) */
    SPOP_ARG_TS,         /* "arg_ts": integer or digits (date(0,ms)) */
    SPOP_ARG_COUNT
};

extern const char *const spop_arg_names[SPOP_ARG_COUNT];

enum spop_req_status {
    SPOP_REQ_OK = 0,
    SPOP_REQ_MISSING,     /* no method or no path */
    SPOP_REQ_INVALID,     /* a value that cannot be part of a request line or a header (CR, LF,
                             NUL, not a token), a malformed req.hdrs_bin, a wrong type */
    SPOP_REQ_TRUNCATED,   /* the body is shorter than Content-Length (HAProxy cut req.body) */
    SPOP_REQ_BAD_FRAMING, /* a body longer than Content-Length, a body without Content-Length
                             or chunked, conflicting Content-Length values, a Transfer-Encoding
                             that does not end in chunked */
    SPOP_REQ_STATUS_COUNT
};

extern const char *const spop_req_status_names[SPOP_REQ_STATUS_COUNT];

struct spop_req {
    struct spop_data arg[SPOP_ARG_COUNT];
    bool has[SPOP_ARG_COUNT];
    /* the plan, filled by spop_req_parse() */
    struct dp_bytes method, path, ver, body;
    bool path_slash;     /* an origin-form "/" goes before <path> (HTTP/2 "http://a?x") */
    bool hdrs_bin;       /* arg_hdrs is req.hdrs_bin (else req.hdrs text, or none) */
    bool rewrite_cl;     /* chunked: Transfer-Encoding and Content-Length fields are replaced
                            by one "content-length: <body length>" where the first one was */
    uint64_t content_length; /* the Content-Length announced, when has_cl */
    bool has_cl;
    size_t wire_len;     /* the bytes spop_req_write() writes */
};

/*
 * Takes the args of <m> (named "arg_*" ones, and unnamed ones in the order of enum spop_arg; a
 * NULL value counts as absent; the first of a name wins), checks them and plans the request:
 *   "METHOD SP path SP HTTP/ver CRLF" + every header in order + CRLF + body.
 * The version is kept for HTTP/1.x ("1.0" stays "1.0"); HTTP/2 and 3 are sent as 1.1 with an
 * absolute-form path cut to origin-form. No version: 1.1. Body framing:
 *   - Content-Length: the body must have exactly that length (shorter: SPOP_REQ_TRUNCATED);
 *   - Transfer-Encoding ending in chunked: HAProxy hands over the de-chunked body, so the
 *     request is rebuilt with "content-length: <length>" in place of the framing fields;
 *   - neither: the body must be empty, and no Content-Length is added.
 * Returns SPOP_REQ_OK with r->wire_len set, or why the request cannot be sent.
 */
enum spop_req_status spop_req_parse(const struct spop_message *m, struct spop_req *r);

/* Writes the request planned by spop_req_parse() (SPOP_REQ_OK) to <out>: r->wire_len bytes. */
void spop_req_write(const struct spop_req *r, uint8_t *out);

/*
 * The message id from arg_id: its bytes with every byte outside 0x21-0x7E (spaces, controls)
 * replaced by '_', written to <out>. Returns the length, or 0 when arg_id is absent, not a
 * string, empty or longer than <cap> (the caller then makes a random id).
 */
size_t spop_req_id(const struct spop_req *r, uint8_t *out, size_t cap);

/*
 * The capture time from arg_ts, in ns since the epoch: an integer or a string of digits in
 * seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude (below 1e10: s,
 * below 1e13: ms, below 1e16: us, else ns: right for any date from 1970-04-26 to 2262, where
 * int64 nanoseconds end).
 * True with *<ns> set, or false (absent, zero, negative, not a number).
 */
bool spop_req_ts(const struct spop_req *r, int64_t *ns);

#endif
