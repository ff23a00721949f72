#include "format/spop.h"

#include <errno.h>
#include <string.h>

const char *const spop_frame_type_names[SPOP_FRAME_TYPE_COUNT] = {
    [SPOP_FRAME_UNSET] = "unset",
    [SPOP_FRAME_HAPROXY_HELLO] = "haproxy-hello",
    [SPOP_FRAME_HAPROXY_DISCONNECT] = "haproxy-disconnect",
    [SPOP_FRAME_NOTIFY] = "notify",
    [SPOP_FRAME_AGENT_HELLO] = "agent-hello",
    [SPOP_FRAME_AGENT_DISCONNECT] = "agent-disconnect",
    [SPOP_FRAME_ACK] = "ack",
};

const char *const spop_data_type_names[SPOP_DATA_TYPE_COUNT] = {
    [SPOP_DATA_NULL] = "null",
    [SPOP_DATA_BOOL] = "bool",
    [SPOP_DATA_INT32] = "int32",
    [SPOP_DATA_UINT32] = "uint32",
    [SPOP_DATA_INT64] = "int64",
    [SPOP_DATA_UINT64] = "uint64",
    [SPOP_DATA_IPV4] = "ipv4",
    [SPOP_DATA_IPV6] = "ipv6",
    [SPOP_DATA_STRING] = "string",
    [SPOP_DATA_BINARY] = "binary",
};

/* §3.5, word for word where the spec has words. */
static const char *const status_names[SPOP_ST_COUNT] = {
    [SPOP_ST_NORMAL] = "normal",
    [SPOP_ST_IO] = "I/O error",
    [SPOP_ST_TIMEOUT] = "a timeout occurred",
    [SPOP_ST_TOO_BIG] = "frame is too big",
    [SPOP_ST_INVALID] = "invalid frame received",
    [SPOP_ST_NO_VSN] = "version value not found",
    [SPOP_ST_NO_FRAME_SIZE] = "max-frame-size value not found",
    [SPOP_ST_NO_CAP] = "capabilities value not found",
    [SPOP_ST_BAD_VSN] = "unsupported version",
    [SPOP_ST_BAD_FRAME_SIZE] = "max-frame-size too big or too small",
    [SPOP_ST_FRAG_NOT_SUPPORTED] = "payload fragmentation is not supported",
    [SPOP_ST_INTERLACED_FRAMES] = "invalid interlaced frames",
    [SPOP_ST_FRAMEID_NOTFOUND] = "frame-id not found",
    [SPOP_ST_RES] = "resource allocation error",
    [SPOP_ST_UNKNOWN] = "an unknown error occurred",
};

const char *const spop_arg_names[SPOP_ARG_COUNT] = {
    [SPOP_ARG_METHOD] = "arg_method",
    [SPOP_ARG_PATH] = "arg_path",
    [SPOP_ARG_VER] = "arg_ver",
    [SPOP_ARG_HDRS] = "arg_hdrs",
    [SPOP_ARG_BODY] = "arg_body",
    [SPOP_ARG_ID] = "arg_id",
    [SPOP_ARG_TS] = "arg_ts",
};

const char *const spop_req_status_names[SPOP_REQ_STATUS_COUNT] = {
    [SPOP_REQ_OK] = "ok",
    [SPOP_REQ_MISSING] = "missing",
    [SPOP_REQ_INVALID] = "invalid",
    [SPOP_REQ_TRUNCATED] = "truncated",
    [SPOP_REQ_BAD_FRAMING] = "bad_framing",
};

/* Payload code does not call strlen(): literals carry their length. */
#define LIT(s) (const uint8_t *)(s), sizeof(s) - 1

const char *spop_status_name(uint64_t status)
{
    if (status < SPOP_ST_COUNT && status_names[status] != NULL)
        return status_names[status];
    return "unknown status";
}

/* ---- varints (§3.1) ---- */

int spop_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    const uint8_t *q = *p;
    unsigned shift = 4;
    uint64_t val;

    if (q >= end)
        return -EBADMSG;
    val = *q++;
    if (val >= 240) {
        for (;;) {
            uint64_t b;

            if (q >= end || shift >= 64)
                return -EBADMSG;
            b = *q++;
            /* b << shift must fit, and so must the sum */
            if (shift > 56 && (b >> (64 - shift)) != 0)
                return -EBADMSG;
            if (__builtin_add_overflow(val, b << shift, &val))
                return -EBADMSG;
            if (b < 128)
                break;
            shift += 7;
        }
    }
    *v = val;
    *p = q;
    return 0;
}

