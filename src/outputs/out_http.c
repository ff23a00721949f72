#include "outputs/out_http.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/histogram.h"
#include "core/log.h"
#include "core/pipeline.h"
#include "core/selfconn.h"
#include "http/http_frame.h"
#include "http/http_head.h"
#include "outputs/http_url.h"
#include "outputs/tls_client.h"

#define WORKERS_DEFAULT 64       /* --output-http-workers 0 */
#define MAX_ADDRS       8        /* resolved addresses tried in order */
#define IO_BUF          (64 * 1024)

/* Why a request failed (or what else went wrong), as counted and printed. */
enum http_err {
    HE_REFUSED = 0,    /* connection refused or unreachable */
    HE_CONNECT_TIMEOUT,
    HE_TIMEOUT,        /* the whole exchange took longer than --output-http-timeout */
    HE_RESET,          /* the connection broke (RST, write error) */
    HE_CLOSED,         /* the server closed before the response was complete */
    HE_TLS,
    HE_PARSE,          /* the response is not HTTP/1.x */
    HE_BAD_REQUEST,    /* the message is not a request we can send (no request line) */
    HE_SHUTDOWN,       /* still in flight when the drain time ran out */
    HE_COUNT
};

static const char *const http_err_names[HE_COUNT] = {
    [HE_REFUSED] = "err_refused",
    [HE_CONNECT_TIMEOUT] = "err_connect_timeout",
    [HE_TIMEOUT] = "err_timeout",
    [HE_RESET] = "err_reset",
    [HE_CLOSED] = "err_closed",
    [HE_TLS] = "err_tls",
    [HE_PARSE] = "err_parse",
    [HE_BAD_REQUEST] = "err_bad_request",
    [HE_SHUTDOWN] = "err_shutdown",
};

enum hc_state {
    HC_CONNECTING = 0,
    HC_HANDSHAKE,  /* TLS */
    HC_IDLE,       /* keep-alive, in the idle stack */
    HC_BUSY,       /* a request written or being written, its response being read */
    HC_CLOSING,    /* handles closing */
};

struct out_http;

/* One connection to the target. */
struct hconn {
    struct out_http *o;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect_req;
    enum hc_state state;
    unsigned closing_handles;
    unsigned addr_idx;       /* which resolved address this connection uses */
    uint16_t local_port;     /* registered in core/selfconn while open */
    bool reused;             /* it answered a request before (stale keep-alive possible) */
    struct tls_client *tls;
    struct hconn *next_idle; /* the idle stack, doubly linked: a connection leaves it in O(1) */
    struct hconn *prev_idle;
    struct hconn *all_next;  /* every open connection, for shutdown */
    struct hconn *all_prev;
    /* the exchange in flight */
    struct dp_msg *msg;      /* the request as accepted (its reference) */
    struct dp_msg *wire;     /* the request as sent (rewritten; a reference) */
    int64_t start_wall;      /* replay start, for the type-3 meta line */
    int64_t start_mono;
    struct http_frame fr;
    uint64_t resp_bytes;     /* response bytes received for this request */
    struct dp_msg *resp;     /* --output-http-track-response: the bytes received, capped */
    bool resp_cut;
    bool req_close;          /* the request asked for Connection: close */
    uint8_t method;          /* enum req_kind */
    unsigned redirects;
};

enum req_kind { RK_OTHER = 0, RK_HEAD, RK_CONNECT, RK_IDEMPOTENT };

/* A write in flight: the buffer it owns (TLS ciphertext), or a request reference. */
struct hwrite {
    uv_write_t req;
    struct hconn *c;
    struct dp_msg *msg; /* plain writes: the request bytes' owner */
    uint8_t data[];     /* TLS writes: the ciphertext */
};

struct out_http {
    struct dp_plugin *pl;
    uv_loop_t *loop;
    struct http_url url;
    struct sockaddr_storage addrs[MAX_ADDRS];
    socklen_t addr_lens[MAX_ADDRS];
    unsigned n_addrs;
    unsigned good_addr;      /* the address that last connected */
    struct tls_config *tls;
    /* settings */
    unsigned workers;
    unsigned workers_min;
    uint64_t idle_ms;
    uint64_t timeout_ms;
    uint64_t connect_timeout_ms;
    unsigned max_redirects;
    size_t resp_cap;
    bool track;
    bool original_host;
    /* the queue: a ring of requests */
    struct dp_msg **q;
    size_t q_cap;            /* --output-http-queue-len */
    size_t q_room;           /* its allocation (q_cap) */
    size_t q_head;
    size_t q_len;
    bool was_full;
    /* connections */
    struct hconn *idle;      /* stack: the most recently used first */
    struct hconn *all;       /* every connection not closing */
    unsigned n_conns;        /* connecting, idle or busy (not closing) */
    unsigned n_busy;
    unsigned n_closing;
    /* shutdown */
    bool closing;
    uint64_t drain_ms;
    bool drain_after_end;     /* the inputs ended: --drain-timeout bounds time without progress */
    uint64_t stats_period_ms; /* --output-http-stats: print this output's line that often */
    bool drain_expired;
    bool close_done;
    uv_timer_t drain_timer;
    uv_timer_t stats_timer;
    unsigned timers_closing;
    /* counters */
    uint64_t sent;
    uint64_t retried;
    uint64_t redirects;
    uint64_t redirects_offsite; /* Location elsewhere: not followed */
    uint64_t status[6];      /* by class: [1] 1xx .. [5] 5xx, [0] other */
    uint64_t err[HE_COUNT];
    uint64_t resp_truncated;
    uint64_t conns_opened;
    uint64_t backoff_ms;     /* the target refuses connections: wait this long between tries */
    uint64_t down_until;     /* uv_now() before which requests fail at once (err_refused) */
    struct dp_hist latency;
    uint8_t io[IO_BUF];      /* socket reads land here (processed at once) */
    uint8_t plain[IO_BUF];   /* TLS: decrypted bytes */
};

