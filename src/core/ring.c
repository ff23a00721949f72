#include "core/ring.h"

#include <errno.h>
#include <stdlib.h>

int dp_ring_init(struct dp_ring *r, size_t cap)
{
    size_t n = 2;

    while (n < cap && n < ((size_t)1 << 30))
        n <<= 1;
    r->slots = calloc(n, sizeof(*r->slots));
    if (r->slots == NULL)
        return -ENOMEM;
    r->mask = n - 1;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    r->tail_cache = 0;
    r->head_cache = 0;
    return 0;
}

void dp_ring_free(struct dp_ring *r)
{
    free(r->slots);
    r->slots = NULL;
}

bool dp_ring_push(struct dp_ring *r, void *item)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

    if (head - r->tail_cache > r->mask) {
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head - r->tail_cache > r->mask)
            return false;
    }
    r->slots[head & r->mask] = item;
    atomic_store_explicit(&r->head, head + 1, memory_order_release);
    return true;
}

bool dp_ring_pop(struct dp_ring *r, void **out)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

    if (tail == r->head_cache) {
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        if (tail == r->head_cache)
            return false;
    }
    *out = r->slots[tail & r->mask];
    atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
    return true;
}

size_t dp_ring_len(struct dp_ring *r)
{
    return atomic_load_explicit(&r->head, memory_order_acquire) -
            atomic_load_explicit(&r->tail, memory_order_acquire);
}
