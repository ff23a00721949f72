#include "inputs/in_spop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/ring.h"
#include "format/spop.h"

#define OUR_MAX_FRAME  (1u << 20)   /* the largest max-frame-size we accept (tune.bufsize - 4) */
#define RBUF_MIN       4096         /* a connection's first read buffer */
#define RBUF_KEEP      (64u << 10)  /* an emptied buffer larger than this is given back */
#define OBUF_CAP       2048         /* each of the two reply buffers */
#define REFUSE_MAX     64           /* connections beyond SPOP_CONNS_MAX told "13" at once */
#define HELLO_TIMEOUT_MS 5000       /* from accept to HAPROXY-HELLO */
#define LINGER_MS      1000         /* after our last frame, until HAProxy closes */
#define TICK_MS        250
#define SNAP_MS        50           /* the agent's counters reach --stats this often */
#define ID_MAX         256          /* longest arg_id kept as the message id */
#define WARN_EVERY_NS  1000000000   /* at most one warning line per second per input */
#define RING_CAP       65536        /* requests between the agent thread and the loop */
#define RING_BYTES_MAX (64u << 20)  /* and their bytes */
#define DRAIN_BUDGET   1024         /* requests pushed per wake-up of the loop */
#define WAKE_BATCH     1024         /* the loop is woken at once from this many requests on, */
#define WAKE_DELAY_MS  5            /* else within this delay: fewer cross-thread wake-ups */

enum spop_ctr {
    SC_CONNS_TOTAL = 0,
    SC_CONNS_REFUSED,
    SC_HEALTH_CHECKS,
    SC_FRAMES_HELLO,
    SC_FRAMES_NOTIFY,
    SC_FRAMES_DISCONNECT,
    SC_FRAMES_UNKNOWN,
    SC_ACKS,
    SC_BYTES_IN,
    SC_BYTES_OUT,
    SC_MESSAGES,
    SC_MESSAGES_OTHER,
    SC_MIRRORED,    /* agent: handed to the loop; printed: pushed into the pipeline */
    SC_QUEUE_DROPS, /* agent: the ring was full; printed: plus the loop's drops */
    SC_TRUNCATED_BODIES,
    SC_BAD_FRAMING,
    SC_BAD_MESSAGES,
    SC_TOO_LARGE,
    SC_NOMEM_DROPS,
    SC_ALLOC_FAILED,
    SC_MALFORMED,
    SC_TIMEOUTS,
    SC_DISCONNECTS_RX,
    SC_DISCONNECTS_TX,
    SC_COUNT
};

static const char *const spop_ctr_names[SC_COUNT] = {
    [SC_CONNS_TOTAL] = "conns_total",
    [SC_CONNS_REFUSED] = "conns_refused",
    [SC_HEALTH_CHECKS] = "health_checks",
    [SC_FRAMES_HELLO] = "frames_hello",
    [SC_FRAMES_NOTIFY] = "frames_notify",
    [SC_FRAMES_DISCONNECT] = "frames_disconnect",
    [SC_FRAMES_UNKNOWN] = "frames_unknown",
    [SC_ACKS] = "acks",
    [SC_BYTES_IN] = "bytes_in",
    [SC_BYTES_OUT] = "bytes_out",
    [SC_MESSAGES] = "messages",
    [SC_MESSAGES_OTHER] = "messages_other",
    [SC_MIRRORED] = "mirrored",
    [SC_QUEUE_DROPS] = "queue_drops",
    [SC_TRUNCATED_BODIES] = "truncated_bodies",
    [SC_BAD_FRAMING] = "bad_framing",
    [SC_BAD_MESSAGES] = "bad_messages",
    [SC_TOO_LARGE] = "too_large",
    [SC_NOMEM_DROPS] = "nomem_drops",
    [SC_ALLOC_FAILED] = "alloc_failed",
    [SC_MALFORMED] = "malformed",
    [SC_TIMEOUTS] = "timeouts",
    [SC_DISCONNECTS_RX] = "disconnects_rx",
    [SC_DISCONNECTS_TX] = "disconnects_tx",
};

struct in_spop;

struct spop_conn {
    uv_tcp_t tcp;
    struct in_spop *s;
    struct spop_conn *prev;
    struct spop_conn *next;
    struct spop_conn *pending_next; /* in in_spop.pending: ACKed frames wait to be mirrored */
    uint64_t id;
    struct spop_agent agent;
    uint8_t *rbuf;
    size_t rlen;
    size_t rcap;
    size_t acked;        /* rbuf[0, acked): whole frames answered, not yet mirrored */
    uint8_t obuf[2][OBUF_CAP]; /* obuf[ocur] collects replies; the other one may be in flight */
    size_t olen;
    unsigned ocur;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    int64_t deadline_ms; /* hello timeout, then linger; 0: none */
    bool reading;        /* uv_read_start() is on */
    bool writing;        /* wreq is in flight */
    bool blocked;        /* reading stopped: no room for the next reply */
    bool finishing;      /* our last frame is out: FIN sent, waiting for HAProxy to close */
    bool closing;        /* uv_close() called */
    bool pending;        /* in in_spop.pending */
};

