#include "outputs/tls_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define TLS_NAME_MAX 255 /* a DNS name (RFC 1035 §2.3.4), and SNI's HostName */
/* Post-handshake messages (NewSessionTicket, KeyUpdate, HelloRequest) taken in a row without
 * application data between them; BoringSSL (kMaxKeyUpdates) and rustls allow 32 key updates. */
#define TLS_POST_HS_MAX 32

struct tls_config {
    SSL_CTX *ctx;
    bool verify;
};

struct tls_client {
    SSL *ssl;
    BIO *rbio;  /* ciphertext from the peer; owned by <ssl> */
    BIO *wbio;  /* ciphertext for the peer; owned by <ssl> */
    bool ready; /* the handshake is done */
    bool failed;
    bool shut;        /* close_notify queued */
    unsigned post_hs; /* post-handshake messages since the last application data */
    char err[128];
};

/* Keeps the reason of the oldest error in OpenSSL's queue in <buf>, then empties the queue. */
static void queue_reason(char *buf, size_t size, const char *fallback)
{
    unsigned long e = ERR_get_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

    if (r != NULL)
        snprintf(buf, size, "%s", r);
    else if (e != 0)
        snprintf(buf, size, "OpenSSL error 0x%08lx", e);
    else
        snprintf(buf, size, "%s", fallback);
    ERR_clear_error();
}

/* Records why the last SSL_* call on <c>, which returned <ssl_err> (SSL_get_error), failed. */
static int fail(struct tls_client *c, int ssl_err)
{
    unsigned long e = ERR_peek_error();
    long vr = SSL_get_verify_result(c->ssl);

    c->failed = true;
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED &&
            vr != X509_V_OK) {
        snprintf(c->err, sizeof(c->err), "certificate verify failed: %s",
                X509_verify_cert_error_string(vr));
        ERR_clear_error();
    } else if (ssl_err == SSL_ERROR_ZERO_RETURN) {
        snprintf(c->err, sizeof(c->err), "peer sent close_notify");
        ERR_clear_error();
    } else {
        queue_reason(c->err, sizeof(c->err),
                ssl_err == SSL_ERROR_SYSCALL ? "unexpected end of stream" : "TLS error");
    }
    return -EPROTO;
}

/* A call out of order: refused, and said so, without failing the connection. */
static int refuse(struct tls_client *c, const char *why)
{
    snprintf(c->err, sizeof(c->err), "%s", why);
    return -EPROTO;
}

/* Not const: SSL_CTX_set1_groups_list() casts it to char * (clang's -Wcast-qual). */
static char ecdhe_groups[] = "X25519:P-256:X448:P-521:P-384";