static void dispatch(struct out_http *o);
static void conn_close(struct hconn *c);
static void start_request(struct hconn *c, struct dp_msg *m);
static struct hconn *conn_open(struct out_http *o, struct dp_msg *m, unsigned addr_idx);
static void maybe_closed(struct out_http *o);
static void on_drain_timer(uv_timer_t *t);

/* Every state change goes through here, so that the busy count stays right. */
static void set_state(struct hconn *c, enum hc_state st)
{
    if (c->state == HC_BUSY && st != HC_BUSY)
        c->o->n_busy--;
    else if (c->state != HC_BUSY && st == HC_BUSY)
        c->o->n_busy++;
    c->state = st;
}

/* ---- the queue ---- */

static void q_push(struct out_http *o, struct dp_msg *m)
{
    DP_BUG_ON(o->q_len == o->q_room);
    o->q[(o->q_head + o->q_len++) % o->q_room] = m;
}

static struct dp_msg *q_pop(struct out_http *o)
{
    struct dp_msg *m = o->q[o->q_head];

    o->q_head = (o->q_head + 1) % o->q_room;
    o->q_len--;
    return m;
}

static void q_check_writable(struct out_http *o)
{
    if (o->was_full && o->q_len < o->q_cap) {
        o->was_full = false;
        dp_output_writable_again(o->pl);
    }
}

/* ---- the fate of a request ---- */

static void exchange_clear(struct hconn *c)
{
    if (c->wire != NULL)
        dp_msg_unref(c->wire);
    if (c->resp != NULL)
        dp_msg_unref(c->resp);
    c->wire = NULL;
    c->resp = NULL;
    c->msg = NULL;
}

/* The request of <c> failed: counted, and its reference dropped. */
static void request_failed(struct hconn *c, enum http_err why)
{
    struct out_http *o = c->o;

    if (c->msg == NULL)
        return;
    o->err[why]++;
    o->pl->ctr[DP_OUT_FAILED]++;
    o->pl->ctr[DP_OUT_PENDING]--;
    dp_log(DP_LOG_DEBUG, DP_LOG_OUTPUT, "plugin=%s event=request-failed reason=%s",
            o->pl->label, http_err_names[why] + 4);
    dp_msg_unref(c->msg);
    exchange_clear(c);
}

/* A message that never got a connection (shutdown, bad request). */
static void msg_failed(struct out_http *o, struct dp_msg *m, enum http_err why)
{
    o->err[why]++;
    o->pl->ctr[DP_OUT_FAILED]++;
    o->pl->ctr[DP_OUT_PENDING]--;
    dp_msg_unref(m);
}

/* ---- request bytes ---- */

static enum req_kind method_kind(const uint8_t *p, size_t len)
{
    static const struct {
        const char *m;
        size_t n;
        enum req_kind k;
    } t[] = {
        { "GET ", 4, RK_IDEMPOTENT },     { "HEAD ", 5, RK_HEAD },
        { "PUT ", 4, RK_IDEMPOTENT },     { "DELETE ", 7, RK_IDEMPOTENT },
        { "OPTIONS ", 8, RK_IDEMPOTENT }, { "TRACE ", 6, RK_IDEMPOTENT },
        { "CONNECT ", 8, RK_CONNECT },
    };

    for (size_t i = 0; i < DP_ARRAY_LEN(t); i++) {
        if (len >= t[i].n && memcmp(p, t[i].m, t[i].n) == 0)
            return t[i].k;
    }
    return RK_OTHER;
}

/* Does the Connection field value <v, n> list the option <opt> (lower case)? */
static bool conn_option(const uint8_t *v, size_t n, const char *opt, size_t ol)
{
    for (size_t i = 0; i + ol <= n; i++) {
        size_t k = 0;

        if (i > 0 && v[i - 1] != ',' && v[i - 1] != ' ' && v[i - 1] != '\t')
            continue;
        while (k < ol && (v[i + k] | 32) == opt[k])
            k++;
        if (k == ol && (i + ol == n || v[i + ol] == ',' || v[i + ol] == ' ' || v[i + ol] == '\t'))
            return true;
    }
    return false;
}

/* Will the connection close after this request's response? "Connection: close", or an
 * HTTP/1.0 request without "Connection: keep-alive" (RFC 9112 §9.3). */
static bool wants_close(const uint8_t *p, size_t len)
{
    struct http_field f;
    size_t end = http_head_start_end(p, len);
    bool v10 = end >= 9 && memcmp(p + end - (p[end - 2] == '\r' ? 10 : 9), "HTTP/1.0", 8) == 0;
    bool found = http_head_find(p, len, "Connection", 10, &f);

    if (found && conn_option(p + f.value_off, f.value_len, "close", 5))
        return true;
    return v10 && !(found && conn_option(p + f.value_off, f.value_len, "keep-alive", 10));
}

/* The bytes to send for <m>: Host, Authorization and the target as the URL says. A shared
 * message is copied on the first change (dp_msg_splice); an unchanged one is sent as is. */
static int wire_request(struct out_http *o, struct dp_msg *m, struct dp_msg **out)
{
    struct dp_msg *w = dp_msg_ref(m);
    int rc = 0;

    if (o->url.target[0] != '\0')
        rc = http_head_set_target(&w, NULL, 0, o->url.target, strlen(o->url.target));
    if (rc == 0 && !o->original_host)
        rc = http_head_set(&w, "Host", 4, o->url.hostport, strlen(o->url.hostport));
    if (rc == 0 && o->url.auth[0] != '\0')
        rc = http_head_set(&w, "Authorization", 13, o->url.auth, strlen(o->url.auth));
    if (rc < 0) {
        dp_msg_unref(w);
        return rc;
    }
    *out = w;
    return 0;
}

