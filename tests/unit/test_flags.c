/*
 * test_flags.c: the command line (core/flags.c). The value parsers against Go's strconv/time
 * semantics, and dp_flags_parse() on argv arrays: both dash forms, both value forms, lists, bools,
 * errors a user reads (unknown flag with a suggestion, stray words, unready features).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_test.h"

#include "core/flags.h"

/* ---- value parsers ---- */

struct i64_case {
    const char *in;
    int rc;
    int64_t want; /* only when rc == 0 */
};

#define NS  1LL
#define US  (1000 * NS)
#define MS  (1000 * US)
#define SEC (1000 * MS)
#define MIN (60 * SEC)
#define HR  (60 * MIN)

static const struct i64_case duration_cases[] = {
    { "0", 0, 0 },
    { "-0", 0, 0 },
    { "+0", 0, 0 },
    { "0s", 0, 0 },
    { "500ms", 0, 500 * MS },
    { "2s", 0, 2 * SEC },
    { "1m30s", 0, 90 * SEC },
    { "1h", 0, HR },
    { "1.5s", 0, 1500 * MS },
    { "1.5h", 0, 90 * MIN },
    { "-1.5h", 0, -90 * MIN },
    { "+5s", 0, 5 * SEC },
    { "-2h", 0, -2 * HR },
    { "1ns", 0, 1 },
    { "10us", 0, 10 * US },
    { "10\xc2\xb5s", 0, 10 * US }, /* µs, U+00B5 */
    { "10\xce\xbcs", 0, 10 * US }, /* μs, U+03BC */
    { "1h2m3s4ms5us6ns", 0, HR + 2 * MIN + 3 * SEC + 4 * MS + 5 * US + 6 },
    { "1s1s", 0, 2 * SEC }, /* Go sums repeated units */
    { ".5s", 0, 500 * MS },
    { "1.s", 0, SEC },
    { "0.1s", 0, 100 * MS },
    { "0.3s", 0, 300 * MS },
    { "2.7s", 0, 2700 * MS },
    { "3.3ms", 0, 3300 * US },
    { "1.000000001s", 0, SEC + 1 },
    { "250ms", 0, 250 * MS },
    { "5m", 0, 5 * MIN },
    { "2000h", 0, 2000 * HR },
    /* errors */
    { "", -EINVAL, 0 },
    { "5", -EINVAL, 0 }, /* Go requires a unit on every number but a lone 0 */
    { "5x", -EINVAL, 0 },
    { "-", -EINVAL, 0 },
    { "+", -EINVAL, 0 },
    { "s", -EINVAL, 0 },
    { ".", -EINVAL, 0 },
    { ".s", -EINVAL, 0 },
    { "1h30", -EINVAL, 0 },
    { "1.5", -EINVAL, 0 },
    { "5 s", -EINVAL, 0 },
    { " 5s", -EINVAL, 0 },
    { "1e3s", -EINVAL, 0 },
    { "5S", -EINVAL, 0 }, /* units are case-sensitive in Go */
    { "5sec", -EINVAL, 0 },
    { "--5s", -EINVAL, 0 },
    { "99999999999h", -ERANGE, 0 },
    { "9223372036854775808ns", -ERANGE, 0 },
    { "3000000h", -ERANGE, 0 },
};

static void test_parse_duration(void **state)
{
    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(duration_cases); i++) {
        const struct i64_case *c = &duration_cases[i];
        struct dp_guarded g;
        char buf[64];
        int64_t out = 0x5a5a;
        int rc;

        /* The parser takes a C string: copy it, NUL included, in front of the guard page. */
        dp_guarded_init(&g, c->in, strlen(c->in) + 1);
        rc = dp_parse_duration((const char *)g.ptr, &out);
        snprintf(buf, sizeof(buf), "case %zu '%s'", i, c->in);
        if (rc != c->rc)
            fail_msg("%s: rc %d, want %d", buf, rc, c->rc);
        if (c->rc == 0 && out != c->want)
            fail_msg("%s: %lld ns, want %lld", buf, (long long)out, (long long)c->want);
        if (c->rc != 0 && out != 0x5a5a)
            fail_msg("%s: <out> written on error", buf);
        dp_guarded_free(&g);
    }
}

/*
 * Regression: durations are summed in integer nanoseconds as Go's time.ParseDuration does, so
 * decimal fractions are exact ("4.1s" once gave 4099999999) and the range is all of int64
 * ("2562047h" once failed with -ERANGE).
 */
static const struct i64_case duration_exact_cases[] = {
    { "4.1s", 0, 4100 * MS },
    { "1.001s", 0, 1001 * MS },
    { "8.2ms", 0, 8200 * US },
    { "32.3m", 0, 1938 * SEC },
    { "16.56h", 0, 59616 * SEC },
    { "517.112s", 0, 517112 * MS },
    { "16649.189641421s", 0, 16649189641421LL },
    { "0.000000001s", 0, 1 },
    { "2562047h", 0, 2562047 * HR },
    { "2562047h47m16.854775807s", 0, INT64_MAX },
    { "-2562047h47m16.854775808s", 0, INT64_MIN },
    { "2562047h47m16.854775808s", -ERANGE, 0 },
};

