/*
 * selfconn.h: doppel's own outgoing TCP connections, so that a capture never records them.
 *
 * GoReplay captures its own replayed traffic when it replays to a port it captures (its issues
 * #292, #918): the replay is captured, replayed again, and so on. The replay outputs register
 * each connection here (local port -> remote port) once it is connected and before they write
 * to it; a capture thread asks, for each connection it starts cutting messages from, whether
 * its client side is one of them, and skips it.
 *
 * One atomic slot per local port: lock-free, 256 KiB of which only used pages are touched, shared by every thread. A remote client
 * that happens to use the same port pair as one of doppel's live connections would be skipped
 * too; the key is a port pair because the capture and the socket may see different addresses
 * for the same host (NAT, loopback aliases).
 */
#ifndef DP_CORE_SELFCONN_H
#define DP_CORE_SELFCONN_H

#include <stdbool.h>
#include <stdint.h>

/* The loop: a connection from <local_port> to <remote_port> is ours (until del). */
void dp_selfconn_add(uint16_t local_port, uint16_t remote_port);

/* The loop: the connection from <local_port> is closed. */
void dp_selfconn_del(uint16_t local_port);

/* Any thread: is <client_port> -> <server_port> one of doppel's own connections? */
bool dp_selfconn_has(uint16_t client_port, uint16_t server_port);

#endif
