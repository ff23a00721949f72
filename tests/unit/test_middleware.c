/*
 * test_middleware.c: the command splitter, and real processes (cat, sh, sleep) on a libuv loop:
 * echo byte-exact, filtering, garbage, crashes, restarts, a process that never reads (bounded
 * queue, wake, grace kill), one that closes its stdout, one whose child keeps stdout open, a
 * command that cannot start, and freeing while running. Every loop ends closed
 * (uv_loop_close() == 0) and every test has a deadline timer.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_test.h"

#include "format/hexline.h"
#include "modify/middleware.h"

/* ---- splitting ---- */

static void test_mw_split(void **state)
{
    static const struct {
        const char *cmd;
        const char *argv[6];
    } ok[] = {
        { "cat", { "cat" } },
        { "  python3   echo.py\t-v  ", { "python3", "echo.py", "-v" } },
        { "sh -c 'printf \"%s\\n\" a b'", { "sh", "-c", "printf \"%s\\n\" a b" } },
        { "a\" b \"c", { "a b c" } },
        { "x '' \"\" y", { "x", "", "", "y" } },
        { "\"\\\"\\\\\\$\\`\\n\"", { "\"\\$`\\n" } },
        { "a\\ b \\'c\\\\", { "a b", "'c\\" } },
        { "one \\\n two", { "one", "two" } },
        { "\"multi\\\nline\"", { "multiline" } },
        { "it's ok'", { "its ok" } },
        { "$HOME *.py | > x", { "$HOME", "*.py", "|", ">", "x" } },
    };
    static const struct {
        const char *cmd;
        const char *msg;
    } bad[] = {
        { "", "empty" },
        { " \t\n", "empty" },
        { "\\\n", "empty" },
        { "sh -c 'x", "unbalanced ' quote" },
        { "a \"b", "unbalanced \" quote" },
        { "a \\", "lone backslash" },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(ok); i++) {
        struct dp_err err = { 0, { 0 } };
        char **argv = NULL;
        size_t n = 0;

        if (dp_middleware_split(ok[i].cmd, &argv, &err) != 0)
            fail_msg("%s: %s", ok[i].cmd, err.msg);
        for (; ok[i].argv[n] != NULL; n++) {
            assert_non_null(argv[n]);
            assert_string_equal(argv[n], ok[i].argv[n]);
        }
        assert_null(argv[n]);
        free(argv);
    }
    for (size_t i = 0; i < DP_ARRAY_LEN(bad); i++) {
        struct dp_err err = { 0, { 0 } };
        char **argv = (char **)1;

        assert_int_equal(dp_middleware_split(bad[i].cmd, &argv, &err), -EINVAL);
        assert_null(argv);
        assert_int_equal(err.code, -EINVAL);
        if (strstr(err.msg, bad[i].msg) == NULL)
            fail_msg("'%s': %s", bad[i].cmd, err.msg);
    }
}

/* ---- a loop with one middleware ---- */

#define MAX_GOT 256

struct t {
    uv_loop_t loop;
    uv_timer_t deadline;
    uv_timer_t tick;
    struct dp_middleware *mw;
    struct dp_msg *got[MAX_GOT];
    size_t n_got;
    bool exited;
    int64_t status;
    int sig;
    bool expected;
    unsigned wakes;
    /* for the paced writer */
    unsigned sent;
    unsigned to_send;
};

static void t_on_msg(void *ctx, struct dp_msg *m)
{
    struct t *t = ctx;

    assert_false(t->exited);
    if (t->n_got == MAX_GOT) {
        dp_msg_unref(m);
        return;
    }
    t->got[t->n_got++] = m;
}

static void t_on_exit(void *ctx, int64_t status, int sig, bool expected)
{
    struct t *t = ctx;

    assert_false(t->exited);
    t->exited = true;
    t->status = status;
    t->sig = sig;
    t->expected = expected;
    uv_timer_stop(&t->deadline);
    uv_timer_stop(&t->tick);
}

static void deadline_cb(uv_timer_t *h)
{
    (void)h;
    fail_msg("the test's deadline passed");
}