static size_t varint_encode(uint64_t v, uint8_t out[SPOP_VARINT_MAX])
{
    size_t n = 0;

    if (v < 240) {
        out[n++] = (uint8_t)v;
        return n;
    }
    /* The first byte keeps the low 4 bits (240 has none), each next one 7 bits; the 240 and
     * 128 subtracted are what the set high bits add when decoding. */
    out[n++] = (uint8_t)(v | 240);
    v = (v - 240) >> 4;
    while (v >= 128) {
        out[n++] = (uint8_t)(v | 128);
        v = (v - 128) >> 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

int spop_varint_put(uint8_t **p, uint8_t *end, uint64_t v)
{
    uint8_t tmp[SPOP_VARINT_MAX];
    size_t n = varint_encode(v, tmp);

    if ((size_t)(end - *p) < n)
        return -ENOBUFS;
    memcpy(*p, tmp, n);
    *p += n;
    return 0;
}

size_t spop_varint_len(uint64_t v)
{
    uint8_t tmp[SPOP_VARINT_MAX];

    return varint_encode(v, tmp);
}

/* ---- strings, typed data, KV items ---- */

int spop_bytes_get(const uint8_t **p, const uint8_t *end, struct dp_bytes *s)
{
    const uint8_t *q = *p;
    uint64_t len;

    if (spop_varint_get(&q, end, &len) != 0 || len > (uint64_t)(end - q))
        return -EBADMSG;
    s->ptr = q;
    s->len = (size_t)len;
    *p = q + len;
    return 0;
}

int spop_bytes_put(uint8_t **p, uint8_t *end, const void *s, size_t len)
{
    uint8_t *q = *p;

    if (spop_varint_put(&q, end, len) != 0 || (size_t)(end - q) < len)
        return -ENOBUFS;
    if (len > 0)
        memcpy(q, s, len);
    *p = q + len;
    return 0;
}

int spop_data_get(const uint8_t **p, const uint8_t *end, struct spop_data *d)
{
    const uint8_t *q = *p;
    uint8_t t;

    if (q >= end)
        return -EBADMSG;
    t = *q++;
    memset(d, 0, sizeof(*d));
    d->type = (enum spop_data_type)(t & 0x0F);
    switch (t & 0x0F) {
    case SPOP_DATA_NULL:
        break;
    case SPOP_DATA_BOOL:
        d->flag = (t & 0x10) != 0; /* §3.1: the first bit of FLAGS */
        break;
    case SPOP_DATA_INT32:
    case SPOP_DATA_UINT32:
    case SPOP_DATA_INT64:
    case SPOP_DATA_UINT64:
        if (spop_varint_get(&q, end, &d->u) != 0)
            return -EBADMSG;
        break;
    case SPOP_DATA_IPV4:
    case SPOP_DATA_IPV6: {
        size_t n = (t & 0x0F) == SPOP_DATA_IPV4 ? 4 : 16;

        if ((size_t)(end - q) < n)
            return -EBADMSG;
        d->bytes = (struct dp_bytes){ q, n };
        q += n;
        break;
    }
    case SPOP_DATA_STRING:
    case SPOP_DATA_BINARY:
        if (spop_bytes_get(&q, end, &d->bytes) != 0)
            return -EBADMSG;
        break;
    default:
        return -EBADMSG; /* 10-15: reserved */
    }
    *p = q;
    return 0;
}

int spop_data_put(uint8_t **p, uint8_t *end, const struct spop_data *d)
{
    uint8_t *q = *p;

    if (q >= end || (unsigned)d->type >= SPOP_DATA_TYPE_COUNT)
        return -ENOBUFS;
    *q++ = (uint8_t)((unsigned)d->type | (d->type == SPOP_DATA_BOOL && d->flag ? 0x10u : 0u));
    switch (d->type) {
    case SPOP_DATA_NULL:
    case SPOP_DATA_BOOL:
    case SPOP_DATA_TYPE_COUNT:
        break;
    case SPOP_DATA_INT32:
    case SPOP_DATA_UINT32:
    case SPOP_DATA_INT64:
    case SPOP_DATA_UINT64:
        if (spop_varint_put(&q, end, d->u) != 0)
            return -ENOBUFS;
        break;
    case SPOP_DATA_IPV4:
    case SPOP_DATA_IPV6: {
        size_t n = d->type == SPOP_DATA_IPV4 ? 4 : 16;

        if ((size_t)(end - q) < n || d->bytes.len != n)
            return -ENOBUFS;
        memcpy(q, d->bytes.ptr, n);
        q += n;
        break;
    }
    case SPOP_DATA_STRING:
    case SPOP_DATA_BINARY:
        if (spop_bytes_put(&q, end, d->bytes.ptr, d->bytes.len) != 0)
            return -ENOBUFS;
        break;
    }
    *p = q;
    return 0;
}

bool spop_data_uint(const struct spop_data *d, uint64_t *v)
{
    switch (d->type) {
    case SPOP_DATA_INT32:
    case SPOP_DATA_INT64:
        if ((int64_t)d->u < 0)
            return false;
        *v = d->u;
        return true;
    case SPOP_DATA_UINT32:
    case SPOP_DATA_UINT64:
        *v = d->u;
        return true;
    default:
        return false;
    }
}

int spop_kv_get(const uint8_t **p, const uint8_t *end, struct spop_kv *kv)
{
    const uint8_t *q = *p;

    if (spop_bytes_get(&q, end, &kv->name) != 0 || spop_data_get(&q, end, &kv->value) != 0)
        return -EBADMSG;
    *p = q;
    return 0;
}

/* ---- frames (§3.2) ---- */

enum spop_cut spop_frame_cut(const uint8_t *buf, size_t len, size_t max_frame,
        size_t *frame_len)
{
    uint32_t n;

    if (len < SPOP_LEN_PREFIX)
        return SPOP_CUT_AGAIN;
    n = rd_be32(buf);
    *frame_len = n;
    if (n > max_frame)
        return SPOP_CUT_TOO_BIG;
    if (n < SPOP_META_MIN)
        return SPOP_CUT_SHORT;
    if (len - SPOP_LEN_PREFIX < n)
        return SPOP_CUT_AGAIN;
    return SPOP_CUT_DONE;
}

int spop_frame_get(const uint8_t *frame, size_t len, struct spop_frame *f)
{
    const uint8_t *p = frame;
    const uint8_t *end = frame + len;

    if (len < 5)
        return -EBADMSG;
    f->type = p[0];
    f->flags = rd_be32(p + 1);
    p += 5;
    if (spop_varint_get(&p, end, &f->stream_id) != 0 ||
            spop_varint_get(&p, end, &f->frame_id) != 0)
        return -EBADMSG;
    f->payload = (struct dp_bytes){ p, (size_t)(end - p) };
    return 0;
}

size_t spop_frame_put(uint8_t *out, size_t cap, uint8_t type, uint32_t flags, uint64_t stream_id,
        uint64_t frame_id, const uint8_t *payload, size_t len)
{
    size_t meta = 1 + 4 + spop_varint_len(stream_id) + spop_varint_len(frame_id);
    uint8_t *p = out + SPOP_LEN_PREFIX;
    uint8_t *end = out + cap;

    if (cap < SPOP_LEN_PREFIX || len > UINT32_MAX - meta || cap - SPOP_LEN_PREFIX < meta + len)
        return 0;
    wr_be32(out, (uint32_t)(meta + len));
    *p++ = type;
    wr_be32(p, flags);
    p += 4;
    if (spop_varint_put(&p, end, stream_id) != 0 || spop_varint_put(&p, end, frame_id) != 0)
        return 0;
    if (len > 0)
        memcpy(p, payload, len);
    return SPOP_LEN_PREFIX + meta + len;
}

int spop_message_get(const uint8_t **p, const uint8_t *end, struct spop_message *m)
{
    const uint8_t *q = *p;
    const uint8_t *args;

    if (spop_bytes_get(&q, end, &m->name) != 0 || q >= end)
        return -EBADMSG;
    m->nargs = *q++;
    args = q;
    for (unsigned i = 0; i < m->nargs; i++) {
        struct spop_kv kv;

        if (spop_kv_get(&q, end, &kv) != 0)
            return -EBADMSG;
    }
    m->args = (struct dp_bytes){ args, (size_t)(q - args) };
    *p = q;
    return 0;
}

/* ---- HELLO and DISCONNECT ---- */

static bool bytes_eq(struct dp_bytes b, const uint8_t *lit, size_t len)
{
    return b.len == len && memcmp(b.ptr, lit, len) == 0;
}

static uint8_t lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c | 0x20) : c;
}

