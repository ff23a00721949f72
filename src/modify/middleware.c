#include "modify/middleware.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "format/hexline.h"

/*
 * Lines wait in chunks: while a write is in flight, new lines are appended to the last chunk,
 * so a busy pipe gets one write per CHUNK_SIZE bytes rather than one per line, and an idle one
 * gets each line at once. Only one chunk is in flight at a time (all of them once the input is
 * closed, ahead of the shutdown).
 */
#define CHUNK_SIZE       (64 * 1024)
#define READ_SIZE        (64 * 1024)
#define DEFAULT_QUEUE    ((size_t)16 * 1024 * 1024)
#define RESTART_EVERY_MS 1000 /* at most one start per second */
#define KILL_AFTER_MS    1000 /* SIGTERM, then SIGKILL this much later */
#define DRAIN_MS         1000 /* stdout may stay open after the exit (a grandchild): wait this */
#define LOG_FIRST_BAD    10   /* bad lines logged one by one, then every LOG_EVERY_BAD-th */
#define LOG_EVERY_BAD    1000

struct mw_chunk {
    struct mw_chunk *next;
    struct dp_middleware *mw;
    uv_write_t req;
    size_t len;
    size_t cap;
    uint64_t lines;
    bool sent; /* handed to uv_write */
    uint8_t data[];
};

enum mw_state {
    MW_NEW = 0,      /* parsed, not started */
    MW_RUNNING,      /* a process runs (it may have exited: see exited) */
    MW_CLOSING,      /* the process's handles are closing */
    MW_WAIT_RESTART, /* between two processes */
    MW_FINAL,        /* the timers are closing; on_exit follows */
    MW_DONE,         /* on_exit was called (or start failed) */
    MW_STATE_COUNT
};

struct dp_middleware {
    char **argv;       /* one allocation (dp_middleware_split) */
    char cmd_log[256]; /* the command, escaped for log lines */
    bool restart;
    size_t max_queue;
    size_t max_msg;

    uv_loop_t *loop;
    dp_mw_msg_fn *on_msg;
    dp_mw_exit_fn *on_exit;
    void *ctx;
    void (*wake)(void *ctx);
    void *wake_ctx;

    enum mw_state state;
    uv_process_t proc;
    uv_pipe_t in;  /* the process's stdin: we write */
    uv_pipe_t out; /* the process's stdout: we read */
    uv_shutdown_t shut;
    uv_timer_t kill_timer; /* grace, SIGTERM -> SIGKILL, stdout drain after the exit */
    uv_timer_t restart_timer;
    unsigned proc_handles; /* of proc, in, out: initialized and not yet closed */
    unsigned timer_handles;
    bool free_pending; /* dp_middleware_free() came while handles were closing */

    /* the current process */
    int pid;
    bool exited;
    bool out_eof;
    bool in_broken; /* a write failed: the process no longer reads its stdin */
    bool shut_sent;
    int kill_stage; /* 0, 1: SIGTERM sent, 2: SIGKILL sent */
    uint64_t started_ms;
    int64_t status;
    int signal;

    bool input_closed;
    uint64_t grace_ms;

    struct hexline_dec dec;
    uint8_t *rbuf;

    struct mw_chunk *head; /* oldest first; sent chunks come first */
    struct mw_chunk *tail;
    struct mw_chunk *spare; /* one CHUNK_SIZE chunk kept for reuse */
    size_t queued;          /* bytes in all chunks */
    unsigned in_flight;

    /* counters */
    uint64_t written;
    uint64_t written_bytes;
    uint64_t read;
    uint64_t bad[HEXLINE_BAD_COUNT];
    uint64_t bad_total;
    uint64_t truncated;
    uint64_t lost;
    uint64_t restarts;
};

static int spawn(struct dp_middleware *mw, struct dp_err *err);
static void submit(struct dp_middleware *mw);
static void teardown(struct dp_middleware *mw);