/*
 * Two threads share this struct:
 *  - the agent thread runs its own loop (<loop>): the listener, the connections, the timer,
 *    the check handle; it owns everything below "agent thread" and hands rebuilt requests
 *    over <ring>;
 *  - doppel's loop (the pipeline's) owns <wake>: it pops the requests and pushes them.
 * The agent's counters reach the loop as a snapshot under <lock>.
 */
struct in_spop {
    /* set before the thread starts, then read-only */
    struct dp_plugin *pl;
    struct sockaddr_storage addr;
    const uint8_t *msg_name;
    size_t msg_name_len;
    size_t copy_max;
    /* shared */
    struct dp_ring ring;            /* struct dp_msg *, agent -> loop */
    _Atomic size_t ring_bytes;      /* payload bytes in the ring */
    _Atomic bool ended;             /* the agent thread has finished */
    uv_async_t stop_async;          /* loop -> agent: stop */
    pthread_mutex_t lock;
    uint64_t snap[SC_COUNT];        /* under <lock>: the agent's counters */
    uint64_t snap_disc_tx[SPOP_ST_COUNT];
    uint64_t snap_disc_rx[SPOP_ST_COUNT];
    unsigned snap_conns;
    /* doppel's loop */
    uv_async_t wake;                /* agent -> loop: requests in the ring, or the end */
    pthread_t thread;
    bool thread_started;
    bool wake_closing;
    uint64_t pushed;                /* requests pushed into the pipeline */
    uint64_t loop_drops;            /* requests the outputs could not take */
    /* agent thread */
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_timer_t timer;
    uv_timer_t wake_timer;     /* wakes doppel's loop for a few requests, WAKE_DELAY_MS late */
    uv_check_t check;          /* after each poll: mirrors what the I/O callbacks ACKed */
    struct spop_conn *pending; /* connections with ACKed frames to mirror */
    struct spop_conn *conns;
    uint64_t next_id;
    unsigned conns_open;
    bool stopping;
    bool handed;               /* requests went into the ring since the last wake-up */
    uint64_t last_snap_ms;
    int64_t last_warn_ns;
    uint64_t warn_suppressed;
    uint64_t ctr[SC_COUNT];
    uint64_t disc_tx[SPOP_ST_COUNT]; /* AGENT-DISCONNECTs we sent, by status */
    uint64_t disc_rx[SPOP_ST_COUNT]; /* HAPROXY-DISCONNECTs received, by status (99: others) */
};

static void conn_process(struct spop_conn *c);
static void conn_mirror(struct spop_conn *c);
static void conn_flush(struct spop_conn *c);
static void conn_close(struct spop_conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void conn_read(struct spop_conn *c, bool on)
{
    if (c->closing || c->reading == on)
        return;
    if (on && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_close(c);
        return;
    }
    if (!on)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = on;
}

/* ---- address ---- */

/* "host:port", "[v6]:port", ":port" (127.0.0.1); the host is an IP address or "localhost". */
static int parse_addr(const char *a, struct sockaddr_storage *ss, struct dp_err *err)
{
    char host[64];
    const char *colon;
    const char *hb = a;
    size_t hl;
    char *endp;
    long port;
    int rc;

    if (a[0] == '[') {
        const char *rb = strchr(a, ']');

        if (rb == NULL || rb[1] != ':')
            return dp_err_set(err, -EINVAL, "--input-spop %s: expected [v6-address]:port", a);
        hb = a + 1;
        hl = (size_t)(rb - hb);
        colon = rb + 1;
    } else {
        colon = strrchr(a, ':');
        if (colon == NULL)
            return dp_err_set(err, -EINVAL, "--input-spop %s: expected host:port", a);
        hl = (size_t)(colon - a);
    }
    errno = 0;
    port = strtol(colon + 1, &endp, 10);
    if (colon[1] == '\0' || *endp != '\0' || errno != 0 || port < 1 || port > 65535)
        return dp_err_set(err, -EINVAL, "--input-spop %s: the port must be 1 to 65535", a);
    if (hl >= sizeof(host))
        return dp_err_set(err, -EINVAL, "--input-spop %s: host too long", a);
    memcpy(host, hb, hl);
    host[hl] = '\0';
    if (hl == 0 || strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    memset(ss, 0, sizeof(*ss));
    if (a[0] == '[')
        rc = uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss);
    else
        rc = uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss);
    if (rc != 0)
        return dp_err_set(err, -EINVAL, "--input-spop %s: \"%s\" is not an IP address", a,
                host);
    return 0;
}

/* ---- counters and logs ---- */

