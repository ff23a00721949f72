/*
 * pipeline.h: inputs → (limits, later filters and middleware) → fan-out → outputs.
 *
 * The pipeline owns the plugin instances, the loop handles for signals, --stats and
 * --exit-after, and the shutdown sequence: stop inputs, let outputs drain (bounded by
 * --drain-timeout), flush, close, print the summary. Everything runs on the one loop thread.
 */
#ifndef DP_CORE_PIPELINE_H
#define DP_CORE_PIPELINE_H

#include <stdio.h>

#include "core/plugin.h"

struct dp_pipeline;

/*
 * Builds the instances the configuration asks for (every --input-*, --output-* value) and opens
 * them. Returns 0 with *out set, or -errno with <err> naming the flag at fault.
 */
int dp_pipeline_new(const struct dp_config *cfg, struct dp_pipeline **out, struct dp_err *err)
        DP_WUR;

/* Runs the loop until every input ended (or a signal, or --exit-after) and every output closed.
 * Returns the exit status: 0, or 1 when a plugin failed. */
int dp_pipeline_run(struct dp_pipeline *p, struct dp_err *err);

/* Frees everything; the loop must have ended. */
void dp_pipeline_free(struct dp_pipeline *p);

/* Inputs: hands over <msg> (the pipeline takes the caller's reference). */
void dp_pipeline_push(struct dp_plugin *in, struct dp_msg *msg);

/* Inputs: true when every output can take a message now; false means pause until resumed. */
bool dp_pipeline_writable(struct dp_plugin *in);

/* Inputs: the input has nothing more to give. When all inputs are done, doppel shuts down. */
void dp_input_done(struct dp_plugin *in);

/* True when the shutdown under way is the natural end of the run (every input exhausted), not
 * a signal, --exit-after or an error: outputs then drain all they hold while they make progress
 * (--drain-timeout bounds the time without progress). */
bool dp_pipeline_inputs_finished(const struct dp_plugin *pl);

/* Outputs: drained after a refusal; paused inputs resume. */
void dp_output_writable_again(struct dp_plugin *out);

/*
 * Outputs: hands over a message the output produced (a replayed response); it enters the
 * pipeline like an input's, through the input "<label>:responses". Takes the caller's reference.
 */
void dp_output_feedback(struct dp_plugin *out, struct dp_msg *msg);

/* Any plugin: every handle of <pl> is closed (the end of its close()). */
void dp_plugin_closed(struct dp_plugin *pl);

/* Any plugin: a fatal error; doppel shuts down and exits with status 1. */
void dp_pipeline_fail(struct dp_plugin *pl, const char *fmt, ...) DP_PRINTF(2, 3);

/* Writes <pl>'s line ("doppel: <tag> <label> key=value ...") to <f>. */
void dp_plugin_print_stats(struct dp_plugin *pl, FILE *f, const char *tag);

/* Writes one line per plugin ("<tag> <label> key=value ...") to <f>. */
void dp_pipeline_print_stats(struct dp_pipeline *p, FILE *f, const char *tag);

#endif