static void test_parse_duration_go_exact(void **state)
{
    int bad = 0;

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(duration_exact_cases); i++) {
        const struct i64_case *c = &duration_exact_cases[i];
        int64_t out = 0;
        int rc = dp_parse_duration(c->in, &out);

        if (rc != c->rc || (rc == 0 && out != c->want)) {
            print_error("'%s': rc %d, %lld ns; want rc %d, %lld ns\n", c->in, rc, (long long)out,
                        c->rc, (long long)c->want);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static const struct i64_case size_cases[] = {
    { "0", 0, 0 },
    { "1024", 0, 1024 },
    { "1kb", 0, 1024 },
    { "1k", 0, 1024 },
    { "1K", 0, 1024 },
    { "1KB", 0, 1024 },
    { "64kb", 0, 64 << 10 },
    { "32mb", 0, 32 << 20 },
    { "32MB", 0, 32 << 20 },
    { "32Mb", 0, 32 << 20 },
    { "256m", 0, 256 << 20 },
    { "1g", 0, 1LL << 30 },
    { "2gb", 0, 2LL << 30 },
    { "1t", 0, 1LL << 40 },
    { "1tb", 0, 1LL << 40 },
    { "1_024", 0, 1024 },
    { "0x10kb", 0, 16 << 10 },
    { "0x10", 0, 16 },
    { "0xff", 0, 255 },
    { "0600Tb", 0, 384LL << 40 }, /* leading 0: octal, as strconv.ParseInt(s, 0, 64) */
    { "0600", 0, 384 },
    { "0b101", 0, 5 },
    { "0o17", 0, 15 },
    { "0b1kb", 0, 1024 },
    { "8388607tb", 0, 8388607LL << 40 },
    { "9223372036854775807", 0, INT64_MAX },
    /* errors */
    { "", -EINVAL, 0 },
    { "kb", -EINVAL, 0 },
    { "mb", -EINVAL, 0 },
    { "k", -EINVAL, 0 },
    { "1.5mb", -EINVAL, 0 }, /* no fractions, as GoReplay */
    { "1.5", -EINVAL, 0 },
    { "-1", -EINVAL, 0 },
    { "-1kb", -EINVAL, 0 },
    { "+1kb", -EINVAL, 0 },
    { "1 kb", -EINVAL, 0 },
    { " 1kb", -EINVAL, 0 },
    { "1kib", -EINVAL, 0 },
    { "1b", -EINVAL, 0 },
    { "1p", -EINVAL, 0 },
    { "1pb", -EINVAL, 0 },
    { "08", -EINVAL, 0 },
    { "_1", -EINVAL, 0 },
    { "1_", -EINVAL, 0 },
    { "1__0", -EINVAL, 0 },
    { "0x", -EINVAL, 0 },
    { "0xkb", -EINVAL, 0 },
    { "abc", -EINVAL, 0 },
    { "1kbkb", -EINVAL, 0 },
    { "0000000000000000000000000000000000000000000000000000000000000001", -EINVAL, 0 },
    { "8388608tb", -ERANGE, 0 },
    { "8589934592gb", -ERANGE, 0 },
    { "9223372036854775808", -ERANGE, 0 },
    { "99999999999999999999", -ERANGE, 0 },
    { "0xffffffffffffffffffkb", -ERANGE, 0 },
};

static void test_parse_size(void **state)
{
    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(size_cases); i++) {
        const struct i64_case *c = &size_cases[i];
        struct dp_guarded g;
        int64_t out = 0x5a5a;
        int rc;

        dp_guarded_init(&g, c->in, strlen(c->in) + 1);
        rc = dp_parse_size((const char *)g.ptr, &out);
        if (rc != c->rc)
            fail_msg("case %zu '%s': rc %d, want %d", i, c->in, rc, c->rc);
        if (c->rc == 0 && out != c->want)
            fail_msg("case %zu '%s': %lld, want %lld", i, c->in, (long long)out,
                     (long long)c->want);
        if (c->rc != 0 && out != 0x5a5a)
            fail_msg("case %zu '%s': <out> written on error", i, c->in);
        dp_guarded_free(&g);
    }
}

static const struct i64_case int_cases[] = {
    { "0", 0, 0 },
    { "42", 0, 42 },
    { "-42", 0, -42 },
    { "+7", 0, 7 },
    { "0x1F", 0, 31 },
    { "0X1f", 0, 31 },
    { "-0x10", 0, -16 },
    { "0o17", 0, 15 },
    { "0O17", 0, 15 },
    { "0b101", 0, 5 },
    { "0B101", 0, 5 },
    { "017", 0, 15 },
    { "00", 0, 0 },
    { "0_1", 0, 1 },
    { "1_000", 0, 1000 },
    { "0x_1", 0, 1 },
    { "9223372036854775807", 0, INT64_MAX },
    { "-9223372036854775808", 0, INT64_MIN },
    { "0x7fffffffffffffff", 0, INT64_MAX },
    /* errors */
    { "", -EINVAL, 0 },
    { "+", -EINVAL, 0 },
    { "-", -EINVAL, 0 },
    { "--1", -EINVAL, 0 },
    { "08", -EINVAL, 0 },
    { "0b2", -EINVAL, 0 },
    { "0o8", -EINVAL, 0 },
    { "0xg", -EINVAL, 0 },
    { "1__0", -EINVAL, 0 },
    { "_1", -EINVAL, 0 },
    { "1_", -EINVAL, 0 },
    { "0x", -EINVAL, 0 },
    { "0x_", -EINVAL, 0 },
    { "1.0", -EINVAL, 0 },
    { " 1", -EINVAL, 0 },
    { "1 ", -EINVAL, 0 },
    { "1a", -EINVAL, 0 },
    { "1kb", -EINVAL, 0 },
    { "9223372036854775808", -ERANGE, 0 },
    { "-9223372036854775809", -ERANGE, 0 },
    { "0x8000000000000000", -ERANGE, 0 },
    { "0xffffffffffffffffff", -ERANGE, 0 },
    { "99999999999999999999", -ERANGE, 0 },
};

static void test_parse_int(void **state)
{
    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(int_cases); i++) {
        const struct i64_case *c = &int_cases[i];
        struct dp_guarded g;
        int64_t out = 0x5a5a;
        int rc;

        dp_guarded_init(&g, c->in, strlen(c->in) + 1);
        rc = dp_parse_int((const char *)g.ptr, &out);
        if (rc != c->rc)
            fail_msg("case %zu '%s': rc %d, want %d", i, c->in, rc, c->rc);
        if (c->rc == 0 && out != c->want)
            fail_msg("case %zu '%s': %lld, want %lld", i, c->in, (long long)out,
                     (long long)c->want);
        if (c->rc != 0 && out != 0x5a5a)
            fail_msg("case %zu '%s': <out> written on error", i, c->in);
        dp_guarded_free(&g);
    }
}