/* ---- the command line ---- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int dp_middleware_split(const char *cmd, char ***out, struct dp_err *err)
{
    size_t len = strlen(cmd);
    size_t max_words = len / 2 + 2; /* a word takes at least one byte and one separator */
    char **argv;
    char *o;
    const char *p = cmd;
    size_t n = 0;
    char quote = 0;

    *out = NULL;
    if (max_words > (SIZE_MAX - len - 1) / sizeof(char *))
        return dp_err_set(err, -ENOMEM, "middleware: out of memory");
    argv = malloc(max_words * sizeof(char *) + len + 1);
    if (argv == NULL)
        return dp_err_set(err, -ENOMEM, "middleware: out of memory");
    o = (char *)(argv + max_words);
    for (;;) {
        char *word = o;
        bool quoted = false;

        while (is_space(*p))
            p++;
        if (*p == '\0')
            break;
        while (*p != '\0' && !is_space(*p)) {
            quote = *p;
            if (*p == '\'') {
                const char *q = strchr(p + 1, '\'');

                if (q == NULL)
                    goto unbalanced;
                memcpy(o, p + 1, (size_t)(q - p - 1));
                o += q - p - 1;
                p = q + 1;
                quoted = true;
            } else if (*p == '"') {
                for (p++; *p != '"'; p++) {
                    if (*p == '\0')
                        goto unbalanced;
                    if (*p == '\\' && p[1] == '\n') {
                        p++; /* a line continuation */
                        continue;
                    }
                    if (*p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == '$' || p[1] == '`'))
                        p++;
                    *o++ = *p;
                }
                p++;
                quoted = true;
            } else if (*p == '\\') {
                if (p[1] == '\0') {
                    free(argv);
                    return dp_err_set(err, -EINVAL,
                            "--middleware: the command ends with a lone backslash");
                }
                if (p[1] != '\n')
                    *o++ = p[1];
                p += 2;
            } else {
                *o++ = *p++;
            }
        }
        if (o == word && !quoted)
            continue; /* only line continuations: no word */
        *o++ = '\0';
        argv[n++] = word;
    }
    if (n == 0) {
        free(argv);
        return dp_err_set(err, -EINVAL, "--middleware: the command is empty");
    }
    argv[n] = NULL;
    *out = argv;
    return 0;
unbalanced:
    free(argv);
    return dp_err_set(err, -EINVAL, "--middleware: unbalanced %c quote in \"%s\"", quote, cmd);
}

/* ---- the write queue ---- */

static void chunk_free(struct dp_middleware *mw, struct mw_chunk *c)
{
    if (mw->spare == NULL && c->cap == CHUNK_SIZE) {
        mw->spare = c;
        return;
    }
    free(c);
}

/* Calls the owner's wake callback once the queue is below half of its bound. */
static void maybe_wake(struct dp_middleware *mw)
{
    void (*wake)(void *ctx) = mw->wake;

    if (wake == NULL || mw->queued >= mw->max_queue / 2)
        return;
    mw->wake = NULL;
    wake(mw->wake_ctx);
}

