/* test_histogram.c: percentiles within the bucket precision (1/16), exact max. */
#include <stdint.h>

#include "dp_test.h"

#include "core/histogram.h"

static void assert_near(int64_t got, int64_t want)
{
    int64_t tol = want / 16 + 1;

    print_message("got %lld want %lld\n", (long long)got, (long long)want);
    assert_true(got >= want && got <= want + tol);
}

static void test_hist_uniform(void **state)
{
    static struct dp_hist h;

    (void)state;
    for (int64_t v = 1; v <= 100000; v++)
        dp_hist_add(&h, v * 1000);
    assert_int_equal(h.count, 100000);
    assert_near(dp_hist_pct(&h, 50), 50000 * 1000);
    assert_near(dp_hist_pct(&h, 90), 90000 * 1000);
    assert_near(dp_hist_pct(&h, 99), 99000 * 1000);
    assert_int_equal(dp_hist_pct(&h, 100), 100000 * 1000);
    assert_int_equal(h.max, 100000 * 1000);
}

static void test_hist_edges(void **state)
{
    static struct dp_hist h;

    (void)state;
    assert_int_equal(dp_hist_pct(&h, 50), 0);
    dp_hist_add(&h, -5);
    dp_hist_add(&h, 0);
    dp_hist_add(&h, 3);
    assert_int_equal(dp_hist_pct(&h, 50), 0);
    assert_int_equal(dp_hist_pct(&h, 100), 3);
    dp_hist_add(&h, INT64_MAX);
    assert_int_equal(dp_hist_pct(&h, 100), INT64_MAX);
}

/* A bucket past 2^32 values (a day of replay at 50,000 requests/s): 32-bit counters wrapped to
 * 0 there, and every percentile became the maximum. The first 2^32 - 1 values are set by hand. */
static void test_hist_past_2_32(void **state)
{
    static struct dp_hist h;
    unsigned b = 0;

    (void)state;
    dp_hist_add(&h, 1000);
    while (h.n[b] == 0)
        b++;
    h.n[b] = UINT32_MAX;
    h.count = UINT32_MAX;
    dp_hist_add(&h, 1000);
    dp_hist_add(&h, 1000000000);
    assert_int_equal(h.n[b], (uint64_t)UINT32_MAX + 1);
    assert_near(dp_hist_pct(&h, 50), 1000);
    assert_near(dp_hist_pct(&h, 99), 1000);
    assert_int_equal(dp_hist_pct(&h, 100), 1000000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_uniform),
        cmocka_unit_test(test_hist_edges),
        cmocka_unit_test(test_hist_past_2_32),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