static bool bytes_eq_nocase(struct dp_bytes b, const uint8_t *lit, size_t len)
{
    if (b.len != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (lower(b.ptr[i]) != lit[i])
            return false;
    }
    return true;
}

static bool is_ows(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/* <b> without leading and trailing spaces and tabs. */
static struct dp_bytes trim(struct dp_bytes b)
{
    while (b.len > 0 && is_ows(b.ptr[0])) {
        b.ptr++;
        b.len--;
    }
    while (b.len > 0 && is_ows(b.ptr[b.len - 1]))
        b.len--;
    return b;
}

/* The next element of a comma-separated list (trimmed) in *<item>; false at the end. */
static bool list_next(struct dp_bytes *list, struct dp_bytes *item)
{
    const uint8_t *comma;

    if (list->len == 0)
        return false;
    comma = memchr(list->ptr, ',', list->len);
    if (comma == NULL) {
        *item = trim(*list);
        list->ptr += list->len;
        list->len = 0;
        return true;
    }
    *item = trim((struct dp_bytes){ list->ptr, (size_t)(comma - list->ptr) });
    list->len -= (size_t)(comma + 1 - list->ptr);
    list->ptr = comma + 1;
    return true;
}

enum spop_status spop_hello_get(struct dp_bytes payload, struct spop_hello *h)
{
    const uint8_t *p = payload.ptr;
    const uint8_t *end = payload.ptr + payload.len;

    memset(h, 0, sizeof(*h));
    while (p < end) {
        struct spop_kv kv;

        if (spop_kv_get(&p, end, &kv) != 0)
            return SPOP_ST_INVALID;
        if (bytes_eq(kv.name, LIT("supported-versions"))) {
            if (kv.value.type != SPOP_DATA_STRING)
                return SPOP_ST_INVALID;
            h->versions = kv.value.bytes;
            h->has_versions = true;
        } else if (bytes_eq(kv.name, LIT("max-frame-size"))) {
            if (!spop_data_uint(&kv.value, &h->max_frame))
                return SPOP_ST_INVALID;
            h->has_max_frame = true;
        } else if (bytes_eq(kv.name, LIT("capabilities"))) {
            if (kv.value.type != SPOP_DATA_STRING)
                return SPOP_ST_INVALID;
            h->caps = kv.value.bytes;
            h->has_caps = true;
        } else if (bytes_eq(kv.name, LIT("healthcheck"))) {
            if (kv.value.type != SPOP_DATA_BOOL)
                return SPOP_ST_INVALID;
            h->healthcheck = kv.value.flag;
        } else if (bytes_eq(kv.name, LIT("engine-id"))) {
            if (kv.value.type != SPOP_DATA_STRING)
                return SPOP_ST_INVALID;
            h->engine_id = kv.value.bytes;
        } /* §3.2.4: other items are ignored */
    }
    if (!h->has_versions)
        return SPOP_ST_NO_VSN;
    if (!h->has_max_frame)
        return SPOP_ST_NO_FRAME_SIZE;
    if (!h->has_caps)
        return SPOP_ST_NO_CAP;
    return SPOP_ST_NORMAL;
}

unsigned spop_caps_parse(struct dp_bytes list)
{
    struct dp_bytes item;
    unsigned caps = 0;

    while (list_next(&list, &item)) {
        if (bytes_eq(item, LIT("pipelining")))
            caps |= SPOP_CAP_PIPELINING;
        else if (bytes_eq(item, LIT("async")))
            caps |= SPOP_CAP_ASYNC;
        else if (bytes_eq(item, LIT("fragmentation")))
            caps |= SPOP_CAP_FRAGMENTATION;
    }
    return caps;
}

bool spop_versions_have(struct dp_bytes list, unsigned major)
{
    struct dp_bytes item;

    while (list_next(&list, &item)) {
        unsigned maj = 0;
        size_t i = 0;

        while (i < item.len && i < 6 && item.ptr[i] >= '0' && item.ptr[i] <= '9')
            maj = maj * 10 + (unsigned)(item.ptr[i++] - '0');
        /* "Major.Minor" with at least one digit on each side */
        if (i == 0 || i + 1 >= item.len || item.ptr[i] != '.')
            continue;
        for (i++; i < item.len && item.ptr[i] >= '0' && item.ptr[i] <= '9'; i++)
            ;
        if (i == item.len && maj == major)
            return true;
    }
    return false;
}

enum spop_status spop_disconnect_get(struct dp_bytes payload, struct spop_disconnect *d)
{
    const uint8_t *p = payload.ptr;
    const uint8_t *end = payload.ptr + payload.len;

    memset(d, 0, sizeof(*d));
    while (p < end) {
        struct spop_kv kv;

        if (spop_kv_get(&p, end, &kv) != 0)
            return SPOP_ST_INVALID;
        if (bytes_eq(kv.name, LIT("status-code"))) {
            if (!spop_data_uint(&kv.value, &d->status))
                return SPOP_ST_INVALID;
            d->has_status = true;
        } else if (bytes_eq(kv.name, LIT("message"))) {
            if (kv.value.type != SPOP_DATA_STRING)
                return SPOP_ST_INVALID;
            d->message = kv.value.bytes;
        }
    }
    return SPOP_ST_NORMAL;
}

/* ---- agent frames ---- */

static int kv_put_str(uint8_t **p, uint8_t *end, const uint8_t *name, size_t name_len,
        const uint8_t *s, size_t len)
{
    struct spop_data d = { .type = SPOP_DATA_STRING, .bytes = { s, len } };

    if (spop_bytes_put(p, end, name, name_len) != 0)
        return -ENOBUFS;
    return spop_data_put(p, end, &d);
}

static int kv_put_uint32(uint8_t **p, uint8_t *end, const uint8_t *name, size_t name_len,
        uint32_t v)
{
    struct spop_data d = { .type = SPOP_DATA_UINT32, .u = v };

    if (spop_bytes_put(p, end, name, name_len) != 0)
        return -ENOBUFS;
    return spop_data_put(p, end, &d);
}

size_t spop_agent_hello_put(uint8_t *out, size_t cap, uint32_t max_frame, unsigned caps)
{
    uint8_t payload[SPOP_REPLY_MAX];
    uint8_t capstr[32];
    size_t caplen = 0;
    uint8_t *p = payload;
    uint8_t *end = payload + sizeof(payload);

    if (caps & SPOP_CAP_PIPELINING) {
        memcpy(capstr, "pipelining", 10);
        caplen = 10;
    }
    if (caps & SPOP_CAP_ASYNC) {
        if (caplen > 0)
            capstr[caplen++] = ',';
        memcpy(capstr + caplen, "async", 5);
        caplen += 5;
    }
    if (kv_put_str(&p, end, LIT("version"), LIT("2.0")) != 0 ||
            kv_put_uint32(&p, end, LIT("max-frame-size"), max_frame) != 0 ||
            kv_put_str(&p, end, LIT("capabilities"), capstr, caplen) != 0)
        return 0;
    return spop_frame_put(out, cap, SPOP_FRAME_AGENT_HELLO, SPOP_FLAG_FIN, 0, 0, payload,
            (size_t)(p - payload));
}

size_t spop_ack_put(uint8_t *out, size_t cap, uint64_t stream_id, uint64_t frame_id)
{
    return spop_frame_put(out, cap, SPOP_FRAME_ACK, SPOP_FLAG_FIN, stream_id, frame_id, NULL, 0);
}

size_t spop_disconnect_put(uint8_t *out, size_t cap, enum spop_status status)
{
    uint8_t payload[SPOP_REPLY_MAX];
    uint8_t *p = payload;
    uint8_t *end = payload + sizeof(payload);
    const char *msg = spop_status_name((uint64_t)status);
    size_t msg_len = 0;

    while (msg[msg_len] != '\0') /* our own table, not payload */
        msg_len++;
    if (kv_put_uint32(&p, end, LIT("status-code"), (uint32_t)status) != 0 ||
            kv_put_str(&p, end, LIT("message"), (const uint8_t *)msg, msg_len) != 0)
        return 0;
    return spop_frame_put(out, cap, SPOP_FRAME_AGENT_DISCONNECT, SPOP_FLAG_FIN, 0, 0, payload,
            (size_t)(p - payload));
}

/* ---- the agent ---- */

/* Frames before the handshake are HAPROXY-HELLOs (about 150 bytes): no need for more. */
#define HELLO_FRAME_MAX 4096
#define FRAME_CAP_MAX   (1u << 24)

void spop_agent_init(struct spop_agent *a, uint32_t our_max_frame)
{
    memset(a, 0, sizeof(*a));
    a->state = SPOP_AGENT_HELLO;
    a->our_max_frame = DP_MAX(DP_MIN(our_max_frame, FRAME_CAP_MAX), (uint32_t)SPOP_FRAME_MIN);
    a->max_frame = DP_MIN(a->our_max_frame, (uint32_t)HELLO_FRAME_MAX);
}

size_t spop_agent_fail(struct spop_agent *a, enum spop_status status, uint8_t *out, size_t cap)
{
    a->state = SPOP_AGENT_CLOSED;
    a->sent_status = (uint32_t)status;
    return spop_disconnect_put(out, cap, status);
}

static enum spop_verdict agent_fail(struct spop_agent *a, enum spop_status status, uint8_t *out,
        size_t cap, size_t *out_len)
{
    *out_len = spop_agent_fail(a, status, out, cap);
    return SPOP_V_CLOSE;
}

/* HAPROXY-HELLO (§3.2.4): checks, negotiates, and answers with AGENT-HELLO (§3.2.5). */
static enum spop_verdict agent_hello(struct spop_agent *a, const struct spop_frame *f,
        uint8_t *out, size_t cap, size_t *out_len)
{
    struct spop_hello h;
    enum spop_status st;

    if (f->stream_id != 0 || f->frame_id != 0)
        return agent_fail(a, SPOP_ST_INVALID, out, cap, out_len);
    st = spop_hello_get(f->payload, &h);
    if (st != SPOP_ST_NORMAL)
        return agent_fail(a, st, out, cap, out_len);
    if (!spop_versions_have(h.versions, 2))
        return agent_fail(a, SPOP_ST_BAD_VSN, out, cap, out_len);
    if (h.max_frame < SPOP_FRAME_MIN)
        return agent_fail(a, SPOP_ST_BAD_FRAME_SIZE, out, cap, out_len);
    a->max_frame = (uint32_t)DP_MIN(h.max_frame, (uint64_t)a->our_max_frame);
    /* pipelining and async, when offered; fragmentation is never announced (§3.2.1: it is
     * ours to announce, and HAProxy 2.6 does not offer it) */
    a->caps = spop_caps_parse(h.caps) & (SPOP_CAP_PIPELINING | SPOP_CAP_ASYNC);
    a->healthcheck = h.healthcheck;
    *out_len = spop_agent_hello_put(out, cap, a->max_frame, a->caps);
    if (h.healthcheck) { /* §3.2.3: AGENT-HELLO + close() */
        a->state = SPOP_AGENT_CLOSED;
        return SPOP_V_CLOSE;
    }
    a->state = SPOP_AGENT_READY;
    return SPOP_V_REPLY;
}

/* HAPROXY-DISCONNECT (§3.2.8): answered by an AGENT-DISCONNECT, then the socket is closed. */
static enum spop_verdict agent_disconnect(struct spop_agent *a, const struct spop_frame *f,
        uint8_t *out, size_t cap, size_t *out_len)
{
    struct spop_disconnect d;

    if (f->stream_id != 0 || f->frame_id != 0 ||
            spop_disconnect_get(f->payload, &d) != SPOP_ST_NORMAL || !d.has_status)
        return agent_fail(a, SPOP_ST_INVALID, out, cap, out_len);
    a->peer_disconnect = true;
    a->peer_status = d.status;
    return agent_fail(a, SPOP_ST_NORMAL, out, cap, out_len);
}

enum spop_verdict spop_agent_frame(struct spop_agent *a, const uint8_t *frame, size_t len,
        struct spop_frame *f, uint8_t *out, size_t cap, size_t *out_len)
{
    DP_BUG_ON(a->state == SPOP_AGENT_CLOSED || cap < SPOP_REPLY_MAX);
    *out_len = 0;
    if (spop_frame_get(frame, len, f) != 0)
        return agent_fail(a, SPOP_ST_INVALID, out, cap, out_len);
    /* A fragment (FIN clear, or the UNSET type of later fragments): we never announced
     * fragmentation, so HAProxy must not send one (§3.2.1). */
    if (f->type == SPOP_FRAME_UNSET || !(f->flags & SPOP_FLAG_FIN))
        return agent_fail(a, SPOP_ST_FRAG_NOT_SUPPORTED, out, cap, out_len);
    switch (f->type) {
    case SPOP_FRAME_HAPROXY_HELLO:
        if (a->state != SPOP_AGENT_HELLO)
            return agent_fail(a, SPOP_ST_INVALID, out, cap, out_len);
        return agent_hello(a, f, out, cap, out_len);
    case SPOP_FRAME_HAPROXY_DISCONNECT:
        return agent_disconnect(a, f, out, cap, out_len);
    case SPOP_FRAME_NOTIFY: {
        const uint8_t *p = f->payload.ptr;
        const uint8_t *end = p + f->payload.len;

        if (a->state != SPOP_AGENT_READY)
            return agent_fail(a, SPOP_ST_INVALID, out, cap, out_len);
        while (p < end) { /* every message checked before the ACK */
            struct spop_message m;

            if (spop_message_get(&p, end, &m) != 0)
                return agent_fail(a, SPOP_ST_INVALID, out, cap, out_len);
        }
        *out_len = spop_ack_put(out, cap, f->stream_id, f->frame_id);
        return SPOP_V_NOTIFY;
    }
    case SPOP_FRAME_AGENT_HELLO:
    case SPOP_FRAME_AGENT_DISCONNECT:
    case SPOP_FRAME_ACK:
        return agent_fail(a, SPOP_ST_INVALID, out, cap, out_len); /* ours, not HAProxy's */
    default:
        if (a->state != SPOP_AGENT_READY) /* the first frame must be the HELLO */
            return agent_fail(a, SPOP_ST_INVALID, out, cap, out_len);
        return SPOP_V_SKIP; /* §3.2.2: unknown frames may be silently skipped */
    }
}

/* ---- the mirror request ---- */

static const uint8_t arg_name_len[SPOP_ARG_COUNT] = {
    [SPOP_ARG_METHOD] = sizeof("arg_method") - 1,
    [SPOP_ARG_PATH] = sizeof("arg_path") - 1,
    [SPOP_ARG_VER] = sizeof("arg_ver") - 1,
    [SPOP_ARG_HDRS] = sizeof("arg_hdrs") - 1,
    [SPOP_ARG_BODY] = sizeof("arg_body") - 1,
    [SPOP_ARG_ID] = sizeof("arg_id") - 1,
    [SPOP_ARG_TS] = sizeof("arg_ts") - 1,
};

/* RFC 9110 §5.6.2 tchar */
static bool is_tchar(uint8_t c)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";

    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && memchr(extra, c, sizeof(extra) - 1) != NULL;
}