static void warn(struct in_spop *s, const struct spop_conn *c, const char *what, uint64_t status)
{
    int64_t now = dp_mono_ns();

    if (now - s->last_warn_ns < WARN_EVERY_NS && s->last_warn_ns != 0) {
        s->warn_suppressed++;
        return;
    }
    dp_log(DP_LOG_WARN, DP_LOG_INPUT,
            "plugin=%s event=%s conn=%" PRIu64 " status=%" PRIu64 " reason=\"%s\""
            " suppressed=%" PRIu64,
            s->pl->label, what, c->id, status, spop_status_name(status), s->warn_suppressed);
    s->last_warn_ns = now;
    s->warn_suppressed = 0;
}

static void count_disconnect_tx(struct in_spop *s, struct spop_conn *c)
{
    uint32_t st = c->agent.sent_status;

    s->ctr[SC_DISCONNECTS_TX]++;
    s->disc_tx[st < SPOP_ST_COUNT ? st : SPOP_ST_UNKNOWN]++;
    if (st != SPOP_ST_NORMAL)
        warn(s, c, "disconnect", st);
}

/* ---- connections ---- */

static void on_conn_closed(uv_handle_t *h)
{
    struct spop_conn *c = h->data;
    struct in_spop *s = c->s;

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    for (struct spop_conn **pp = &s->pending; c->pending && *pp != NULL;
            pp = &(*pp)->pending_next) {
        if (*pp == c) {
            *pp = c->pending_next;
            break;
        }
    }
    s->conns_open--;
    free(c->rbuf);
    free(c);
}

static void conn_close(struct spop_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    dp_log(DP_LOG_DEBUG, DP_LOG_INPUT, "plugin=%s event=close conn=%" PRIu64, c->s->pl->label,
            c->id);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct spop_conn *c = req->data;

    if (status < 0) /* ECANCELED when closed meanwhile */
        conn_close(c);
}

/*
 * Our last frame is written: half-close and read (and drop) until HAProxy closes, so that the
 * kernel does not answer unread bytes with a reset that could lose the frame; bounded by
 * LINGER_MS.
 */
static void conn_finish(struct spop_conn *c)
{
    int rc;

    if (c->finishing || c->closing)
        return;
    conn_mirror(c); /* what was ACKed before the last frame */
    c->finishing = true;
    c->rlen = 0;
    c->deadline_ms = (int64_t)uv_now(&c->s->loop) + LINGER_MS;
    c->sreq.data = c;
    rc = uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown);
    if (rc != 0) {
        conn_close(c);
        return;
    }
    c->blocked = false;
    conn_read(c, true);
}

static void after_write(struct spop_conn *c)
{
    if (c->agent.state == SPOP_AGENT_CLOSED && c->olen == 0 && !c->writing)
        conn_finish(c);
}

static void on_write(uv_write_t *req, int status)
{
    struct spop_conn *c = req->data;

    c->writing = false;
    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->blocked && !c->finishing) {
        /* room again: the frames left in the read buffer go on, then reading resumes */
        c->blocked = false;
        conn_process(c);
        if (c->closing)
            return;
        if (!c->blocked && !c->finishing)
            conn_read(c, true);
    }
    conn_flush(c);
    after_write(c);
}

/* Writes the collected replies: at once when the socket takes them, else with uv_write (the
 * next replies then collect in the other buffer). */
static void conn_flush(struct spop_conn *c)
{
    struct in_spop *s = c->s;
    uv_buf_t b;
    int n;
    int rc;

    if (c->writing || c->olen == 0 || c->closing)
        return;
    b = uv_buf_init((char *)c->obuf[c->ocur], (unsigned)c->olen);
    n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == UV_EAGAIN || n == UV_ENOSYS)
        n = 0;
    if (n < 0) {
        conn_close(c);
        return;
    }
    s->ctr[SC_BYTES_OUT] += (uint64_t)n;
    if ((size_t)n == c->olen) {
        c->olen = 0;
        return;
    }
    b = uv_buf_init((char *)c->obuf[c->ocur] + n, (unsigned)(c->olen - (size_t)n));
    c->wreq.data = c;
    rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc != 0) {
        conn_close(c);
        return;
    }
    s->ctr[SC_BYTES_OUT] += c->olen - (size_t)n;
    c->writing = true;
    c->ocur ^= 1u;
    c->olen = 0;
}

/* Makes the read buffer hold at least <need> bytes (need <= 4 + max-frame-size). */
static int rbuf_reserve(struct spop_conn *c, size_t need)
{
    size_t cap = c->rcap > 0 ? c->rcap : RBUF_MIN;
    uint8_t *n;

    while (cap < need)
        cap *= 2;
    cap = DP_MIN(cap, (size_t)SPOP_LEN_PREFIX + c->agent.max_frame);
    cap = DP_MAX(cap, need);
    if (cap <= c->rcap && c->rbuf != NULL)
        return 0;
    n = realloc(c->rbuf, cap);
    if (n == NULL)
        return -ENOMEM;
    c->rbuf = n;
    c->rcap = cap;
    return 0;
}