static void test_parse_bool(void **state)
{
    static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
    static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
    static const char *const bad[] = { "",   "yes",   "no",    "on",  "off",   "tRUE", "fAlse", "2",
                                       "-1", "true ", " true", "tru", "truee", "y",    "n" };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(yes); i++) {
        bool out = false;

        assert_int_equal(dp_parse_bool(yes[i], &out), 0);
        assert_true(out);
    }
    for (size_t i = 0; i < DP_ARRAY_LEN(no); i++) {
        bool out = true;

        assert_int_equal(dp_parse_bool(no[i], &out), 0);
        assert_false(out);
    }
    for (size_t i = 0; i < DP_ARRAY_LEN(bad); i++) {
        bool out = true;

        if (dp_parse_bool(bad[i], &out) != -EINVAL)
            fail_msg("'%s' accepted as a boolean", bad[i]);
        assert_true(out); /* untouched */
    }
}

/* ---- dp_flags_parse ---- */

/* A writable argv: the parser's strings point into it, so it lives as long as the config. */
struct args {
    char *v[40];
    int n;
};

static void args_make(struct args *a, const char *const *list)
{
    a->n = 0;
    a->v[a->n++] = strdup("doppel");
    for (; *list != NULL; list++) {
        assert_true(a->n < (int)DP_ARRAY_LEN(a->v) - 1);
        a->v[a->n] = strdup(*list);
        assert_non_null(a->v[a->n]);
        a->n++;
    }
    a->v[a->n] = NULL;
}

static void args_free(struct args *a)
{
    for (int i = 0; i < a->n; i++)
        free(a->v[i]);
    a->n = 0;
}

/* Everything one parse needs; torn down by done(). */
struct run {
    struct args a;
    struct dp_config cfg;
    struct dp_err err;
    enum dp_flags_result res;
};

static void run_list(struct run *r, const char *const *list)
{
    memset(r, 0, sizeof(*r));
    args_make(&r->a, list);
    r->res = dp_flags_parse(&r->cfg, r->a.n, r->a.v, &r->err);
}

#define RUN(r, ...) run_list((r), (const char *const[]){ __VA_ARGS__, NULL })

static void done(struct run *r)
{
    dp_flags_free(&r->cfg);
    args_free(&r->a);
}

static void expect_error(struct run *r, int code, const char *needle)
{
    if (r->res != DP_FLAGS_ERROR)
        fail_msg("result %d, want DP_FLAGS_ERROR (%s)", (int)r->res, needle);
    if (r->err.code != code)
        fail_msg("code %d, want %d; msg '%s'", r->err.code, code, r->err.msg);
    if (strstr(r->err.msg, needle) == NULL)
        fail_msg("message '%s' lacks '%s'", r->err.msg, needle);
    assert_null(strchr(r->err.msg, '\n')); /* one line */
}

