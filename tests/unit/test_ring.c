/* test_ring.c: the SPSC ring, single-threaded edge cases and a two-thread stress run. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "dp_test.h"

#include "core/ring.h"

static void test_ring_fill_and_drain(void **state)
{
    struct dp_ring r;
    void *out;

    (void)state;
    assert_int_equal(dp_ring_init(&r, 5), 0); /* rounded up to 8 */
    for (uintptr_t i = 1; i <= 8; i++)
        assert_true(dp_ring_push(&r, (void *)i));
    assert_false(dp_ring_push(&r, (void *)9));
    assert_int_equal(dp_ring_len(&r), 8);
    for (uintptr_t i = 1; i <= 8; i++) {
        assert_true(dp_ring_pop(&r, &out));
        assert_int_equal((uintptr_t)out, i);
    }
    assert_false(dp_ring_pop(&r, &out));
    assert_int_equal(dp_ring_len(&r), 0);
    dp_ring_free(&r);
}

static void test_ring_wraps(void **state)
{
    struct dp_ring r;
    void *out;
    uintptr_t next_in = 1;
    uintptr_t next_out = 1;

    (void)state;
    assert_int_equal(dp_ring_init(&r, 4), 0);
    for (int round = 0; round < 1000; round++) {
        int n = round % 4 + 1;

        for (int i = 0; i < n; i++)
            assert_true(dp_ring_push(&r, (void *)next_in++));
        for (int i = 0; i < n; i++) {
            assert_true(dp_ring_pop(&r, &out));
            assert_int_equal((uintptr_t)out, next_out++);
        }
    }
    dp_ring_free(&r);
}

#define STRESS_N 2000000u

static void *producer(void *arg)
{
    struct dp_ring *r = arg;

    for (uintptr_t i = 1; i <= STRESS_N; i++) {
        while (!dp_ring_push(r, (void *)i))
            ;
    }
    return NULL;
}

static void test_ring_two_threads(void **state)
{
    struct dp_ring r;
    pthread_t t;
    uintptr_t expect = 1;

    (void)state;
    assert_int_equal(dp_ring_init(&r, 1024), 0);
    assert_int_equal(pthread_create(&t, NULL, producer, &r), 0);
    while (expect <= STRESS_N) {
        void *out;

        if (dp_ring_pop(&r, &out)) {
            assert_int_equal((uintptr_t)out, expect);
            expect++;
        }
    }
    pthread_join(t, NULL);
    dp_ring_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_fill_and_drain),
        cmocka_unit_test(test_ring_wraps),
        cmocka_unit_test(test_ring_two_threads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
