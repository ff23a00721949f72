/*
 * test_limiter.c: the "ADDR|N" / "ADDR|N%" / "FILE|max" suffix (core/limiter.c): parsing, the
 * one-second rate window on a fake monotonic clock, and the percent sampler's statistics.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dp_test.h"

#include "core/limiter.h"

#define SEC 1000000000LL

struct parse_case {
    const char *in;
    int rc;
    enum dp_limit_kind kind;
    int64_t n;
    const char *addr; /* what is left of <in> after the split */
};

static const struct parse_case parse_cases[] = {
    { "addr", 0, DP_LIMIT_NONE, 0, "addr" },
    { "localhost:8080", 0, DP_LIMIT_NONE, 0, "localhost:8080" },
    { "", 0, DP_LIMIT_NONE, 0, "" },
    { "addr|10", 0, DP_LIMIT_RATE, 10, "addr" },
    { "http://staging:8080/|1", 0, DP_LIMIT_RATE, 1, "http://staging:8080/" },
    { "addr|0", 0, DP_LIMIT_RATE, 0, "addr" },
    { "addr|007", 0, DP_LIMIT_RATE, 7, "addr" }, /* decimal, not octal */
    { "addr|999999999999", 0, DP_LIMIT_RATE, 999999999999LL, "addr" },
    { "addr|10%", 0, DP_LIMIT_PERCENT, 10, "addr" },
    { "addr|0%", 0, DP_LIMIT_PERCENT, 0, "addr" },
    { "addr|100%", 0, DP_LIMIT_PERCENT, 100, "addr" },
    { "file.gor|200%", 0, DP_LIMIT_PERCENT, 200, "file.gor" }, /* input-file: speed */
    { "addr|999999999999%", 0, DP_LIMIT_PERCENT, 999999999999LL, "addr" },
    { "file.gor|max", 0, DP_LIMIT_MAX, 0, "file.gor" },
    { "rec_*.gor.gz|max", 0, DP_LIMIT_MAX, 0, "rec_*.gor.gz" },
    { "|10", 0, DP_LIMIT_RATE, 10, "" }, /* the address is the plugin's business */
    /* errors */
    { "addr|", -EINVAL, DP_LIMIT_NONE, 0, "addr" },
    { "addr|x", -EINVAL, DP_LIMIT_NONE, 0, "addr" },
    { "addr|-1", -EINVAL, DP_LIMIT_NONE, 0, "addr" },
    { "addr|+1", -EINVAL, DP_LIMIT_NONE, 0, "addr" },
    { "addr|10%%", -EINVAL, DP_LIMIT_NONE, 0, "addr" },
    { "addr|%", -EINVAL, DP_LIMIT_NONE, 0, "addr" },
    { "addr|%10", -EINVAL, DP_LIMIT_NONE, 0, "addr" },
    { "addr|1.5", -EINVAL, DP_LIMIT_NONE, 0, "addr" },
    { "addr|1.5%", -EINVAL, DP_LIMIT_NONE, 0, "addr" },
    { "addr|10 ", -EINVAL, DP_LIMIT_NONE, 0, "addr" },
    { "addr| 10", -EINVAL, DP_LIMIT_NONE, 0, "addr" },
    { "addr|0x10", -EINVAL, DP_LIMIT_NONE, 0, "addr" },
    { "addr|MAX", -EINVAL, DP_LIMIT_NONE, 0, "addr" },
    { "addr|max%", -EINVAL, DP_LIMIT_NONE, 0, "addr" },
    { "addr|maxx", -EINVAL, DP_LIMIT_NONE, 0, "addr" },
    { "addr|10|20", -EINVAL, DP_LIMIT_NONE, 0, "addr" }, /* GoReplay silently takes 10 */
    { "addr||10", -EINVAL, DP_LIMIT_NONE, 0, "addr" },
    { "addr|9999999999999", -EINVAL, DP_LIMIT_NONE, 0, "addr" },  /* 13 digits: overflow */
    { "addr|9999999999999%", -EINVAL, DP_LIMIT_NONE, 0, "addr" }, /* 13 digits */
    { "addr|99999999999999999999999", -EINVAL, DP_LIMIT_NONE, 0, "addr" },
};