static void test_flags_defaults(void **state)
{
    struct run r;
    char *argv[] = { NULL };

    (void)state;
    memset(&r, 0, sizeof(r));
    args_make(&r.a, (const char *const[]){ NULL });
    r.res = dp_flags_parse(&r.cfg, r.a.n, r.a.v, &r.err);
    /* No input and no output is not the parser's business: the pipeline reports it. */
    assert_int_equal(r.res, DP_FLAGS_RUN);
    assert_int_equal(r.cfg.verbose, 0);
    assert_false(r.cfg.stats);
    assert_int_equal(r.cfg.stats_interval_ns, 5 * SEC);
    assert_int_equal(r.cfg.exit_after_ns, 0);
    assert_int_equal(r.cfg.drain_timeout_ns, 5 * SEC);
    assert_int_equal(r.cfg.copy_buffer_size, 5 << 20);
    assert_string_equal(r.cfg.input_raw_engine, "libpcap");
    assert_string_equal(r.cfg.input_raw_protocol, "http");
    assert_int_equal(r.cfg.input_raw_expire_ns, 2 * SEC);
    assert_int_equal(r.cfg.input_raw_vxlan_port, 4789);
    assert_int_equal(r.cfg.input_file_read_depth, 100);
    assert_int_equal(r.cfg.output_http_queue_len, 1000);
    assert_int_equal(r.cfg.output_http_timeout_ns, 5 * SEC);
    assert_int_equal(r.cfg.output_http_stats_ms, 5000);
    assert_int_equal(r.cfg.output_file_flush_interval_ns, SEC);
    assert_int_equal(r.cfg.output_file_size_limit, 32 << 20);
    assert_int_equal(r.cfg.output_file_queue_limit, 256);
    assert_int_equal(r.cfg.output_file_max_size_limit, 1LL << 40);
    assert_int_equal(r.cfg.output_tcp_workers, 10);
    assert_string_equal(r.cfg.input_kafka_offset, "-1");
    assert_null(r.cfg.middleware);
    assert_int_equal(r.cfg.input_file.n, 0);
    assert_null(r.cfg.input_file.v);
    assert_int_equal(r.cfg.output_file.n, 0);
    assert_false(r.cfg.help);
    assert_false(r.cfg.version);
    done(&r);

    /* argc 0 (argv[0] absent) is harmless too. */
    memset(&r, 0, sizeof(r));
    assert_int_equal(dp_flags_parse(&r.cfg, 0, argv, &r.err), DP_FLAGS_RUN);
    dp_flags_free(&r.cfg);
}

static void test_flags_dash_and_value_forms(void **state)
{
    struct run r;

    (void)state;
    RUN(&r, "-input-file", "a.gor", "--output-null", "-verbose=2", "--stats-interval", "250ms",
        "-exit-after", "1m30s", "--copy-buffer-size=64kb", "-output-file-size-limit", "1k",
        "--input-file-read-depth=0x10", "-stats", "--output-file=x=y.gor",
        "--input-file-max-wait=-1s", "--verbose", "-3");
    assert_int_equal(r.res, DP_FLAGS_RUN);
    assert_int_equal(r.cfg.input_file.n, 1);
    assert_string_equal(r.cfg.input_file.v[0], "a.gor");
    assert_ptr_equal(r.cfg.input_file.v[0], r.a.v[2]); /* points into argv */
    assert_true(r.cfg.output_null);
    assert_int_equal(r.cfg.stats_interval_ns, 250 * MS);
    assert_int_equal(r.cfg.exit_after_ns, 90 * SEC);
    assert_int_equal(r.cfg.copy_buffer_size, 64 << 10);
    assert_int_equal(r.cfg.output_file_size_limit, 1024);
    assert_int_equal(r.cfg.input_file_read_depth, 16);
    assert_true(r.cfg.stats);
    assert_int_equal(r.cfg.output_file.n, 1);
    assert_string_equal(r.cfg.output_file.v[0], "x=y.gor"); /* split at the first '=' only */
    assert_int_equal(r.cfg.input_file_max_wait_ns, -SEC);
    /* A non-bool flag takes the next word even when it starts with '-' (Go's flag does too);
     * the last one wins. */
    assert_int_equal(r.cfg.verbose, -3);
    done(&r);

    /* An empty value through '=' is a value. */
    RUN(&r, "--output-file=", "--input-dummy=");
    assert_int_equal(r.res, DP_FLAGS_RUN);
    assert_int_equal(r.cfg.output_file.n, 1);
    assert_string_equal(r.cfg.output_file.v[0], "");
    assert_int_equal(r.cfg.input_dummy.n, 1);
    done(&r);

    /* A flag value may look like a flag: "--output-file --stats" records to a file '--stats'. */
    RUN(&r, "--output-file", "--stats");
    assert_int_equal(r.res, DP_FLAGS_RUN);
    assert_string_equal(r.cfg.output_file.v[0], "--stats");
    assert_false(r.cfg.stats);
    done(&r);
}

