/* out_null.c: --output-null accepts every message and discards it (as GoReplay). */
#include "outputs/out_null.h"

static int null_open(struct dp_plugin *pl, const struct dp_config *cfg, struct dp_err *err)
{
    (void)cfg;
    (void)err;
    pl->ctx = pl;
    return 0;
}

static int null_start(struct dp_plugin *pl, uv_loop_t *loop, struct dp_err *err)
{
    (void)pl;
    (void)loop;
    (void)err;
    return 0;
}

static int null_accept(struct dp_plugin *pl, struct dp_msg *msg)
{
    (void)msg;
    pl->ctr[DP_OUT_DELIVERED]++;
    return 0;
}

static void null_close(struct dp_plugin *pl)
{
    dp_plugin_closed(pl);
}

const struct dp_output_ops out_null_ops = {
    .name = "output-null",
    .open = null_open,
    .start = null_start,
    .accept = null_accept,
    .close = null_close,
};
