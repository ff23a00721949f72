#include "outputs/out_file.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "core/clock.h"
#include "core/log.h"
#include "format/gorfile.h"

#define OUT_BUF_SIZE (256 * 1024)
#define RECENT_MAX   8 /* names whose chunk we remember (%t alternates between 2 or 3) */

/* A name this output wrote to in this run, and where its chunk stood when it was closed. */
struct recent_chunk {
    char base[PATH_MAX];
    unsigned chunk;
    uint64_t records;
    uint64_t bytes;
};

struct out_file {
    struct dp_plugin *pl;
    const char *tpl;
    bool append;
    bool dynamic;  /* the template has a time code */
    bool per_msg;  /* the template has %r, %t or %NS */
    int64_t queue_limit;
    int64_t size_limit;
    int64_t max_total;
    int64_t flush_ms;
    char base[PATH_MAX];    /* expanded template of the open file */
    char path[PATH_MAX];    /* the open file (base plus chunk index) */
    int64_t name_second;    /* wall second the cached base was expanded for */
    int fd;
    bool gz;
    z_stream zs;
    unsigned chunk;
    uint64_t chunk_records;
    uint64_t chunk_bytes;
    uint64_t total_bytes;
    uint8_t *buf;           /* whole records (or deflated bytes), not yet written */
    size_t buf_len;
    uint64_t buf_records;   /* records in buf: delivered on a good write, failed on a bad one */
    uint64_t files_opened;
    bool stopped;
    bool warned_name; /* a record was skipped for its file name (logged once) */
    uv_timer_t timer;
    struct recent_chunk recent[RECENT_MAX];
    unsigned recent_next; /* the slot the next new name takes */
};

static char instance_id[9];

/* ---- names ---- */

static int put(char *out, size_t cap, size_t *o, const char *s, size_t n)
{
    if (*o + n >= cap)
        return -ENAMETOOLONG;
    memcpy(out + *o, s, n);
    *o += n;
    return 0;
}

int out_file_expand(const char *tpl, int64_t wall_ns, char type, const uint8_t *id, size_t id_len,
        char *out, size_t cap)
{
    time_t secs = (time_t)(wall_ns / 1000000000);
    struct tm tm;
    size_t o = 0;
    char tmp[32];

    localtime_r(&secs, &tm);
    for (const char *p = tpl; *p != '\0'; p++) {
        int n = -1;
        int rc = 0;

        if (*p != '%' || p[1] == '\0') {
            rc = put(out, cap, &o, p, 1);
            if (rc != 0)
                return rc;
            continue;
        }
        switch (p[1]) {
        case 'Y':
            n = snprintf(tmp, sizeof(tmp), "%04d", tm.tm_year + 1900);
            break;
        case 'm':
            n = snprintf(tmp, sizeof(tmp), "%02d", tm.tm_mon + 1);
            break;
        case 'd':
            n = snprintf(tmp, sizeof(tmp), "%02d", tm.tm_mday);
            break;
        case 'H':
            n = snprintf(tmp, sizeof(tmp), "%02d", tm.tm_hour);
            break;
        case 'M':
            n = snprintf(tmp, sizeof(tmp), "%02d", tm.tm_min);
            break;
        case 'S':
            n = snprintf(tmp, sizeof(tmp), "%02d", tm.tm_sec);
            break;
        case 'N':
            if (p[2] == 'S') {
                n = snprintf(tmp, sizeof(tmp), "%d", (int)(wall_ns % 1000000000));
                p++;
            }
            break;
        case 't':
            tmp[0] = type;
            n = 1;
            break;
        case 'i':
            n = (int)strlen(instance_id);
            memcpy(tmp, instance_id, (size_t)n);
            break;
        case 'r':
            for (size_t i = 0; i < id_len; i++) {
                uint8_t c = id[i];
                char s = (char)c;

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '_'))
                    s = '_';
                rc = put(out, cap, &o, &s, 1);
                if (rc != 0)
                    return rc;
            }
            p++;
            continue;
        default:
            break;
        }
        if (n < 0) { /* not a code: keep the '%' as written */
            rc = put(out, cap, &o, p, 1);
        } else {
            rc = put(out, cap, &o, tmp, (size_t)n);
            p++;
        }
        if (rc != 0)
            return rc;
    }
    out[o] = '\0';
    return (int)o;
}