static void test_flags_lists_repeat(void **state)
{
    struct run r;

    (void)state;
    RUN(&r, "--input-file", "a", "--input-file=b", "-input-file", "c", "-input-file=d",
        "--output-file", "o1", "--output-stdout", "--output-file", "o2");
    assert_int_equal(r.res, DP_FLAGS_RUN);
    assert_int_equal(r.cfg.input_file.n, 4);
    assert_string_equal(r.cfg.input_file.v[0], "a");
    assert_string_equal(r.cfg.input_file.v[1], "b");
    assert_string_equal(r.cfg.input_file.v[2], "c");
    assert_string_equal(r.cfg.input_file.v[3], "d");
    assert_int_equal(r.cfg.output_file.n, 2);
    assert_string_equal(r.cfg.output_file.v[0], "o1");
    assert_string_equal(r.cfg.output_file.v[1], "o2");
    assert_true(r.cfg.output_stdout);
    done(&r);

    /* Growth past several powers of two (ASan checks every store). */
    RUN(&r, "--input-dummy", "0", "--input-dummy", "1", "--input-dummy", "2", "--input-dummy", "3",
        "--input-dummy", "4", "--input-dummy", "5", "--input-dummy", "6", "--input-dummy", "7",
        "--input-dummy", "8", "--input-dummy", "9", "--input-dummy", "10", "--input-dummy", "11",
        "--input-dummy", "12", "--input-dummy", "13", "--input-dummy", "14", "--input-dummy", "15",
        "--input-dummy", "16", "--input-dummy=17");
    assert_int_equal(r.res, DP_FLAGS_RUN);
    assert_int_equal(r.cfg.input_dummy.n, 18);
    for (uint32_t i = 0; i < 18; i++) {
        char want[8];

        snprintf(want, sizeof(want), "%u", i);
        assert_string_equal(r.cfg.input_dummy.v[i], want);
    }
    done(&r);

    /* Int lists parse each element. */
    RUN(&r, "--input-raw-vlan-vid", "10", "--input-raw-vlan-vid=0x14", "--input-raw-vxlan-vni",
        "-5");
    assert_int_equal(r.res, DP_FLAGS_RUN);
    assert_int_equal(r.cfg.input_raw_vlan_vid.n, 2);
    assert_int_equal(r.cfg.input_raw_vlan_vid.v[0], 10);
    assert_int_equal(r.cfg.input_raw_vlan_vid.v[1], 20);
    assert_int_equal(r.cfg.input_raw_vxlan_vni.n, 1);
    assert_int_equal(r.cfg.input_raw_vxlan_vni.v[0], -5);
    done(&r);

    /* dp_flags_free() is idempotent. */
    RUN(&r, "--input-file", "a");
    dp_flags_free(&r.cfg);
    assert_null(r.cfg.input_file.v);
    assert_int_equal(r.cfg.input_file.n, 0);
    done(&r);
}

static void test_flags_bools(void **state)
{
    static const struct {
        const char *arg;
        bool want;
    } cases[] = {
        { "--stats", true },        { "-stats", true },         { "--stats=true", true },
        { "--stats=false", false }, { "-stats=false", false },  { "--stats=1", true },
        { "--stats=0", false },     { "--stats=T", true },      { "--stats=F", false },
        { "--stats=TRUE", true },   { "--stats=False", false },
    };
    struct run r;

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        RUN(&r, cases[i].arg);
        if (r.res != DP_FLAGS_RUN)
            fail_msg("'%s': result %d (%s)", cases[i].arg, (int)r.res, r.err.msg);
        if (r.cfg.stats != cases[i].want)
            fail_msg("'%s': stats %d", cases[i].arg, r.cfg.stats);
        done(&r);
    }

    /* Last one wins, in both directions. */
    RUN(&r, "--split-output", "--split-output=false");
    assert_int_equal(r.res, DP_FLAGS_RUN);
    assert_false(r.cfg.split_output);
    done(&r);
    RUN(&r, "--split-output=false", "-split-output");
    assert_int_equal(r.res, DP_FLAGS_RUN);
    assert_true(r.cfg.split_output);
    done(&r);

    RUN(&r, "--stats=yes");
    expect_error(&r, -EINVAL, "--stats: 'yes' is not a boolean");
    done(&r);
    RUN(&r, "--stats=");
    expect_error(&r, -EINVAL, "--stats: '' is not a boolean");
    done(&r);

    /* GoReplay's trap: "--split-output true" silently ends Go's flag parsing. We refuse it and
     * say how to write it. */
    RUN(&r, "--split-output", "true", "--output-null");
    expect_error(&r, -EINVAL, "unexpected argument 'true' after --split-output");
    expect_error(&r, -EINVAL, "--split-output=true");
    done(&r);
    RUN(&r, "-stats", "false");
    expect_error(&r, -EINVAL, "--stats=false");
    done(&r);
    /* After "--stats=true" the hint does not apply: a plain stray word. */
    RUN(&r, "--stats=true", "true");
    expect_error(&r, -EINVAL, "unexpected argument 'true': doppel takes only flags");
    done(&r);
    /* A non-boolean word after a bool is a plain stray word too. */
    RUN(&r, "--stats", "foo");
    expect_error(&r, -EINVAL, "unexpected argument 'foo': doppel takes only flags");
    done(&r);
}

static void test_flags_unknown_suggests(void **state)
{
    static const struct {
        const char *arg;
        const char *msg;
    } cases[] = {
        { "--input-fil", "unknown flag '--input-fil': did you mean --input-file?" },
        { "--input-fil=x.gor", "unknown flag '--input-fil': did you mean --input-file?" },
        { "-outptu-null", "unknown flag '-outptu-null': did you mean --output-null?" },
        { "--output-stdot", "unknown flag '--output-stdot': did you mean --output-stdout?" },
        { "--input-file-lop", "did you mean --input-file-loop?" },
        { "--stat", "did you mean --stats?" },
        { "--Stats", "did you mean --stats?" },
        { "--output-http-worker", "did you mean --output-http-workers?" },
        /* Far from every name, but a prefix of a long one. */
        { "--output-file-max", "did you mean --output-file-" },
        { "--qqqqqqqqqqqqqqqqqqqq", "unknown flag '--qqqqqqqqqqqqqqqqqqqq' (see --help)" },
        { "--qqqqqqqqqqqqqqqqqqqq=1", "unknown flag '--qqqqqqqqqqqqqqqqqqqq' (see --help)" },
        { "--input-http", "unknown flag '--input-http'" }, /* removed in GoReplay 1.2.0 */
    };
    struct run r;

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        RUN(&r, "--output-null", cases[i].arg, "--input-dummy", "0");
        expect_error(&r, -EINVAL, cases[i].msg);
        done(&r);
    }
    /* No suggestion for a name far from everything. */
    RUN(&r, "--qqqqqqqqqqqqqqqqqqqq");
    assert_null(strstr(r.err.msg, "did you mean"));
    done(&r);
    /* A very long unknown name is reported without overflowing anything. */
    {
        char longname[300];

        memset(longname, 'z', sizeof(longname) - 1);
        longname[0] = '-';
        longname[1] = '-';
        longname[sizeof(longname) - 1] = '\0';
        RUN(&r, longname);
        expect_error(&r, -EINVAL, "unknown flag '--zzz");
        done(&r);
    }
}