int tls_config_new(bool verify, const char *ca_file, struct tls_config **out, struct dp_err *err)
{
    struct tls_config *cfg = calloc(1, sizeof(*cfg));
    char why[128];
    int rc;

    *out = NULL;
    ERR_clear_error();
    if (cfg == NULL)
        return dp_err_set(err, -ENOMEM, "out of memory");
    cfg->verify = verify;
    cfg->ctx = SSL_CTX_new(TLS_client_method());
    if (cfg->ctx == NULL) {
        queue_reason(why, sizeof(why), "out of memory");
        rc = dp_err_set(err, -ENOMEM, "TLS context: %s", why);
        goto fail;
    }
    if (SSL_CTX_set_min_proto_version(cfg->ctx, TLS1_2_VERSION) != 1) {
        queue_reason(why, sizeof(why), "cannot require TLS 1.2");
        rc = dp_err_set(err, -EINVAL, "TLS context: %s", why);
        goto fail;
    }
    /* A TLS 1.2 renegotiation would make SSL_write need to read: refused (a no_renegotiation
     * alert), so that tls_client_send() always takes everything. */
    SSL_CTX_set_options(cfg->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    /* No finite-field DH: the server picks its size, and a 10000-bit TLS 1.2 DHE group cost
     * 1.1 s of the loop per handshake, ffdhe8192 (TLS 1.3) 0.15 s. ECDHE costs about 1 ms. */
    if (SSL_CTX_set_cipher_list(cfg->ctx, "DEFAULT:!kDHE") != 1 ||
            SSL_CTX_set1_groups_list(cfg->ctx, ecdhe_groups) != 1) {
        queue_reason(why, sizeof(why), "cannot set the key exchanges");
        rc = dp_err_set(err, -EINVAL, "TLS context: %s", why);
        goto fail;
    }
    /* Idle pooled connections give back their 2 x ~17 KiB record buffers. */
    SSL_CTX_set_mode(cfg->ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_verify(cfg->ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);

    if (ca_file != NULL) {
        /* Opened first for an errno that names the problem; OpenSSL only says "no such file". */
        FILE *f = fopen(ca_file, "r");

        if (f == NULL) {
            rc = dp_err_set(err, -errno, "TLS CA file %s: %s", ca_file, strerror(errno));
            goto fail;
        }
        fclose(f);
        if (SSL_CTX_load_verify_locations(cfg->ctx, ca_file, NULL) != 1) {
            queue_reason(why, sizeof(why), "no certificate loaded");
            rc = dp_err_set(err, -EINVAL, "TLS CA file %s: %s", ca_file, why);
            goto fail;
        }
    } else if (verify && SSL_CTX_set_default_verify_paths(cfg->ctx) != 1) {
        queue_reason(why, sizeof(why), "cannot load");
        rc = dp_err_set(err, -EINVAL, "TLS system CA store: %s", why);
        goto fail;
    }
    ERR_clear_error();
    *out = cfg;
    return 0;

fail:
    ERR_clear_error();
    tls_config_free(cfg);
    return rc;
}

void tls_config_free(struct tls_config *cfg)
{
    if (cfg == NULL)
        return;
    SSL_CTX_free(cfg->ctx);
    free(cfg);
}

/* True when <name> is an IPv4 or IPv6 literal. */
static bool is_ip_literal(const char *name)
{
    uint8_t addr[16];

    return inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
}

/*
 * OpenSSL's message callback: counts the handshake messages the server sends after the
 * handshake. OpenSSL answers each KeyUpdate request with a KeyUpdate and each HelloRequest with
 * an alert, without limit, so a server that floods them and does not read made the output queue
 * the answers (92 MB for 1.6M HelloRequests). Past TLS_POST_HS_MAX the ciphertext still buffered
 * is dropped, which ends the SSL_read() in progress after this record; tls_client_read() then
 * fails the connection.
 */
static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len,
        SSL *ssl, void *arg)
{
    struct tls_client *c = arg;

    (void)version;
    (void)buf;
    (void)len;
    (void)ssl;
    if (write_p || content_type != SSL3_RT_HANDSHAKE || !c->ready)
        return;
    if (++c->post_hs > TLS_POST_HS_MAX)
        (void)BIO_reset(c->rbio);
}

int tls_client_new(struct tls_config *cfg, const char *server_name, struct tls_client **out)
{
    struct tls_client *c;
    char name[TLS_NAME_MAX + 1];
    size_t len = strnlen(server_name, TLS_NAME_MAX + 2);
    int rc = -ENOMEM;

    *out = NULL;
    if (len > TLS_NAME_MAX + 1)
        return -EINVAL;
    /* "example.com." is the same host, but SNI carries no trailing dot (RFC 6066 §3) and the
     * certificate names none either. */
    if (len > 0 && server_name[len - 1] == '.')
        len--;
    if (len == 0 || len > TLS_NAME_MAX)
        return -EINVAL;
    memcpy(name, server_name, len);
    name[len] = '\0';

    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    ERR_clear_error();
    c->ssl = SSL_new(cfg->ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        goto fail;
    }
    SSL_set_bio(c->ssl, c->rbio, c->wbio); /* <ssl> owns both from here */
    SSL_set_connect_state(c->ssl);
    SSL_set_msg_callback(c->ssl, on_msg);
    SSL_set_msg_callback_arg(c->ssl, c);

    if (is_ip_literal(name)) {
        if (cfg->verify && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), name) != 1)
            goto fail;
    } else {
        /* The long-returning macro fails on an over-long name (checked above) or no memory. */
        if (SSL_set_tlsext_host_name(c->ssl, name) != 1)
            goto fail;
        if (cfg->verify) {
            SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (SSL_set1_host(c->ssl, name) != 1)
                goto fail;
        }
    }
    ERR_clear_error();
    *out = c;
    return 0;