/* Drops the chunks not handed to uv_write: their lines are lost. */
static void drop_unsent(struct dp_middleware *mw)
{
    struct mw_chunk **pp = &mw->head;

    mw->tail = NULL;
    while (*pp != NULL) {
        struct mw_chunk *c = *pp;

        if (c->sent) {
            mw->tail = c;
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        mw->lost += c->lines;
        mw->queued -= c->len;
        chunk_free(mw, c);
    }
}

static bool process_usable(const struct dp_middleware *mw)
{
    return mw->state == MW_RUNNING && !mw->exited && !mw->in_broken && !mw->shut_sent;
}

static void write_cb(uv_write_t *req, int status);

/* Hands <c> to uv_write: 0, or -errno (<c> stays unsent; the process no longer takes input). */
static int send_chunk(struct dp_middleware *mw, struct mw_chunk *c)
{
    uv_buf_t b = uv_buf_init((char *)c->data, (unsigned)c->len);
    int rc;

    c->sent = true;
    mw->in_flight++;
    rc = uv_write(&c->req, (uv_stream_t *)&mw->in, &b, 1, write_cb);
    if (rc != 0) {
        /* uv_write failed: its callback will not be called. */
        c->sent = false;
        mw->in_flight--;
        mw->in_broken = true;
        dp_log(DP_LOG_WARN, DP_LOG_MODIFY,
                "plugin=middleware event=write-failed cmd=\"%s\" pid=%d error=%s", mw->cmd_log,
                mw->pid, uv_strerror(rc));
    }
    return rc;
}

/* Hands chunks to uv_write: one at a time while the input is open, all once it is closed. */
static void submit(struct dp_middleware *mw)
{
    for (struct mw_chunk *c = mw->head; c != NULL; c = c->next) {
        if (!process_usable(mw))
            return;
        if (c->sent)
            continue;
        if (mw->in_flight > 0 && !mw->input_closed)
            return;
        if (send_chunk(mw, c) != 0)
            return;
    }
}

static void kill_start(struct dp_middleware *mw, uint64_t after_ms);

static void write_cb(uv_write_t *req, int status)
{
    struct mw_chunk *c = req->data;
    struct dp_middleware *mw = c->mw;

    /* Writes complete in order: this is the head. */
    DP_BUG_ON(mw->head != c);
    mw->head = c->next;
    if (mw->head == NULL)
        mw->tail = NULL;
    mw->in_flight--;
    mw->queued -= c->len;
    if (status == 0) {
        mw->written += c->lines;
        mw->written_bytes += c->len;
    } else {
        mw->lost += c->lines;
        if (status != UV_ECANCELED && !mw->in_broken) {
            mw->in_broken = true;
            dp_log(mw->kill_stage > 0 ? DP_LOG_INFO : DP_LOG_WARN, DP_LOG_MODIFY,
                    "plugin=middleware event=stdin-closed cmd=\"%s\" pid=%d error=%s",
                    mw->cmd_log, mw->pid, uv_strerror(status));
            /* It cannot take input any more: make sure it ends. */
            if (mw->state == MW_RUNNING && !mw->exited && mw->kill_stage == 0)
                kill_start(mw, mw->input_closed ? mw->grace_ms : KILL_AFTER_MS);
        }
    }
    chunk_free(mw, c);
    submit(mw);
    maybe_wake(mw);
}

int dp_middleware_write(struct dp_middleware *mw, const struct dp_msg *m)
{
    size_t n = hexline_len(m);
    struct mw_chunk *c = mw->tail;

    if (mw->input_closed || mw->state == MW_FINAL || mw->state == MW_DONE)
        return -EPIPE;
    if (!mw->restart && (mw->state == MW_CLOSING || mw->exited || mw->in_broken))
        return -EPIPE; /* gone, and no other process will come */
    if (mw->queued >= mw->max_queue)
        return -ENOBUFS;
    if (c == NULL || c->sent || c->cap - c->len < n) {
        size_t cap = DP_MAX(n, (size_t)CHUNK_SIZE);

        if (cap == CHUNK_SIZE && mw->spare != NULL) {
            c = mw->spare;
            mw->spare = NULL;
        } else {
            c = malloc(sizeof(*c) + cap);
            if (c == NULL)
                return -ENOMEM;
            c->cap = cap;
        }
        c->next = NULL;
        c->mw = mw;
        c->req.data = c;
        c->len = 0;
        c->lines = 0;
        c->sent = false;
        if (mw->tail != NULL)
            mw->tail->next = c;
        else
            mw->head = c;
        mw->tail = c;
    }
    hexline_encode(m, c->data + c->len);
    c->len += n;
    c->lines++;
    mw->queued += n;
    if (mw->in_flight == 0)
        submit(mw);
    return 0;
}

bool dp_middleware_writable(struct dp_middleware *mw, void (*wake)(void *ctx), void *ctx)
{
    if (mw->queued < mw->max_queue)
        return true;
    mw->wake = wake;
    mw->wake_ctx = ctx;
    return false;
}

/* ---- the read side ---- */

static void dec_msg(void *ctx, struct dp_msg *m)
{
    struct dp_middleware *mw = ctx;

    if (m->len > mw->max_msg) {
        m->len = mw->max_msg;
        m->flags |= DP_MSG_TRUNCATED;
        mw->truncated++;
    }
    mw->read++;
    mw->on_msg(mw->ctx, m);
}

static void dec_bad(void *ctx, uint64_t line_no, enum hexline_bad why)
{
    struct dp_middleware *mw = ctx;

    mw->bad[why]++;
    mw->bad_total++;
    if (mw->bad_total <= LOG_FIRST_BAD || mw->bad_total % LOG_EVERY_BAD == 0)
        dp_log(DP_LOG_WARN, DP_LOG_MODIFY,
                "plugin=middleware event=bad-line cmd=\"%s\" pid=%d line=%" PRIu64
                " reason=%s bad_lines=%" PRIu64 "%s",
                mw->cmd_log, mw->pid, line_no, hexline_bad_names[why], mw->bad_total,
                mw->bad_total == LOG_FIRST_BAD ? " (further ones: every 1000th)" : "");
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct dp_middleware *mw = h->data;

    (void)hint;
    *buf = uv_buf_init((char *)mw->rbuf, READ_SIZE);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct dp_middleware *mw = s->data;

    (void)buf;
    if (nread > 0) {
        if (hexline_dec_feed(&mw->dec, mw->rbuf, (size_t)nread) != 0)
            dp_log(DP_LOG_WARN, DP_LOG_MODIFY,
                    "plugin=middleware event=out-of-memory cmd=\"%s\" line=%" PRIu64,
                    mw->cmd_log, mw->dec.line_no);
        return;
    }
    if (nread == 0)
        return;
    if (nread != UV_EOF)
        dp_log(DP_LOG_WARN, DP_LOG_MODIFY,
                "plugin=middleware event=read-failed cmd=\"%s\" pid=%d error=%s", mw->cmd_log,
                mw->pid, uv_strerror((int)nread));
    uv_read_stop(s);
    mw->out_eof = true;
    hexline_dec_finish(&mw->dec);
    if (mw->exited) {
        teardown(mw);
    } else if (!mw->input_closed && mw->kill_stage == 0) {
        /* An exiting process closes its stdout before we hear of the exit. One that lives on
         * without it can never give back what it is given: it is ended after a while. */
        kill_start(mw, DRAIN_MS);
    }
}

/* ---- the process's life ---- */

static void on_close(uv_handle_t *h);

static void timer_cb(uv_timer_t *t)
{
    struct dp_middleware *mw = t->data;

    if (mw->state != MW_RUNNING)
        return;
    if (mw->exited) {
        dp_log(DP_LOG_WARN, DP_LOG_MODIFY,
                "plugin=middleware event=stdout-open-after-exit cmd=\"%s\"", mw->cmd_log);
        teardown(mw);
        return;
    }
    if (mw->kill_stage < 2) {
        int sig = mw->kill_stage == 0 ? SIGTERM : SIGKILL;
        const char *why = mw->input_closed ? "grace-period-over"
                : mw->out_eof                  ? "stdout-closed"
                : mw->in_broken                ? "stdin-closed"
                                               : "stuck";

        dp_log(mw->input_closed && mw->kill_stage == 0 ? DP_LOG_INFO : DP_LOG_WARN,
                DP_LOG_MODIFY,
                "plugin=middleware event=kill cmd=\"%s\" pid=%d signal=%s reason=%s",
                mw->cmd_log, mw->pid, sig == SIGTERM ? "SIGTERM" : "SIGKILL", why);
        mw->kill_stage++;
        (void)uv_process_kill(&mw->proc, sig);
        uv_timer_start(&mw->kill_timer, timer_cb, KILL_AFTER_MS, 0);
        return;
    }
    /* SIGKILL did not end it within a second (stuck in the kernel): let go of it. */
    dp_log(DP_LOG_ERROR, DP_LOG_MODIFY,
            "plugin=middleware event=unkillable cmd=\"%s\" pid=%d", mw->cmd_log, mw->pid);
    mw->signal = SIGKILL;
    teardown(mw);
}

/* SIGTERM after <after_ms>, SIGKILL one second later (unless it exits first). */
static void kill_start(struct dp_middleware *mw, uint64_t after_ms)
{
    uv_timer_start(&mw->kill_timer, timer_cb, after_ms, 0);
}

static void exit_cb(uv_process_t *p, int64_t status, int sig)
{
    struct dp_middleware *mw = p->data;

    mw->exited = true;
    mw->status = status;
    mw->signal = sig;
    dp_log(mw->input_closed ? DP_LOG_INFO : DP_LOG_WARN, DP_LOG_MODIFY,
            "plugin=middleware event=exit cmd=\"%s\" pid=%d status=%" PRId64 " signal=%d",
            mw->cmd_log, mw->pid, status, sig);
    if (mw->out_eof)
        teardown(mw);
    else
        uv_timer_start(&mw->kill_timer, timer_cb, DRAIN_MS, 0); /* wait for the last echoes */
}

static void close_if_open(struct dp_middleware *mw, uv_handle_t *h)
{
    h->data = mw;
    if (!uv_is_closing(h))
        uv_close(h, on_close);
}

/* The process is gone (or let go of): close its handles; on_close decides what follows. */
static void teardown(struct dp_middleware *mw)
{
    if (mw->state != MW_RUNNING)
        return;
    mw->state = MW_CLOSING;
    uv_timer_stop(&mw->kill_timer);
    if (!mw->out_eof) {
        uv_read_stop((uv_stream_t *)&mw->out);
        mw->out_eof = true;
        hexline_dec_finish(&mw->dec);
    }
    close_if_open(mw, (uv_handle_t *)&mw->in);
    close_if_open(mw, (uv_handle_t *)&mw->out);
    if (!mw->exited)
        (void)uv_process_kill(&mw->proc, SIGKILL);
    close_if_open(mw, (uv_handle_t *)&mw->proc);
}

static void restart_cb(uv_timer_t *t);

/* The timers close last; on_exit follows them. */
static void final_close(struct dp_middleware *mw)
{
    mw->state = MW_FINAL;
    drop_unsent(mw);
    close_if_open(mw, (uv_handle_t *)&mw->kill_timer);
    close_if_open(mw, (uv_handle_t *)&mw->restart_timer);
    maybe_wake(mw); /* a paused owner learns from -EPIPE that it is over */
}

/* Every handle of the process is closed: start the next one, or end. */
static void proc_closed(struct dp_middleware *mw)
{
    if (mw->restart && !mw->input_closed && !mw->free_pending) {
        uint64_t now = uv_now(mw->loop);
        uint64_t at = mw->started_ms + RESTART_EVERY_MS;
        uint64_t delay = at > now ? at - now : 0;

        mw->state = MW_WAIT_RESTART;
        dp_log(DP_LOG_WARN, DP_LOG_MODIFY,
                "plugin=middleware event=restart cmd=\"%s\" in_ms=%" PRIu64 " restarts=%" PRIu64
                " lost=%" PRIu64,
                mw->cmd_log, delay, mw->restarts + 1, mw->lost);
        uv_timer_start(&mw->restart_timer, restart_cb, delay, 0);
        return;
    }
    final_close(mw);
}

static bool ended_as_expected(const struct dp_middleware *mw)
{
    if (!mw->input_closed)
        return false;
    if (mw->kill_stage > 0)
        return true; /* it outlived the grace period: we ended it */
    return mw->status == 0 && mw->signal == 0 && !mw->in_broken;
}

static void really_free(struct dp_middleware *mw)
{
    struct mw_chunk *c = mw->head;

    while (c != NULL) {
        struct mw_chunk *next = c->next;

        free(c);
        c = next;
    }
    free(mw->spare);
    hexline_dec_free(&mw->dec);
    free(mw->rbuf);
    free(mw->argv);
    free(mw);
}

static void on_close(uv_handle_t *h)
{
    struct dp_middleware *mw = h->data;

    if (h == (uv_handle_t *)&mw->kill_timer || h == (uv_handle_t *)&mw->restart_timer)
        mw->timer_handles--;
    else
        mw->proc_handles--;
    if (mw->free_pending) {
        if (mw->timer_handles == 0 && mw->proc_handles == 0)
            really_free(mw);
        return;
    }
    if (mw->state == MW_CLOSING && mw->proc_handles == 0) {
        proc_closed(mw);
        return;
    }
    if (mw->state == MW_FINAL && mw->timer_handles == 0 && mw->proc_handles == 0) {
        bool expected = ended_as_expected(mw);

        mw->state = MW_DONE;
        if (!expected)
            dp_log(DP_LOG_ERROR, DP_LOG_MODIFY,
                    "plugin=middleware event=failed cmd=\"%s\" status=%" PRId64
                    " signal=%d reason=%s lost=%" PRIu64,
                    mw->cmd_log, mw->status, mw->signal,
                    mw->status < 0         ? "cannot-restart"
                    : !mw->input_closed    ? "exited-while-input-open"
                    : mw->in_broken        ? "stopped-reading-its-input"
                                           : "exit-status",
                    mw->lost);
        if (mw->on_exit != NULL)
            mw->on_exit(mw->ctx, mw->status, mw->signal, expected);
        /* <mw> may be freed now */
    }
}

static void restart_cb(uv_timer_t *t)
{
    struct dp_middleware *mw = t->data;
    struct dp_err err = { 0, { 0 } };

    if (mw->state != MW_WAIT_RESTART)
        return;
    mw->restarts++;
    if (spawn(mw, &err) != 0) {
        dp_log(DP_LOG_ERROR, DP_LOG_MODIFY, "plugin=middleware event=restart-failed %s",
                err.msg);
        mw->status = err.code;
        mw->signal = 0;
        /* spawn() left its handles closing: on_close goes on from MW_CLOSING */
        return;
    }
    submit(mw);
}

/* Starts a process. On failure its handles are left closing (state MW_CLOSING, and restart is
 * off for good so that on_close ends it). */
static int spawn(struct dp_middleware *mw, struct dp_err *err)
{
    uv_stdio_container_t stdio[3];
    uv_process_options_t o;
    int rc;

    mw->exited = false;
    mw->out_eof = false;
    mw->in_broken = false;
    mw->shut_sent = false;
    mw->kill_stage = 0;
    mw->status = 0;
    mw->signal = 0;
    mw->pid = 0;
    mw->dec.line_no = 0;
    uv_pipe_init(mw->loop, &mw->in, 0);
    uv_pipe_init(mw->loop, &mw->out, 0);
    mw->in.data = mw;
    mw->out.data = mw;
    mw->proc.data = mw;
    mw->proc_handles = 3;
    memset(stdio, 0, sizeof(stdio));
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&mw->in;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&mw->out;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    memset(&o, 0, sizeof(o));
    o.exit_cb = exit_cb;
    o.file = mw->argv[0];
    o.args = mw->argv;
    o.stdio_count = 3;
    o.stdio = stdio;
    mw->started_ms = uv_now(mw->loop);
    mw->state = MW_RUNNING;
    rc = uv_spawn(mw->loop, &mw->proc, &o);
    if (rc == 0) {
        mw->pid = mw->proc.pid;
        rc = uv_read_start((uv_stream_t *)&mw->out, alloc_cb, read_cb);
        if (rc == 0) {
            dp_log(DP_LOG_INFO, DP_LOG_MODIFY,
                    "plugin=middleware event=start cmd=\"%s\" pid=%d", mw->cmd_log, mw->pid);
            return 0;
        }
        (void)uv_process_kill(&mw->proc, SIGKILL);
    }
    mw->restart = false;
    mw->exited = true;
    mw->out_eof = true;
    mw->state = MW_CLOSING;
    close_if_open(mw, (uv_handle_t *)&mw->in);
    close_if_open(mw, (uv_handle_t *)&mw->out);
    close_if_open(mw, (uv_handle_t *)&mw->proc);
    return dp_err_set(err, rc == UV_ENOMEM ? -ENOMEM : rc,
            "--middleware: cannot start \"%s\": %s", mw->cmd_log, uv_strerror(rc));
}

/* ---- the API ---- */

int dp_middleware_new(const struct dp_middleware_opts *o, struct dp_middleware **out,
        struct dp_err *err)
{
    struct dp_middleware *mw;
    int rc;

    *out = NULL;
    mw = calloc(1, sizeof(*mw));
    if (mw == NULL)
        return dp_err_set(err, -ENOMEM, "middleware: out of memory");
    rc = dp_middleware_split(o->cmd != NULL ? o->cmd : "", &mw->argv, err);
    if (rc != 0)
        goto fail;
    dp_log_escape(mw->cmd_log, sizeof(mw->cmd_log), (const uint8_t *)o->cmd, strlen(o->cmd));
    mw->restart = o->restart;
    mw->max_queue = o->max_queue != 0 ? o->max_queue : DEFAULT_QUEUE;
    mw->max_msg = o->max_msg != 0 ? o->max_msg : SIZE_MAX;
    mw->rbuf = malloc(READ_SIZE);
    if (mw->rbuf == NULL) {
        rc = dp_err_set(err, -ENOMEM, "middleware: out of memory");
        goto fail;
    }
    hexline_dec_init(&mw->dec,
            o->max_msg != 0 && o->max_msg < SIZE_MAX / 4 ? 2 * (o->max_msg + DP_MSG_META_MAX) : 0,
            dec_msg, dec_bad, mw);
    *out = mw;
    return 0;
fail:
    free(mw->argv);
    free(mw);
    return rc;
}

int dp_middleware_start(struct dp_middleware *mw, uv_loop_t *loop, dp_mw_msg_fn *on_msg,
        dp_mw_exit_fn *on_exit, void *ctx, struct dp_err *err)
{
    int rc;

    DP_BUG_ON(mw->state != MW_NEW);
    mw->loop = loop;
    mw->on_msg = on_msg;
    mw->on_exit = on_exit;
    mw->ctx = ctx;
    uv_timer_init(loop, &mw->kill_timer);
    uv_timer_init(loop, &mw->restart_timer);
    mw->kill_timer.data = mw;
    mw->restart_timer.data = mw;
    mw->timer_handles = 2;
    rc = spawn(mw, err);
    if (rc != 0) {
        /* A failed call never calls back: no on_exit. */
        mw->on_exit = NULL;
        mw->state = MW_DONE;
        close_if_open(mw, (uv_handle_t *)&mw->kill_timer);
        close_if_open(mw, (uv_handle_t *)&mw->restart_timer);
        return rc;
    }
    submit(mw);
    return 0;
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    struct dp_middleware *mw = req->data;

    (void)status;
    /* Its stdin is at EOF now (or the process is gone): that end is done. */
    if (mw->state == MW_RUNNING)
        close_if_open(mw, (uv_handle_t *)&mw->in);
}

void dp_middleware_close_input(struct dp_middleware *mw, uint64_t grace_ms)
{
    if (mw->input_closed)
        return;
    mw->input_closed = true;
    mw->grace_ms = grace_ms;
    mw->wake = NULL;
    switch (mw->state) {
    case MW_NEW:
    case MW_FINAL:
    case MW_DONE:
    case MW_STATE_COUNT:
        return;
    case MW_WAIT_RESTART:
        uv_timer_stop(&mw->restart_timer);
        final_close(mw);
        return;
    case MW_CLOSING:
        return; /* on_close sees input_closed: no restart */
    case MW_RUNNING:
        break;
    }
    if (mw->exited)
        return; /* the drain timer runs */
    if (!process_usable(mw)) {
        drop_unsent(mw);
    } else {
        submit(mw); /* everything, ahead of the shutdown (which waits for the writes) */
        mw->shut.data = mw;
        if (uv_shutdown(&mw->shut, (uv_stream_t *)&mw->in, shutdown_cb) == 0)
            mw->shut_sent = true;
        else
            close_if_open(mw, (uv_handle_t *)&mw->in);
    }
    if (mw->kill_stage == 0)
        kill_start(mw, grace_ms);
}

void dp_middleware_stats(const struct dp_middleware *mw, struct dp_statbuf *sb)
{
    dp_statbuf_add(sb,
            " written=%" PRIu64 " written_bytes=%" PRIu64 " read=%" PRIu64
            " bad_not_hex=%" PRIu64 " bad_meta=%" PRIu64 " bad_too_long=%" PRIu64
            " read_truncated=%" PRIu64 " lost=%" PRIu64 " restarts=%" PRIu64 " queue_bytes=%zu"
            " pid=%d exit_status=%" PRId64 " exit_signal=%d",
            mw->written, mw->written_bytes, mw->read, mw->bad[HEXLINE_NOT_HEX],
            mw->bad[HEXLINE_BAD_META], mw->bad[HEXLINE_TOO_LONG], mw->truncated, mw->lost,
            mw->restarts, mw->queued, mw->state == MW_RUNNING && !mw->exited ? mw->pid : 0,
            mw->status, mw->signal);
}

void dp_middleware_free(struct dp_middleware *mw)
{
    if (mw == NULL)
        return;
    mw->on_exit = NULL;
    mw->on_msg = NULL;
    mw->wake = NULL;
    if (mw->proc_handles == 0 && mw->timer_handles == 0) {
        really_free(mw);
        return;
    }
    /* Handles are open or closing: close them; the last close callback frees. */
    mw->free_pending = true;
    if (mw->state == MW_RUNNING) {
        mw->state = MW_DONE;
        if (!mw->exited)
            (void)uv_process_kill(&mw->proc, SIGKILL);
        if (!mw->out_eof)
            uv_read_stop((uv_stream_t *)&mw->out);
        close_if_open(mw, (uv_handle_t *)&mw->in);
        close_if_open(mw, (uv_handle_t *)&mw->out);
        close_if_open(mw, (uv_handle_t *)&mw->proc);
    }
    close_if_open(mw, (uv_handle_t *)&mw->kill_timer);
    close_if_open(mw, (uv_handle_t *)&mw->restart_timer);
}