static void test_flags_stray_words(void **state)
{
    static const struct {
        const char *arg;
        const char *msg;
    } cases[] = {
        { "foo", "unexpected argument 'foo': doppel takes only flags (see --help)" },
        { "-", "unexpected argument '-'" },
        { "--", "unexpected argument '--' (see --help)" },
        { "---stats", "unexpected argument '---stats' (see --help)" },
        { "--=x", "unknown flag '--' (see --help)" }, /* an empty name */
        { "-=x", "unknown flag '-' (see --help)" },
        { "", "unexpected argument ''" },
        { ":80", "unexpected argument ':80'" },
    };
    struct run r;

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        RUN(&r, "--input-dummy", "0", cases[i].arg, "--output-null");
        expect_error(&r, -EINVAL, cases[i].msg);
        done(&r);
    }
    /* A stray word first is an error too (Go would stop and ignore everything). */
    RUN(&r, "file-server", ":8000");
    expect_error(&r, -EINVAL, "unexpected argument 'file-server'");
    done(&r);
}

static void test_flags_missing_and_bad_values(void **state)
{
    static const struct {
        const char *const argv[4];
        const char *msg;
    } cases[] = {
        { { "--output-file", NULL }, "flag --output-file needs a value" },
        { { "--input-dummy", "0", "-verbose", NULL }, "flag --verbose needs a value" },
        { { "--exit-after", NULL }, "flag --exit-after needs a value" },
        { { "--verbose", "x", NULL }, "--verbose: 'x' is not an integer" },
        { { "--verbose=1.5", NULL }, "--verbose: '1.5' is not an integer" },
        { { "--verbose=", NULL }, "--verbose: '' is not an integer" },
        { { "--exit-after", "5", NULL },
          "--exit-after: '5' is not a duration (examples: 500ms, 2s, 1m30s)" },
        { { "--stats-interval=1x", NULL }, "--stats-interval: '1x' is not a duration" },
        { { "--copy-buffer-size", "1.5mb", NULL },
          "--copy-buffer-size: '1.5mb' is not a size (examples: 1024, 64kb, 32mb, 1g)" },
        { { "--output-file-size-limit=-1", NULL }, "--output-file-size-limit: '-1' is not a size" },
        { { "--input-raw-vlan-vid", "ten", NULL },
          "--input-raw-vlan-vid: 'ten' is not an integer" },
    };
    struct run r;

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        run_list(&r, cases[i].argv);
        expect_error(&r, -EINVAL, cases[i].msg);
        done(&r);
    }
    /* Out of range reports -ERANGE with the same message. */
    RUN(&r, "--verbose", "99999999999999999999");
    expect_error(&r, -ERANGE, "--verbose: '99999999999999999999' is not an integer");
    done(&r);
    RUN(&r, "--copy-buffer-size", "8388608tb");
    expect_error(&r, -ERANGE, "--copy-buffer-size: '8388608tb' is not a size");
    done(&r);
    RUN(&r, "--exit-after", "99999999999h");
    expect_error(&r, -ERANGE, "--exit-after");
    done(&r);
}

static void test_flags_unready_features(void **state)
{
    static const struct {
        const char *const argv[5];
        const char *msg;
    } cases[] = {
        { { "--input-tcp", ":28020", NULL }, "--input-tcp: the doppel-to-doppel TCP link" },
        { { "--recognize-tcp-sessions", NULL }, "--recognize-tcp-sessions: session-aware" },
        { { "--http-pprof", ":8181", NULL }, "--http-pprof: the metrics endpoint" },
        { { "--output-kafka-host", "k:9092", NULL },
          "--output-kafka-host: Kafka is not supported: doppel scales out on NATS" },
        { { "--output-ws", "ws://x", NULL }, "--output-ws: WebSocket output is not supported" },
        { { "--output-binary", "x:1", NULL }, "--output-binary: --output-binary is not supported" },
        { { "--output-http-elasticsearch", "es", NULL }, "Elasticsearch export is not supported" },
        { { "--cpuprofile", "cpu.out", NULL }, "--cpuprofile: Go profiler flags do not apply" },
        { { "--output-file-buffer", "/tmp", NULL }, "--output-file-buffer: S3 output" },
        /* Parsed syntax errors come before the feature check. */
        { { "--output-http", "x", "--verbose=x", NULL }, "--verbose: 'x' is not an integer" },
    };
    struct run r;

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        run_list(&r, cases[i].argv);
        expect_error(&r, strncmp(cases[i].msg, "--verbose", 9) == 0 ? -EINVAL : -ENOTSUP,
                     cases[i].msg);
        done(&r);
    }
    /* A bool of an unready feature set to false asks for nothing. */
    RUN(&r, "--output-http-skip-verify=false", "--output-tcp-secure=0", "--input-dummy", "0",
        "--output-null");
    assert_int_equal(r.res, DP_FLAGS_RUN);
    done(&r);
    /* ...but set to true it fails. */
    RUN(&r, "--output-tcp-secure=true");
    expect_error(&r, -ENOTSUP, "--output-tcp-secure: the doppel-to-doppel TCP link");
    done(&r);
}

