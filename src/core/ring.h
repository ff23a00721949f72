/*
 * ring.h: the one channel between a capture thread and the loop (DESIGN.md §3).
 *
 * A bounded single-producer/single-consumer ring of pointers. The producer (a capture thread)
 * never blocks: when the ring is full dp_ring_push() fails and the producer counts the drop.
 * The consumer (the loop) pops in batches after a uv_async wake-up.
 *
 *   slots: [ 0 ][ 1 ][ 2 ] ... [cap-1]      cap is a power of two
 *            ^tail (consumer)   ^head (producer)     head - tail = items, <= cap
 *
 * head is written only by the producer, tail only by the consumer; each reads the other's with
 * acquire ordering and publishes its own with release ordering. Each side caches the other's
 * index to touch the shared cache line only when it must.
 */
#ifndef DP_CORE_RING_H
#define DP_CORE_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/common.h"

struct dp_ring {
    _Alignas(64) _Atomic size_t head; /* next slot the producer fills */
    size_t tail_cache;                 /* producer's copy of tail */
    _Alignas(64) _Atomic size_t tail; /* next slot the consumer reads */
    size_t head_cache;                 /* consumer's copy of head */
    _Alignas(64) size_t mask;
    void **slots;
};

/* Allocates a ring of at least <cap> slots (rounded up to a power of two). 0 or -ENOMEM. */
int dp_ring_init(struct dp_ring *r, size_t cap) DP_WUR;

/* Frees the slots; items still in the ring are the caller's to drain first. */
void dp_ring_free(struct dp_ring *r);

/* Producer: appends <item>; false when the ring is full (nothing is written). */
bool dp_ring_push(struct dp_ring *r, void *item);

/* Consumer: removes the oldest item into *out; false when the ring is empty. */
bool dp_ring_pop(struct dp_ring *r, void **out);

/* Either side: items in the ring now (a snapshot). */
size_t dp_ring_len(struct dp_ring *r);

#endif