/* An error outside a frame (too big, short, timeout, no memory): AGENT-DISCONNECT, then close. */
static void conn_fail(struct spop_conn *c, enum spop_status st)
{
    size_t room = OBUF_CAP - c->olen;

    if (c->agent.state == SPOP_AGENT_CLOSED)
        return;
    if (room < SPOP_REPLY_MAX) { /* cannot happen: a reply's room is kept free */
        c->agent.state = SPOP_AGENT_CLOSED;
        conn_close(c);
        return;
    }
    c->olen += spop_agent_fail(&c->agent, st, c->obuf[c->ocur] + c->olen, room);
    count_disconnect_tx(c->s, c);
}

/* Rebuilds the requests of a checked NOTIFY payload and hands them to the pipeline. */
static void mirror_notify(struct in_spop *s, struct dp_bytes payload, int64_t now_ns)
{
    const uint8_t *p = payload.ptr;
    const uint8_t *end = payload.ptr + payload.len;

    while (p < end) {
        struct spop_message m;
        struct spop_req r;
        enum spop_req_status st;
        uint8_t id[ID_MAX];
        size_t id_len;
        int64_t ts;
        struct dp_msg *msg;

        if (spop_message_get(&p, end, &m) != 0)
            return; /* checked before the ACK: cannot happen */
        if (m.name.len != s->msg_name_len || memcmp(m.name.ptr, s->msg_name, m.name.len) != 0) {
            s->ctr[SC_MESSAGES_OTHER]++;
            continue;
        }
        s->ctr[SC_MESSAGES]++;
        st = spop_req_parse(&m, &r);
        if (st != SPOP_REQ_OK) {
            s->ctr[st == SPOP_REQ_TRUNCATED     ? SC_TRUNCATED_BODIES
                    : st == SPOP_REQ_BAD_FRAMING ? SC_BAD_FRAMING
                                                 : SC_BAD_MESSAGES]++;
            dp_log(DP_LOG_DEBUG, DP_LOG_INPUT, "plugin=%s event=not-mirrored reason=%s",
                    s->pl->label, spop_req_status_names[st]);
            continue;
        }
        if (r.wire_len > s->copy_max) { /* cutting it would send an inconsistent request */
            s->ctr[SC_TOO_LARGE]++;
            continue;
        }
        /* never wait: HAProxy must not notice that the loop or the outputs are behind */
        if (atomic_load_explicit(&s->ring_bytes, memory_order_relaxed) + r.wire_len >
                        RING_BYTES_MAX) {
            s->ctr[SC_QUEUE_DROPS]++;
            continue;
        }
        id_len = spop_req_id(&r, id, sizeof(id));
        if (id_len == 0) {
            dp_msg_random_id(id);
            id_len = 24;
        }
        if (!spop_req_ts(&r, &ts))
            ts = now_ns;
        msg = dp_msg_reserve(DP_MSG_META_ROOM + id_len, r.wire_len);
        if (msg == NULL) {
            s->ctr[SC_NOMEM_DROPS]++;
            continue;
        }
        spop_req_write(&r, dp_msg_payload(msg));
        msg->len = r.wire_len;
        dp_msg_set_meta(msg, DP_MSG_REQUEST, id, id_len, ts, 0);
        atomic_fetch_add_explicit(&s->ring_bytes, msg->len, memory_order_relaxed);
        if (!dp_ring_push(&s->ring, msg)) {
            atomic_fetch_sub_explicit(&s->ring_bytes, msg->len, memory_order_relaxed);
            dp_msg_unref(msg);
            s->ctr[SC_QUEUE_DROPS]++;
            continue;
        }
        s->ctr[SC_MIRRORED]++;
        s->handed = true;
    }
}

/*
 * Pass 2: rebuilds and pushes the requests of the NOTIFY frames in rbuf[0, acked), then drops
 * the frames from the buffer. Runs from the check handle, once every ready connection got its
 * ACKs in this loop iteration, or earlier when the buffer needs the room.
 */
static void conn_mirror(struct spop_conn *c)
{
    int64_t now_ns;

    if (c->acked == 0)
        return;
    now_ns = dp_wall_ns();
    for (size_t q = 0; q < c->acked;) {
        size_t flen = rd_be32(c->rbuf + q);
        struct spop_frame f;

        if (spop_frame_get(c->rbuf + q + SPOP_LEN_PREFIX, flen, &f) == 0 &&
                f.type == SPOP_FRAME_NOTIFY)
            mirror_notify(c->s, f.payload, now_ns);
        q += SPOP_LEN_PREFIX + flen;
    }
    memmove(c->rbuf, c->rbuf + c->acked, c->rlen - c->acked);
    c->rlen -= c->acked;
    c->acked = 0;
    if (c->rlen == 0 && c->rcap > RBUF_KEEP) { /* an idle connection keeps little */
        free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = 0;
    }
}

static void on_wake_timer(uv_timer_t *t)
{
    struct in_spop *s = t->data;

    s->handed = false;
    uv_async_send(&s->wake);
}

