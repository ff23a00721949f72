#include "core/pipeline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/registry.h"
#include "modify/lua_hook.h"
#include "modify/modifier.h"
#include "modify/mw_plugin.h"
#include "modify/prettify.h"

const char *const dp_ctr_names[DP_CTR_COUNT] = {
    [DP_IN_RECEIVED] = "received",
    [DP_IN_EMITTED] = "emitted",
    [DP_IN_FILTERED] = "filtered",
    [DP_IN_DROPPED_LIMIT] = "dropped_limit",
    [DP_IN_TRUNCATED] = "truncated",
    [DP_OUT_ACCEPTED] = "accepted",
    [DP_OUT_DELIVERED] = "delivered",
    [DP_OUT_FAILED] = "failed",
    [DP_OUT_DROPPED_LIMIT] = "dropped_limit",
    [DP_OUT_DROPPED_QUEUE] = "dropped_queue",
    [DP_OUT_DROPPED_STOPPED] = "dropped_stopped",
    [DP_OUT_PENDING] = "pending",
};

enum pipe_state {
    PIPE_RUNNING = 0,
    PIPE_STOPPING, /* inputs are closing */
    PIPE_DRAINING, /* outputs are delivering what they hold, then closing */
    PIPE_DONE,     /* our own handles are closing */
    PIPE_STATE_COUNT
};

struct dp_pipeline {
    const struct dp_config *cfg;
    uv_loop_t loop;
    struct dp_plugin **inputs;
    struct dp_plugin **outputs;
    unsigned n_in;
    unsigned n_out;
    unsigned inputs_open;
    unsigned outputs_open;
    unsigned handles_open;
    enum pipe_state state;
    bool in_close_loop;
    bool inputs_finished; /* the run ends because every input is exhausted */
    int status;
    int signals;
    uint64_t seq;
    int64_t started_ns;
    uv_signal_t sigint;
    uv_signal_t sigterm;
    uv_timer_t stats_timer;
    uv_timer_t exit_timer;
    struct dp_modifier *mod;  /* --http-* (NULL: none) */
    struct dp_lua *lua;       /* --lua (NULL: none) */
    struct dp_plugin *mw;     /* --middleware: the last of outputs[] (NULL: none) */
    unsigned n_fan;           /* outputs that messages fan out to: all but the middleware */
    uint64_t mw_bypassed;     /* messages that reached the outputs after the middleware closed */
    uint64_t pretty[DP_PRETTY_CTR_COUNT];
};