static void test_flags_help_version_aliases(void **state)
{
    struct run r;

    (void)state;
    RUN(&r, "--help");
    assert_int_equal(r.res, DP_FLAGS_HELP);
    assert_true(r.cfg.help);
    done(&r);
    RUN(&r, "-help");
    assert_int_equal(r.res, DP_FLAGS_HELP);
    done(&r);
    RUN(&r, "-h");
    assert_int_equal(r.res, DP_FLAGS_HELP);
    done(&r);
    RUN(&r, "--version");
    assert_int_equal(r.res, DP_FLAGS_VERSION);
    assert_true(r.cfg.version);
    done(&r);
    RUN(&r, "--version", "--help");
    assert_int_equal(r.res, DP_FLAGS_HELP);
    done(&r);
    RUN(&r, "--version=false");
    assert_int_equal(r.res, DP_FLAGS_RUN);
    done(&r);
    /* Help wins over a flag that is not ready... */
    RUN(&r, "--input-raw", ":80", "--help");
    assert_int_equal(r.res, DP_FLAGS_HELP);
    done(&r);
    /* ...but not over a syntax error, which stops the parse where it is. */
    RUN(&r, "--help", "stray");
    expect_error(&r, -EINVAL, "unexpected argument 'stray'");
    done(&r);
    RUN(&r, "--no-such-flag", "--help");
    expect_error(&r, -EINVAL, "unknown flag '--no-such-flag'");
    done(&r);

    /* GoReplay's old names map to the new flags. */
    RUN(&r, "--output-dummy");
    assert_int_equal(r.res, DP_FLAGS_RUN);
    assert_true(r.cfg.output_stdout);
    done(&r);
    RUN(&r, "--output-http-header", "X-A: 1");
    assert_int_equal(r.res, DP_FLAGS_RUN);
    assert_int_equal(r.cfg.http_set_header.n, 1);
    assert_string_equal(r.cfg.http_set_header.v[0], "X-A: 1");
    done(&r);
}

/* Flag names from /work/shared/compat/goreplay/REFERENCE.md section 1 (GoReplay 2.0). */
static const char *const goreplay_flags[] = { "copy-buffer-size",
                                              "cpuprofile",
                                              "exit-after",
                                              "http-allow-header",
                                              "http-allow-method",
                                              "http-allow-url",
                                              "http-basic-auth-filter",
                                              "http-disallow-header",
                                              "http-disallow-url",
                                              "http-header-limiter",
                                              "http-original-host",
                                              "http-param-limiter",
                                              "http-pprof",
                                              "http-rewrite-header",
                                              "http-rewrite-url",
                                              "http-set-header",
                                              "http-set-param",
                                              "input-dummy",
                                              "input-file",
                                              "input-file-dry-run",
                                              "input-file-loop",
                                              "input-file-max-wait",
                                              "input-file-read-depth",
                                              "input-kafka-host",
                                              "input-kafka-json-format",
                                              "input-kafka-mechanism",
                                              "input-kafka-offset",
                                              "input-kafka-password",
                                              "input-kafka-topic",
                                              "input-kafka-use-sasl",
                                              "input-kafka-username",
                                              "input-raw",
                                              "input-raw-allow-incomplete",
                                              "input-raw-bpf-filter",
                                              "input-raw-buffer-size",
                                              "input-raw-buffer-timeout",
                                              "input-raw-engine",
                                              "input-raw-expire",
                                              "input-raw-ignore-interface",
                                              "input-raw-monitor",
                                              "input-raw-override-snaplen",
                                              "input-raw-promisc",
                                              "input-raw-protocol",
                                              "input-raw-realip-header",
                                              "input-raw-stats",
                                              "input-raw-timestamp-type",
                                              "input-raw-track-response",
                                              "input-raw-vlan",
                                              "input-raw-vlan-vid",
                                              "input-raw-vxlan-port",
                                              "input-raw-vxlan-vni",
                                              "input-tcp",
                                              "input-tcp-certificate",
                                              "input-tcp-certificate-key",
                                              "input-tcp-secure",
                                              "kafka-tls-ca-cert",
                                              "kafka-tls-client-cert",
                                              "kafka-tls-client-key",
                                              "memprofile",
                                              "middleware",
                                              "output-binary",
                                              "output-binary-debug",
                                              "output-binary-timeout",
                                              "output-binary-track-response",
                                              "output-binary-workers",
                                              "output-file",
                                              "output-file-append",
                                              "output-file-buffer",
                                              "output-file-flush-interval",
                                              "output-file-max-size-limit",
                                              "output-file-queue-limit",
                                              "output-file-size-limit",
                                              "output-http",
                                              "output-http-elasticsearch",
                                              "output-http-queue-len",
                                              "output-http-redirects",
                                              "output-http-response-buffer",
                                              "output-http-skip-verify",
                                              "output-http-stats",
                                              "output-http-stats-ms",
                                              "output-http-timeout",
                                              "output-http-track-response",
                                              "output-http-worker-timeout",
                                              "output-http-workers",
                                              "output-http-workers-min",
                                              "output-kafka-host",
                                              "output-kafka-json-format",
                                              "output-kafka-mechanism",
                                              "output-kafka-password",
                                              "output-kafka-topic",
                                              "output-kafka-use-sasl",
                                              "output-kafka-username",
                                              "output-null",
                                              "output-stdout",
                                              "output-tcp",
                                              "output-tcp-response-buffer",
                                              "output-tcp-secure",
                                              "output-tcp-skip-verify",
                                              "output-tcp-stats",
                                              "output-tcp-sticky",
                                              "output-tcp-workers",
                                              "output-ws",
                                              "output-ws-skip-verify",
                                              "output-ws-stats",
                                              "output-ws-sticky",
                                              "output-ws-workers",
                                              "prettify-http",
                                              "recognize-tcp-sessions",
                                              "split-output",
                                              "stats",
                                              "verbose" };

