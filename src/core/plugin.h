/*
 * plugin.h: the one interface of inputs and the one interface of outputs.
 *
 * A plugin is a module with a const ops table, registered by name in core/registry.c. The
 * pipeline holds, per instance, the ops, an opaque ctx, a limiter and the generic counters
 * (STYLE.md rules 7-8). Contracts, for every callback:
 *
 *  open(pl, cfg, err)   Parses pl->addr and the plugin's flags in <cfg>, allocates pl->ctx.
 *                       Returns 0 or -errno with <err> filled; no handle is open on failure.
 *  start(pl, loop)      Opens handles on <loop>, begins work. Returns 0 or -errno (err filled).
 *  free(pl)             Frees pl->ctx after close completed (or after a failed start).
 *  stats(pl, sb)        Appends the plugin's own " key=value" pairs to <sb>.
 *
 * Inputs:
 *  pause(pl)/resume(pl) Stop/restart producing (backpressure). Live inputs cannot pause: they
 *                       leave these NULL and count what the pipeline drops for them.
 *  close(pl)            Stop producing and close every handle; call dp_plugin_closed(pl) from
 *                       the last close callback (possibly before returning).
 *  Inputs hand each message to dp_pipeline_push() and call dp_input_done() when exhausted.
 *
 * Outputs:
 *  accept(pl, msg)      Borrows <msg>: an output that keeps it takes its own reference.
 *                       Returns 0 (taken: it will end as delivered or failed, counted by the
 *                       output), -ENOBUFS (queue full: the pipeline counts a drop) or -EPIPE
 *                       (the output has stopped: the pipeline counts a drop). Never re-enters
 *                       the pipeline.
 *  writable(pl)         Optional: false while accept() would return -ENOBUFS. An output that
 *                       was not writable calls dp_output_writable_again() when it drains.
 *  flush(pl)            Push buffered data out now.
 *  close(pl)            Deliver what it holds within cfg->drain_timeout_ns, flush, close every
 *                       handle, then call dp_plugin_closed(pl). Outputs that produce feedback
 *                       close first, so the others still take what they produce while draining.
 */
#ifndef DP_CORE_PLUGIN_H
#define DP_CORE_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/err.h"
#include "core/flags.h"
#include "core/limiter.h"
#include "core/msg.h"

struct dp_plugin;
struct dp_pipeline;

/* A line being built for --stats and the exit summary. */
struct dp_statbuf {
    char buf[1024];
    size_t len;
};

void dp_statbuf_add(struct dp_statbuf *sb, const char *fmt, ...) DP_PRINTF(2, 3);

struct dp_input_ops {
    const char *name; /* the flag: "input-file" */
    int (*open)(struct dp_plugin *pl, const struct dp_config *cfg, struct dp_err *err);
    int (*start)(struct dp_plugin *pl, uv_loop_t *loop, struct dp_err *err);
    void (*pause)(struct dp_plugin *pl);
    void (*resume)(struct dp_plugin *pl);
    void (*close)(struct dp_plugin *pl);
    void (*stats)(struct dp_plugin *pl, struct dp_statbuf *sb);
    void (*free)(struct dp_plugin *pl);
};

struct dp_output_ops {
    const char *name; /* the flag: "output-file" */
    unsigned types;   /* bit (1 << enum dp_msg_type) per type it takes; 0: all. Others are not
                         offered (and not counted) */
    bool feedback;    /* it produces messages (replayed responses) with dp_output_feedback() */
    int (*open)(struct dp_plugin *pl, const struct dp_config *cfg, struct dp_err *err);
    int (*start)(struct dp_plugin *pl, uv_loop_t *loop, struct dp_err *err);
    int (*accept)(struct dp_plugin *pl, struct dp_msg *msg);
    bool (*writable)(struct dp_plugin *pl);
    void (*flush)(struct dp_plugin *pl);
    void (*close)(struct dp_plugin *pl);
    void (*stats)(struct dp_plugin *pl, struct dp_statbuf *sb);
    void (*free)(struct dp_plugin *pl);
};

/* The fate of every message, per instance (DESIGN.md §6). */
enum dp_ctr {
    /* inputs: received = emitted + filtered + dropped_limit */
    DP_IN_RECEIVED = 0,
    DP_IN_EMITTED,
    DP_IN_FILTERED,
    DP_IN_DROPPED_LIMIT,
    DP_IN_TRUNCATED, /* a flag, not a fate: payloads cut at --copy-buffer-size */
    /* outputs: accepted = delivered + failed + dropped_* + pending */
    DP_OUT_ACCEPTED,
    DP_OUT_DELIVERED,
    DP_OUT_FAILED,
    DP_OUT_DROPPED_LIMIT,
    DP_OUT_DROPPED_QUEUE,
    DP_OUT_DROPPED_STOPPED,
    DP_OUT_PENDING, /* a gauge: taken, not yet delivered or failed */
    DP_CTR_COUNT
};

extern const char *const dp_ctr_names[DP_CTR_COUNT];

struct dp_plugin {
    const struct dp_input_ops *in;   /* exactly one of in/out is set */
    const struct dp_output_ops *out;
    void *ctx;
    struct dp_pipeline *pipe;
    char *addr;  /* the flag value without its limiter (owned) */
    char label[64]; /* "input-file#0" */
    unsigned index; /* position among the inputs or among the outputs */
    struct dp_limiter limiter;
    uint64_t ctr[DP_CTR_COUNT];
    unsigned split_next; /* inputs: next output for --split-output */
    struct dp_plugin *feedback; /* outputs with ops->feedback: the input their messages enter by */
    bool started;   /* start() succeeded: close() is owed */
    bool done;      /* input exhausted */
    bool paused;    /* input paused for backpressure */
    bool closing;
    bool closed;
};

#endif