static bool is_token(struct dp_bytes b)
{
    if (b.len == 0)
        return false;
    for (size_t i = 0; i < b.len; i++) {
        if (!is_tchar(b.ptr[i]))
            return false;
    }
    return true;
}

/* A request-target: no SP, no controls (obs-text is kept as HAProxy may have let it through). */
static bool is_target(struct dp_bytes b)
{
    if (b.len == 0)
        return false;
    for (size_t i = 0; i < b.len; i++) {
        if (b.ptr[i] <= 0x20 || b.ptr[i] == 0x7F)
            return false;
    }
    return true;
}

/* A field value as it can go on the wire: no CR, LF or NUL (RFC 9110 §5.5). */
static bool is_value(struct dp_bytes b)
{
    for (size_t i = 0; i < b.len; i++) {
        if (b.ptr[i] == '\r' || b.ptr[i] == '\n' || b.ptr[i] == 0)
            return false;
    }
    return true;
}

struct hdr_it {
    const uint8_t *p;
    const uint8_t *end;
    bool bin;
};

/*
 * The next header field of arg_hdrs: 1 with *<name>, *<value> set; 0 at the end; -1 when the
 * list is malformed. req.hdrs_bin (HAProxy's configuration manual): pairs of length-prefixed
 * name and value, ended by an empty name and an empty value. req.hdrs: "name: value" lines
 * ended by CRLF, then an empty line (the end of the string also ends it).
 */
