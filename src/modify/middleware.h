/*
 * middleware.h: --middleware "cmd args": an external process that sees every message and
 * decides what goes on (GoReplay's protocol, format/hexline.h).
 *
 *   inputs, replayed responses --> write queue --> [ stdin | process | stdout ] --> decoder
 *        dp_middleware_write()      (bounded)                                       |
 *                                                                    on_msg() <-----+
 *
 * The command is split into argv with quotes honoured ('single', "double", backslash) and run
 * without a shell; stderr is inherited. A message the process does not echo is filtered out;
 * the process may also emit new messages. Bounded memory: at most max_queue bytes of lines
 * wait to be written (dp_middleware_writable() false meanwhile); a line read back is at most
 * 2 * (--copy-buffer-size + 1024) hex digits.
 *
 * The process ends: on_exit() tells the owner (status, signal). With restart, a process that
 * exits while the input is still open is started again (at most once per second; the lines
 * queued meanwhile wait, those in the dead process's pipe are lost and counted).
 */
#ifndef DP_MODIFY_MIDDLEWARE_H
#define DP_MODIFY_MIDDLEWARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/err.h"
#include "core/msg.h"
#include "core/plugin.h"

struct dp_middleware;

/* A message read back (the callee takes the reference). */
typedef void dp_mw_msg_fn(void *ctx, struct dp_msg *m);
/* The process ended for good (no restart): its exit status and terminating signal (0: none;
 * status < 0: a restart could not start it, -errno), and whether that end is the one the owner
 * asked for: the input was closed (dp_middleware_close_input) and the process then exited with
 * status 0 having read all its input, or outlived the grace period and was killed. Anything
 * else (it exited while the input was open, exited non-zero or on a signal we did not send,
 * or closed its stdin early) is false: the owner reports it as an error. Called once, after
 * the last on_msg, when every handle is closed; the owner may free <mw> in it. */
typedef void dp_mw_exit_fn(void *ctx, int64_t status, int signal, bool expected);

struct dp_middleware_opts {
    const char *cmd;       /* --middleware */
    bool restart;          /* --middleware-restart */
    size_t max_queue;      /* bytes of lines waiting to be written; 0: 16 MiB */
    size_t max_msg;        /* payload bytes of a message read back (--copy-buffer-size) */
};

/* Splits <cmd> into a NULL-terminated argv, as a shell would split words without expanding
 * anything: blanks separate words; '...' keeps everything literally; "..." too, except that \
 * escapes " \ $ ` there; outside quotes \ escapes any character; \ before a newline joins lines;
 * quoted and unquoted parts next to each other form one word ('' is an empty word). One
 * allocation: free(*<out>). 0; -EINVAL with <err> (empty, unbalanced quote, trailing \);
 * -ENOMEM. */
int dp_middleware_split(const char *cmd, char ***out, struct dp_err *err) DP_WUR;

/* Parses the command (no process yet). -EINVAL with <err> for an empty command or unbalanced
 * quotes; -ENOMEM. */
int dp_middleware_new(const struct dp_middleware_opts *o, struct dp_middleware **out,
        struct dp_err *err) DP_WUR;

/* Starts the process on <loop>. -errno with <err> naming the command when it cannot start
 * (no callback follows then; the loop must still run for the handles to close, see
 * dp_middleware_free). */
int dp_middleware_start(struct dp_middleware *mw, uv_loop_t *loop, dp_mw_msg_fn *on_msg,
        dp_mw_exit_fn *on_exit, void *ctx, struct dp_err *err) DP_WUR;

/* Queues <m> (borrowed: the line is encoded now). 0; -ENOBUFS when the queue is full; -EPIPE
 * when the input is closed or the process is gone for good. */
int dp_middleware_write(struct dp_middleware *mw, const struct dp_msg *m);

/* False while the queue is full. <wake> is then called (once) when it has room again. */
bool dp_middleware_writable(struct dp_middleware *mw, void (*wake)(void *ctx), void *ctx);

/* No more messages: the queue is written out, then the process's stdin is closed; it is
 * expected to exit after echoing what it has. After <grace_ms> it is sent SIGTERM, and SIGKILL
 * one second later. on_exit follows. */
void dp_middleware_close_input(struct dp_middleware *mw, uint64_t grace_ms);

/* " key=value" counters: written (lines the kernel took), written_bytes, read (messages
 * decoded), bad_not_hex, bad_meta, bad_too_long, read_truncated (payloads cut at max_msg), lost
 * (lines no process could take: it was gone or had stopped reading; lines a process took and
 * then died with are counted as written), restarts, queue_bytes, pid (0: none running),
 * exit_status and exit_signal of the last process. */
void dp_middleware_stats(const struct dp_middleware *mw, struct dp_statbuf *sb);

/* Frees everything. Best after on_exit (or before start); called earlier, it kills the process
 * (SIGKILL), no callback follows, and the memory goes with the last handle's close callback:
 * the loop must run once more. */
void dp_middleware_free(struct dp_middleware *mw);

#endif
