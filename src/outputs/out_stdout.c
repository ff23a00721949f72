/*
 * out_stdout.c: --output-stdout writes each record to standard output as it arrives, unbuffered
 * like GoReplay's, so a reader sees messages live. A closed pipe (doppel ... | head) stops this
 * output only: its messages are counted as failed, the other outputs go on.
 */
#include "outputs/out_stdout.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "format/gorfile.h"

struct out_stdout {
    int fd;
    bool broken;
    uint64_t bytes;
};

static int stdout_open(struct dp_plugin *pl, const struct dp_config *cfg, struct dp_err *err)
{
    struct out_stdout *o = calloc(1, sizeof(*o));

    (void)cfg;
    if (o == NULL)
        return dp_err_set(err, -ENOMEM, "out of memory");
    o->fd = STDOUT_FILENO;
    pl->ctx = o;
    return 0;
}

static int stdout_start(struct dp_plugin *pl, uv_loop_t *loop, struct dp_err *err)
{
    (void)pl;
    (void)loop;
    (void)err;
    return 0;
}

/* Writes all of <iov>, retrying short writes and EINTR. Returns 0 or -errno. */
static int write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);

        if (w == -1) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

static int stdout_accept(struct dp_plugin *pl, struct dp_msg *msg)
{
    struct out_stdout *o = pl->ctx;
    struct iovec iov[3];
    size_t len;
    int rc;

    if (o->broken)
        return -EPIPE;
    len = gor_record_iov(msg, iov);
    rc = write_all(o->fd, iov, 3);
    if (rc != 0) {
        o->broken = true;
        pl->ctr[DP_OUT_FAILED]++;
        dp_log(DP_LOG_WARN, DP_LOG_OUTPUT, "plugin=%s event=stopped error=\"%s\"", pl->label,
                strerror(-rc));
        return 0;
    }
    o->bytes += len;
    pl->ctr[DP_OUT_DELIVERED]++;
    return 0;
}

static void stdout_close(struct dp_plugin *pl)
{
    dp_plugin_closed(pl);
}

static void stdout_stats(struct dp_plugin *pl, struct dp_statbuf *sb)
{
    struct out_stdout *o = pl->ctx;

    dp_statbuf_add(sb, " bytes=%llu", (unsigned long long)o->bytes);
}

static void stdout_free(struct dp_plugin *pl)
{
    free(pl->ctx);
    pl->ctx = NULL;
}

const struct dp_output_ops out_stdout_ops = {
    .name = "output-stdout",
    .open = stdout_open,
    .start = stdout_start,
    .accept = stdout_accept,
    .close = stdout_close,
    .stats = stdout_stats,
    .free = stdout_free,
};