static int hdr_next(struct hdr_it *it, struct dp_bytes *name, struct dp_bytes *value)
{
    if (it->bin) {
        if (spop_bytes_get(&it->p, it->end, name) != 0 ||
                spop_bytes_get(&it->p, it->end, value) != 0)
            return -1; /* cut before the end marker */
        if (name->len == 0)
            return value->len == 0 && it->p == it->end ? 0 : -1;
        return 1;
    }
    if (it->p == it->end)
        return 0;
    {
        const uint8_t *lf = memchr(it->p, '\n', (size_t)(it->end - it->p));
        const uint8_t *le;
        const uint8_t *colon;

        if (lf == NULL)
            return -1;
        le = lf > it->p && lf[-1] == '\r' ? lf - 1 : lf;
        if (le == it->p) { /* the empty line */
            it->p = lf + 1;
            return it->p == it->end ? 0 : -1;
        }
        colon = memchr(it->p, ':', (size_t)(le - it->p));
        if (colon == NULL)
            return -1;
        *name = (struct dp_bytes){ it->p, (size_t)(colon - it->p) };
        *value = trim((struct dp_bytes){ colon + 1, (size_t)(le - colon - 1) });
        it->p = lf + 1;
        return 1;
    }
}

static void hdr_it_init(struct hdr_it *it, const struct spop_req *r)
{
    it->bin = r->hdrs_bin;
    it->p = r->has[SPOP_ARG_HDRS] ? r->arg[SPOP_ARG_HDRS].bytes.ptr : NULL;
    it->end = it->p != NULL ? it->p + r->arg[SPOP_ARG_HDRS].bytes.len : NULL;
}