/* ---- writing ---- */

static void on_write(uv_write_t *req, int status)
{
    struct hwrite *w = (struct hwrite *)(void *)req;
    struct hconn *c = w->c;

    if (w->msg != NULL)
        dp_msg_unref(w->msg);
    free(w);
    if (status < 0 && c->state != HC_CLOSING) {
        dp_log(DP_LOG_DEBUG, DP_LOG_OUTPUT, "plugin=%s event=write-error error=\"%s\"",
                c->o->pl->label, uv_strerror(status));
        request_failed(c, HE_RESET);
        conn_close(c);
    }
}

/*
 * Writes <p, n>: at once when the socket takes it all (the usual case: no request, no
 * callback, and none of libuv's epoll_ctl() for the POLLOUT it then drops, one more system call
 * per request), else the rest through uv_write(), which keeps <owner> (or a copy) alive.
 */
static int write_bytes(struct hconn *c, const uint8_t *p, size_t n, struct dp_msg *owner)
{
    uv_buf_t b = uv_buf_init((char *)(uintptr_t)p, (unsigned)n);
    struct hwrite *w;
    int rc = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);

    if (rc >= 0 && (size_t)rc == n)
        return 0;
    if (rc < 0 && rc != UV_EAGAIN)
        return rc;
    if (rc > 0) {
        p += rc;
        n -= (size_t)rc;
    }
    w = malloc(sizeof(*w) + (owner == NULL ? n : 0));
    if (w == NULL)
        return -ENOMEM;
    w->c = c;
    w->msg = owner != NULL ? dp_msg_ref(owner) : NULL;
    if (owner == NULL) {
        memcpy(w->data, p, n);
        p = w->data;
    }
    b = uv_buf_init((char *)(uintptr_t)p, (unsigned)n);
    rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc != 0) {
        if (w->msg != NULL)
            dp_msg_unref(w->msg);
        free(w);
    }
    return rc;
}