void dp_statbuf_add(struct dp_statbuf *sb, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (sb->len >= sizeof(sb->buf) - 1)
        return;
    va_start(ap, fmt);
    n = vsnprintf(sb->buf + sb->len, sizeof(sb->buf) - sb->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        sb->len = DP_MIN(sizeof(sb->buf) - 1, sb->len + (size_t)n);
}

/* ---- building ---- */

static int plugin_add(struct dp_pipeline *p, const struct dp_registry_entry *e, const char *value,
        unsigned nth, struct dp_err *err)
{
    struct dp_plugin *pl = calloc(1, sizeof(*pl));
    struct dp_plugin ***list = e->in != NULL ? &p->inputs : &p->outputs;
    unsigned *n = e->in != NULL ? &p->n_in : &p->n_out;
    const char *name = e->in != NULL ? e->in->name : e->out->name;
    struct dp_plugin **grown;
    int rc;

    if (pl == NULL || (pl->addr = strdup(value)) == NULL) {
        free(pl);
        return dp_err_set(err, -ENOMEM, "out of memory");
    }
    grown = realloc(*list, (*n + 1) * sizeof(**list));
    if (grown == NULL) {
        free(pl->addr);
        free(pl);
        return dp_err_set(err, -ENOMEM, "out of memory");
    }
    *list = grown;
    (*list)[(*n)++] = pl;
    pl->in = e->in;
    pl->out = e->out;
    pl->pipe = p;
    pl->index = *n - 1;
    snprintf(pl->label, sizeof(pl->label), "%s#%u", name, nth);
    rc = dp_limiter_parse(&pl->limiter, pl->addr, name, err);
    if (rc != 0)
        return rc;
    rc = e->in != NULL ? e->in->open(pl, p->cfg, err) : e->out->open(pl, p->cfg, err);
    if (rc != 0)
        return rc;
    dp_log(DP_LOG_INFO, DP_LOG_PIPELINE, "event=open plugin=%s addr=\"%s\"", pl->label, pl->addr);
    return 0;
}

/* The input through which an output's own messages (replayed responses) enter. */
static int feedback_open(struct dp_plugin *pl, const struct dp_config *cfg, struct dp_err *err)
{
    (void)pl;
    (void)cfg;
    (void)err;
    return 0;
}

static int feedback_start(struct dp_plugin *pl, uv_loop_t *loop, struct dp_err *err)
{
    (void)loop;
    (void)err;
    pl->done = true; /* never holds up the end of the run */
    return 0;
}

static void feedback_close(struct dp_plugin *pl)
{
    dp_plugin_closed(pl);
}

static const struct dp_input_ops feedback_ops = {
    .name = "feedback",
    .open = feedback_open,
    .start = feedback_start,
    .close = feedback_close,
};

static int feedback_add(struct dp_pipeline *p, struct dp_plugin *out, struct dp_err *err)
{
    struct dp_plugin *pl = calloc(1, sizeof(*pl));
    struct dp_plugin **grown = realloc(p->inputs, (p->n_in + 1) * sizeof(*p->inputs));

    if (pl == NULL || grown == NULL || (pl->addr = strdup("")) == NULL) {
        free(pl);
        if (grown != NULL)
            p->inputs = grown;
        return dp_err_set(err, -ENOMEM, "out of memory");
    }
    p->inputs = grown;
    p->inputs[p->n_in] = pl;
    pl->in = &feedback_ops;
    pl->pipe = p;
    pl->index = p->n_in++;
    pl->ctx = pl;
    snprintf(pl->label, sizeof(pl->label), "%.40s:%s", out->label,
            out == p->mw ? "out" : "responses");
    out->feedback = pl;
    return 0;
}

int dp_pipeline_new(const struct dp_config *cfg, struct dp_pipeline **out, struct dp_err *err)
{
    struct dp_pipeline *p = calloc(1, sizeof(*p));
    int rc;

    *out = NULL;
    if (p == NULL)
        return dp_err_set(err, -ENOMEM, "out of memory");
    p->cfg = cfg;
    *out = p;
    rc = dp_modifier_new(cfg, &p->mod, err);
    if (rc == 0 && cfg->lua != NULL)
        rc = dp_lua_new(cfg->lua, cfg->lua_drop_on_error, &p->lua, err);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < dp_registry_len; i++) {
        const struct dp_registry_entry *e = &dp_registry[i];
        const char *field = (const char *)cfg + e->off;

        if (e->source == DP_ADDR_BOOL) {
            if (*(const bool *)(const void *)field) {
                rc = plugin_add(p, e, "", 0, err);
                if (rc != 0)
                    return rc;
            }
            continue;
        }
        for (uint32_t j = 0; j < ((const struct dp_strlist *)(const void *)field)->n; j++) {
            rc = plugin_add(p, e, ((const struct dp_strlist *)(const void *)field)->v[j], j, err);
            if (rc != 0)
                return rc;
        }
    }
    if (p->n_in == 0)
        return dp_err_set(err, -EINVAL,
                "no input: give at least one of --input-file, --input-dummy (see --help)");
    if (p->n_out == 0 && !cfg->input_file_dry_run)
        return dp_err_set(err, -EINVAL,
                "no output: give at least one of --output-file, --output-stdout, --output-null "
                "(see --help)");
    p->n_fan = p->n_out;
    if (cfg->middleware != NULL) {
        static const struct dp_registry_entry mw_entry = { NULL, &dp_mw_plugin_ops, 0, 0 };

        rc = plugin_add(p, &mw_entry, "", 0, err); /* the command is not an address: no limiter */
        if (rc != 0)
            return rc;
        p->mw = p->outputs[p->n_out - 1];
        snprintf(p->mw->label, sizeof(p->mw->label), "middleware");
    }
    for (unsigned i = 0; i < p->n_out; i++) {
        if (p->outputs[i]->out->feedback) {
            rc = feedback_add(p, p->outputs[i], err);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

void dp_output_feedback(struct dp_plugin *out, struct dp_msg *msg)
{
    DP_BUG_ON(out->feedback == NULL);
    dp_pipeline_push(out->feedback, msg);
}

void dp_pipeline_free(struct dp_pipeline *p)
{
    if (p == NULL)
        return;
    for (unsigned i = 0; i < p->n_in + p->n_out; i++) {
        struct dp_plugin *pl = i < p->n_in ? p->inputs[i] : p->outputs[i - p->n_in];

        if (pl->ctx != NULL) {
            if (pl->in != NULL && pl->in->free != NULL)
                pl->in->free(pl);
            if (pl->out != NULL && pl->out->free != NULL)
                pl->out->free(pl);
        }
        free(pl->addr);
        free(pl);
    }
    free(p->inputs);
    free(p->outputs);
    dp_modifier_free(p->mod);
    dp_lua_free(p->lua);
    free(p);
}

/* ---- the message path ---- */

static void output_offer(struct dp_plugin *out, struct dp_msg *msg)
{
    int rc;

    if (out->out->types != 0 && !(out->out->types & (1u << msg->type)))
        return; /* not a type this output takes: not offered, not counted */
    out->ctr[DP_OUT_ACCEPTED]++;
    if (out->closing) {
        out->ctr[DP_OUT_DROPPED_STOPPED]++;
        return;
    }
    if (out->limiter.kind != DP_LIMIT_NONE && !dp_limiter_pass(&out->limiter, dp_mono_ns())) {
        out->ctr[DP_OUT_DROPPED_LIMIT]++;
        return;
    }
    rc = out->out->accept(out, msg);
    if (rc == -ENOBUFS)
        out->ctr[DP_OUT_DROPPED_QUEUE]++;
    else if (rc != 0)
        out->ctr[DP_OUT_DROPPED_STOPPED]++;
}

void dp_pipeline_push(struct dp_plugin *in, struct dp_msg *msg)
{
    struct dp_pipeline *p = in->pipe;
    size_t cap = (size_t)p->cfg->copy_buffer_size;

    in->ctr[DP_IN_RECEIVED]++;
    if (msg->len > cap) {
        msg->len = cap;
        msg->flags |= DP_MSG_TRUNCATED;
    }
    if (msg->flags & DP_MSG_TRUNCATED)
        in->ctr[DP_IN_TRUNCATED]++;
    if ((in->limiter.kind == DP_LIMIT_RATE || in->limiter.kind == DP_LIMIT_PERCENT) &&
            !dp_limiter_pass(&in->limiter, dp_mono_ns())) {
        in->ctr[DP_IN_DROPPED_LIMIT]++;
        dp_msg_unref(msg);
        return;
    }
    /* With --middleware, every message goes to it first; what it echoes comes back through
     * its feedback input and goes on from here (GoReplay's order). */
    if (p->mw != NULL && in != p->mw->feedback) {
        if (!p->mw->closing) {
            msg->input = in->index;
            msg->seq = p->seq++;
            in->ctr[DP_IN_EMITTED]++;
            output_offer(p->mw, msg);
            dp_msg_unref(msg);
            return;
        }
        p->mw_bypassed++; /* shutdown: the middleware's input is closed */
    }
    /* GoReplay's order: modifiers (requests; the responses of dropped requests), then
     * --prettify-http */
    if (p->mod != NULL &&
            !dp_modifier_apply(p->mod, &msg, (int64_t)uv_now(&p->loop) * 1000000)) {
        in->ctr[DP_IN_FILTERED]++;
        dp_msg_unref(msg);
        return;
    }
    if (p->cfg->prettify_http)
        dp_prettify(&msg, cap, p->pretty);
    if (p->lua != NULL && !dp_lua_apply(p->lua, &msg)) {
        in->ctr[DP_IN_FILTERED]++;
        dp_msg_unref(msg);
        return;
    }
    msg->input = in->index;
    msg->seq = p->seq++;
    in->ctr[DP_IN_EMITTED]++;
    if (DP_UNLIKELY(dp_log_levels[DP_LOG_PIPELINE] >= DP_LOG_TRACE)) {
        char esc[96];
        struct dp_bytes id = dp_msg_id(msg);

        dp_log(DP_LOG_TRACE, DP_LOG_PIPELINE, "event=msg input=%s type=%u id=%.*s len=%zu data=\"%s\"",
                in->label, msg->type, (int)id.len, (const char *)id.ptr, msg->len,
                dp_log_escape(esc, sizeof(esc), dp_msg_payload(msg), msg->len));
    }
    if (p->n_fan > 0) {
        if (p->cfg->split_output) {
            output_offer(p->outputs[in->split_next], msg);
            in->split_next = (in->split_next + 1) % p->n_fan;
        } else {
            for (unsigned i = 0; i < p->n_fan; i++)
                output_offer(p->outputs[i], msg);
        }
    }
    dp_msg_unref(msg);
}

bool dp_pipeline_writable(struct dp_plugin *in)
{
    struct dp_pipeline *p = in->pipe;

    if (p->mw != NULL && in != p->mw->feedback && !p->mw->closing)
        return p->mw->out->writable(p->mw);
    if (p->cfg->split_output && p->n_fan > 0) {
        struct dp_plugin *o = p->outputs[in->split_next];

        return o->closing || o->out->writable == NULL || o->out->writable(o);
    }
    for (unsigned i = 0; i < p->n_fan; i++) {
        struct dp_plugin *o = p->outputs[i];

        if (!o->closing && o->out->writable != NULL && !o->out->writable(o))
            return false;
    }
    return true;
}

void dp_output_writable_again(struct dp_plugin *out)
{
    struct dp_pipeline *p = out->pipe;

    for (unsigned i = 0; i < p->n_in; i++) {
        struct dp_plugin *in = p->inputs[i];

        if (in->paused && !in->closing && dp_pipeline_writable(in)) {
            in->paused = false;
            if (in->in->resume != NULL)
                in->in->resume(in);
        }
    }
}

/* ---- shutdown ---- */

static void handle_closed(uv_handle_t *h)
{
    struct dp_pipeline *p = h->data;

    p->handles_open--;
}

static void pipeline_close_handles(struct dp_pipeline *p)
{
    uv_handle_t *hs[] = { (uv_handle_t *)&p->sigint, (uv_handle_t *)&p->sigterm,
        (uv_handle_t *)&p->stats_timer, (uv_handle_t *)&p->exit_timer };

    p->state = PIPE_DONE;
    for (size_t i = 0; i < DP_ARRAY_LEN(hs); i++) {
        if (!uv_is_closing(hs[i]))
            uv_close(hs[i], handle_closed);
    }
}

/*
 * Closes the outputs in two rounds: first those that produce messages (output-http with
 * track-response), then, when they are all closed, the rest, which still take what the first
 * ones produced while draining.
 */
static void pipeline_drain(struct dp_pipeline *p)
{
    bool producers_open = false;

    p->state = PIPE_DRAINING;
    p->in_close_loop = true;
    /* The middleware first: what it still holds comes back while every output is open. */
    if (p->mw != NULL && p->mw->started && !p->mw->closed) {
        if (!p->mw->closing) {
            p->mw->closing = true;
            p->mw->out->close(p->mw);
        }
        if (!p->mw->closed) {
            p->in_close_loop = false;
            return; /* dp_plugin_closed() comes back here */
        }
    }
    for (int round = 0; round < 2; round++) {
        for (unsigned i = 0; i < p->n_out; i++) {
            struct dp_plugin *o = p->outputs[i];

            if (o->out->feedback != (round == 0) || o->closing || !o->started)
                continue;
            o->closing = true;
            o->out->close(o);
        }
        for (unsigned i = 0; i < p->n_fan; i++)
            producers_open |= p->outputs[i]->out->feedback && !p->outputs[i]->closed &&
                    p->outputs[i]->started;
        if (producers_open)
            break;
    }
    p->in_close_loop = false;
    if (p->outputs_open == 0)
        pipeline_close_handles(p);
}

static void pipeline_stop(struct dp_pipeline *p, const char *why)
{
    if (p->state != PIPE_RUNNING)
        return;
    dp_log(DP_LOG_INFO, DP_LOG_PIPELINE, "event=shutdown reason=%s", why);
    p->state = PIPE_STOPPING;
    p->in_close_loop = true;
    for (unsigned i = 0; i < p->n_in; i++) {
        struct dp_plugin *in = p->inputs[i];

        if (!in->closing && in->started) {
            in->closing = true;
            in->in->close(in);
        }
    }
    p->in_close_loop = false;
    if (p->inputs_open == 0)
        pipeline_drain(p);
}

void dp_plugin_closed(struct dp_plugin *pl)
{
    struct dp_pipeline *p = pl->pipe;

    DP_BUG_ON(pl->closed);
    pl->closed = true;
    if (pl->in != NULL) {
        p->inputs_open--;
        if (p->inputs_open == 0 && p->state == PIPE_STOPPING && !p->in_close_loop)
            pipeline_drain(p);
    } else {
        p->outputs_open--;
        if (p->state != PIPE_DRAINING || p->in_close_loop)
            return;
        if (p->outputs_open == 0)
            pipeline_close_handles(p);
        else if (pl->out->feedback)
            pipeline_drain(p); /* the second round, once every producer is closed */
    }
}

void dp_input_done(struct dp_plugin *in)
{
    struct dp_pipeline *p = in->pipe;

    if (in->done)
        return;
    in->done = true;
    for (unsigned i = 0; i < p->n_in; i++) {
        if (!p->inputs[i]->done)
            return;
    }
    p->inputs_finished = true;
    pipeline_stop(p, "inputs-finished");
}

bool dp_pipeline_inputs_finished(const struct dp_plugin *pl)
{
    return pl->pipe->inputs_finished;
}

void dp_pipeline_fail(struct dp_plugin *pl, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "doppel: %s: %s\n", pl->label, msg);
    pl->pipe->status = 1;
    pipeline_stop(pl->pipe, "error");
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct dp_pipeline *p = h->data;

    if (++p->signals > 1) {
        fprintf(stderr, "doppel: second signal: exiting without draining\n");
        dp_pipeline_print_stats(p, stderr, "summary");
        exit(128 + signum);
    }
    pipeline_stop(p, signum == SIGINT ? "sigint" : "sigterm");
}

static void on_exit_after(uv_timer_t *t)
{
    pipeline_stop(t->data, "exit-after");
}

static void on_stats(uv_timer_t *t)
{
    dp_pipeline_print_stats(t->data, stderr, "stats");
}

/* ---- stats ---- */

void dp_plugin_print_stats(struct dp_plugin *pl, FILE *f, const char *tag)
{
    struct dp_statbuf sb = { .len = 0 };
    int first = pl->in != NULL ? DP_IN_RECEIVED : DP_OUT_ACCEPTED;
    int last = pl->in != NULL ? DP_IN_TRUNCATED : DP_OUT_PENDING;

    dp_statbuf_add(&sb, "doppel: %s %s", tag, pl->label);
    for (int c = first; c <= last; c++)
        dp_statbuf_add(&sb, " %s=%" PRIu64, dp_ctr_names[c], pl->ctr[c]);
    if (pl->in != NULL && pl->in->stats != NULL)
        pl->in->stats(pl, &sb);
    if (pl->out != NULL && pl->out->stats != NULL)
        pl->out->stats(pl, &sb);
    fprintf(f, "%s\n", sb.buf);
}

void dp_pipeline_print_stats(struct dp_pipeline *p, FILE *f, const char *tag)
{
    for (unsigned i = 0; i < p->n_in; i++)
        dp_plugin_print_stats(p->inputs[i], f, tag);
    for (unsigned i = 0; i < p->n_out; i++)
        dp_plugin_print_stats(p->outputs[i], f, tag);
    if (p->mod != NULL || p->cfg->prettify_http || p->lua != NULL || p->mw != NULL) {
        struct dp_statbuf sb = { .len = 0 };

        dp_statbuf_add(&sb, "doppel: %s modifiers", tag);
        for (int c = 0; p->mod != NULL && c < DP_MOD_CTR_COUNT; c++)
            dp_statbuf_add(&sb, " %s=%" PRIu64, dp_mod_ctr_names[c], dp_modifier_ctr(p->mod)[c]);
        for (int c = 0; p->cfg->prettify_http && c < DP_PRETTY_CTR_COUNT; c++)
            dp_statbuf_add(&sb, " %s=%" PRIu64, dp_pretty_ctr_names[c], p->pretty[c]);
        for (int c = 0; p->lua != NULL && c < DP_LUA_CTR_COUNT; c++)
            dp_statbuf_add(&sb, " %s=%" PRIu64, dp_lua_ctr_names[c], dp_lua_ctr(p->lua)[c]);
        if (p->mw != NULL)
            dp_statbuf_add(&sb, " middleware_bypassed=%" PRIu64, p->mw_bypassed);
        fprintf(f, "%s\n", sb.buf);
    }
    fflush(f);
}

/* The invariants of DESIGN.md §6, checked at exit: a violation is our bug, said loudly. */
static void pipeline_check_accounting(struct dp_pipeline *p)
{
    for (unsigned i = 0; i < p->n_in; i++) {
        const uint64_t *c = p->inputs[i]->ctr;

        if (c[DP_IN_RECEIVED] != c[DP_IN_EMITTED] + c[DP_IN_FILTERED] + c[DP_IN_DROPPED_LIMIT]) {
            fprintf(stderr, "doppel: BUG: accounting of %s does not add up\n",
                    p->inputs[i]->label);
            p->status = 1;
        }
    }
    for (unsigned i = 0; i < p->n_out; i++) {
        const uint64_t *c = p->outputs[i]->ctr;
        uint64_t sum = c[DP_OUT_DELIVERED] + c[DP_OUT_FAILED] + c[DP_OUT_DROPPED_LIMIT] +
                c[DP_OUT_DROPPED_QUEUE] + c[DP_OUT_DROPPED_STOPPED] + c[DP_OUT_PENDING];

        if (c[DP_OUT_ACCEPTED] != sum) {
            fprintf(stderr, "doppel: BUG: accounting of %s does not add up\n",
                    p->outputs[i]->label);
            p->status = 1;
        }
    }
}

/* ---- running ---- */

static int handle_init(struct dp_pipeline *p, uv_handle_t *h, int rc)
{
    h->data = p;
    if (rc == 0)
        p->handles_open++;
    return rc;
}

int dp_pipeline_run(struct dp_pipeline *p, struct dp_err *err)
{
    const struct dp_config *cfg = p->cfg;
    int rc;

    rc = uv_loop_init(&p->loop);
    if (rc != 0)
        return dp_err_set(err, rc, "event loop: %s", uv_strerror(rc));
    rc = handle_init(p, (uv_handle_t *)&p->sigint, uv_signal_init(&p->loop, &p->sigint));
    rc = rc ? rc : handle_init(p, (uv_handle_t *)&p->sigterm, uv_signal_init(&p->loop, &p->sigterm));
    rc = rc ? rc : handle_init(p, (uv_handle_t *)&p->stats_timer,
                            uv_timer_init(&p->loop, &p->stats_timer));
    rc = rc ? rc : handle_init(p, (uv_handle_t *)&p->exit_timer,
                            uv_timer_init(&p->loop, &p->exit_timer));
    rc = rc ? rc : uv_signal_start(&p->sigint, on_signal, SIGINT);
    rc = rc ? rc : uv_signal_start(&p->sigterm, on_signal, SIGTERM);
    if (rc == 0 && cfg->stats && cfg->stats_interval_ns > 0) {
        uint64_t ms = (uint64_t)DP_MAX(cfg->stats_interval_ns / 1000000, 1);

        rc = uv_timer_start(&p->stats_timer, on_stats, ms, ms);
    }
    if (rc == 0 && cfg->exit_after_ns > 0)
        rc = uv_timer_start(&p->exit_timer, on_exit_after,
                (uint64_t)DP_MAX(cfg->exit_after_ns / 1000000, 1), 0);
    if (rc != 0) {
        dp_err_set(err, rc, "event loop: %s", uv_strerror(rc));
        goto fail;
    }
    p->started_ns = dp_mono_ns();
    /* Outputs first, so that the first message an input pushes finds them ready. */
    for (unsigned i = 0; i < p->n_out; i++) {
        rc = p->outputs[i]->out->start(p->outputs[i], &p->loop, err);
        if (rc != 0)
            goto fail;
        p->outputs[i]->started = true;
        p->outputs_open++;
    }
    for (unsigned i = 0; i < p->n_in; i++) {
        rc = p->inputs[i]->in->start(p->inputs[i], &p->loop, err);
        if (rc != 0)
            goto fail;
        p->inputs[i]->started = true;
        p->inputs_open++;
    }
    uv_run(&p->loop, UV_RUN_DEFAULT);
    pipeline_check_accounting(p);
    dp_pipeline_print_stats(p, stderr, "summary");
    rc = uv_loop_close(&p->loop);
    DP_BUG_ON(rc != 0);
    return p->status;
fail:
    /* Close what started, run the loop until every handle is closed, then report. */
    p->status = 1;
    p->state = PIPE_RUNNING;
    pipeline_stop(p, "start-failed");
    uv_run(&p->loop, UV_RUN_DEFAULT);
    uv_loop_close(&p->loop);
    return -1;
}