static void test_limiter_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(parse_cases); i++) {
        const struct parse_case *c = &parse_cases[i];
        size_t len = strlen(c->in);
        struct dp_guarded g;
        struct dp_limiter l;
        struct dp_err err = { 0 };
        char *addr;
        int rc;

        /* The spec is a writable C string ending right before the guard page. */
        dp_guarded_init(&g, c->in, len + 1);
        addr = (char *)g.ptr;
        memset(&l, 0xa5, sizeof(l));
        rc = dp_limiter_parse(&l, addr, "output-http", &err);
        if (rc != c->rc)
            fail_msg("case %zu '%s': rc %d, want %d (%s)", i, c->in, rc, c->rc, err.msg);
        assert_string_equal(addr, c->addr);
        if (rc == 0) {
            if (l.kind != c->kind || l.n != c->n)
                fail_msg("case %zu '%s': kind %d n %lld, want kind %d n %lld", i, c->in,
                         (int)l.kind, (long long)l.n, (int)c->kind, (long long)c->n);
            assert_int_equal(l.window_ns, 0);
            assert_int_equal(l.in_window, 0);
            assert_true(l.rng != 0); /* xorshift state must never be 0 */
            assert_int_equal(err.code, 0);
        } else {
            char want[300];

            /* The message names the flag and quotes the whole value as the user typed it. */
            assert_int_equal(err.code, -EINVAL);
            snprintf(want, sizeof(want), "--output-http '%s': ", c->in);
            if (strncmp(err.msg, want, strlen(want)) != 0)
                fail_msg("case %zu: message '%s' does not start with '%s'", i, err.msg, want);
            assert_non_null(strstr(err.msg, "must be N (messages per second), N% or max"));
        }
        dp_guarded_free(&g);
    }
}

static void test_limiter_parse_flag_name(void **state)
{
    char spec[] = "in.gor|fast";
    struct dp_limiter l;
    struct dp_err err = { 0 };

    (void)state;
    assert_int_equal(dp_limiter_parse(&l, spec, "input-file", &err), -EINVAL);
    assert_string_equal(
            err.msg,
            "--input-file 'in.gor|fast': the limiter after '|' must be N (messages per second), "
            "N% or max");
    /* The split happens at the first '|' only, in place: the spec stays readable after it. */
    assert_string_equal(spec, "in.gor");
    assert_string_equal(spec + 7, "fast");

    /* A NULL <err> is allowed. */
    {
        char bad[] = "x|y";

        assert_int_equal(dp_limiter_parse(&l, bad, "output-tcp", NULL), -EINVAL);
    }
}

/* Feeds one message at <t> and returns whether it passed. */
static bool at(struct dp_limiter *l, int64_t t)
{
    return dp_limiter_pass(l, t);
}

static void parse_ok(struct dp_limiter *l, const char *spec)
{
    char buf[64];
    struct dp_err err = { 0 };

    snprintf(buf, sizeof(buf), "%s", spec);
    assert_int_equal(dp_limiter_parse(l, buf, "output-http", &err), 0);
}

static void test_limiter_rate_window(void **state)
{
    const int64_t t0 = 10 * SEC; /* a plausible CLOCK_MONOTONIC reading */
    struct dp_limiter l;

    (void)state;
    parse_ok(&l, "addr|3");
    assert_int_equal(l.kind, DP_LIMIT_RATE);
    /* Exactly N pass in the first window. */
    assert_true(at(&l, t0));
    assert_true(at(&l, t0));
    assert_true(at(&l, t0 + SEC / 2));
    assert_false(at(&l, t0 + SEC / 2));
    assert_false(at(&l, t0 + SEC * 9 / 10));
    /* The window lasts one second inclusive (GoReplay compares with '>'). */
    assert_false(at(&l, t0 + SEC));
    /* The first message after it expired starts a new window at its own time... */
    assert_true(at(&l, t0 + SEC + 1));
    assert_int_equal(l.window_ns, t0 + SEC + 1);
    assert_true(at(&l, t0 + SEC + SEC / 2));
    assert_true(at(&l, t0 + SEC + SEC * 9 / 10));
    assert_false(at(&l, t0 + SEC + SEC * 9 / 10));
    /* ...so it is not aligned to whole seconds from t0: t0 + 2 s is still inside it. */
    assert_false(at(&l, t0 + 2 * SEC));
    assert_false(at(&l, t0 + 2 * SEC + 1));
    assert_true(at(&l, t0 + 2 * SEC + 2));
    /* Dropped messages do not extend the window nor count. */
    assert_int_equal(l.in_window, 1);
    /* A long idle gap: a fresh window with the full budget. */
    for (int i = 0; i < 3; i++)
        assert_true(at(&l, t0 + 1000 * SEC));
    assert_false(at(&l, t0 + 1000 * SEC));
}

