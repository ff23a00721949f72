/*
 * out_stdout.c: --output-stdout writes each record to standard output as it arrives, unbuffered
 * like GoReplay's, so a reader sees messages live. A closed pipe (doppel ... | head) stops this
 * output only: the record being written counts as failed, later ones as dropped_stopped, and
 * the other outputs go on.
 *
 * A pipe or terminal whose reader stops reading must not stop the loop (signals, the other
 * outputs, --exit-after all run on it). Such a stdout is opened again, non-blocking, through
 * /proc/self/fd/1: a description of our own, so the shell's terminal keeps its flags. Records
 * the pipe cannot take yet wait in a bounded queue (references, no copy), written when uv_poll
 * says the pipe has room; while it is full the inputs pause, or what they push is counted as
 * dropped_queue. At close the queue is written within --drain-timeout; what is left is counted
 * (dropped_stopped, or failed for a record cut by the timeout). A regular file, or a stdout that
 * cannot be opened so, is written with blocking writes as before.
 *
 *   q: [ head | ... | head + q_len - 1 ]    q_off bytes of the head's record are written
 */
#include "outputs/out_stdout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "format/gorfile.h"

#define QUEUE_MSGS  4096          /* records queued at most (a power of two) */
#define QUEUE_BYTES (1024 * 1024) /* record bytes queued at most (plus the last one taken) */
#define BATCH       64            /* records per writev */

struct out_stdout {
    struct dp_plugin *pl;
    int fd;         /* STDOUT_FILENO, or our own non-blocking description of its pipe or tty */
    bool nonblock;  /* fd is non-blocking and watched by <poll> */
    bool broken;    /* a write failed: this output stopped */
    bool polling;
    bool was_full;  /* writable() said no: dp_output_writable_again() is owed */
    bool closing;
    bool finished;  /* the queue is settled and the handles are closing */
    bool drain_after_end; /* the inputs ended: --drain-timeout bounds time without progress */
    int handles;    /* handles still to close */
    uint64_t drain_ms;
    uv_poll_t poll;
    uv_timer_t drain_timer;
    struct dp_msg *q[QUEUE_MSGS];
    uint32_t q_head;
    uint32_t q_len;
    size_t q_off;   /* bytes of the head's record already written */
    size_t q_bytes; /* bytes of the queued records still to write */
    uint64_t bytes;
};

static int stdout_open(struct dp_plugin *pl, const struct dp_config *cfg, struct dp_err *err)
{
    struct out_stdout *o = calloc(1, sizeof(*o));

    if (o == NULL)
        return dp_err_set(err, -ENOMEM, "out of memory");
    o->pl = pl;
    o->fd = STDOUT_FILENO;
    o->drain_ms = 5000;
    if (cfg->drain_timeout_ns > 0)
        o->drain_ms = (uint64_t)DP_MAX((cfg->drain_timeout_ns + 999999) / 1000000, (int64_t)1);
    pl->ctx = o;
    return 0;
}

/* A non-blocking description of stdout's pipe or terminal, or -1 (then stdout blocks). */
static int open_nonblocking(void)
{
    struct stat st;

    if (fstat(STDOUT_FILENO, &st) == -1 || !(S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)))
        return -1;
    return open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
}

static void on_writable(uv_poll_t *h, int status, int events);
static void on_drain_timer(uv_timer_t *t);

static int stdout_start(struct dp_plugin *pl, uv_loop_t *loop, struct dp_err *err)
{
    struct out_stdout *o = pl->ctx;
    int fd = open_nonblocking();
    int rc = uv_timer_init(loop, &o->drain_timer);

    if (rc != 0) {
        if (fd != -1)
            close(fd);
        return dp_err_set(err, rc, "%s: timer: %s", pl->label, uv_strerror(rc));
    }
    o->drain_timer.data = o;
    o->handles = 1;
    /* epoll refuses what never blocks (/dev/null): blocking writes are right for those */
    if (fd != -1 && uv_poll_init(loop, &o->poll, fd) == 0) {
        o->fd = fd;
        o->nonblock = true;
        o->poll.data = o;
        o->handles++;
    } else if (fd != -1) {
        close(fd);
    }
    dp_log(DP_LOG_DEBUG, DP_LOG_OUTPUT, "plugin=%s event=start nonblocking=%d", pl->label,
            o->nonblock);
    return 0;
}