static void t_init(struct t *t, const char *cmd, bool restart, size_t max_queue, size_t max_msg,
        uint64_t deadline_ms)
{
    struct dp_middleware_opts o = { cmd, restart, max_queue, max_msg };
    struct dp_err err = { 0, { 0 } };

    memset(t, 0, sizeof(*t));
    assert_int_equal(uv_loop_init(&t->loop), 0);
    uv_timer_init(&t->loop, &t->deadline);
    uv_timer_init(&t->loop, &t->tick);
    t->deadline.data = t;
    t->tick.data = t;
    uv_timer_start(&t->deadline, deadline_cb, deadline_ms, 0);
    uv_unref((uv_handle_t *)&t->deadline);
    uv_unref((uv_handle_t *)&t->tick);
    assert_int_equal(dp_middleware_new(&o, &t->mw, &err), 0);
    assert_int_equal(dp_middleware_start(t->mw, &t->loop, t_on_msg, t_on_exit, t, &err), 0);
}

/* Runs the loop until on_exit, then frees the middleware and checks the loop closes. */
static void t_finish(struct t *t)
{
    uv_run(&t->loop, UV_RUN_DEFAULT);
    assert_true(t->exited);
    dp_middleware_free(t->mw);
    uv_close((uv_handle_t *)&t->deadline, NULL);
    uv_close((uv_handle_t *)&t->tick, NULL);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&t->loop), 0);
}

/* Drops the messages received (after the checks). */
static void t_release(struct t *t)
{
    for (size_t i = 0; i < t->n_got; i++)
        dp_msg_unref(t->got[i]);
    t->n_got = 0;
}

static uint64_t stat_of(struct dp_middleware *mw, const char *key)
{
    struct dp_statbuf sb = { { 0 }, 0 };
    char pat[64];
    const char *p;

    dp_middleware_stats(mw, &sb);
    snprintf(pat, sizeof(pat), " %s=", key);
    p = strstr(sb.buf, pat);
    if (p == NULL)
        fail_msg("no %s in '%s'", key, sb.buf);
    return strtoull(p + strlen(pat), NULL, 10);
}

static struct dp_msg *msg_n(unsigned i, enum dp_msg_type type, size_t extra)
{
    char id[25];
    char body[64];
    size_t n;
    uint8_t *payload;
    struct dp_msg *m;

    snprintf(id, sizeof(id), "%024x", i);
    n = (size_t)snprintf(body, sizeof(body), "GET /%u HTTP/1.1\r\n\r\n", i);
    payload = malloc(n + extra + 3);
    assert_non_null(payload);
    memcpy(payload, body, n);
    for (size_t k = 0; k < extra; k++)
        payload[n + k] = (uint8_t)(k * 7 + i);
    memcpy(payload + n + extra, "\0\n\0", 3); /* NULs and a LF in every payload */
    m = dp_msg_new(type, (const uint8_t *)id, 24, 1700000000000000000 + i, -1, payload,
            n + extra + 3);
    assert_non_null(m);
    free(payload);
    return m;
}

static void assert_same(const struct dp_msg *a, struct dp_msg *b)
{
    assert_int_equal(a->meta_len, b->meta_len);
    assert_int_equal(a->len, b->len);
    assert_memory_equal(a->buf + a->meta_off, dp_msg_meta(b), a->meta_len + a->len);
    assert_int_equal(a->type, b->type);
}

static void write_all(struct t *t, struct dp_msg **in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(dp_middleware_write(t->mw, in[i]), 0);
}

/* cmd echoes: everything comes back, in order, byte for byte; a clean exit is expected. */
static void echo_case(const char *cmd)
{
    struct dp_msg *in[40];
    struct t t;

    t_init(&t, cmd, false, 0, 0, 20000);
    for (unsigned i = 0; i < DP_ARRAY_LEN(in); i++)
        in[i] = msg_n(i, (enum dp_msg_type)(1 + i % 3), i == 7 ? 3 * 1024 * 1024 : i * 100);
    write_all(&t, in, DP_ARRAY_LEN(in));
    dp_middleware_close_input(t.mw, 10000);
    assert_int_equal(dp_middleware_write(t.mw, in[0]), -EPIPE);
    t_finish(&t);
    assert_int_equal(t.status, 0);
    assert_int_equal(t.sig, 0);
    assert_true(t.expected);
    assert_int_equal(t.n_got, DP_ARRAY_LEN(in));
    for (unsigned i = 0; i < DP_ARRAY_LEN(in); i++) {
        assert_same(in[i], t.got[i]);
        assert_int_equal(t.got[i]->flags, 0);
        dp_msg_unref(in[i]);
    }
    /* t_finish freed mw: stats were checked by the callers that need them */
    t_release(&t);
}