/* Offset of the last extension ("." in the last path component, not leading), or len. */
static size_t ext_offset(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *base = slash != NULL ? slash + 1 : name;
    const char *dot = strrchr(base, '.');

    if (dot == NULL || dot == base)
        return strlen(name);
    return (size_t)(dot - name);
}

int out_file_chunk_name(const char *name, unsigned idx, char *out, size_t cap)
{
    size_t e = ext_offset(name);
    int n = snprintf(out, cap, "%.*s_%u%s", (int)e, name, idx, name + e);

    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : n;
}

long out_file_last_chunk(const char *name)
{
    char pattern[PATH_MAX + 8];
    size_t e = ext_offset(name);
    long best = -1;
    glob_t g;

    /* The stem is matched literally: glob metacharacters in it are escaped. */
    {
        size_t o = 0;

        for (size_t i = 0; i < e && o + 3 < sizeof(pattern); i++) {
            if (strchr("*?[\\", name[i]) != NULL)
                pattern[o++] = '\\';
            pattern[o++] = name[i];
        }
        if (o + strlen(name + e) + 4 >= sizeof(pattern))
            return -1;
        pattern[o++] = '_';
        pattern[o++] = '*';
        for (const char *s = name + e; *s != '\0'; s++) {
            if (strchr("*?[\\", *s) != NULL)
                pattern[o++] = '\\';
            pattern[o++] = *s;
        }
        pattern[o] = '\0';
    }
    if (glob(pattern, GLOB_NOSORT, NULL, &g) != 0)
        return -1;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *digits = g.gl_pathv[i] + e + 1;
        size_t nd = strlen(g.gl_pathv[i]) - e - 1 - strlen(name + e);
        long v = 0;
        bool ok = nd > 0 && nd < 10;

        for (size_t k = 0; ok && k < nd; k++) {
            ok = digits[k] >= '0' && digits[k] <= '9';
            v = v * 10 + (digits[k] - '0');
        }
        if (ok && v > best)
            best = v;
    }
    globfree(&g);
    return best;
}

/* ---- writing ---- */

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);

        if (w == -1) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/*
 * Counts a record whose file name, made from the record itself (%r: its id), is too long, and
 * skips it: a hostile id must not end the recording. Logged the first time. 0.
 */
static int skip_long_name(struct out_file *f)
{
    f->pl->ctr[DP_OUT_FAILED]++;
    if (!f->warned_name) {
        f->warned_name = true;
        dp_log(DP_LOG_WARN, DP_LOG_OUTPUT,
                "plugin=%s event=skipped reason=name-too-long: a record's id makes its file "
                "name too long; such records are counted as failed and skipped (logged once)",
                f->pl->label);
    }
    return 0;
}

static void file_stop(struct out_file *f, const char *why, int err)
{
    if (f->stopped)
        return;
    f->stopped = true;
    if (err != 0)
        dp_pipeline_fail(f->pl, "%s: %s: %s", f->path[0] ? f->path : f->tpl, why, strerror(-err));
}

/*
 * Writes buf out. Only whole records are ever in buf, and a failed write is cut back to the
 * last whole record (plain files), so the file never ends in half a record.
 */
static int file_write_buf(struct out_file *f)
{
    struct dp_plugin *pl = f->pl;
    off_t before;
    int rc;

    if (f->buf_len == 0) {
        pl->ctr[DP_OUT_DELIVERED] += f->buf_records;
        pl->ctr[DP_OUT_PENDING] -= f->buf_records;
        f->buf_records = 0;
        return 0;
    }
    before = f->gz ? -1 : lseek(f->fd, 0, SEEK_CUR);
    rc = write_all(f->fd, f->buf, f->buf_len);
    if (rc != 0) {
        if (before >= 0 && ftruncate(f->fd, before) == -1)
            dp_log(DP_LOG_ERROR, DP_LOG_OUTPUT, "plugin=%s event=truncate-failed path=\"%s\"",
                    pl->label, f->path);
        pl->ctr[DP_OUT_FAILED] += f->buf_records;
    } else {
        pl->ctr[DP_OUT_DELIVERED] += f->buf_records;
    }
    pl->ctr[DP_OUT_PENDING] -= f->buf_records;
    f->buf_records = 0;
    f->buf_len = 0;
    return rc;
}

