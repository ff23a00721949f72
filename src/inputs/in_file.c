#include "inputs/in_file.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/clock.h"
#include "core/log.h"
#include "format/gorfile.h"

/* Records pushed per loop callback at most: the loop stays responsive at any speed. */
#define EMIT_BUDGET 2048
/* Replay times are kept within 2^61 ns (73 years): timestamps are read from the file, and sums
 * of such spans must not overflow. */
#define SPAN_MAX ((int64_t)1 << 61)

struct heap_item {
    int64_t ts;
    uint64_t order; /* read order: equal timestamps keep their order in the file */
    struct dp_msg *msg;
};

struct file_src {
    char *path;
    int fd;
    gzFile gz;
    struct gor_reader rd;
    struct heap_item *heap; /* <depth> slots: a sorted ring, or a binary min-heap */
    size_t heap_len;
    size_t head;            /* ring mode: the first item */
    bool ring;              /* records so far arrived in order: heap is a FIFO ring */
    bool eof;
};

struct in_file {
    struct dp_plugin *pl;
    const struct dp_config *cfg;
    struct file_src *files;
    size_t n_files;
    struct file_src **srcs; /* the files with records left: a min-heap by their window's top */
    size_t n_srcs;
    bool srcs_ready;        /* every file was filled once and srcs is built */
    size_t depth;
    double speed;  /* 1.0 = as recorded */
    bool unpaced;  /* |max */
    bool dry_run;
    uint64_t order;
    uv_timer_t timer; /* waits for the next record's due time */
    uv_idle_t idle;   /* goes on at the next loop iteration, after I/O was polled */
    unsigned handles_open;
    bool stopping;
    /* schedule */
    bool started;
    int64_t base_mono;
    int64_t base_ts;
    int64_t last_ts;
    int64_t skipped_ns; /* pauses cut by --input-file-max-wait, in replay time */
    /* counters */
    uint64_t loops;
    uint64_t files_read;
    uint64_t out_of_order;
    uint64_t read_errors;
    int64_t lag_max_ns;
    int64_t lag_last_ns;
    int64_t first_ts;
    int64_t max_ts;
    uint64_t types[DP_MSG_TYPE_COUNT];
};

/* ---- sources ---- */

static ssize_t read_plain(void *src, uint8_t *buf, size_t cap)
{
    struct file_src *s = src;

    for (;;) {
        ssize_t n = read(s->fd, buf, cap);

        if (n >= 0)
            return n;
        if (errno != EINTR)
            return -errno;
    }
}

static ssize_t read_gz(void *src, uint8_t *buf, size_t cap)
{
    struct file_src *s = src;
    int n = gzread(s->gz, buf, (unsigned)DP_MIN(cap, (size_t)1 << 30));

    if (n < 0) {
        int zerr;

        dp_log(DP_LOG_ERROR, DP_LOG_INPUT, "event=gzip-error path=\"%s\" error=\"%s\"", s->path,
                gzerror(s->gz, &zerr));
        return -EIO;
    }
    return n;
}

static void src_close(struct in_file *f, struct file_src *s)
{
    for (size_t i = 0; i < s->heap_len; i++)
        dp_msg_unref(s->heap[(s->head + i) % f->depth].msg);
    s->heap_len = 0;
    s->head = 0;
    s->ring = true;
    if (s->gz != NULL)
        gzclose(s->gz);
    else if (s->fd >= 0)
        close(s->fd);
    s->gz = NULL;
    s->fd = -1;
    if (s->rd.buf != NULL)
        gor_reader_free(&s->rd);
}

