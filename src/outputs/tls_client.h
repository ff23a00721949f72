/*
 * tls_client.h: a TLS client connection that does no I/O of its own (OpenSSL memory BIOs).
 *
 *          socket bytes (ciphertext)                         plaintext
 *   read cb  ---> tls_client_recv() --> [rbio] --> SSL --> tls_client_read()  ---> HTTP parser
 *   write    <--- tls_client_take_out() <-- [wbio] <-- SSL <-- tls_client_send() <--- request
 *
 * The caller (the HTTP replay output, on the libuv loop) owns the socket and moves the bytes:
 * whatever it reads goes into tls_client_recv(), and whatever tls_client_out_pending() reports
 * must be written to the socket after every call that can produce it (handshake, send, read,
 * shutdown). See docs/internals/tls_client.md for the order of calls.
 *
 * Nothing here prints, blocks or keeps global state. OpenSSL's per-thread error queue is cleared
 * before and after every call; the reason of a failure is kept in the connection's error text.
 * Not thread-safe: one connection is used by one thread (the loop) at a time.
 */
#ifndef DP_OUTPUTS_TLS_CLIENT_H
#define DP_OUTPUTS_TLS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/err.h"

/* One per target: wraps a client SSL_CTX (TLS 1.2 or later, renegotiation refused). */
struct tls_config;

/*
 * Makes the configuration of one target. <verify> checks the server's certificate chain and
 * name (on by default in doppel); off, any certificate is accepted (SNI is still sent).
 * <ca_file> is a PEM file of trusted CAs, or NULL for the system store
 * (SSL_CTX_set_default_verify_paths). A <ca_file> is loaded, and must be readable, even with
 * <verify> off. Returns 0 and *<out>, or -errno with <err> filled: -ENOENT/-EACCES naming the
 * file, -EINVAL naming the file and OpenSSL's reason (no certificate in it), -ENOMEM.
 */
int tls_config_new(bool verify, const char *ca_file, struct tls_config **out,
        struct dp_err *err) DP_WUR;

/* Frees <cfg> (NULL is fine). Connections made from it may outlive it: each holds a reference to
 * the SSL_CTX. */
void tls_config_free(struct tls_config *cfg);

struct tls_client;

/*
 * A new client connection for <cfg>, in the state "handshake not started". <server_name> is the
 * URL's host (IPv6 without brackets), borrowed until return. A DNS name is sent as SNI and, with
 * verify on, checked against the certificate (SSL_set1_host; no partial wildcards; a trailing dot
 * is dropped). An IP literal (v4 or v6) is checked as an IP (X509_VERIFY_PARAM_set1_ip_asc) and
 * not sent as SNI (RFC 6066 §3). Returns 0 and *<out>; -EINVAL when <server_name> is empty or
 * longer than 255 bytes (addition); -ENOMEM.
 */
int tls_client_new(struct tls_config *cfg, const char *server_name, struct tls_client **out) DP_WUR;

/* Frees <c> (NULL is fine). Sends nothing: call tls_client_shutdown() first for a clean close. */
void tls_client_free(struct tls_client *c);

/* Appends <p, n>, bytes that arrived from the socket (ciphertext), to the incoming buffer. Takes
 * all of them; nothing is decrypted until tls_client_handshake() or tls_client_read(). The buffer
 * has no cap of its own: it holds what was received and not yet read, so the caller bounds it by
 * not reading the socket while it does not call tls_client_read() (uv_read_stop).
 * Returns 0 or -ENOMEM. */
int tls_client_recv(struct tls_client *c, const uint8_t *p, size_t n) DP_WUR;

/*
 * Drives the handshake with the bytes received so far. Returns 0 when it is done (also when it
 * was already done), -EAGAIN when it needs more bytes from the peer, -EPROTO when it failed
 * (then and from then on: tls_client_error() tells why, e.g. "certificate verify failed: unable
 * to get local issuer certificate", "certificate verify failed: hostname mismatch"). Whatever the
 * result, send what tls_client_out_pending() reports next (on 0: the client's Finished; on
 * -EPROTO: the alert, if you care to tell the peer). After 0, application data may already be
 * buffered: call tls_client_read() without waiting for the socket.
 */
int tls_client_handshake(struct tls_client *c) DP_WUR;

/* Encrypts <p, n> (plaintext) into the outgoing buffer; the handshake must be done. Takes all of
 * it and returns 0, or -EPROTO (before the handshake or after tls_client_shutdown(): refused, the
 * connection stays usable; after a failure; see tls_client_error()). */
int tls_client_send(struct tls_client *c, const uint8_t *p, size_t n) DP_WUR;

/*
 * Copies up to <cap> decrypted bytes into <out>. Returns the count (> 0); 0 when nothing is
 * available now (more recv is needed; also when <cap> is 0); -EPIPE when the peer sent
 * close_notify (clean end; after all the data before it); -EPROTO on a TLS error, when the
 * handshake is not done, or after more than 32 post-handshake messages (KeyUpdate,
 * NewSessionTicket, HelloRequest) in a row without application data between them ("more than 32
 * post-handshake messages in a row"; the ciphertext still buffered is dropped). A read can
 * produce bytes to send (the no_renegotiation alert answering a TLS 1.2 HelloRequest, the
 * KeyUpdate answering a TLS 1.3 key update request, a fatal alert): check
 * tls_client_out_pending() afterwards too.
 */
ssize_t tls_client_read(struct tls_client *c, uint8_t *out, size_t cap) DP_WUR;

/* Length of the ciphertext waiting to be written to the socket. */
size_t tls_client_out_pending(const struct tls_client *c);

/* Moves up to <cap> bytes of that ciphertext into <out> and removes them from the outgoing
 * buffer. Returns how many. */
size_t tls_client_take_out(struct tls_client *c, uint8_t *out, size_t cap);

/* Queues a close_notify (then send out_pending). Does nothing before the handshake is done, after
 * a failure, or when one was already queued. */
void tls_client_shutdown(struct tls_client *c);

/* True once tls_client_handshake() returned 0 (addition: for callers that keep no state). */
bool tls_client_is_ready(const struct tls_client *c);

/* The last error, a NUL-terminated one-line text for logs and counters ("" when none). It lives
 * in <c> until tls_client_free(); a later error replaces it, a success leaves it. */
const char *tls_client_error(const struct tls_client *c);

#endif
