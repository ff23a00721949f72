#include "modify/mw_plugin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/pipeline.h"
#include "modify/middleware.h"

struct mw_plugin {
    struct dp_plugin *pl;
    struct dp_middleware *mw;
    const char *cmd;
    uint64_t drain_ms;
    bool exited;
};

static int mwp_open(struct dp_plugin *pl, const struct dp_config *cfg, struct dp_err *err)
{
    struct mw_plugin *m = calloc(1, sizeof(*m));
    const struct dp_middleware_opts o = {
        .cmd = cfg->middleware,
        .restart = cfg->middleware_restart,
        .max_msg = (size_t)cfg->copy_buffer_size,
    };

    if (m == NULL)
        return dp_err_set(err, -ENOMEM, "out of memory");
    pl->ctx = m;
    m->pl = pl;
    m->cmd = cfg->middleware;
    m->drain_ms = cfg->drain_timeout_ns > 0 ? (uint64_t)(cfg->drain_timeout_ns / 1000000) : 5000;
    return dp_middleware_new(&o, &m->mw, err);
}

static void on_msg(void *ctx, struct dp_msg *msg)
{
    struct mw_plugin *m = ctx;

    dp_output_feedback(m->pl, msg);
}

static void mw_exited(void *ctx, int64_t status, int signal, bool expected)
{
    struct mw_plugin *m = ctx;

    m->exited = true;
    if (!expected) {
        if (status < 0)
            dp_pipeline_fail(m->pl, "middleware \"%s\" could not be started again: %s", m->cmd,
                    strerror((int)-status));
        else if (signal != 0)
            dp_pipeline_fail(m->pl, "middleware \"%s\" was killed by signal %d", m->cmd, signal);
        else
            dp_pipeline_fail(m->pl, "middleware \"%s\" exited with status %lld", m->cmd,
                    (long long)status);
    }
    if (m->pl->closing)
        dp_plugin_closed(m->pl);
}

static int mwp_start(struct dp_plugin *pl, uv_loop_t *loop, struct dp_err *err)
{
    struct mw_plugin *m = pl->ctx;

    return dp_middleware_start(m->mw, loop, on_msg, mw_exited, m, err);
}

static int mwp_accept(struct dp_plugin *pl, struct dp_msg *msg)
{
    struct mw_plugin *m = pl->ctx;
    int rc = dp_middleware_write(m->mw, msg);

    if (rc == 0)
        pl->ctr[DP_OUT_DELIVERED]++;
    return rc;
}

static void wake(void *ctx)
{
    dp_output_writable_again(ctx);
}

static bool mwp_writable(struct dp_plugin *pl)
{
    struct mw_plugin *m = pl->ctx;

    return dp_middleware_writable(m->mw, wake, pl);
}

static void mwp_close(struct dp_plugin *pl)
{
    struct mw_plugin *m = pl->ctx;

    if (m->exited) {
        dp_plugin_closed(pl);
        return;
    }
    dp_middleware_close_input(m->mw, m->drain_ms);
}

static void mwp_stats(struct dp_plugin *pl, struct dp_statbuf *sb)
{
    struct mw_plugin *m = pl->ctx;

    dp_middleware_stats(m->mw, sb);
}

static void mwp_free(struct dp_plugin *pl)
{
    struct mw_plugin *m = pl->ctx;

    if (m == NULL)
        return;
    dp_middleware_free(m->mw);
    free(m);
    pl->ctx = NULL;
}

const struct dp_output_ops dp_mw_plugin_ops = {
    .name = "middleware",
    .feedback = true,
    .open = mwp_open,
    .start = mwp_start,
    .accept = mwp_accept,
    .writable = mwp_writable,
    .close = mwp_close,
    .stats = mwp_stats,
    .free = mwp_free,
};