static bool queue_full(const struct out_stdout *o)
{
    return o->q_len == QUEUE_MSGS || o->q_bytes >= QUEUE_BYTES;
}

static struct dp_msg *queue_pop(struct out_stdout *o)
{
    struct dp_msg *m = o->q[o->q_head];

    o->q_head = (o->q_head + 1) & (QUEUE_MSGS - 1);
    o->q_len--;
    o->q_off = 0;
    return m;
}

/* Gives every queued record its fate: the head failed when <head_failed> (a write error on it,
 * or the drain timeout cut it), the others were never written. */
static void queue_drop(struct out_stdout *o, bool head_failed)
{
    struct dp_plugin *pl = o->pl;

    for (bool head = true; o->q_len > 0; head = false) {
        pl->ctr[head && head_failed ? DP_OUT_FAILED : DP_OUT_DROPPED_STOPPED]++;
        pl->ctr[DP_OUT_PENDING]--;
        dp_msg_unref(queue_pop(o));
    }
    o->q_bytes = 0;
}

/* Watches the pipe while records wait or an input waits for room (or to hear that it broke). */
static void poll_update(struct out_stdout *o)
{
    bool want = o->nonblock && !o->finished && (o->q_len > 0 || o->was_full);

    if (want == o->polling)
        return;
    if (want)
        want = uv_poll_start(&o->poll, UV_WRITABLE, on_writable) == 0;
    else
        uv_poll_stop(&o->poll);
    o->polling = want;
}

/* Fills <iov> with the unwritten bytes of up to BATCH queued records; returns the count used. */
static int queue_iov(struct out_stdout *o, struct iovec iov[3 * BATCH])
{
    size_t off = o->q_off;
    int n = 0;

    for (uint32_t i = 0; i < o->q_len && i < BATCH; i++) {
        struct iovec rec[3];

        gor_record_iov(o->q[(o->q_head + i) & (QUEUE_MSGS - 1)], rec);
        for (int k = 0; k < 3; k++) {
            if (off >= rec[k].iov_len) { /* written already (the head's first bytes) */
                off -= rec[k].iov_len;
                continue;
            }
            iov[n].iov_base = (uint8_t *)rec[k].iov_base + off;
            iov[n++].iov_len = rec[k].iov_len - off;
            off = 0;
        }
    }
    return n;
}

/*
 * Writes queued records in order, several per writev, until the pipe is full or the queue is
 * empty. A write error stops this output. The queue is bounded, so the work of one call is too.
 */
static void queue_write(struct out_stdout *o)
{
    struct dp_plugin *pl = o->pl;

    while (o->q_len > 0 && !o->broken) {
        struct iovec iov[3 * BATCH];
        ssize_t w = writev(o->fd, iov, queue_iov(o, iov));
        size_t left;

        if (w == -1) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            o->broken = true;
            dp_log(DP_LOG_WARN, DP_LOG_OUTPUT, "plugin=%s event=stopped error=\"%s\"", pl->label,
                    strerror(errno));
            queue_drop(o, true);
            break;
        }
        o->q_bytes -= (size_t)w;
        if (o->closing && o->drain_after_end) /* progress: the drain time starts over */
            uv_timer_start(&o->drain_timer, on_drain_timer, o->drain_ms, 0);
        for (left = (size_t)w; o->q_len > 0;) {
            struct iovec rec[3];
            size_t len = gor_record_iov(o->q[o->q_head], rec);

            if (o->q_off + left < len) {
                o->q_off += left;
                break;
            }
            left -= len - o->q_off;
            o->bytes += len;
            pl->ctr[DP_OUT_DELIVERED]++;
            pl->ctr[DP_OUT_PENDING]--;
            dp_msg_unref(queue_pop(o));
        }
    }
    poll_update(o);
}

