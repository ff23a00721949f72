#include "core/selfconn.h"

#include <stdatomic.h>

/* remote port + 1 of the connection from each local port, 0 when none (port 0 is never used) */
static _Atomic uint32_t slots[65536];

void dp_selfconn_add(uint16_t local_port, uint16_t remote_port)
{
    atomic_store_explicit(&slots[local_port], (uint32_t)remote_port + 1, memory_order_release);
}

void dp_selfconn_del(uint16_t local_port)
{
    atomic_store_explicit(&slots[local_port], 0, memory_order_release);
}

bool dp_selfconn_has(uint16_t client_port, uint16_t server_port)
{
    return atomic_load_explicit(&slots[client_port], memory_order_acquire) ==
            (uint32_t)server_port + 1;
}