/* Publishes the agent's counters for --stats (read by doppel's loop). */
static void snapshot(struct in_spop *s)
{
    pthread_mutex_lock(&s->lock);
    memcpy(s->snap, s->ctr, sizeof(s->snap));
    memcpy(s->snap_disc_tx, s->disc_tx, sizeof(s->snap_disc_tx));
    memcpy(s->snap_disc_rx, s->disc_rx, sizeof(s->snap_disc_rx));
    s->snap_conns = s->conns_open;
    pthread_mutex_unlock(&s->lock);
    s->last_snap_ms = uv_now(&s->loop);
}

static void on_check(uv_check_t *h)
{
    struct in_spop *s = h->data;

    while (s->pending != NULL) {
        struct spop_conn *c = s->pending;

        s->pending = c->pending_next;
        c->pending = false;
        conn_mirror(c);
    }
    if (s->handed) {
        /* a wake-up costs both threads a few microseconds: one per WAKE_BATCH requests, or
         * per WAKE_DELAY_MS (mirroring is late anyway; the ACKs went out already) */
        if (dp_ring_len(&s->ring) >= WAKE_BATCH || s->stopping) {
            s->handed = false;
            uv_timer_stop(&s->wake_timer);
            uv_async_send(&s->wake);
        } else if (!uv_is_active((uv_handle_t *)&s->wake_timer)) {
            uv_timer_start(&s->wake_timer, on_wake_timer, WAKE_DELAY_MS, 0);
        }
    }
    if (uv_now(&s->loop) - s->last_snap_ms >= SNAP_MS)
        snapshot(s);
}

/*
 * Pass 1: decodes the whole frames in the read buffer after those already answered, writes
 * their replies (the ACK of each NOTIFY) and sends them at once. The NOTIFYs are mirrored
 * later (pass 2, conn_mirror()), after every connection ready in this loop iteration got its
 * ACKs: HAProxy's production requests wait for those, the mirror does not. A frame whose reply
 * finds no room stays in the buffer, and reading stops until the replies drain.
 */