/* Deflates <p,len> into buf with <flush>, writing buf out whenever it fills. */
static int file_deflate(struct out_file *f, const uint8_t *p, size_t len, int flush)
{
    f->zs.next_in = (Bytef *)(uintptr_t)p;
    f->zs.avail_in = (uInt)len;
    do {
        int zrc;

        f->zs.next_out = f->buf + f->buf_len;
        f->zs.avail_out = (uInt)(OUT_BUF_SIZE - f->buf_len);
        zrc = deflate(&f->zs, flush);
        if (zrc == Z_STREAM_ERROR)
            return -EIO;
        f->buf_len = OUT_BUF_SIZE - f->zs.avail_out;
        if (f->buf_len == OUT_BUF_SIZE) {
            int rc = write_all(f->fd, f->buf, f->buf_len);

            if (rc != 0)
                return rc;
            f->chunk_bytes += f->buf_len;
            f->buf_len = 0;
        }
    } while (f->zs.avail_in > 0 || f->zs.avail_out == 0);
    return 0;
}

static int file_flush(struct out_file *f, bool finish)
{
    int rc = 0;

    if (f->fd < 0)
        return 0;
    if (f->gz) {
        rc = file_deflate(f, NULL, 0, finish ? Z_FINISH : Z_SYNC_FLUSH);
        if (rc == 0)
            f->chunk_bytes += f->buf_len;
    }
    if (rc == 0)
        rc = file_write_buf(f);
    if (rc != 0) {
        f->pl->ctr[DP_OUT_FAILED] += f->buf_records;
        f->pl->ctr[DP_OUT_PENDING] -= f->buf_records;
        f->buf_records = 0;
        f->buf_len = 0;
        file_stop(f, "write failed", rc);
    }
    return rc;
}

/* The remembered chunk of <base>, or NULL. */
static struct recent_chunk *recent_find(struct out_file *f, const char *base)
{
    for (unsigned i = 0; i < RECENT_MAX; i++) {
        if (f->recent[i].base[0] != '\0' && strcmp(f->recent[i].base, base) == 0)
            return &f->recent[i];
    }
    return NULL;
}

/* Remembers the current chunk of f->base, in its slot or the oldest one. */
static void recent_keep(struct out_file *f)
{
    struct recent_chunk *r = recent_find(f, f->base);

    if (r == NULL) {
        r = &f->recent[f->recent_next];
        f->recent_next = (f->recent_next + 1) % RECENT_MAX;
        snprintf(r->base, sizeof(r->base), "%s", f->base);
    }
    r->chunk = f->chunk;
    r->records = f->chunk_records;
    r->bytes = f->chunk_bytes;
}

static void file_close_current(struct out_file *f)
{
    if (f->fd < 0)
        return;
    file_flush(f, true);
    if (!f->append)
        recent_keep(f);
    if (f->gz)
        deflateEnd(&f->zs);
    if (close(f->fd) == -1 && !f->stopped)
        file_stop(f, "close failed", -errno);
    f->fd = -1;
    f->path[0] = '\0';
}

/*
 * Opens the file for f->base: the next chunk (<next_chunk>), or the chunk this output was
 * writing when it last had this name (a template with %t switches names at every record: each
 * switch made a new chunk, after a glob() of the whole directory, which grew by a file per
 * record: 20,000 records took 80 s), or a new chunk after the highest one on disk.
 */
static int file_open_next(struct out_file *f, bool next_chunk)
{
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_APPEND;
    struct recent_chunk *r = next_chunk || f->append ? NULL : recent_find(f, f->base);

    if (f->append) {
        snprintf(f->path, sizeof(f->path), "%s", f->base);
    } else if (r != NULL) { /* our own chunk, created in this run: it goes on */
        f->chunk = r->chunk;
        if (out_file_chunk_name(f->base, f->chunk, f->path, sizeof(f->path)) < 0)
            return -ENAMETOOLONG;
    } else {
        if (!next_chunk) {
            long last = out_file_last_chunk(f->base);

            f->chunk = last < 0 ? 0 : (unsigned)last + 1;
        }
        if (out_file_chunk_name(f->base, f->chunk, f->path, sizeof(f->path)) < 0)
            return -ENAMETOOLONG;
        flags |= O_EXCL; /* a new chunk: never write into someone's file */
    }
    f->fd = open(f->path, flags, 0660);
    if (f->fd == -1 && errno == EEXIST && !f->append) {
        long last = out_file_last_chunk(f->base);

        f->chunk = last < 0 ? 0 : (unsigned)last + 1;
        if (out_file_chunk_name(f->base, f->chunk, f->path, sizeof(f->path)) < 0)
            return -ENAMETOOLONG;
        f->fd = open(f->path, flags, 0660);
    }
    if (f->fd == -1)
        return -errno;
    f->gz = strlen(f->path) > 3 && strcmp(f->path + strlen(f->path) - 3, ".gz") == 0;
    if (f->gz) {
        memset(&f->zs, 0, sizeof(f->zs));
        if (deflateInit2(&f->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                    Z_DEFAULT_STRATEGY) != Z_OK) {
            close(f->fd);
            f->fd = -1;
            return -ENOMEM;
        }
    }
    f->chunk_records = r != NULL ? r->records : 0;
    f->chunk_bytes = r != NULL ? r->bytes : 0;
    f->files_opened++;
    dp_log(DP_LOG_INFO, DP_LOG_OUTPUT, "plugin=%s event=open path=\"%s\"", f->pl->label, f->path);
    return 0;
}

