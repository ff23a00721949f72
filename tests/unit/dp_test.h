/*
 * dp_test.h: helpers shared by the cmocka unit tests.
 *
 * Parser inputs are copied so that their last byte sits right before a PROT_NONE page
 * (STYLE.md rule 26): a read past the end faults at once, even without ASan.
 */
#ifndef DP_TEST_H
#define DP_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

struct dp_guarded {
    uint8_t *ptr; /* the copy; ptr + len is the first byte of the guard page */
    size_t len;
    void *map;
    size_t map_len;
};

/* Copies <src,len> in front of a guard page. Aborts the test on failure. */
void dp_guarded_init(struct dp_guarded *g, const void *src, size_t len);
void dp_guarded_free(struct dp_guarded *g);

#endif