fail:
    ERR_clear_error();
    SSL_free(c->ssl);
    free(c);
    return rc;
}

void tls_client_free(struct tls_client *c)
{
    if (c == NULL)
        return;
    SSL_free(c->ssl); /* frees both BIOs */
    free(c);
}

int tls_client_recv(struct tls_client *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        int chunk = (int)DP_MIN(n, (size_t)INT_MAX);

        /* A memory BIO only fails to grow. */
        if (BIO_write(c->rbio, p, chunk) != chunk) {
            ERR_clear_error();
            return -ENOMEM;
        }
        p += chunk;
        n -= (size_t)chunk;
    }
    return 0;
}

int tls_client_handshake(struct tls_client *c)
{
    int r;
    int e;

    if (c->failed)
        return -EPROTO;
    if (c->ready)
        return 0;
    ERR_clear_error();
    r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->ready = true;
        ERR_clear_error();
        return 0;
    }
    e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return -EAGAIN;
    }
    return fail(c, e);
}

int tls_client_send(struct tls_client *c, const uint8_t *p, size_t n)
{
    if (c->failed)
        return -EPROTO;
    if (!c->ready)
        return refuse(c, "send before the handshake is done");
    if (c->shut)
        return refuse(c, "send after shutdown");
    ERR_clear_error();
    while (n > 0) {
        size_t done = 0;
        int r = SSL_write_ex(c->ssl, p, n, &done);

        /* Without SSL_MODE_ENABLE_PARTIAL_WRITE a success writes everything; the loop is for
         * safety only. The memory BIO never asks to wait, and renegotiation is refused. */
        if (r != 1)
            return fail(c, SSL_get_error(c->ssl, r));
        p += done;
        n -= done;
    }
    ERR_clear_error();
    return 0;
}

ssize_t tls_client_read(struct tls_client *c, uint8_t *out, size_t cap)
{
    size_t got = 0;
    int r;
    int e;

    if (c->failed)
        return -EPROTO;
    if (!c->ready)
        return refuse(c, "read before the handshake is done");
    if (cap == 0)
        return 0;
    ERR_clear_error();
    r = SSL_read_ex(c->ssl, out, DP_MIN(cap, (size_t)SSIZE_MAX), &got);
    if (c->post_hs > TLS_POST_HS_MAX) {
        c->failed = true;
        snprintf(c->err, sizeof(c->err), "more than %d post-handshake messages in a row",
                TLS_POST_HS_MAX);
        ERR_clear_error();
        return -EPROTO;
    }
    if (r == 1) {
        c->post_hs = 0;
        ERR_clear_error();
        return (ssize_t)got;
    }
    e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return 0;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
        ERR_clear_error();
        return -EPIPE;
    }
    return fail(c, e);
}

size_t tls_client_out_pending(const struct tls_client *c)
{
    return BIO_ctrl_pending(c->wbio);
}

size_t tls_client_take_out(struct tls_client *c, uint8_t *out, size_t cap)
{
    int r;

    if (cap == 0)
        return 0;
    r = BIO_read(c->wbio, out, (int)DP_MIN(cap, (size_t)INT_MAX));
    ERR_clear_error();
    return r > 0 ? (size_t)r : 0;
}

void tls_client_shutdown(struct tls_client *c)
{
    if (!c->ready || c->failed || c->shut)
        return;
    c->shut = true;
    ERR_clear_error();
    /* 0: close_notify sent, the peer's not seen yet; 1: both. We never wait for the peer's. */
    (void)SSL_shutdown(c->ssl);
    ERR_clear_error();
}

bool tls_client_is_ready(const struct tls_client *c)
{
    return c->ready;
}

const char *tls_client_error(const struct tls_client *c)
{
    return c->err;
}