static int file_accept(struct dp_plugin *pl, struct dp_msg *msg)
{
    struct out_file *f = pl->ctx;
    struct iovec iov[3];
    size_t len;
    int rc = 0;

    if (f->stopped)
        return -EPIPE;
    len = gor_record_iov(msg, iov);
    if (f->total_bytes + len > (uint64_t)f->max_total) {
        f->stopped = true;
        dp_log(DP_LOG_WARN, DP_LOG_OUTPUT,
                "plugin=%s event=stopped reason=max-size-limit limit=%lld: this output stops, the "
                "others go on",
                pl->label, (long long)f->max_total);
        return -EPIPE;
    }
    if (f->dynamic || f->per_msg || f->fd < 0) {
        int64_t now = dp_wall_ns();

        if (f->per_msg || now / 1000000000 != f->name_second || f->fd < 0) {
            char name[PATH_MAX];
            struct dp_bytes id = dp_msg_id(msg);

            f->name_second = now / 1000000000;
            if (out_file_expand(f->tpl, now, (char)msg->buf[0], id.ptr, id.len, name,
                        sizeof(name)) < 0) {
                if (f->per_msg)
                    return skip_long_name(f);
                file_stop(f, "file name too long", -ENAMETOOLONG);
                return -EPIPE;
            }
            if (f->fd < 0 || strcmp(name, f->base) != 0) {
                file_close_current(f);
                if (f->stopped)
                    return -EPIPE;
                snprintf(f->base, sizeof(f->base), "%s", name);
                rc = file_open_next(f, false);
                if (rc == -ENAMETOOLONG && f->per_msg)
                    return skip_long_name(f); /* a name longer than NAME_MAX */
                if (rc != 0) {
                    file_stop(f, "cannot open", rc);
                    return -EPIPE;
                }
            }
        }
    }
    if (!f->append && ((f->queue_limit > 0 && f->chunk_records >= (uint64_t)f->queue_limit) ||
                              f->chunk_bytes >= (uint64_t)f->size_limit)) {
        file_close_current(f);
        if (f->stopped)
            return -EPIPE;
        f->chunk++;
        rc = file_open_next(f, true);
        if (rc != 0) {
            file_stop(f, "cannot open", rc);
            return -EPIPE;
        }
    }
    pl->ctr[DP_OUT_PENDING]++;
    f->buf_records++;
    f->chunk_records++;
    f->total_bytes += len;
    if (f->gz) {
        for (int i = 0; i < 3; i++) {
            rc = file_deflate(f, iov[i].iov_base, iov[i].iov_len, Z_NO_FLUSH);
            if (rc != 0) {
                file_flush(f, false);
                file_stop(f, "write failed", rc);
                return 0;
            }
        }
        return 0;
    }
    f->chunk_bytes += len;
    if (f->buf_len + len > OUT_BUF_SIZE) {
        f->buf_records--; /* this record is not in buf yet */
        rc = file_write_buf(f);
        f->buf_records++;
        if (rc != 0) {
            file_flush(f, false);
            file_stop(f, "write failed", rc);
            return 0;
        }
    }
    if (len > OUT_BUF_SIZE) { /* a big record goes straight out, whole */
        for (int i = 0; i < 3 && rc == 0; i++)
            rc = write_all(f->fd, iov[i].iov_base, iov[i].iov_len);
        pl->ctr[rc == 0 ? DP_OUT_DELIVERED : DP_OUT_FAILED]++;
        pl->ctr[DP_OUT_PENDING]--;
        f->buf_records--;
        if (rc != 0)
            file_stop(f, "write failed", rc);
        return 0;
    }
    for (int i = 0; i < 3; i++) {
        memcpy(f->buf + f->buf_len, iov[i].iov_base, iov[i].iov_len);
        f->buf_len += iov[i].iov_len;
    }
    return 0;
}