static void conn_process(struct spop_conn *c)
{
    struct in_spop *s = c->s;
    size_t pos = c->acked;

    while (c->agent.state != SPOP_AGENT_CLOSED && !c->closing) {
        size_t flen = 0;
        enum spop_cut cut = spop_frame_cut(c->rbuf + pos, c->rlen - pos, c->agent.max_frame,
                &flen);
        struct spop_frame f = { .type = SPOP_FRAME_UNSET };
        size_t n = 0;
        enum spop_verdict v;
        enum spop_agent_state before = c->agent.state;

        if (cut == SPOP_CUT_AGAIN) {
            if (c->rlen - pos >= SPOP_LEN_PREFIX && pos + SPOP_LEN_PREFIX + flen > c->rcap) {
                /* the frame does not fit after those waiting: mirror them now, then grow */
                c->acked = pos;
                conn_flush(c);
                conn_mirror(c);
                pos = 0;
                if (rbuf_reserve(c, SPOP_LEN_PREFIX + flen) != 0) {
                    s->ctr[SC_ALLOC_FAILED]++;
                    conn_fail(c, SPOP_ST_RES);
                }
            }
            break;
        }
        if (cut != SPOP_CUT_DONE) {
            s->ctr[SC_MALFORMED]++;
            conn_fail(c, cut == SPOP_CUT_TOO_BIG ? SPOP_ST_TOO_BIG : SPOP_ST_INVALID);
            break;
        }
        if (OBUF_CAP - c->olen < 2 * SPOP_REPLY_MAX) { /* a reply, and a DISCONNECT after it */
            c->blocked = true;
            break;
        }
        v = spop_agent_frame(&c->agent, c->rbuf + pos + SPOP_LEN_PREFIX, flen, &f,
                c->obuf[c->ocur] + c->olen, OBUF_CAP - c->olen, &n);
        c->olen += n;
        switch (f.type) {
        case SPOP_FRAME_HAPROXY_HELLO:
            s->ctr[SC_FRAMES_HELLO]++;
            break;
        case SPOP_FRAME_NOTIFY:
            s->ctr[SC_FRAMES_NOTIFY]++;
            break;
        case SPOP_FRAME_HAPROXY_DISCONNECT:
            s->ctr[SC_FRAMES_DISCONNECT]++;
            break;
        default:
            s->ctr[SC_FRAMES_UNKNOWN]++;
            break;
        }
        if (before == SPOP_AGENT_HELLO && c->agent.state != SPOP_AGENT_HELLO)
            c->deadline_ms = 0;
        if (v == SPOP_V_NOTIFY) {
            s->ctr[SC_ACKS]++;
        } else if (v == SPOP_V_CLOSE) {
            if (c->agent.peer_disconnect) {
                uint64_t ps = c->agent.peer_status;

                s->ctr[SC_DISCONNECTS_RX]++;
                s->disc_rx[ps < SPOP_ST_COUNT ? ps : SPOP_ST_UNKNOWN]++;
            }
            if (c->agent.healthcheck && c->agent.sent_status == SPOP_ST_NORMAL &&
                    !c->agent.peer_disconnect && before == SPOP_AGENT_HELLO) {
                s->ctr[SC_HEALTH_CHECKS]++;
            } else {
                if (c->agent.sent_status != SPOP_ST_NORMAL)
                    s->ctr[SC_MALFORMED]++;
                count_disconnect_tx(s, c);
            }
            break; /* the failed frame is not mirrored */
        }
        pos += SPOP_LEN_PREFIX + flen;
    }
    c->acked = pos;
    conn_flush(c);
    if (c->acked > 0 && !c->pending) {
        c->pending = true;
        c->pending_next = s->pending;
        s->pending = c;
    }
    if (c->closing)
        return;
    if (c->blocked)
        conn_read(c, false);
    after_write(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct spop_conn *c = h->data;

    (void)suggested;
    if (c->rbuf != NULL && c->rlen == c->rcap)
        conn_mirror(c); /* full of frames waiting for pass 2: make room */
    if (c->rbuf == NULL && rbuf_reserve(c, RBUF_MIN) != 0) {
        *buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
        return;
    }
    if (c->finishing)
        c->rlen = 0; /* what comes now is dropped */
    *buf = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(c->rcap - c->rlen));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct spop_conn *c = st->data;

    (void)buf;
    if (nread < 0) {
        if (nread == UV_ENOBUFS && !c->finishing)
            c->s->ctr[SC_ALLOC_FAILED]++;
        conn_close(c); /* EOF, reset, or no memory */
        return;
    }
    if (nread == 0 || c->closing)
        return;
    c->s->ctr[SC_BYTES_IN] += (uint64_t)nread;
    if (c->finishing)
        return;
    c->rlen += (size_t)nread;
    conn_process(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct in_spop *s = server->data;
    struct spop_conn *c;
    int rc;

    if (status < 0 || s->stopping)
        return;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        s->ctr[SC_ALLOC_FAILED]++;
        return; /* the connection waits in the backlog */
    }
    c->s = s;
    c->id = s->next_id++;
    spop_agent_init(&c->agent, OUR_MAX_FRAME);
    rc = uv_tcp_init(&s->loop, &c->tcp);
    if (rc != 0) {
        free(c);
        return;
    }
    c->tcp.data = c;
    s->conns_open++;
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    s->ctr[SC_CONNS_TOTAL]++;
    if (s->conns_open > SPOP_CONNS_MAX) {
        s->ctr[SC_CONNS_REFUSED]++;
        if (s->conns_open > SPOP_CONNS_MAX + REFUSE_MAX) {
            conn_close(c);
            return;
        }
        conn_fail(c, SPOP_ST_RES);
        conn_flush(c);
        after_write(c);
        conn_read(c, true);
        return;
    }
    (void)uv_tcp_nodelay(&c->tcp, 1); /* ACKs are small and must not wait */
    c->deadline_ms = (int64_t)uv_now(&s->loop) + HELLO_TIMEOUT_MS;
    dp_log(DP_LOG_DEBUG, DP_LOG_INPUT, "plugin=%s event=accept conn=%" PRIu64, s->pl->label,
            c->id);
    conn_read(c, true);
}

/* Hello timeouts and lingering connections. */
static void on_tick(uv_timer_t *t)
{
    struct in_spop *s = t->data;
    int64_t now = (int64_t)uv_now(&s->loop);

    for (struct spop_conn *c = s->conns; c != NULL; c = c->next) {
        if (c->closing || c->deadline_ms == 0 || now < c->deadline_ms)
            continue;
        c->deadline_ms = 0;
        if (c->finishing || c->agent.state == SPOP_AGENT_CLOSED) {
            conn_close(c);
            continue;
        }
        s->ctr[SC_TIMEOUTS]++;
        conn_fail(c, SPOP_ST_TIMEOUT);
        conn_flush(c);
        after_write(c);
        if (!c->closing && !c->finishing)
            c->deadline_ms = now + LINGER_MS; /* the write is stuck: give up then */
    }
    snapshot(s);
}

/* The agent stops: what was ACKed is handed over, the listener and the handles close, and each
 * connection gets an AGENT-DISCONNECT "normal" (when the socket takes it at once). The loop
 * then ends, and so does the thread. */
static void on_stop(uv_async_t *a)
{
    struct in_spop *s = a->data;

    if (s->stopping)
        return;
    s->stopping = true;
    on_check(&s->check); /* with <stopping>: the loop is woken at once */
    uv_close((uv_handle_t *)&s->listener, NULL);
    uv_close((uv_handle_t *)&s->timer, NULL);
    uv_close((uv_handle_t *)&s->wake_timer, NULL);
    uv_close((uv_handle_t *)&s->check, NULL);
    uv_close((uv_handle_t *)&s->stop_async, NULL);
    for (struct spop_conn *c = s->conns; c != NULL; c = c->next) {
        if (c->closing)
            continue;
        if (c->agent.state == SPOP_AGENT_READY && !c->writing &&
                OBUF_CAP - c->olen >= SPOP_REPLY_MAX) {
            conn_fail(c, SPOP_ST_NORMAL);
            conn_flush(c);
        }
        conn_close(c);
    }
}