static void test_limiter_rate_counts(void **state)
{
    struct dp_limiter l;
    int64_t t = 123 * SEC;
    int passed = 0;

    (void)state;
    /* 10 per second, 1000 messages 1 ms apart (one second + change per 1000): at most 10 per
     * window, windows restart on the first message after expiry. */
    parse_ok(&l, "addr|10");
    for (int s = 0; s < 5; s++) {
        int in_this_second = 0;

        for (int i = 0; i < 1000; i++) {
            if (at(&l, t + (int64_t)s * 1001 * 1000000 + (int64_t)i * 1000000)) {
                passed++;
                in_this_second++;
            }
        }
        assert_int_equal(in_this_second, 10);
    }
    assert_int_equal(passed, 50);

    /* N = 0 drops everything, as GoReplay. */
    parse_ok(&l, "addr|0");
    for (int i = 0; i < 100; i++)
        assert_false(at(&l, t + (int64_t)i * SEC));

    /* A large N is never the limit. */
    parse_ok(&l, "addr|999999999999");
    for (int i = 0; i < 100000; i++)
        assert_true(at(&l, t));
}

/* Passes out of <n> draws of a fresh "addr|<pct>%" limiter; <seed> 0 keeps the parse's seed. */
static int64_t sample(const char *spec, uint64_t seed, int64_t n, int64_t *pairs)
{
    struct dp_limiter l;
    int64_t passed = 0;
    bool prev = false;

    parse_ok(&l, spec);
    assert_int_equal(l.kind, DP_LIMIT_PERCENT);
    if (seed != 0)
        l.rng = seed;
    if (pairs != NULL)
        *pairs = 0;
    for (int64_t i = 0; i < n; i++) {
        /* The time does not matter to sampling. */
        bool ok = dp_limiter_pass(&l, i);

        passed += ok;
        if (pairs != NULL && (i & 1) == 1 && ok && prev)
            (*pairs)++;
        prev = ok;
    }
    return passed;
}

static void test_limiter_percent(void **state)
{
    static const struct {
        const char *spec;
        int pct;
    } cases[] = {
        { "addr|1%", 1 },   { "addr|10%", 10 }, { "addr|25%", 25 },
        { "addr|50%", 50 }, { "addr|90%", 90 }, { "addr|99%", 99 },
    };
    static const uint64_t seeds[] = { 0, 1, 0x9e3779b97f4a7c15ULL, 0xdeadbeefULL };
    const int64_t n = 100000;

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        for (size_t s = 0; s < DP_ARRAY_LEN(seeds); s++) {
            double p = cases[i].pct / 100.0;
            double mean = (double)n * p;
            double sd = sqrt((double)n * p * (1 - p));
            int64_t pairs;
            int64_t got = sample(cases[i].spec, seeds[s], n, &pairs);
            double pair_mean = (double)(n / 2) * p * p;
            double pair_sd = sqrt((double)(n / 2) * p * p * (1 - p * p));

            /* Six standard deviations: a false alarm about once in 10^9 runs. */
            if (fabs((double)got - mean) > 6 * sd)
                fail_msg("%s seed %zu: %lld of %lld passed, want %.0f +- %.0f", cases[i].spec, s,
                         (long long)got, (long long)n, mean, 6 * sd);
            /* Draws are independent: both of a pair pass with probability p^2. */
            if (fabs((double)pairs - pair_mean) > 6 * pair_sd + 1)
                fail_msg("%s seed %zu: %lld pairs passed, want %.0f +- %.0f", cases[i].spec, s,
                         (long long)pairs, pair_mean, 6 * pair_sd);
        }
    }
}

static void test_limiter_percent_edges(void **state)
{
    static const uint64_t seeds[] = { 0, 1, 2, 0x9e3779b97f4a7c15ULL, UINT64_MAX };

    (void)state;
    for (size_t s = 0; s < DP_ARRAY_LEN(seeds); s++) {
        assert_int_equal(sample("addr|0%", seeds[s], 100000, NULL), 0);
        assert_int_equal(sample("addr|100%", seeds[s], 100000, NULL), 100000);
        assert_int_equal(sample("addr|200%", seeds[s], 1000, NULL), 1000);
    }
}

static void test_limiter_none_and_max(void **state)
{
    struct dp_limiter l;

    (void)state;
    parse_ok(&l, "addr");
    assert_int_equal(l.kind, DP_LIMIT_NONE);
    for (int i = 0; i < 10000; i++)
        assert_true(dp_limiter_pass(&l, 5 * SEC));
    parse_ok(&l, "f.gor|max");
    assert_int_equal(l.kind, DP_LIMIT_MAX);
    for (int i = 0; i < 10000; i++)
        assert_true(dp_limiter_pass(&l, 5 * SEC));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limiter_parse),        cmocka_unit_test(test_limiter_parse_flag_name),
        cmocka_unit_test(test_limiter_rate_window),  cmocka_unit_test(test_limiter_rate_counts),
        cmocka_unit_test(test_limiter_percent),      cmocka_unit_test(test_limiter_percent_edges),
        cmocka_unit_test(test_limiter_none_and_max),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