static void test_mw_echo_cat(void **state)
{
    (void)state;
    echo_case("cat");
}

/* Uppercase digits and CRLF line ends coming back are accepted. */
static void test_mw_echo_upper_crlf(void **state)
{
    (void)state;
    echo_case("sh -c \"tr a-f A-F | sed 's/\\$/\\r/'\"");
}

static void test_mw_stats_after_echo(void **state)
{
    struct dp_msg *in[3];
    struct t t;

    (void)state;
    t_init(&t, "cat", false, 0, 0, 10000);
    for (unsigned i = 0; i < 3; i++)
        in[i] = msg_n(i, DP_MSG_REQUEST, 0);
    write_all(&t, in, 3);
    dp_middleware_close_input(t.mw, 10000);
    uv_run(&t.loop, UV_RUN_DEFAULT);
    assert_true(t.exited);
    assert_int_equal(stat_of(t.mw, "written"), 3);
    assert_int_equal(stat_of(t.mw, "read"), 3);
    assert_int_equal(stat_of(t.mw, "written_bytes"),
            hexline_len(in[0]) + hexline_len(in[1]) + hexline_len(in[2]));
    assert_int_equal(stat_of(t.mw, "lost"), 0);
    assert_int_equal(stat_of(t.mw, "queue_bytes"), 0);
    assert_int_equal(stat_of(t.mw, "pid"), 0);
    assert_int_equal(stat_of(t.mw, "restarts"), 0);
    t_finish(&t);
    for (unsigned i = 0; i < 3; i++)
        dp_msg_unref(in[i]);
    t_release(&t);
}

/* A filter: lines of type 2 (hex "32...") are not echoed, so those messages are gone. */
static void test_mw_filter(void **state)
{
    struct dp_msg *in[9];
    struct t t;

    (void)state;
    t_init(&t, "awk 'substr($0, 1, 2) != \"32\" { print; fflush() }'", false, 0, 0, 10000);
    for (unsigned i = 0; i < 9; i++)
        in[i] = msg_n(i, (enum dp_msg_type)(1 + i % 3), 10);
    write_all(&t, in, 9);
    dp_middleware_close_input(t.mw, 10000);
    t_finish(&t);
    assert_true(t.expected);
    assert_int_equal(t.n_got, 6);
    for (unsigned i = 0, k = 0; i < 9; i++) {
        if (in[i]->type != DP_MSG_RESPONSE)
            assert_same(in[i], t.got[k++]);
        dp_msg_unref(in[i]);
    }
    t_release(&t);
}

/* Garbage from the process is counted per reason; good lines around it still pass. */
static void test_mw_garbage(void **state)
{
    struct dp_msg *in = msg_n(1, DP_MSG_REQUEST, 0);
    struct t t;

    (void)state;
    t_init(&t, "sh -c 'printf \"zz\\n\\n3120\\n31203\\n\"; cat; printf \"abc\"'", false, 0, 0,
            10000);
    write_all(&t, &in, 1);
    dp_middleware_close_input(t.mw, 10000);
    uv_run(&t.loop, UV_RUN_DEFAULT);
    assert_true(t.exited);
    assert_true(t.expected);
    assert_int_equal(t.n_got, 1);
    assert_same(in, t.got[0]);
    assert_int_equal(stat_of(t.mw, "bad_not_hex"), 3); /* zz, 31203 (odd), abc (odd, no LF) */
    assert_int_equal(stat_of(t.mw, "bad_meta"), 1);
    assert_int_equal(stat_of(t.mw, "bad_too_long"), 0);
    t_finish(&t);
    dp_msg_unref(in);
    t_release(&t);
}