static int src_open(struct in_file *f, struct file_src *s, struct dp_err *err)
{
    size_t len = strlen(s->path);
    int rc;

    s->fd = open(s->path, O_RDONLY | O_CLOEXEC);
    if (s->fd == -1)
        return dp_err_set(err, -errno, "--input-file %s: %s", s->path, strerror(errno));
    posix_fadvise(s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (len > 3 && memcmp(s->path + len - 3, ".gz", 3) == 0) {
        s->gz = gzdopen(s->fd, "rb");
        if (s->gz == NULL) {
            close(s->fd);
            s->fd = -1;
            return dp_err_set(err, -ENOMEM, "--input-file %s: gzip: out of memory", s->path);
        }
        gzbuffer(s->gz, 256 * 1024);
    }
    rc = gor_reader_init(&s->rd, s->gz != NULL ? read_gz : read_plain, s,
            (size_t)f->cfg->copy_buffer_size);
    if (rc != 0) {
        src_close(f, s);
        return dp_err_set(err, rc, "out of memory");
    }
    s->eof = false;
    f->files_read++;
    return 0;
}

/*
 * ---- the per-file window of <depth> records, ordered by (ts, order) ----
 *
 * Most files are in timestamp order: while they are, the window is a FIFO ring and each record
 * costs two stores. The first record out of order turns the ring into a binary min-heap (a
 * sorted array already is one); when the heap empties, the window is a ring again.
 */

static bool item_less(const struct heap_item *a, const struct heap_item *b)
{
    return a->ts < b->ts || (a->ts == b->ts && a->order < b->order);
}

static void reverse(struct heap_item *a, size_t n)
{
    for (size_t i = 0; i < n / 2; i++) {
        struct heap_item t = a[i];

        a[i] = a[n - 1 - i];
        a[n - 1 - i] = t;
    }
}

static const struct heap_item *win_top(const struct file_src *s)
{
    return &s->heap[s->head];
}

static inline __attribute__((always_inline)) void win_push(struct file_src *s, size_t cap,
        struct heap_item it)
{
    size_t i;

    if (s->ring) {
        if (s->heap_len == 0 ||
                !item_less(&it, &s->heap[(s->head + s->heap_len - 1) % cap])) {
            s->heap[(s->head + s->heap_len++) % cap] = it;
            return;
        }
        /* Out of order: rotate the ring to start at slot 0, which makes it a heap. */
        reverse(s->heap, s->head);
        reverse(s->heap + s->head, cap - s->head);
        reverse(s->heap, cap);
        s->head = 0;
        s->ring = false;
    }
    i = s->heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;

        if (!item_less(&it, &s->heap[parent]))
            break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = it;
}

static void win_pop(struct file_src *s, size_t cap)
{
    struct heap_item last;
    size_t i = 0;

    if (s->ring) {
        s->head = (s->head + 1) % cap;
        s->heap_len--;
        return;
    }
    last = s->heap[--s->heap_len];
    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= s->heap_len)
            break;
        if (c + 1 < s->heap_len && item_less(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!item_less(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->heap_len > 0)
        s->heap[i] = last;
    else
        s->ring = true;
}

/* Reads records until the heap holds <depth> of them or the file ends. Inline, as is win_push():
 * it runs for every record (out of line they cost a bare replay 30 instructions a record). */
static inline __attribute__((always_inline)) void src_fill(struct in_file *f,
        struct file_src *s)
{
    while (!s->eof && s->heap_len < f->depth) {
        struct dp_msg *m;
        enum gor_status st = gor_reader_next(&s->rd, &m);

        switch (st) {
        case GOR_RECORD:
            win_push(s, f->depth, (struct heap_item){ m->ts_ns, f->order++, m });
            break;
        case GOR_MALFORMED:
            dp_log(DP_LOG_WARN, DP_LOG_INPUT,
                    "plugin=%s event=malformed-record path=\"%s\" offset=%" PRIu64,
                    f->pl->label, s->path, gor_reader_record_offset(&s->rd));
            break;
        case GOR_UNTERMINATED:
            dp_log(DP_LOG_WARN, DP_LOG_INPUT,
                    "plugin=%s event=unterminated-record path=\"%s\" offset=%" PRIu64
                    ": the file ends inside a record (no separator); it is not replayed",
                    f->pl->label, s->path, gor_reader_record_offset(&s->rd));
            break;
        case GOR_ERROR:
            f->read_errors++;
            dp_log(DP_LOG_ERROR, DP_LOG_INPUT, "plugin=%s event=read-error path=\"%s\" error=\"%s\"",
                    f->pl->label, s->path, strerror(-s->rd.error));
            s->eof = true;
            break;
        case GOR_EOF:
        case GOR_STATUS_COUNT:
            s->eof = true;
            break;
        }
    }
}

/* Moves the file at <i> of the file heap down to its place. */
static void srcs_down(struct in_file *f, size_t i)
{
    struct file_src *s = f->srcs[i];

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= f->n_srcs)
            break;
        if (c + 1 < f->n_srcs && item_less(win_top(f->srcs[c + 1]), win_top(f->srcs[c])))
            c++;
        if (!item_less(win_top(f->srcs[c]), win_top(s)))
            break;
        f->srcs[i] = f->srcs[c];
        i = c;
    }
    f->srcs[i] = s;
}

/*
 * The file whose next record has the smallest timestamp, or NULL when all are exhausted. Each
 * file keeps a sliding window of <depth> records. The files are a min-heap by their window's
 * top: emit_due() takes records from the top file only, so only that one is refilled and moved
 * down, and a record costs O(log files), not a look at every file (1M records in 2000 files
 * took 10 s that way, 1.3 s now).
 */