/* TLS: sends the ciphertext OpenSSL has ready. */
static int tls_flush(struct hconn *c)
{
    uint8_t buf[16384];
    size_t n;

    while ((n = tls_client_out_pending(c->tls)) > 0) {
        int rc;

        n = tls_client_take_out(c->tls, buf, sizeof(buf));
        rc = write_bytes(c, buf, n, NULL); /* copies what the socket does not take at once */
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int send_request(struct hconn *c)
{
    struct dp_msg *w = c->wire;

    if (c->tls == NULL)
        return write_bytes(c, dp_msg_payload(w), w->len, w);
    if (tls_client_send(c->tls, dp_msg_payload(w), w->len) != 0)
        return -EPROTO;
    return tls_flush(c);
}

/* ---- timers ---- */

static void on_conn_timer(uv_timer_t *t)
{
    struct hconn *c = t->data;

    switch (c->state) {
    case HC_CONNECTING:
    case HC_HANDSHAKE:
        request_failed(c, HE_CONNECT_TIMEOUT);
        conn_close(c);
        break;
    case HC_BUSY:
        request_failed(c, HE_TIMEOUT);
        conn_close(c);
        break;
    case HC_IDLE: /* idle past --output-http-worker-timeout, above the minimum */
        if (c->o->n_conns > c->o->workers_min)
            conn_close(c);
        break;
    case HC_CLOSING:
        break;
    }
    dispatch(c->o);
}

/* ---- responses ---- */

static void track_bytes(struct hconn *c, const uint8_t *p, size_t n)
{
    struct out_http *o = c->o;
    size_t have;

    if ((!o->track && o->max_redirects == 0) || n == 0)
        return;
    if (c->resp == NULL) {
        c->resp = dp_msg_reserve(DP_MSG_META_ROOM + sizeof(o->url.hostport), DP_MIN(n, o->resp_cap));
        if (c->resp == NULL) {
            c->resp_cut = true;
            return;
        }
    }
    have = c->resp->len;
    if (have + n > o->resp_cap) {
        c->resp_cut = true;
        n = o->resp_cap - have;
    }
    if (n == 0)
        return;
    if (have + n > dp_msg_payload_cap(c->resp)) {
        struct dp_msg *g = dp_msg_grow(c->resp, DP_MIN(o->resp_cap, DP_MAX(have + n,
                                                                           2 * (have + n))));

        if (g == NULL) {
            c->resp_cut = true;
            return;
        }
        c->resp = g;
    }
    memcpy(dp_msg_payload(c->resp) + have, p, n);
    c->resp->len = have + n;
}

/* Emits the replayed response as a type-3 message: "3 ID START RTT TARGET". */
static void emit_replay(struct hconn *c, int64_t rtt)
{
    struct out_http *o = c->o;
    struct dp_msg *r = c->resp;
    struct dp_bytes id = dp_msg_id(c->msg);

    c->resp = NULL;
    if (r == NULL)
        r = dp_msg_reserve(DP_MSG_META_ROOM + sizeof(o->url.hostport), 0);
    if (r == NULL)
        return;
    dp_msg_set_meta_ext(r, DP_MSG_REPLAY, id.ptr, id.len, c->start_wall, rtt,
            (const uint8_t *)o->url.hostport, strlen(o->url.hostport));
    if (c->resp_cut) {
        r->flags |= DP_MSG_TRUNCATED;
        o->resp_truncated++;
    }
    if (c->msg->flags & DP_MSG_RETRIED)
        r->flags |= DP_MSG_RETRIED;
    dp_output_feedback(o->pl, r);
}

static void conn_idle(struct hconn *c)
{
    struct out_http *o = c->o;

    set_state(c, HC_IDLE);
    c->reused = true;
    c->prev_idle = NULL;
    c->next_idle = o->idle;
    if (o->idle != NULL)
        o->idle->prev_idle = c;
    o->idle = c;
    uv_timer_start(&c->timer, on_conn_timer, o->idle_ms, 0);
}

/*
 * The request-target a redirect's Location leads to, when it stays on this target: a path
 * ("/x"), or an absolute URL of the same scheme and authority. Redirects elsewhere are not
 * followed: doppel sends only to the targets it was given.
 */
static bool redirect_target(const struct out_http *o, const uint8_t *v, size_t n,
        const uint8_t **t, size_t *tn)
{
    const char *scheme = o->url.tls ? "https://" : "http://";
    size_t sl = strlen(scheme);
    size_t hl = strlen(o->url.hostport);

    if (n > 0 && v[0] == '/' && (n == 1 || v[1] != '/')) {
        *t = v;
        *tn = n;
        return true;
    }
    if (n < sl + hl || strncasecmp((const char *)v, scheme, sl) != 0 ||
            strncasecmp((const char *)v + sl, o->url.hostport, hl) != 0)
        return false;
    v += sl + hl;
    n -= sl + hl;
    if (n > 0 && v[0] != '/' && v[0] != '?')
        return false; /* a longer host name, or another port */
    *t = n > 0 ? v : (const uint8_t *)"/";
    *tn = n > 0 ? n : 1;
    return true;
}

/*
 * --output-http-redirects: the request the response in c->resp redirects to, or NULL. As Go's
 * client: 301/302/303 turn a request other than GET/HEAD into a GET without body; 307/308
 * keep method and body.
 */
static struct dp_msg *redirect_request(struct hconn *c, const struct http_frame_info *fi)
{
    struct out_http *o = c->o;
    const uint8_t *r;
    size_t start;
    struct http_field f;
    const uint8_t *t;
    size_t tn;
    struct dp_msg *w;
    bool to_get;
    int rc;

    if (c->redirects >= o->max_redirects || c->resp == NULL || c->resp_cut ||
            (fi->status != 301 && fi->status != 302 && fi->status != 303 && fi->status != 307 &&
                    fi->status != 308))
        return NULL;
    r = dp_msg_payload(c->resp);
    start = c->resp->len - (size_t)DP_MIN(fi->total_len, (uint64_t)c->resp->len);
    if (!http_head_find(r + start, c->resp->len - start, "Location", 8, &f))
        return NULL;
    if (!redirect_target(o, r + start + f.value_off, f.value_len, &t, &tn)) {
        o->redirects_offsite++;
        return NULL;
    }
    /* as Go's client: 301, 302 and 303 make anything but GET and HEAD a GET without body */
    to_get = fi->status <= 303 && c->method != RK_HEAD &&
            !(c->wire->len >= 4 && memcmp(dp_msg_payload(c->wire), "GET ", 4) == 0);
    w = dp_msg_ref(c->wire);
    rc = http_head_set_target(&w, to_get ? "GET" : NULL, 3, (const char *)t, tn);
    if (rc == 0 && to_get) { /* no body any more */
        size_t hl = http_head_len(dp_msg_payload(w), w->len);

        if (hl > 0 && hl < w->len)
            rc = dp_msg_splice(&w, hl, w->len - hl, NULL, 0);
        if (rc == 0)
            rc = http_head_remove(&w, "Content-Length", 14) < 0 ? -ENOMEM : 0;
        if (rc == 0)
            rc = http_head_remove(&w, "Transfer-Encoding", 17) < 0 ? -ENOMEM : 0;
    }
    if (rc != 0) {
        dp_msg_unref(w);
        return NULL;
    }
    return w;
}

static void send_exchange(struct hconn *c);

/* Follows the redirect to <w> (taken): on this connection when it stays open, else on a new
 * one; the request's fate is decided at the end of the chain. */
static void follow_redirect(struct hconn *c, struct dp_msg *w, bool keep)
{
    struct out_http *o = c->o;
    unsigned hops = c->redirects + 1;

    o->redirects++;
    dp_msg_unref(c->wire);
    c->wire = w;
    if (c->resp != NULL)
        dp_msg_unref(c->resp);
    c->resp = NULL;
    c->resp_cut = false;
    if (keep) {
        c->redirects = hops;
        send_exchange(c);
        return;
    }
    {
        struct dp_msg *m = c->msg;
        struct hconn *n;

        c->msg = NULL;
        c->wire = NULL;
        uv_timer_stop(&c->timer);
        conn_close(c);
        n = conn_open(o, m, o->good_addr);
        if (n != NULL) {
            n->wire = w;
            n->redirects = hops;
            n->start_wall = c->start_wall; /* the chain is one exchange */
            n->start_mono = c->start_mono;
        } else {
            dp_msg_unref(w);
        }
    }
}

/* The final response of the exchange ended after its framing; <extra> bytes came after it. */
static void response_done(struct hconn *c, size_t extra)
{
    struct out_http *o = c->o;
    const struct http_frame_info *fi = http_frame_info(&c->fr);
    int64_t rtt = dp_mono_ns() - c->start_mono;
    bool keep = !fi->connection_close && !c->req_close && extra == 0 &&
            fi->body_kind != HTTP_BODY_TUNNEL && fi->body_kind != HTTP_BODY_CLOSE;
    struct dp_msg *next = o->max_redirects > 0 ? redirect_request(c, fi) : NULL;

    if (next != NULL) {
        follow_redirect(c, next, keep);
        return;
    }
    o->status[fi->status >= 100 && fi->status < 600 ? fi->status / 100 : 0]++;
    dp_hist_add(&o->latency, rtt);
    if (o->track)
        emit_replay(c, rtt);
    o->pl->ctr[DP_OUT_DELIVERED]++;
    o->pl->ctr[DP_OUT_PENDING]--;
    dp_msg_unref(c->msg);
    exchange_clear(c);
    uv_timer_stop(&c->timer);
    if (o->closing && o->drain_after_end) /* progress: the drain time starts over */
        uv_timer_start(&o->drain_timer, on_drain_timer, o->drain_ms, 0);
    if (keep)
        conn_idle(c);
    else
        conn_close(c);
}

/* Response bytes (plaintext) for the exchange in flight. */
static void response_bytes(struct hconn *c, const uint8_t *p, size_t n)
{
    if (c->state != HC_BUSY || c->msg == NULL) { /* bytes nobody asked for */
        if (c->state == HC_IDLE)
            c->o->err[HE_PARSE]++;
        conn_close(c);
        return;
    }
    while (n > 0) {
        size_t used = 0;
        enum http_frame_rc rc = http_frame_feed(&c->fr, p, n, &used);

        track_bytes(c, p, used);
        c->resp_bytes += used;
        p += used;
        n -= used;
        if (rc == HTTP_FRAME_AGAIN)
            return;
        if (rc == HTTP_FRAME_BAD) {
            request_failed(c, HE_PARSE);
            conn_close(c);
            return;
        }
        if (!http_frame_info(&c->fr)->interim) {
            response_done(c, n);
            return;
        }
        /* 100 Continue and friends: the final response follows, on the same exchange */
        http_frame_init(&c->fr, HTTP_FRAME_RESPONSE, 0);
        if (c->method == RK_HEAD)
            http_frame_set_request_method(&c->fr, "HEAD", 4);
    }
}

/* The connection ended (EOF, error). */
static void conn_lost(struct hconn *c, int status)
{
    struct out_http *o = c->o;
    bool eof = status == UV_EOF;

    if (c->state == HC_BUSY && c->msg != NULL) {
        if (eof && c->resp_bytes > 0 && http_frame_eof(&c->fr) == HTTP_FRAME_DONE) {
            response_done(c, 0); /* a close-delimited body */
            return;
        }
        if (c->resp_bytes == 0 && c->reused && c->method != RK_OTHER &&
                c->method != RK_CONNECT && !(c->msg->flags & DP_MSG_RETRIED)) {
            /* a keep-alive connection the server had closed: once more, on a new one */
            struct dp_msg *m = c->msg;

            c->msg = NULL;
            exchange_clear(c);
            m->flags |= DP_MSG_RETRIED;
            o->retried++;
            conn_close(c);
            /* on a new connection: an idle one may have been closed by the server too */
            conn_open(o, m, o->good_addr);
            dispatch(o);
            return;
        }
        request_failed(c, eof ? HE_CLOSED : HE_RESET);
    } else if (c->state == HC_CONNECTING || c->state == HC_HANDSHAKE) {
        request_failed(c, c->tls != NULL ? HE_TLS : HE_RESET);
    }
    conn_close(c);
    dispatch(o);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct hconn *c = h->data;

    (void)suggested;
    *buf = uv_buf_init((char *)c->o->io, sizeof(c->o->io));
}

static void tls_progress(struct hconn *c);

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct hconn *c = s->data;

    if (c->state == HC_CLOSING)
        return;
    if (nread < 0) {
        conn_lost(c, (int)nread);
        return;
    }
    if (nread == 0)
        return;
    if (c->tls == NULL) {
        response_bytes(c, (const uint8_t *)buf->base, (size_t)nread);
        dispatch(c->o);
        return;
    }
    if (tls_client_recv(c->tls, (const uint8_t *)buf->base, (size_t)nread) != 0) {
        request_failed(c, HE_TLS);
        conn_close(c);
        return;
    }
    tls_progress(c);
    dispatch(c->o);
}

/* ---- connections ---- */

static void on_handle_closed(uv_handle_t *h)
{
    struct hconn *c = h->data;
    struct out_http *o = c->o;

    if (--c->closing_handles > 0)
        return;
    exchange_clear(c);
    tls_client_free(c->tls);
    free(c);
    o->n_closing--;
    maybe_closed(o);
}

/* Takes idle <c> off the idle stack. */
static void idle_del(struct hconn *c)
{
    struct out_http *o = c->o;

    if (c->prev_idle != NULL)
        c->prev_idle->next_idle = c->next_idle;
    else
        o->idle = c->next_idle;
    if (c->next_idle != NULL)
        c->next_idle->prev_idle = c->prev_idle;
    c->next_idle = c->prev_idle = NULL;
}

static void conn_close(struct hconn *c)
{
    struct out_http *o = c->o;

    if (c->state == HC_CLOSING)
        return;
    if (c->state == HC_IDLE)
        idle_del(c);
    if (c->msg != NULL) /* a request still attached: its fate is decided by the caller */
        request_failed(c, HE_RESET);
    if (c->local_port != 0)
        dp_selfconn_del(c->local_port);
    if (c->all_prev != NULL)
        c->all_prev->all_next = c->all_next;
    else
        o->all = c->all_next;
    if (c->all_next != NULL)
        c->all_next->all_prev = c->all_prev;
    set_state(c, HC_CLOSING);
    o->n_conns--;
    o->n_closing++;
    c->closing_handles = 2;
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

/* The connection is ready for requests (after connect, and the TLS handshake). */
static void conn_ready(struct hconn *c)
{
    struct out_http *o = c->o;
    struct dp_msg *m = c->msg;

    uv_timer_stop(&c->timer);
    if (m != NULL) {
        c->msg = NULL;
        start_request(c, m);
    } else {
        conn_idle(c);
    }
    dispatch(o);
}

static void tls_progress(struct hconn *c)
{
    if (c->state == HC_HANDSHAKE) {
        int rc = tls_client_handshake(c->tls);

        if (tls_flush(c) != 0 || rc == -EPROTO) {
            dp_log(DP_LOG_WARN, DP_LOG_OUTPUT, "plugin=%s event=tls-error error=\"%s\"",
                    c->o->pl->label, tls_client_error(c->tls));
            request_failed(c, HE_TLS);
            conn_close(c);
            return;
        }
        if (rc != 0)
            return;
        conn_ready(c);
        if (c->state == HC_CLOSING)
            return;
    }
    for (;;) {
        ssize_t n = tls_client_read(c->tls, c->o->plain, sizeof(c->o->plain));

        if (n > 0) {
            response_bytes(c, c->o->plain, (size_t)n);
            if (c->state == HC_CLOSING)
                return;
            continue;
        }
        if (n == 0)
            break;
        if (n == -EPIPE) {
            conn_lost(c, UV_EOF);
        } else {
            dp_log(DP_LOG_WARN, DP_LOG_OUTPUT, "plugin=%s event=tls-error error=\"%s\"",
                    c->o->pl->label, tls_client_error(c->tls));
            request_failed(c, HE_TLS);
            conn_close(c);
        }
        return;
    }
    if (tls_flush(c) != 0) { /* key updates, alerts */
        request_failed(c, HE_RESET);
        conn_close(c);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    struct hconn *c = req->data;
    struct out_http *o = c->o;
    struct sockaddr_storage sa;
    int len = sizeof(sa);

    if (c->state == HC_CLOSING)
        return;
    if (status < 0) {
        struct dp_msg *m = c->msg;

        dp_log(DP_LOG_DEBUG, DP_LOG_OUTPUT, "plugin=%s event=connect-error error=\"%s\"",
                o->pl->label, uv_strerror(status));
        if (status != UV_ECANCELED && c->addr_idx + 1 < o->n_addrs && m != NULL) {
            /* the next address of the name (localhost: ::1 refused, 127.0.0.1 listening) */
            c->msg = NULL;
            conn_close(c);
            conn_open(o, m, c->addr_idx + 1);
            return;
        }
        request_failed(c, status == UV_ETIMEDOUT ? HE_CONNECT_TIMEOUT :
                        status == UV_ECONNRESET || status == UV_EPIPE ? HE_RESET : HE_REFUSED);
        /* a target that is down is tried again after 10 ms, then 20, 40... up to 1 s; the
         * requests meanwhile fail at once instead of each costing a connection attempt */
        o->backoff_ms = o->backoff_ms == 0 ? 10 : DP_MIN(o->backoff_ms * 2, (uint64_t)1000);
        o->down_until = uv_now(o->loop) + o->backoff_ms;
        conn_close(c);
        dispatch(o);
        return;
    }
    o->good_addr = c->addr_idx;
    o->backoff_ms = 0;
    if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&sa, &len) == 0) {
        c->local_port = ntohs(sa.ss_family == AF_INET6 ?
                        ((struct sockaddr_in6 *)&sa)->sin6_port :
                        ((struct sockaddr_in *)&sa)->sin_port);
        dp_selfconn_add(c->local_port, o->url.port);
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (o->tls != NULL) {
        if (tls_client_new(o->tls, o->url.host, &c->tls) != 0) {
            request_failed(c, HE_TLS);
            conn_close(c);
            return;
        }
        set_state(c, HC_HANDSHAKE);
        tls_progress(c);
        return;
    }
    conn_ready(c);
}

/* Opens a connection; <m> (may be NULL) is sent on it once it is ready. NULL when it could
 * not even start (<m> is then failed). */
static struct hconn *conn_open(struct out_http *o, struct dp_msg *m, unsigned addr_idx)
{
    struct hconn *c = calloc(1, sizeof(*c));
    int rc;

    if (c == NULL) {
        if (m != NULL)
            msg_failed(o, m, HE_REFUSED);
        return NULL;
    }
    c->o = o;
    c->addr_idx = addr_idx;
    c->msg = m;
    c->state = HC_CONNECTING;
    uv_tcp_init(o->loop, &c->tcp);
    uv_timer_init(o->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->connect_req.data = c;
    o->n_conns++;
    o->conns_opened++;
    c->all_next = o->all;
    if (o->all != NULL)
        o->all->all_prev = c;
    o->all = c;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_timer_start(&c->timer, on_conn_timer, o->connect_timeout_ms, 0);
    rc = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&o->addrs[addr_idx],
            on_connect);
    if (rc != 0) {
        dp_log(DP_LOG_WARN, DP_LOG_OUTPUT, "plugin=%s event=connect-error error=\"%s\"",
                o->pl->label, uv_strerror(rc));
        request_failed(c, HE_REFUSED);
        conn_close(c);
        return NULL;
    }
    return c;
}

/* ---- requests ---- */

/* Writes c->wire and reads its response, within --output-http-timeout. */
static void send_exchange(struct hconn *c)
{
    struct out_http *o = c->o;
    int rc;

    c->resp_bytes = 0;
    http_frame_init(&c->fr, HTTP_FRAME_RESPONSE, 0);
    c->method = (uint8_t)method_kind(dp_msg_payload(c->wire), c->wire->len);
    if (c->method == RK_HEAD)
        http_frame_set_request_method(&c->fr, "HEAD", 4);
    else if (c->method == RK_CONNECT)
        http_frame_set_request_method(&c->fr, "CONNECT", 7);
    uv_timer_start(&c->timer, on_conn_timer, o->timeout_ms, 0);
    o->sent++;
    rc = send_request(c);
    if (rc != 0) {
        request_failed(c, rc == -EPROTO ? HE_TLS : HE_RESET);
        conn_close(c);
    }
}

/* Starts the exchange of request <m> (its reference) on <c>; c->wire may be set already (a
 * redirect carried over from a closed connection). */
static void start_request(struct hconn *c, struct dp_msg *m)
{
    struct out_http *o = c->o;

    c->msg = m;
    set_state(c, HC_BUSY);
    c->resp_cut = false;
    c->req_close = wants_close(dp_msg_payload(m), m->len);
    if (c->wire == NULL) {
        c->redirects = 0;
        if (wire_request(o, m, &c->wire) != 0) {
            request_failed(c, HE_BAD_REQUEST);
            conn_idle(c);
            return;
        }
        c->start_wall = dp_wall_ns();
        c->start_mono = dp_mono_ns();
    }
    send_exchange(c);
}

/* Gives queued requests to idle connections, opening new ones up to the worker cap. */
static void dispatch(struct out_http *o)
{
    while (o->q_len > 0) {
        struct hconn *c = o->idle;

        if (c != NULL) {
            idle_del(c);
            uv_timer_stop(&c->timer);
            start_request(c, q_pop(o));
        } else if (o->backoff_ms > 0 && o->n_conns > 0) {
            break; /* the target was down: one connection tries at a time */
        } else if (o->backoff_ms > 0 && uv_now(o->loop) < o->down_until) {
            msg_failed(o, q_pop(o), HE_REFUSED); /* down: fail at once, no attempt */
        } else if (o->n_conns < o->workers && !o->drain_expired) {
            conn_open(o, q_pop(o), o->good_addr);
        } else {
            break;
        }
    }
    q_check_writable(o);
    if (o->closing)
        maybe_closed(o);
}

/* ---- the plugin ---- */

static int resolve(struct out_http *o, struct dp_err *err)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
    struct addrinfo *res = NULL;
    char port[8];
    int rc;

    snprintf(port, sizeof(port), "%u", o->url.port);
    rc = getaddrinfo(o->url.host, port, &hints, &res);
    if (rc != 0)
        return dp_err_set(err, -EHOSTUNREACH, "--output-http %s: cannot resolve %s: %s",
                o->pl->addr, o->url.host, gai_strerror(rc));
    for (struct addrinfo *a = res; a != NULL && o->n_addrs < MAX_ADDRS; a = a->ai_next) {
        if (a->ai_addrlen > sizeof(o->addrs[0]))
            continue;
        memcpy(&o->addrs[o->n_addrs], a->ai_addr, a->ai_addrlen);
        o->addr_lens[o->n_addrs++] = a->ai_addrlen;
    }
    freeaddrinfo(res);
    if (o->n_addrs == 0)
        return dp_err_set(err, -EHOSTUNREACH, "--output-http %s: %s has no address",
                o->pl->addr, o->url.host);
    return 0;
}

static uint64_t to_ms(int64_t ns, uint64_t dflt)
{
    return ns > 0 ? (uint64_t)DP_MAX((ns + 999999) / 1000000, (int64_t)1) : dflt;
}

static int http_open(struct dp_plugin *pl, const struct dp_config *cfg, struct dp_err *err)
{
    struct out_http *o = calloc(1, sizeof(*o));
    int rc;

    if (o == NULL)
        return dp_err_set(err, -ENOMEM, "out of memory");
    pl->ctx = o;
    o->pl = pl;
    rc = http_url_parse(pl->addr, &o->url, err);
    if (rc != 0)
        return rc;
    if (cfg->output_http_workers < 0 || cfg->output_http_workers > 100000)
        return dp_err_set(err, -EINVAL, "--output-http-workers %lld: 0 (default %d) to 100000",
                (long long)cfg->output_http_workers, WORKERS_DEFAULT);
    if (cfg->output_http_queue_len < 1 || cfg->output_http_queue_len > 10000000)
        return dp_err_set(err, -EINVAL, "--output-http-queue-len %lld: 1 to 10000000",
                (long long)cfg->output_http_queue_len);
    if (cfg->output_http_redirects < 0 || cfg->output_http_redirects > 100)
        return dp_err_set(err, -EINVAL, "--output-http-redirects %lld: 0 to 100",
                (long long)cfg->output_http_redirects);
    o->workers = cfg->output_http_workers > 0 ? (unsigned)cfg->output_http_workers
                                              : WORKERS_DEFAULT;
    o->workers_min = (unsigned)DP_MIN(DP_MAX(cfg->output_http_workers_min, (int64_t)0),
            (int64_t)o->workers);
    o->idle_ms = to_ms(cfg->output_http_worker_timeout_ns, 2000);
    o->timeout_ms = to_ms(cfg->output_http_timeout_ns, 5000);
    o->connect_timeout_ms = to_ms(cfg->output_http_connect_timeout_ns, 2000);
    o->max_redirects = (unsigned)cfg->output_http_redirects;
    o->resp_cap = cfg->output_http_response_buffer > 0 ?
            (size_t)cfg->output_http_response_buffer : (size_t)cfg->copy_buffer_size;
    o->track = cfg->output_http_track_response;
    o->original_host = cfg->http_original_host;
    /* GoReplay: --http-set-header "Host: x" (spelled so) keeps the Host it set */
    for (uint32_t i = 0; i < cfg->http_set_header.n; i++) {
        if (strncmp(cfg->http_set_header.v[i], "Host:", 5) == 0)
            o->original_host = true;
    }
    o->drain_ms = to_ms(cfg->drain_timeout_ns, 5000);
    o->stats_period_ms = cfg->output_http_stats ? (uint64_t)DP_MAX(cfg->output_http_stats_ms,
                                                                   (int64_t)100) : 0;
    o->q_cap = (size_t)cfg->output_http_queue_len;
    o->q_room = o->q_cap;
    o->q = calloc(o->q_room, sizeof(*o->q));
    if (o->q == NULL)
        return dp_err_set(err, -ENOMEM, "out of memory");
    rc = resolve(o, err);
    if (rc != 0)
        return rc;
    if (o->url.tls) {
        rc = tls_config_new(!cfg->output_http_skip_verify, NULL, &o->tls, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void on_stats_timer(uv_timer_t *t)
{
    struct out_http *o = t->data;

    dp_plugin_print_stats(o->pl, stderr, "stats");
}

static int http_start(struct dp_plugin *pl, uv_loop_t *loop, struct dp_err *err)
{
    struct out_http *o = pl->ctx;

    (void)err;
    o->loop = loop;
    uv_timer_init(loop, &o->drain_timer);
    uv_timer_init(loop, &o->stats_timer);
    o->drain_timer.data = o;
    o->stats_timer.data = o;
    if (o->stats_period_ms > 0)
        uv_timer_start(&o->stats_timer, on_stats_timer, o->stats_period_ms, o->stats_period_ms);
    for (unsigned i = 0; i < o->workers_min; i++)
        conn_open(o, NULL, o->good_addr);
    return 0;
}

static int http_accept(struct dp_plugin *pl, struct dp_msg *msg)
{
    struct out_http *o = pl->ctx;

    if (o->closing)
        return -EPIPE;
    if (o->q_len >= o->q_cap) {
        o->was_full = true;
        return -ENOBUFS;
    }
    pl->ctr[DP_OUT_PENDING]++;
    q_push(o, dp_msg_ref(msg));
    dispatch(o);
    return 0;
}

static bool http_writable(struct dp_plugin *pl)
{
    struct out_http *o = pl->ctx;

    if (o->q_len >= o->q_cap) {
        o->was_full = true;
        return false;
    }
    return true;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct out_http *o = h->data;

    if (--o->timers_closing == 0)
        dp_plugin_closed(o->pl);
}

/* True while a request is queued or attached to a connection: the pending gauge counts
 * exactly those (it runs on every event while closing, so it must not walk the connections). */
static bool has_work(const struct out_http *o)
{
    return o->pl->ctr[DP_OUT_PENDING] > 0;
}

/*
 * Closing: requests queued and in flight finish (within --drain-timeout; after it they are
 * counted as dropped_stopped and err_shutdown), then every connection closes, then the timers,
 * then the pipeline hears that the plugin is closed.
 */
static void maybe_closed(struct out_http *o)
{
    if (!o->closing || o->close_done)
        return;
    if (has_work(o) && !o->drain_expired)
        return;
    while (o->q_len > 0) {
        o->pl->ctr[DP_OUT_DROPPED_STOPPED]++;
        o->pl->ctr[DP_OUT_PENDING]--;
        dp_msg_unref(q_pop(o));
    }
    while (o->all != NULL) {
        struct hconn *c = o->all;

        request_failed(c, HE_SHUTDOWN);
        conn_close(c); /* takes it off the list */
    }
    if (o->n_closing > 0)
        return;
    o->close_done = true;
    o->timers_closing = 2;
    uv_close((uv_handle_t *)&o->drain_timer, on_timer_closed);
    uv_close((uv_handle_t *)&o->stats_timer, on_timer_closed);
}

static void on_drain_timer(uv_timer_t *t)
{
    struct out_http *o = t->data;

    o->drain_expired = true;
    maybe_closed(o);
}

static void http_close(struct dp_plugin *pl)
{
    struct out_http *o = pl->ctx;

    o->closing = true; /* the stats timer goes on: the drain may be most of the replay */
    o->drain_after_end = dp_pipeline_inputs_finished(pl);
    uv_timer_start(&o->drain_timer, on_drain_timer, o->drain_ms, 0);
    maybe_closed(o);
}

static void http_stats(struct dp_plugin *pl, struct dp_statbuf *sb)
{
    struct out_http *o = pl->ctx;

    dp_statbuf_add(sb, " sent=%llu retried=%llu redirects=%llu redirects_offsite=%llu",
            (unsigned long long)o->sent, (unsigned long long)o->retried,
            (unsigned long long)o->redirects, (unsigned long long)o->redirects_offsite);
    for (int i = 1; i <= 5; i++)
        dp_statbuf_add(sb, " %dxx=%llu", i, (unsigned long long)o->status[i]);
    dp_statbuf_add(sb, " status_other=%llu", (unsigned long long)o->status[0]);
    for (int i = 0; i < HE_COUNT; i++)
        dp_statbuf_add(sb, " %s=%llu", http_err_names[i], (unsigned long long)o->err[i]);
    dp_statbuf_add(sb, " resp_truncated=%llu inflight=%u queue=%zu conns=%u conns_opened=%llu",
            (unsigned long long)o->resp_truncated, o->n_busy, o->q_len, o->n_conns,
            (unsigned long long)o->conns_opened);
    dp_statbuf_add(sb, " p50_us=%lld p90_us=%lld p99_us=%lld max_us=%lld",
            (long long)dp_hist_pct(&o->latency, 50) / 1000,
            (long long)dp_hist_pct(&o->latency, 90) / 1000,
            (long long)dp_hist_pct(&o->latency, 99) / 1000, (long long)o->latency.max / 1000);
}

static void http_free(struct dp_plugin *pl)
{
    struct out_http *o = pl->ctx;

    if (o == NULL)
        return;
    while (o->q_len > 0)
        dp_msg_unref(q_pop(o));
    free(o->q);
    tls_config_free(o->tls);
    free(o);
    pl->ctx = NULL;
}

const struct dp_output_ops out_http_ops = {
    .name = "output-http",
    .types = 1u << DP_MSG_REQUEST,
    .feedback = true,
    .open = http_open,
    .start = http_start,
    .accept = http_accept,
    .writable = http_writable,
    .close = http_close,
    .stats = http_stats,
    .free = http_free,
};