static void on_closed(uv_handle_t *h)
{
    struct out_stdout *o = h->data;

    if (--o->handles > 0)
        return;
    if (o->fd != STDOUT_FILENO)
        close(o->fd);
    dp_plugin_closed(o->pl);
}

/* The end of the drain: what is left gets its fate, the handles close. */
static void stdout_finish(struct out_stdout *o)
{
    if (o->finished)
        return;
    o->finished = true;
    queue_drop(o, o->q_off > 0);
    poll_update(o);
    uv_close((uv_handle_t *)&o->drain_timer, on_closed);
    if (o->nonblock)
        uv_close((uv_handle_t *)&o->poll, on_closed);
}

static void on_drain_timer(uv_timer_t *t)
{
    stdout_finish(t->data);
}

static void on_writable(uv_poll_t *h, int status, int events)
{
    struct out_stdout *o = h->data;

    (void)events;
    if (status < 0)
        o->polling = false; /* libuv stopped the handle; the write says what went wrong */
    queue_write(o);
    if (o->closing && (o->q_len == 0 || o->broken)) {
        stdout_finish(o);
        return;
    }
    if (o->was_full &&
            (o->broken || (o->q_len <= QUEUE_MSGS / 2 && o->q_bytes <= QUEUE_BYTES / 2))) {
        o->was_full = false;
        poll_update(o);
        dp_output_writable_again(o->pl);
    }
}

static int stdout_accept(struct dp_plugin *pl, struct dp_msg *msg)
{
    struct out_stdout *o = pl->ctx;
    struct iovec iov[3];

    if (o->broken || o->closing)
        return -EPIPE;
    if (queue_full(o)) {
        o->was_full = true;
        poll_update(o);
        return -ENOBUFS;
    }
    o->q[(o->q_head + o->q_len) & (QUEUE_MSGS - 1)] = dp_msg_ref(msg);
    o->q_len++;
    o->q_bytes += gor_record_iov(msg, iov);
    pl->ctr[DP_OUT_PENDING]++;
    if (o->q_len == 1) /* others wait: the pipe was full, on_writable() goes on */
        queue_write(o);
    return 0;
}

static bool stdout_writable(struct dp_plugin *pl)
{
    struct out_stdout *o = pl->ctx;

    if (!o->broken && queue_full(o)) {
        o->was_full = true;
        poll_update(o);
        return false;
    }
    return true;
}

static void stdout_close(struct dp_plugin *pl)
{
    struct out_stdout *o = pl->ctx;

    o->closing = true;
    o->drain_after_end = dp_pipeline_inputs_finished(pl);
    if (o->q_len == 0) {
        stdout_finish(o);
        return;
    }
    uv_timer_start(&o->drain_timer, on_drain_timer, o->drain_ms, 0);
}

static void stdout_stats(struct dp_plugin *pl, struct dp_statbuf *sb)
{
    struct out_stdout *o = pl->ctx;

    dp_statbuf_add(sb, " bytes=%llu", (unsigned long long)o->bytes);
}

static void stdout_free(struct dp_plugin *pl)
{
    struct out_stdout *o = pl->ctx;

    while (o != NULL && o->q_len > 0)
        dp_msg_unref(queue_pop(o));
    free(o);
    pl->ctx = NULL;
}

const struct dp_output_ops out_stdout_ops = {
    .name = "output-stdout",
    .open = stdout_open,
    .start = stdout_start,
    .accept = stdout_accept,
    .writable = stdout_writable,
    .close = stdout_close,
    .stats = stdout_stats,
    .free = stdout_free,
};