static struct file_src *next_src(struct in_file *f)
{
    struct file_src *top;

    if (!f->srcs_ready) {
        f->n_srcs = 0;
        for (size_t i = 0; i < f->n_files; i++) {
            src_fill(f, &f->files[i]);
            if (f->files[i].heap_len > 0)
                f->srcs[f->n_srcs++] = &f->files[i];
        }
        for (size_t i = f->n_srcs / 2; i-- > 0;)
            srcs_down(f, i);
        f->srcs_ready = true;
    }
    if (f->n_srcs == 0)
        return NULL;
    top = f->srcs[0];
    if (top->heap_len < f->depth && !top->eof)
        src_fill(f, top);
    if (top->heap_len == 0) { /* exhausted: the last file takes its place */
        f->srcs[0] = f->srcs[--f->n_srcs];
        if (f->n_srcs == 0)
            return NULL;
    }
    if (f->n_srcs > 1) /* one file (the common case) has no heap to keep */
        srcs_down(f, 0);
    return f->srcs[0];
}

/* ---- files ---- */

static void files_free(struct in_file *f)
{
    for (size_t i = 0; i < f->n_files; i++) {
        src_close(f, &f->files[i]);
        free(f->files[i].path);
        free(f->files[i].heap);
    }
    free(f->files);
    free(f->srcs);
    f->files = NULL;
    f->srcs = NULL;
    f->n_files = 0;
    f->n_srcs = 0;
    f->srcs_ready = false;
}

