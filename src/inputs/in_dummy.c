#include "inputs/in_dummy.h"

#include <errno.h>
#include <stdlib.h>

#include "core/clock.h"

static const char dummy_request[] = "GET / HTTP/1.1\r\nHost: www.w3.org\r\n"
                                    "User-Agent: Go 1.1 package http\r\n"
                                    "Accept-Encoding: gzip\r\n\r\n";
static const char dummy_response[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

struct in_dummy {
    struct dp_plugin *pl;
    uv_timer_t timer;
};

static int dummy_open(struct dp_plugin *pl, const struct dp_config *cfg, struct dp_err *err)
{
    struct in_dummy *d = calloc(1, sizeof(*d));

    (void)cfg;
    if (d == NULL)
        return dp_err_set(err, -ENOMEM, "out of memory");
    d->pl = pl;
    pl->ctx = d;
    return 0;
}

static void on_tick(uv_timer_t *t)
{
    struct in_dummy *d = t->data;
    uint8_t id[24];
    int64_t now = dp_wall_ns();
    struct dp_msg *req;
    struct dp_msg *resp;

    dp_msg_random_id(id);
    req = dp_msg_new(DP_MSG_REQUEST, id, sizeof(id), now, -1, (const uint8_t *)dummy_request,
            sizeof(dummy_request) - 1);
    resp = dp_msg_new(DP_MSG_RESPONSE, id, sizeof(id), now, 1, (const uint8_t *)dummy_response,
            sizeof(dummy_response) - 1);
    if (req != NULL)
        dp_pipeline_push(d->pl, req);
    if (resp != NULL)
        dp_pipeline_push(d->pl, resp);
}

static int dummy_start(struct dp_plugin *pl, uv_loop_t *loop, struct dp_err *err)
{
    struct in_dummy *d = pl->ctx;
    int rc = uv_timer_init(loop, &d->timer);

    d->timer.data = d;
    if (rc == 0)
        rc = uv_timer_start(&d->timer, on_tick, 1000, 1000);
    if (rc != 0)
        return dp_err_set(err, rc, "%s: timer: %s", pl->label, uv_strerror(rc));
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    struct in_dummy *d = h->data;

    dp_plugin_closed(d->pl);
}

static void dummy_close(struct dp_plugin *pl)
{
    struct in_dummy *d = pl->ctx;

    uv_close((uv_handle_t *)&d->timer, on_closed);
}

static void dummy_free(struct dp_plugin *pl)
{
    free(pl->ctx);
    pl->ctx = NULL;
}

const struct dp_input_ops in_dummy_ops = {
    .name = "input-dummy",
    .open = dummy_open,
    .start = dummy_start,
    .close = dummy_close,
    .free = dummy_free,
};