static void *agent_main(void *arg)
{
    struct in_spop *s = arg;
    int rc;

    uv_run(&s->loop, UV_RUN_DEFAULT);
    snapshot(s);
    rc = uv_loop_close(&s->loop);
    DP_BUG_ON(rc != 0);
    dp_msg_cache_drain();
    atomic_store_explicit(&s->ended, true, memory_order_release);
    uv_async_send(&s->wake);
    return NULL;
}

/* ---- doppel's loop ---- */

static void on_wake_closed(uv_handle_t *h)
{
    struct in_spop *s = h->data;

    dp_plugin_closed(s->pl);
}

/* Pushes what the agent handed over; when the outputs are full, drops it (counted): HAProxy was
 * ACKed long ago and nothing waits. At the end of the agent, joins it and closes. */
static void on_wake(uv_async_t *a)
{
    struct in_spop *s = a->data;
    bool ended = atomic_load_explicit(&s->ended, memory_order_acquire);
    void *item;
    size_t n = 0;

    while ((ended || n < DRAIN_BUDGET) && dp_ring_pop(&s->ring, &item)) {
        struct dp_msg *m = item;

        n++;
        atomic_fetch_sub_explicit(&s->ring_bytes, m->len, memory_order_relaxed);
        if (!dp_pipeline_writable(s->pl)) {
            s->loop_drops++;
            dp_msg_unref(m);
            continue;
        }
        s->pushed++;
        dp_pipeline_push(s->pl, m);
    }
    if (!ended) {
        if (n == DRAIN_BUDGET)
            uv_async_send(a); /* more: after the loop polled */
        return;
    }
    if (s->wake_closing)
        return;
    s->wake_closing = true;
    pthread_join(s->thread, NULL);
    s->thread_started = false;
    uv_close((uv_handle_t *)a, on_wake_closed);
}

/* ---- plugin ---- */

static int spop_open(struct dp_plugin *pl, const struct dp_config *cfg, struct dp_err *err)
{
    struct in_spop *s = calloc(1, sizeof(*s));
    const char *name = cfg->input_spop_message != NULL ? cfg->input_spop_message : "mirror";

    if (s == NULL)
        return dp_err_set(err, -ENOMEM, "out of memory");
    pl->ctx = s;
    s->pl = pl;
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->ring_bytes, 0);
    atomic_init(&s->ended, false);
    if (pl->limiter.kind == DP_LIMIT_MAX)
        return dp_err_set(err, -EINVAL, "--input-spop %s|max: not a rate (use |N or |N%%)",
                pl->addr);
    s->msg_name = (const uint8_t *)name;
    s->msg_name_len = strlen(name);
    if (s->msg_name_len == 0)
        return dp_err_set(err, -EINVAL, "--input-spop-message: empty message name");
    s->copy_max = (size_t)cfg->copy_buffer_size;
    if (dp_ring_init(&s->ring, RING_CAP) != 0)
        return dp_err_set(err, -ENOMEM, "out of memory");
    return parse_addr(pl->addr, &s->addr, err);
}

/*
 * Listens (on this thread, so that a busy port is reported at once), then starts the agent
 * thread with its own loop: the ACKs never wait behind what doppel's loop does for the outputs
 * (an output's write, a slow target's events), which HAProxy would feel on every request.
 */