static int files_glob(struct in_file *f, struct dp_err *err)
{
    glob_t g;
    int rc = glob(f->pl->addr, 0, NULL, &g);

    if (rc == GLOB_NOMATCH)
        return dp_err_set(err, -ENOENT, "--input-file %s: no such file", f->pl->addr);
    if (rc != 0)
        return dp_err_set(err, -EIO, "--input-file %s: cannot list files", f->pl->addr);
    f->files = calloc(g.gl_pathc, sizeof(*f->files));
    f->srcs = calloc(g.gl_pathc, sizeof(*f->srcs));
    if (f->files == NULL || f->srcs == NULL) {
        globfree(&g);
        return dp_err_set(err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct file_src *s = &f->files[f->n_files];

        s->fd = -1;
        s->path = strdup(g.gl_pathv[i]);
        s->heap = malloc(f->depth * sizeof(*s->heap));
        s->ring = true;
        f->n_files++;
        if (s->path == NULL || s->heap == NULL) {
            globfree(&g);
            return dp_err_set(err, -ENOMEM, "out of memory");
        }
        rc = src_open(f, s, err);
        if (rc != 0) {
            globfree(&g);
            return rc;
        }
    }
    globfree(&g);
    return 0;
}

/* ---- emitting ---- */

/* <a> - <b> in ns as a double: exact when it fits an int64, and never an overflow (the
 * timestamps come from the file: anything from INT64_MIN to INT64_MAX). */
static double ts_diff(int64_t a, int64_t b)
{
    int64_t d;

    if (__builtin_sub_overflow(a, b, &d))
        return (double)a - (double)b;
    return (double)d;
}

/* The replay time of <diff> ns of record time at <speed>, within +-SPAN_MAX. */
static int64_t replay_ns(double diff, double speed)
{
    double v = diff / speed;

    if (v > (double)SPAN_MAX)
        return SPAN_MAX;
    if (v < -(double)SPAN_MAX)
        return -SPAN_MAX;
    return (int64_t)v;
}

static void on_timer(uv_timer_t *t);
static void on_idle(uv_idle_t *h);

/*
 * Schedules the next round of emitting. "Now" is an idle handle, not a 0 ms timer: libuv runs a
 * timer re-armed at 0 inside its own callback again before polling, which would starve signals,
 * --exit-after and the outputs' I/O at |max speed.
 */
static void arm(struct in_file *f, int64_t wait_ns)
{
    if (wait_ns <= 0) {
        uv_timer_stop(&f->timer);
        uv_idle_start(&f->idle, on_idle);
        return;
    }
    uv_idle_stop(&f->idle);
    uv_timer_start(&f->timer, on_timer, (uint64_t)((wait_ns + 999999) / 1000000), 0);
}

static void dry_run_report(struct in_file *f)
{
    uint64_t records = 0;
    uint64_t bytes = 0;
    uint64_t malformed = 0;
    uint64_t unterminated = 0;
    uint64_t truncated = 0;
    double span;

    for (size_t i = 0; i < f->n_files; i++) {
        records += f->files[i].rd.records;
        bytes += f->files[i].rd.bytes;
        malformed += f->files[i].rd.malformed;
        unterminated += f->files[i].rd.unterminated;
        truncated += f->files[i].rd.truncated;
    }
    span = records > 0 ? ts_diff(f->max_ts, f->first_ts) / 1e9 : 0.0;
    printf("dry run of %s\n"
           "  files: %zu\n"
           "  bytes: %" PRIu64 "\n"
           "  records: %" PRIu64 " (requests %" PRIu64 ", responses %" PRIu64
           ", replayed responses %" PRIu64 ", other %" PRIu64 ")\n"
           "  span: %.3fs\n"
           "  replay time: %.3fs at %.0f%% speed\n"
           "  out-of-order timestamps: %" PRIu64 "\n"
           "  malformed records: %" PRIu64 "\n"
           "  unterminated records: %" PRIu64 "\n"
           "  truncated payloads: %" PRIu64 "\n",
            f->pl->addr, f->n_files, bytes, records, f->types[DP_MSG_REQUEST],
            f->types[DP_MSG_RESPONSE], f->types[DP_MSG_REPLAY], f->types[DP_MSG_OTHER], span,
            f->unpaced ? 0.0 : span / f->speed, f->unpaced ? 0.0 : f->speed * 100,
            f->out_of_order, malformed, unterminated, truncated);
    fflush(stdout);
}

/* Emits every record that is due, within the budget; schedules the next round. */
static void emit_due(struct in_file *f)
{
    struct dp_plugin *pl = f->pl;
    int64_t now = dp_mono_ns();

    for (unsigned budget = 0; budget < EMIT_BUDGET; budget++) {
        struct file_src *s;
        struct dp_msg *m;
        int64_t due;

        if (f->stopping)
            return;
        if (!f->dry_run && !dp_pipeline_writable(pl)) {
            pl->paused = true; /* dp_output_writable_again() resumes us */
            uv_idle_stop(&f->idle);
            return;
        }
        s = next_src(f);
        if (s == NULL) {
            if (f->dry_run) {
                dry_run_report(f);
                uv_idle_stop(&f->idle);
                dp_input_done(pl);
                return;
            }
            if (f->cfg->input_file_loop && f->files_read > 0) {
                struct dp_err err = { 0, { 0 } };

                files_free(f);
                f->loops++;
                f->started = false;
                if (files_glob(f, &err) != 0) {
                    dp_pipeline_fail(pl, "%s", err.msg);
                    return;
                }
                continue;
            }
            uv_idle_stop(&f->idle);
            dp_input_done(pl);
            return;
        }
        m = win_top(s)->msg;
        if (!f->started) {
            f->started = true;
            f->base_mono = now;
            f->base_ts = m->ts_ns;
            f->last_ts = m->ts_ns;
            f->skipped_ns = 0;
            if (f->loops == 0)
                f->first_ts = f->max_ts = m->ts_ns;
        }
        if (m->ts_ns < f->last_ts) {
            f->out_of_order++;
            due = now; /* late records go at once; the schedule stays absolute */
        } else {
            int64_t gap = replay_ns(ts_diff(m->ts_ns, f->last_ts), f->speed);

            if (f->cfg->input_file_max_wait_ns > 0 && gap > f->cfg->input_file_max_wait_ns)
                f->skipped_ns = DP_MIN(f->skipped_ns + gap - f->cfg->input_file_max_wait_ns,
                        SPAN_MAX);
            f->last_ts = m->ts_ns;
            due = f->base_mono + replay_ns(ts_diff(m->ts_ns, f->base_ts), f->speed) -
                    f->skipped_ns;
        }
        if (m->ts_ns > f->max_ts)
            f->max_ts = m->ts_ns;
        if (!f->unpaced && !f->dry_run && due > now) {
            if (due - now > 500000) { /* not due within half a millisecond: sleep */
                arm(f, due - now);
                return;
            }
        }
        win_pop(s, f->depth);
        f->types[m->type]++;
        if (f->dry_run) {
            dp_msg_unref(m);
            continue;
        }
        if (!f->unpaced) {
            f->lag_last_ns = DP_MAX(now - due, 0);
            if (f->lag_last_ns > f->lag_max_ns)
                f->lag_max_ns = f->lag_last_ns;
        }
        dp_pipeline_push(pl, m);
        if ((budget & 63) == 63)
            now = dp_mono_ns();
    }
    arm(f, 0); /* budget spent: go on after the loop has polled */
}

static void on_timer(uv_timer_t *t)
{
    emit_due(t->data);
}

static void on_idle(uv_idle_t *h)
{
    emit_due(h->data);
}

/* ---- plugin ---- */

static int file_open(struct dp_plugin *pl, const struct dp_config *cfg, struct dp_err *err)
{
    struct in_file *f = calloc(1, sizeof(*f));
    int rc;

    if (f == NULL)
        return dp_err_set(err, -ENOMEM, "out of memory");
    pl->ctx = f;
    f->pl = pl;
    f->cfg = cfg;
    f->speed = 1.0;
    f->dry_run = cfg->input_file_dry_run;
    if (cfg->input_file_read_depth < 1 || cfg->input_file_read_depth > 1000000)
        return dp_err_set(err, -EINVAL, "--input-file-read-depth %lld: must be 1 to 1000000",
                (long long)cfg->input_file_read_depth);
    f->depth = (size_t)cfg->input_file_read_depth;
    if (strncmp(pl->addr, "s3://", 5) == 0)
        return dp_err_set(err, -ENOTSUP, "--input-file %s: S3 input is not supported", pl->addr);
    /* On input-file, "|N%" is the replay speed and nothing is dropped (GoReplay's rule). */
    if (pl->limiter.kind == DP_LIMIT_PERCENT) {
        if (pl->limiter.n <= 0)
            return dp_err_set(err, -EINVAL, "--input-file %s|%lld%%: the speed must be above 0%%",
                    pl->addr, (long long)pl->limiter.n);
        f->speed = (double)pl->limiter.n / 100.0;
        pl->limiter.kind = DP_LIMIT_NONE;
    } else if (pl->limiter.kind == DP_LIMIT_MAX) {
        f->unpaced = true;
    }
    rc = files_glob(f, err);
    if (rc != 0)
        return rc;
    return 0;
}

static int file_start(struct dp_plugin *pl, uv_loop_t *loop, struct dp_err *err)
{
    struct in_file *f = pl->ctx;
    int rc = uv_timer_init(loop, &f->timer);

    if (rc == 0) {
        f->handles_open++;
        rc = uv_idle_init(loop, &f->idle);
    }
    if (rc != 0) {
        if (f->handles_open > 0)
            uv_close((uv_handle_t *)&f->timer, NULL);
        return dp_err_set(err, rc, "%s: timer: %s", pl->label, uv_strerror(rc));
    }
    f->handles_open++;
    f->timer.data = f;
    f->idle.data = f;
    arm(f, 0);
    return 0;
}

static void file_resume(struct dp_plugin *pl)
{
    arm(pl->ctx, 0);
}

static void file_pause(struct dp_plugin *pl)
{
    struct in_file *f = pl->ctx;

    uv_timer_stop(&f->timer);
    uv_idle_stop(&f->idle);
}

static void on_closed(uv_handle_t *h)
{
    struct in_file *f = h->data;

    if (--f->handles_open == 0)
        dp_plugin_closed(f->pl);
}

static void file_close(struct dp_plugin *pl)
{
    struct in_file *f = pl->ctx;

    f->stopping = true;
    uv_close((uv_handle_t *)&f->timer, on_closed);
    uv_close((uv_handle_t *)&f->idle, on_closed);
}

static void file_stats(struct dp_plugin *pl, struct dp_statbuf *sb)
{
    struct in_file *f = pl->ctx;
    uint64_t bytes = 0;
    uint64_t malformed = 0;
    uint64_t unterminated = 0;

    for (size_t i = 0; i < f->n_files; i++) {
        bytes += f->files[i].rd.bytes;
        malformed += f->files[i].rd.malformed;
        unterminated += f->files[i].rd.unterminated;
    }
    dp_statbuf_add(sb,
            " files=%" PRIu64 " bytes=%" PRIu64 " malformed=%" PRIu64 " unterminated=%" PRIu64
            " out_of_order=%" PRIu64 " read_errors=%" PRIu64 " loops=%" PRIu64
            " lag_ms=%.1f lag_max_ms=%.1f",
            f->files_read, bytes, malformed, unterminated, f->out_of_order, f->read_errors,
            f->loops, (double)f->lag_last_ns / 1e6, (double)f->lag_max_ns / 1e6);
}

static void file_free(struct dp_plugin *pl)
{
    struct in_file *f = pl->ctx;

    files_free(f);
    free(f);
    pl->ctx = NULL;
}

const struct dp_input_ops in_file_ops = {
    .name = "input-file",
    .open = file_open,
    .start = file_start,
    .pause = file_pause,
    .resume = file_resume,
    .close = file_close,
    .stats = file_stats,
    .free = file_free,
};