static void test_flags_goreplay_names(void **state)
{
    struct run r;

    (void)state;
    assert_true(dp_flags_count() >= 112);
    assert_true(DP_ARRAY_LEN(goreplay_flags) >= 110);
    for (size_t i = 0; i < DP_ARRAY_LEN(goreplay_flags); i++) {
        char arg[80];

        /* Known to the parser, whatever the value: any failure is about the value or the
         * feature, never "unknown flag". Both dash forms. */
        snprintf(arg, sizeof(arg), "--%s=1", goreplay_flags[i]);
        RUN(&r, arg);
        if (r.res == DP_FLAGS_ERROR && strstr(r.err.msg, "unknown flag") != NULL)
            fail_msg("%s: %s", arg, r.err.msg);
        done(&r);
        snprintf(arg, sizeof(arg), "-%s", goreplay_flags[i]);
        RUN(&r, arg, "1s");
        if (r.res == DP_FLAGS_ERROR && strstr(r.err.msg, "unknown flag") != NULL)
            fail_msg("%s: %s", arg, r.err.msg);
        done(&r);
    }

    /* A few GoReplay command lines that doppel runs today, word for word. */
    RUN(&r, "--input-file", "requests_0.gor|200%", "--output-stdout", "-input-file-loop",
        "--output-file-append", "--output-file", "rec_%Y%m%d.gor.gz",
        "--output-file-flush-interval", "5s", "--output-file-queue-limit=0",
        "--output-file-max-size-limit", "0x10kb", "--input-file-max-wait=500ms",
        "--input-file-dry-run=false", "--prettify-http=false", "-split-output=true");
    assert_int_equal(r.res, DP_FLAGS_RUN);
    assert_string_equal(r.cfg.input_file.v[0], "requests_0.gor|200%"); /* limiter split later */
    assert_true(r.cfg.input_file_loop);
    assert_true(r.cfg.output_file_append);
    assert_int_equal(r.cfg.output_file_flush_interval_ns, 5 * SEC);
    assert_int_equal(r.cfg.output_file_queue_limit, 0);
    assert_int_equal(r.cfg.output_file_max_size_limit, 16 << 10);
    assert_int_equal(r.cfg.input_file_max_wait_ns, 500 * MS);
    assert_false(r.cfg.input_file_dry_run);
    assert_true(r.cfg.split_output);
    done(&r);
}

static void test_flags_help_text(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    (void)state;
    f = open_memstream(&buf, &len);
    assert_non_null(f);
    dp_flags_help(f);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(buf, "usage: doppel"));
    assert_non_null(strstr(buf, "--input-file "));
    assert_non_null(strstr(buf, "--output-file-size-limit size"));
    assert_non_null(strstr(buf, "(default 32mb)"));
    assert_non_null(strstr(buf, "[repeatable]"));
    assert_non_null(strstr(buf, "[not supported]"));
    /* Every GoReplay flag is documented. */
    for (size_t i = 0; i < DP_ARRAY_LEN(goreplay_flags); i++) {
        char needle[80];

        snprintf(needle, sizeof(needle), "  --%s ", goreplay_flags[i]);
        if (strstr(buf, needle) == NULL)
            fail_msg("--help lacks %s", needle);
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_parse_duration_go_exact),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_parse_bool),
        cmocka_unit_test(test_flags_defaults),
        cmocka_unit_test(test_flags_dash_and_value_forms),
        cmocka_unit_test(test_flags_lists_repeat),
        cmocka_unit_test(test_flags_bools),
        cmocka_unit_test(test_flags_unknown_suggests),
        cmocka_unit_test(test_flags_stray_words),
        cmocka_unit_test(test_flags_missing_and_bad_values),
        cmocka_unit_test(test_flags_unready_features),
        cmocka_unit_test(test_flags_help_version_aliases),
        cmocka_unit_test(test_flags_goreplay_names),
        cmocka_unit_test(test_flags_help_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