/* Lines longer than 2 * (max_msg + 1024) digits are dropped; a payload over max_msg is cut. */
static void test_mw_truncate_and_too_long(void **state)
{
    struct dp_msg *small = msg_n(1, DP_MSG_REQUEST, 0);
    struct dp_msg *over = msg_n(2, DP_MSG_REQUEST, 500);
    struct dp_msg *huge = msg_n(3, DP_MSG_REQUEST, 5000);
    struct t t;

    (void)state;
    t_init(&t, "cat", false, 0, 100, 10000);
    assert_int_equal(dp_middleware_write(t.mw, small), 0);
    assert_int_equal(dp_middleware_write(t.mw, over), 0);
    assert_int_equal(dp_middleware_write(t.mw, huge), 0);
    dp_middleware_close_input(t.mw, 10000);
    uv_run(&t.loop, UV_RUN_DEFAULT);
    assert_int_equal(t.n_got, 2);
    assert_same(small, t.got[0]);
    assert_int_equal(t.got[1]->len, 100);
    assert_true(t.got[1]->flags & DP_MSG_TRUNCATED);
    assert_memory_equal(dp_msg_payload(t.got[1]), over->buf + over->meta_off + over->meta_len,
            100);
    assert_int_equal(stat_of(t.mw, "read_truncated"), 1);
    assert_int_equal(stat_of(t.mw, "bad_too_long"), 1);
    t_finish(&t);
    dp_msg_unref(small);
    dp_msg_unref(over);
    dp_msg_unref(huge);
    t_release(&t);
}

/* It exits on its own, non-zero, while the input is open: an unexpected end. */
static void test_mw_crash(void **state)
{
    struct dp_msg *in[6];
    struct t t;

    (void)state;
    t_init(&t, "sh -c 'read a; echo \"$a\"; exit 3'", false, 0, 0, 10000);
    for (unsigned i = 0; i < 6; i++)
        in[i] = msg_n(i, DP_MSG_REQUEST, 0);
    write_all(&t, in, 6);
    uv_run(&t.loop, UV_RUN_DEFAULT);
    assert_true(t.exited);
    assert_int_equal(t.status, 3);
    assert_false(t.expected);
    assert_int_equal(t.n_got, 1);
    assert_same(in[0], t.got[0]);
    assert_int_equal(dp_middleware_write(t.mw, in[0]), -EPIPE);
    assert_int_equal(stat_of(t.mw, "written") + stat_of(t.mw, "lost"), 6);
    assert_int_equal(stat_of(t.mw, "exit_status"), 3);
    t_finish(&t);
    for (unsigned i = 0; i < 6; i++)
        dp_msg_unref(in[i]);
    t_release(&t);
}

/* Even with the input closed, exiting non-zero is not the end we asked for. */
static void test_mw_fails_after_close(void **state)
{
    struct t t;

    (void)state;
    t_init(&t, "sh -c 'cat; exit 2'", false, 0, 0, 10000);
    dp_middleware_close_input(t.mw, 10000);
    t_finish(&t);
    assert_int_equal(t.status, 2);
    assert_false(t.expected);
    t_release(&t);
}

/* With restart, a process that ends is started again (at most once per second). */
static void restart_tick(uv_timer_t *h)
{
    struct t *t = h->data;
    struct dp_msg *m;

    if (t->n_got >= 3 || t->sent >= t->to_send) {
        uv_timer_stop(h);
        dp_middleware_close_input(t->mw, 5000);
        return;
    }
    m = msg_n(t->sent++, DP_MSG_REQUEST, 0);
    assert_int_equal(dp_middleware_write(t->mw, m), 0);
    dp_msg_unref(m);
}

static void test_mw_restart(void **state)
{
    struct t t;

    (void)state;
    t_init(&t, "sh -c 'read a; echo \"$a\"; exit 1'", true, 0, 0, 20000);
    t.to_send = 40;
    uv_timer_start(&t.tick, restart_tick, 0, 250);
    uv_ref((uv_handle_t *)&t.tick);
    uv_run(&t.loop, UV_RUN_DEFAULT);
    assert_true(t.exited);
    assert_true(t.n_got >= 3);
    assert_true(stat_of(t.mw, "restarts") >= 2);
    t_finish(&t);
    t_release(&t);
}