static void on_flush_timer(uv_timer_t *t)
{
    struct out_file *f = t->data;

    if (!f->stopped)
        file_flush(f, false);
}

static int file_open(struct dp_plugin *pl, const struct dp_config *cfg, struct dp_err *err)
{
    struct out_file *f;
    char probe[PATH_MAX];
    char *slash;

    if (instance_id[0] == '\0') {
        uint8_t r[8];

        if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
            memset(r, 7, sizeof(r));
        for (size_t i = 0; i < sizeof(r); i++)
            instance_id[i] = (char)((r[i] & 1 ? 'a' : 'A') + r[i] % 26);
    }
    if (pl->addr[0] == '\0')
        return dp_err_set(err, -EINVAL, "--output-file needs a file name");
    if (strncmp(pl->addr, "s3://", 5) == 0)
        return dp_err_set(err, -ENOTSUP, "--output-file %s: S3 output is not supported", pl->addr);
    /* Check the directory now, so a typo fails at start and not at the first record. */
    if (out_file_expand(pl->addr, dp_wall_ns(), '1', (const uint8_t *)"0", 1, probe,
                sizeof(probe)) < 0)
        return dp_err_set(err, -ENAMETOOLONG, "--output-file %s: name too long", pl->addr);
    slash = strrchr(probe, '/');
    if (slash != NULL) {
        *slash = '\0';
        if (access(slash == probe ? "/" : probe, W_OK) != 0)
            return dp_err_set(err, -errno, "--output-file %s: directory %s: %s", pl->addr,
                    slash == probe ? "/" : probe, strerror(errno));
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL || (f->buf = malloc(OUT_BUF_SIZE)) == NULL) {
        free(f);
        return dp_err_set(err, -ENOMEM, "out of memory");
    }
    f->pl = pl;
    f->tpl = pl->addr;
    f->fd = -1;
    f->append = cfg->output_file_append;
    f->queue_limit = cfg->output_file_queue_limit;
    f->size_limit = cfg->output_file_size_limit;
    f->max_total = cfg->output_file_max_size_limit;
    f->flush_ms = DP_MAX(cfg->output_file_flush_interval_ns / 1000000, 100);
    f->dynamic = strpbrk(f->tpl, "%") != NULL;
    f->per_msg = strstr(f->tpl, "%r") != NULL || strstr(f->tpl, "%t") != NULL ||
            strstr(f->tpl, "%NS") != NULL;
    pl->ctx = f;
    return 0;
}

static int file_start(struct dp_plugin *pl, uv_loop_t *loop, struct dp_err *err)
{
    struct out_file *f = pl->ctx;
    int rc = uv_timer_init(loop, &f->timer);

    if (rc == 0)
        rc = uv_timer_start(&f->timer, on_flush_timer, (uint64_t)f->flush_ms,
                (uint64_t)f->flush_ms);
    if (rc != 0)
        return dp_err_set(err, rc, "%s: timer: %s", pl->label, uv_strerror(rc));
    f->timer.data = f;
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct out_file *f = h->data;

    dp_plugin_closed(f->pl);
}

static void file_close(struct dp_plugin *pl)
{
    struct out_file *f = pl->ctx;

    file_close_current(f);
    uv_close((uv_handle_t *)&f->timer, on_timer_closed);
}

static void file_stats(struct dp_plugin *pl, struct dp_statbuf *sb)
{
    struct out_file *f = pl->ctx;

    dp_statbuf_add(sb, " bytes=%llu files=%llu", (unsigned long long)f->total_bytes,
            (unsigned long long)f->files_opened);
}

static void file_free(struct dp_plugin *pl)
{
    struct out_file *f = pl->ctx;

    free(f->buf);
    free(f);
    pl->ctx = NULL;
}

const struct dp_output_ops out_file_ops = {
    .name = "output-file",
    .open = file_open,
    .start = file_start,
    .accept = file_accept,
    .close = file_close,
    .stats = file_stats,
    .free = file_free,
};