static int spop_start(struct dp_plugin *pl, uv_loop_t *loop, struct dp_err *err)
{
    struct in_spop *s = pl->ctx;
    uv_handle_t *hs[] = { (uv_handle_t *)&s->listener, (uv_handle_t *)&s->timer,
        (uv_handle_t *)&s->check, (uv_handle_t *)&s->stop_async, (uv_handle_t *)&s->wake_timer };
    size_t inited = 0;
    char name[64] = "";
    int rc;

    rc = uv_loop_init(&s->loop);
    if (rc != 0)
        return dp_err_set(err, rc, "%s: event loop: %s", pl->label, uv_strerror(rc));
    rc = uv_tcp_init(&s->loop, &s->listener);
    inited += rc == 0;
    rc = rc ? rc : uv_timer_init(&s->loop, &s->timer);
    inited += rc == 0;
    rc = rc ? rc : uv_check_init(&s->loop, &s->check);
    inited += rc == 0;
    rc = rc ? rc : uv_async_init(&s->loop, &s->stop_async, on_stop);
    inited += rc == 0;
    rc = rc ? rc : uv_timer_init(&s->loop, &s->wake_timer);
    inited += rc == 0;
    for (size_t i = 0; i < inited; i++)
        hs[i]->data = s;
    rc = rc ? rc : uv_timer_start(&s->timer, on_tick, TICK_MS, TICK_MS);
    rc = rc ? rc : uv_check_start(&s->check, on_check);
    rc = rc ? rc : uv_tcp_bind(&s->listener, (const struct sockaddr *)&s->addr, 0);
    rc = rc ? rc : uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
    if (rc != 0) {
        dp_err_set(err, rc, "--input-spop %s: cannot listen: %s", pl->addr, uv_strerror(rc));
        goto fail;
    }
    rc = uv_async_init(loop, &s->wake, on_wake);
    if (rc != 0) {
        dp_err_set(err, rc, "%s: %s", pl->label, uv_strerror(rc));
        goto fail;
    }
    s->wake.data = s;
    if (s->addr.ss_family == AF_INET6)
        uv_ip6_name((const struct sockaddr_in6 *)&s->addr, name, sizeof(name));
    else
        uv_ip4_name((const struct sockaddr_in *)&s->addr, name, sizeof(name));
    rc = pthread_create(&s->thread, NULL, agent_main, s);
    if (rc != 0) {
        uv_close((uv_handle_t *)&s->wake, NULL);
        dp_err_set(err, -rc, "%s: cannot start the agent thread: %s", pl->label, strerror(rc));
        rc = -rc;
        goto fail;
    }
    s->thread_started = true;
    dp_log(DP_LOG_INFO, DP_LOG_INPUT, "plugin=%s event=listen addr=%s port=%u message=%.*s",
            pl->label, name,
            (unsigned)ntohs(s->addr.ss_family == AF_INET6
                                    ? ((const struct sockaddr_in6 *)&s->addr)->sin6_port
                                    : ((const struct sockaddr_in *)&s->addr)->sin_port),
            (int)s->msg_name_len, (const char *)s->msg_name);
    return 0;
fail:
    /* started stays false: close() is not owed; the agent's loop is closed here */
    for (size_t i = 0; i < inited; i++)
        uv_close(hs[i], NULL);
    uv_run(&s->loop, UV_RUN_NOWAIT);
    (void)uv_loop_close(&s->loop);
    return rc;
}

/* Stops the agent thread; its end wakes doppel's loop, which then closes (on_wake). */
static void spop_close(struct dp_plugin *pl)
{
    struct in_spop *s = pl->ctx;

    uv_async_send(&s->stop_async);
}

/* The counters, then the DISCONNECTs by status code, only those that happened:
 * "disconnect_tx_4=2" (we sent status 4 twice), "disconnect_rx_0=1" (HAProxy sent 0 once). */
static void spop_stats(struct dp_plugin *pl, struct dp_statbuf *sb)
{
    struct in_spop *s = pl->ctx;
    uint64_t c[SC_COUNT];
    uint64_t tx[SPOP_ST_COUNT];
    uint64_t rx[SPOP_ST_COUNT];
    unsigned conns;

    pthread_mutex_lock(&s->lock);
    memcpy(c, s->snap, sizeof(c));
    memcpy(tx, s->snap_disc_tx, sizeof(tx));
    memcpy(rx, s->snap_disc_rx, sizeof(rx));
    conns = s->snap_conns;
    pthread_mutex_unlock(&s->lock);
    c[SC_MIRRORED] = s->pushed;
    c[SC_QUEUE_DROPS] += s->loop_drops;
    dp_statbuf_add(sb, " conns=%u", conns);
    for (int i = 0; i < SC_COUNT; i++)
        dp_statbuf_add(sb, " %s=%" PRIu64, spop_ctr_names[i], c[i]);
    dp_statbuf_add(sb, " in_ring=%zu", s->ring.slots != NULL ? dp_ring_len(&s->ring) : 0);
    for (int i = 0; i < SPOP_ST_COUNT; i++) {
        if (tx[i] > 0)
            dp_statbuf_add(sb, " disconnect_tx_%d=%" PRIu64, i, tx[i]);
    }
    for (int i = 0; i < SPOP_ST_COUNT; i++) {
        if (rx[i] > 0)
            dp_statbuf_add(sb, " disconnect_rx_%d=%" PRIu64, i, rx[i]);
    }
}

static void spop_free(struct dp_plugin *pl)
{
    struct in_spop *s = pl->ctx;
    void *item;

    if (s == NULL)
        return;
    DP_BUG_ON(s->thread_started);
    if (s->ring.slots != NULL) {
        while (dp_ring_pop(&s->ring, &item))
            dp_msg_unref(item);
        dp_ring_free(&s->ring);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
    pl->ctx = NULL;
}

const struct dp_input_ops in_spop_ops = {
    .name = "input-spop",
    .open = spop_open,
    .start = spop_start,
    /* no pause/resume: HAProxy is never made to wait; what the outputs cannot take is
     * counted as queue_drops */
    .close = spop_close,
    .stats = spop_stats,
    .free = spop_free,
};