/* Restart wait: the queue waits, close_input during the wait ends it and counts them lost. */
static void test_mw_restart_then_close(void **state)
{
    struct dp_msg *m = msg_n(1, DP_MSG_REQUEST, 0);
    struct t t;

    (void)state;
    t_init(&t, "sh -c 'exit 0'", true, 0, 0, 10000);
    /* run until it has exited once (pid 0): it then waits to be restarted */
    while (stat_of(t.mw, "pid") != 0)
        uv_run(&t.loop, UV_RUN_ONCE);
    assert_int_equal(dp_middleware_write(t.mw, m), 0);
    dp_middleware_close_input(t.mw, 1000);
    uv_run(&t.loop, UV_RUN_DEFAULT);
    assert_true(t.exited);
    assert_true(t.expected);
    assert_int_equal(stat_of(t.mw, "lost"), 1);
    assert_int_equal(stat_of(t.mw, "restarts"), 0);
    t_finish(&t);
    dp_msg_unref(m);
    t_release(&t);
}

/* It never reads: the queue fills to its bound and stays there; the grace period ends it. */
static void never_reads(const char *cmd)
{
    struct dp_msg *m = msg_n(1, DP_MSG_REQUEST, 1000);
    size_t max_queue = 256 * 1024;
    size_t line = hexline_len(m);
    unsigned n = 0;
    struct t t;

    t_init(&t, cmd, false, max_queue, 0, 20000);
    for (;;) {
        int rc = dp_middleware_write(t.mw, m);

        if (rc == -ENOBUFS)
            break;
        assert_int_equal(rc, 0);
        n++;
        assert_true(stat_of(t.mw, "queue_bytes") <= max_queue + line);
        if (n % 16 == 0)
            uv_run(&t.loop, UV_RUN_NOWAIT);
        assert_true(n < 100000);
    }
    assert_false(dp_middleware_writable(t.mw, NULL, NULL));
    assert_true(stat_of(t.mw, "queue_bytes") >= max_queue);
    assert_true(stat_of(t.mw, "queue_bytes") <= max_queue + line);
    dp_msg_unref(m);
    dp_middleware_close_input(t.mw, 200);
    t_finish(&t);
    assert_int_equal(t.sig, SIGTERM);
    assert_true(t.expected); /* we ended it */
    t_release(&t);
}

static void test_mw_never_reads(void **state)
{
    (void)state;
    never_reads("sleep 30");
}

/* The queue is full until the process starts reading: wake comes once, then all returns. */
static void wake_cb(void *ctx)
{
    struct t *t = ctx;

    t->wakes++;
    assert_true(stat_of(t->mw, "queue_bytes") < 256 * 1024 / 2);
}

static void test_mw_wake(void **state)
{
    struct dp_msg *m = msg_n(1, DP_MSG_REQUEST, 1000);
    unsigned n = 0;
    struct t t;

    (void)state;
    t_init(&t, "sh -c 'sleep 0.3; exec cat'", false, 256 * 1024, 0, 20000);
    while (dp_middleware_write(t.mw, m) == 0)
        n++;
    assert_true(n < MAX_GOT);
    assert_false(dp_middleware_writable(t.mw, wake_cb, &t));
    while (t.wakes == 0)
        uv_run(&t.loop, UV_RUN_ONCE);
    assert_int_equal(t.wakes, 1);
    assert_true(dp_middleware_writable(t.mw, wake_cb, &t));
    dp_middleware_close_input(t.mw, 10000);
    t_finish(&t);
    assert_true(t.expected);
    assert_int_equal(t.n_got, n);
    for (unsigned i = 0; i < n; i++)
        assert_same(m, t.got[i]);
    dp_msg_unref(m);
    t_release(&t);
}

/* It exits at once without reading: the writes fail (EPIPE; no SIGPIPE kills us). */
static void test_mw_exits_without_reading(void **state)
{
    struct dp_msg *m = msg_n(1, DP_MSG_REQUEST, 60000);
    struct t t;
    unsigned n = 0;

    (void)state;
    t_init(&t, "true", false, 0, 0, 10000);
    while (!t.exited) {
        int rc = dp_middleware_write(t.mw, m);

        assert_true(rc == 0 || rc == -EPIPE || rc == -ENOBUFS);
        n += rc == 0;
        uv_run(&t.loop, UV_RUN_NOWAIT);
    }
    assert_false(t.expected);
    assert_int_equal(t.status, 0);
    assert_int_equal(stat_of(t.mw, "written") + stat_of(t.mw, "lost"), n);
    t_finish(&t);
    dp_msg_unref(m);
    t_release(&t);
}