static bool is_cl(struct dp_bytes name)
{
    return bytes_eq_nocase(name, LIT("content-length"));
}

static bool is_te(struct dp_bytes name)
{
    return bytes_eq_nocase(name, LIT("transfer-encoding"));
}

/* 1*DIGIT, at most 18 digits (no overflow). */
static bool parse_digits(struct dp_bytes b, uint64_t *v)
{
    uint64_t n = 0;

    if (b.len == 0 || b.len > 18)
        return false;
    for (size_t i = 0; i < b.len; i++) {
        if (b.ptr[i] < '0' || b.ptr[i] > '9')
            return false;
        n = n * 10 + (uint64_t)(b.ptr[i] - '0');
    }
    *v = n;
    return true;
}

static size_t digits_len(uint64_t v)
{
    size_t n = 1;

    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/*
 * The version to send and the request-target: "1.x" is kept as it is; "2.0", "3" and the like
 * become "1.1", and an absolute-form target ("https://host/x", as HAProxy shows HTTP/2 and 3
 * requests) is cut to origin-form. Accepts "HTTP/1.1" as well as req.ver's "1.1".
 */
static bool plan_version(struct spop_req *r)
{
    struct dp_bytes v;
    const uint8_t *p;
    size_t skip;

    r->ver = (struct dp_bytes){ (const uint8_t *)"1.1", 3 };
    if (!r->has[SPOP_ARG_VER])
        return true;
    if (!spop_data_is_bytes(&r->arg[SPOP_ARG_VER]))
        return false;
    v = r->arg[SPOP_ARG_VER].bytes;
    if (v.len > 5 && memcmp(v.ptr, "HTTP/", 5) == 0) {
        v.ptr += 5;
        v.len -= 5;
    }
    /* DIGIT [ "." DIGIT ] */
    if (!((v.len == 1 && v.ptr[0] >= '0' && v.ptr[0] <= '9') ||
                (v.len == 3 && v.ptr[0] >= '0' && v.ptr[0] <= '9' && v.ptr[1] == '.' &&
                        v.ptr[2] >= '0' && v.ptr[2] <= '9')))
        return false;
    if (v.ptr[0] == '1') {
        if (v.len != 3)
            return false;
        r->ver = v;
        return true;
    }
    if (v.ptr[0] < '2')
        return false; /* HTTP/0.x */
    p = r->path.ptr;
    if (r->path.len >= 7 && bytes_eq_nocase((struct dp_bytes){ p, 7 }, LIT("http://")))
        skip = 7;
    else if (r->path.len >= 8 && bytes_eq_nocase((struct dp_bytes){ p, 8 }, LIT("https://")))
        skip = 8;
    else
        return true;
    while (skip < r->path.len && p[skip] != '/' && p[skip] != '?' && p[skip] != '#')
        skip++; /* the authority */
    r->path.ptr += skip;
    r->path.len -= skip;
    r->path_slash = r->path.len == 0 || r->path.ptr[0] != '/';
    return true;
}

enum spop_req_status spop_req_parse(const struct spop_message *m, struct spop_req *r)
{
    const uint8_t *p = m->args.ptr;
    const uint8_t *end = m->args.ptr + m->args.len;
    unsigned positional = 0;
    struct hdr_it it;
    struct dp_bytes name;
    struct dp_bytes value;
    size_t hsize = 0;
    size_t framing_size = 0;
    bool te = false;
    bool te_chunked = false;
    int rc;

    memset(r, 0, sizeof(*r));
    for (unsigned i = 0; i < m->nargs; i++) {
        struct spop_kv kv;
        int slot = -1;

        if (spop_kv_get(&p, end, &kv) != 0)
            return SPOP_REQ_INVALID;
        if (kv.name.len == 0) {
            if (positional < SPOP_ARG_COUNT)
                slot = (int)positional++;
        } else {
            for (int a = 0; a < SPOP_ARG_COUNT; a++) {
                if (bytes_eq(kv.name, (const uint8_t *)spop_arg_names[a], arg_name_len[a])) {
                    slot = a;
                    break;
                }
            }
        }
        if (slot < 0 || r->has[slot] || kv.value.type == SPOP_DATA_NULL)
            continue;
        r->arg[slot] = kv.value;
        r->has[slot] = true;
    }
    if (!r->has[SPOP_ARG_METHOD] || !r->has[SPOP_ARG_PATH])
        return SPOP_REQ_MISSING;
    if (!spop_data_is_bytes(&r->arg[SPOP_ARG_METHOD]) ||
            !spop_data_is_bytes(&r->arg[SPOP_ARG_PATH]))
        return SPOP_REQ_INVALID;
    r->method = r->arg[SPOP_ARG_METHOD].bytes;
    r->path = r->arg[SPOP_ARG_PATH].bytes;
    if (!is_token(r->method) || !is_target(r->path) || !plan_version(r))
        return SPOP_REQ_INVALID;
    if (r->has[SPOP_ARG_HDRS]) {
        if (!spop_data_is_bytes(&r->arg[SPOP_ARG_HDRS]))
            return SPOP_REQ_INVALID;
        r->hdrs_bin = r->arg[SPOP_ARG_HDRS].type == SPOP_DATA_BINARY;
    }
    if (r->has[SPOP_ARG_BODY]) {
        if (!spop_data_is_bytes(&r->arg[SPOP_ARG_BODY]))
            return SPOP_REQ_INVALID;
        r->body = r->arg[SPOP_ARG_BODY].bytes;
    }
    /* the fields: checked, sized, and the framing ones looked at (RFC 9112 §6) */
    hdr_it_init(&it, r);
    while (it.p != NULL && (rc = hdr_next(&it, &name, &value)) != 0) {
        size_t line;

        if (rc < 0 || !is_token(name) || !is_value(value))
            return SPOP_REQ_INVALID;
        line = name.len + 2 + value.len + 2;
        hsize += line;
        if (is_cl(name)) {
            uint64_t cl;

            framing_size += line;
            if (!parse_digits(value, &cl) || (r->has_cl && cl != r->content_length))
                r->content_length = UINT64_MAX; /* unusable, unless chunked replaces it */
            else
                r->content_length = cl;
            r->has_cl = true;
        } else if (is_te(name)) {
            struct dp_bytes list = value;
            struct dp_bytes coding = { NULL, 0 };
            struct dp_bytes item;

            framing_size += line;
            te = true;
            while (list_next(&list, &item)) {
                if (item.len > 0)
                    coding = item;
            }
            if (coding.ptr != NULL) /* the last coding of the last field decides */
                te_chunked = bytes_eq_nocase(coding, LIT("chunked"));
        }
    }
    if (te) {
        /* RFC 9112 §6.3: chunked must be the final coding of a request */
        if (!te_chunked)
            return SPOP_REQ_BAD_FRAMING;
        r->rewrite_cl = true;
        hsize = hsize - framing_size + sizeof("content-length: ") - 1 +
                digits_len(r->body.len) + 2;
    } else if (r->has_cl) {
        if (r->content_length == UINT64_MAX || r->body.len > r->content_length)
            return SPOP_REQ_BAD_FRAMING;
        if (r->body.len < r->content_length)
            return SPOP_REQ_TRUNCATED;
    } else if (r->body.len > 0) {
        return SPOP_REQ_BAD_FRAMING;
    }
    r->wire_len = r->method.len + 1 + (r->path_slash ? 1 : 0) + r->path.len + 1 + 5 +
            r->ver.len + 2 + hsize + 2 + r->body.len;
    return SPOP_REQ_OK;
}

static uint8_t *put(uint8_t *o, const void *s, size_t n)
{
    if (n > 0)
        memcpy(o, s, n);
    return o + n;
}

void spop_req_write(const struct spop_req *r, uint8_t *out)
{
    uint8_t *o = out;
    struct hdr_it it;
    struct dp_bytes name;
    struct dp_bytes value;
    bool cl_written = false;

    o = put(o, r->method.ptr, r->method.len);
    *o++ = ' ';
    if (r->path_slash)
        *o++ = '/';
    o = put(o, r->path.ptr, r->path.len);
    o = put(o, " HTTP/", 6);
    o = put(o, r->ver.ptr, r->ver.len);
    o = put(o, "\r\n", 2);
    hdr_it_init(&it, r);
    while (it.p != NULL && hdr_next(&it, &name, &value) > 0) {
        if (r->rewrite_cl && (is_cl(name) || is_te(name))) {
            if (!cl_written) {
                uint8_t digits[24];
                size_t n = digits_len(r->body.len);
                uint64_t v = r->body.len;

                for (size_t i = n; i > 0; i--) {
                    digits[i - 1] = (uint8_t)('0' + v % 10);
                    v /= 10;
                }
                o = put(o, "content-length: ", 16);
                o = put(o, digits, n);
                o = put(o, "\r\n", 2);
                cl_written = true;
            }
            continue;
        }
        o = put(o, name.ptr, name.len);
        o = put(o, ": ", 2);
        o = put(o, value.ptr, value.len);
        o = put(o, "\r\n", 2);
    }
    o = put(o, "\r\n", 2);
    o = put(o, r->body.ptr, r->body.len);
    DP_BUG_ON((size_t)(o - out) != r->wire_len);
}

size_t spop_req_id(const struct spop_req *r, uint8_t *out, size_t cap)
{
    struct dp_bytes id;

    if (!r->has[SPOP_ARG_ID] || !spop_data_is_bytes(&r->arg[SPOP_ARG_ID]))
        return 0;
    id = r->arg[SPOP_ARG_ID].bytes;
    if (id.len == 0 || id.len > cap)
        return 0;
    for (size_t i = 0; i < id.len; i++)
        out[i] = id.ptr[i] > 0x20 && id.ptr[i] < 0x7F ? id.ptr[i] : (uint8_t)'_';
    return id.len;
}

bool spop_req_ts(const struct spop_req *r, int64_t *ns)
{
    const struct spop_data *d = &r->arg[SPOP_ARG_TS];
    uint64_t unit = 1;
    uint64_t v;

    if (!r->has[SPOP_ARG_TS])
        return false;
    if (spop_data_is_bytes(d)) {
        if (!parse_digits(d->bytes, &v))
            return false;
    } else if (!spop_data_uint(d, &v)) {
        return false;
    }
    if (v == 0)
        return false;
    /* the unit by magnitude: seconds (below 1e10, until 2286), milliseconds (from 1970-04-26),
     * microseconds, nanoseconds; and the product must fit an int64 (until 2262) */
    if (v < 10000000000ull)
        unit = 1000000000;
    else if (v < 10000000000000ull)
        unit = 1000000;
    else if (v < 10000000000000000ull)
        unit = 1000;
    if (v > (uint64_t)INT64_MAX / unit)
        return false;
    *ns = (int64_t)(v * unit);
    return true;
}