/* It closes its stdout and lives on: useless, so it is ended (SIGTERM) at once. */
static void test_mw_closes_stdout(void **state)
{
    struct t t;

    (void)state;
    t_init(&t, "sh -c 'exec >&-; exec sleep 30'", false, 0, 0, 10000);
    t_finish(&t);
    assert_int_equal(t.sig, SIGTERM);
    assert_false(t.expected);
    t_release(&t);
}

/* It exits but a child of it holds stdout open: on_exit comes after the drain period anyway. */
static void test_mw_grandchild_holds_stdout(void **state)
{
    struct t t;
    uint64_t t0;

    (void)state;
    t_init(&t, "sh -c 'sleep 3 & exec cat'", false, 0, 0, 10000);
    t0 = uv_hrtime();
    dp_middleware_close_input(t.mw, 10000);
    t_finish(&t);
    assert_true(t.expected);
    assert_true(uv_hrtime() - t0 < 2500000000u);
    t_release(&t);
}

static void test_mw_cannot_start(void **state)
{
    struct dp_middleware_opts o = { "/nonexistent/mw --flag", false, 0, 0 };
    struct dp_err err = { 0, { 0 } };
    struct dp_middleware *mw;
    uv_loop_t loop;

    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(dp_middleware_new(&o, &mw, &err), 0);
    assert_int_equal(dp_middleware_start(mw, &loop, t_on_msg, t_on_exit, NULL, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/mw --flag"));
    dp_middleware_free(mw);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);

    o.cmd = "a 'b";
    assert_int_equal(dp_middleware_new(&o, &mw, &err), -EINVAL);
    assert_null(mw);
}

/* Freed while running: the process is killed, no callback follows, the loop closes. */
static void test_mw_free_while_running(void **state)
{
    struct dp_middleware_opts o = { "cat", false, 0, 0 };
    struct dp_err err = { 0, { 0 } };
    struct dp_msg *m = msg_n(1, DP_MSG_REQUEST, 100000);
    struct dp_middleware *mw;
    uv_loop_t loop;
    struct t t;

    (void)state;
    memset(&t, 0, sizeof(t));
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(dp_middleware_new(&o, &mw, &err), 0);
    assert_int_equal(dp_middleware_start(mw, &loop, t_on_msg, t_on_exit, &t, &err), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(dp_middleware_write(mw, m), 0);
    uv_run(&loop, UV_RUN_NOWAIT);
    dp_middleware_free(mw);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_false(t.exited);
    t_release(&t);
    dp_msg_unref(m);

    /* never started */
    assert_int_equal(dp_middleware_new(&o, &mw, &err), 0);
    assert_int_equal(dp_middleware_write(mw, m = msg_n(2, DP_MSG_REQUEST, 0)), 0);
    dp_middleware_free(mw);
    dp_msg_unref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mw_split),
        cmocka_unit_test(test_mw_echo_cat),
        cmocka_unit_test(test_mw_echo_upper_crlf),
        cmocka_unit_test(test_mw_stats_after_echo),
        cmocka_unit_test(test_mw_filter),
        cmocka_unit_test(test_mw_garbage),
        cmocka_unit_test(test_mw_truncate_and_too_long),
        cmocka_unit_test(test_mw_crash),
        cmocka_unit_test(test_mw_fails_after_close),
        cmocka_unit_test(test_mw_restart),
        cmocka_unit_test(test_mw_restart_then_close),
        cmocka_unit_test(test_mw_never_reads),
        cmocka_unit_test(test_mw_wake),
        cmocka_unit_test(test_mw_exits_without_reading),
        cmocka_unit_test(test_mw_closes_stdout),
        cmocka_unit_test(test_mw_grandchild_holds_stdout),
        cmocka_unit_test(test_mw_cannot_start),
        cmocka_unit_test(test_mw_free_while_running),
    };

    /* As doppel's main(): a write to a process that is gone is an error, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
