/*
 * test_tls_client.c: the TLS client without I/O (outputs/tls_client) against an in-memory
 * OpenSSL server.
 *
 * The group setup makes a CA and a server certificate for "localhost" and 127.0.0.1 (EC P-256,
 * built with the X509 API) and writes the CA to a temporary PEM file. Each test pumps bytes
 * between tls_client and a server SSL on two memory BIOs; every loop is bounded (rule 31), and
 * after each tls_client call OpenSSL's error queue must be empty.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "dp_test.h"

#include "core/common.h"
#include "outputs/tls_client.h"

#define MIB        (1024 * 1024)
#define PUMP_STEPS 64 /* handshake round trips before giving up; a handshake needs ~3 */

struct pki {
    EVP_PKEY *ca_key;
    EVP_PKEY *srv_key;
    X509 *ca;
    X509 *srv;
    char ca_path[64];
    char empty_path[64];
};

static struct pki pki;

/* The error queue must be clean after every tls_client call (the server's errors are cleared by
 * the helpers that drive it). */
#define ASSERT_QUEUE_CLEAN() assert_int_equal(ERR_peek_error(), 0)

static void add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);

    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

/* A certificate for <key> named <cn>, signed by <issuer>/<issuer_key> (self-signed when
 * <issuer> is NULL), a CA or a TLS server with subjectAltName <san>. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
        const char *san)
{
    static long serial = 1;
    X509 *x = X509_new();
    X509_NAME *name;
    X509V3_CTX v3;

    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
    assert_int_equal(X509_set_pubkey(x, key), 1);
    name = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             (const unsigned char *)cn, -1, -1, 0),
            1);
    assert_int_equal(X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name),
            1);
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
    add_ext(x, &v3, NID_subject_key_identifier, "hash");
    if (issuer == NULL) {
        add_ext(x, &v3, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(x, &v3, NID_key_usage, "critical,digitalSignature");
        add_ext(x, &v3, NID_ext_key_usage, "serverAuth");
        add_ext(x, &v3, NID_authority_key_identifier, "keyid:always");
        add_ext(x, &v3, NID_subject_alt_name, san);
    }
    assert_true(X509_sign(x, issuer_key, EVP_sha256()) > 0);
    return x;
}

static void make_temp(char *path, size_t size, FILE **f)
{
    int fd;

    snprintf(path, size, "/tmp/doppel-test-tls-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd != -1);
    *f = fdopen(fd, "w");
    assert_non_null(*f);
}

static int setup_pki(void **state)
{
    FILE *f;

    (void)state;
    pki.ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    pki.srv_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(pki.ca_key);
    assert_non_null(pki.srv_key);
    pki.ca = make_cert(pki.ca_key, "doppel test CA", NULL, pki.ca_key, NULL);
    pki.srv = make_cert(pki.srv_key, "localhost", pki.ca, pki.ca_key, "DNS:localhost,IP:127.0.0.1");

    make_temp(pki.ca_path, sizeof(pki.ca_path), &f);
    assert_int_equal(PEM_write_X509(f, pki.ca), 1);
    assert_int_equal(fclose(f), 0);
    make_temp(pki.empty_path, sizeof(pki.empty_path), &f);
    assert_int_equal(fclose(f), 0);
    ERR_clear_error();
    return 0;
}

static int teardown_pki(void **state)
{
    (void)state;
    unlink(pki.ca_path);
    unlink(pki.empty_path);
    X509_free(pki.srv);
    X509_free(pki.ca);
    EVP_PKEY_free(pki.srv_key);
    EVP_PKEY_free(pki.ca_key);
    return 0;
}

/* The in-memory server: <in> holds what the client sent, <out> what the server sends. */
struct srv {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *in;
    BIO *out;
    bool failed;
};

/* A server presenting the test certificate; <max_version> 0 for any. */
static void srv_init(struct srv *s, int max_version)
{
    memset(s, 0, sizeof(*s));
    s->ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(s->ctx);
    assert_int_equal(SSL_CTX_use_certificate(s->ctx, pki.srv), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(s->ctx, pki.srv_key), 1);
    if (max_version != 0) {
        /* TLS 1.1 needs security level 0 in OpenSSL 3 to be offered at all. */
        SSL_CTX_set_security_level(s->ctx, 0);
        assert_int_equal(SSL_CTX_set_min_proto_version(s->ctx, 0), 1);
        assert_int_equal(SSL_CTX_set_max_proto_version(s->ctx, max_version), 1);
    }
    s->ssl = SSL_new(s->ctx);
    s->in = BIO_new(BIO_s_mem());
    s->out = BIO_new(BIO_s_mem());
    assert_non_null(s->ssl);
    assert_non_null(s->in);
    assert_non_null(s->out);
    SSL_set_bio(s->ssl, s->in, s->out);
    SSL_set_accept_state(s->ssl);
}

static void srv_free(struct srv *s)
{
    SSL_free(s->ssl);
    SSL_CTX_free(s->ctx);
    ERR_clear_error();
}

static void srv_step(struct srv *s)
{
    if (!s->failed && !SSL_is_init_finished(s->ssl)) {
        int r = SSL_do_handshake(s->ssl);

        if (r != 1 && SSL_get_error(s->ssl, r) != SSL_ERROR_WANT_READ)
            s->failed = true;
    }
    ERR_clear_error();
}

/* Moves the client's pending ciphertext to the server, in pieces of at most <piece> bytes. */
static void client_to_srv(struct tls_client *c, struct srv *s, size_t piece)
{
    uint8_t buf[4096];

    piece = DP_MIN(piece, sizeof(buf));
    while (tls_client_out_pending(c) > 0) {
        size_t n = tls_client_take_out(c, buf, piece);

        assert_true(n > 0 && n <= piece);
        assert_int_equal(BIO_write(s->in, buf, (int)n), (int)n);
    }
    ASSERT_QUEUE_CLEAN();
}

/* Moves the server's pending ciphertext to the client, in pieces of at most <piece> bytes. */
static void srv_to_client(struct srv *s, struct tls_client *c, size_t piece)
{
    uint8_t buf[4096];
    int n;

    piece = DP_MIN(piece, sizeof(buf));
    while ((n = BIO_read(s->out, buf, (int)piece)) > 0)
        assert_int_equal(tls_client_recv(c, buf, (size_t)n), 0);
    ERR_clear_error();
}

/* Runs the handshake to its end; returns the client's last result. */
static int pump_handshake(struct tls_client *c, struct srv *s)
{
    for (int i = 0; i < PUMP_STEPS; i++) {
        int rc = tls_client_handshake(c);

        ASSERT_QUEUE_CLEAN();
        client_to_srv(c, s, 4096);
        srv_step(s);
        srv_to_client(s, c, 4096);
        if (rc == -EPROTO)
            return rc;
        assert_true(rc == 0 || rc == -EAGAIN);
        if (rc == 0 && SSL_is_init_finished(s->ssl))
            return 0;
        /* A failed server still sends its alert: the client must see it and fail. */
    }
    fail_msg("handshake did not finish in %d steps", PUMP_STEPS);
    return -ETIMEDOUT;
}

static struct tls_config *config(bool verify, const char *ca_file)
{
    struct tls_config *cfg = NULL;
    struct dp_err err = { 0 };

    assert_int_equal(tls_config_new(verify, ca_file, &cfg, &err), 0);
    assert_int_equal(err.code, 0);
    ASSERT_QUEUE_CLEAN();
    return cfg;
}

/* A connected pair: the handshake is done. */
static struct tls_client *connect_pair(struct tls_config *cfg, struct srv *s, int max_version)
{
    struct tls_client *c = NULL;

    srv_init(s, max_version);
    assert_int_equal(tls_client_new(cfg, "localhost", &c), 0);
    assert_int_equal(pump_handshake(c, s), 0);
    assert_true(tls_client_is_ready(c));
    assert_string_equal(tls_client_error(c), "");
    return c;
}

struct hs_case {
    bool verify;
    bool test_ca;      /* trust the test CA; else the system store */
    const char *name;  /* server_name */
    int max_version;   /* the server's; 0 for any */
    int want;          /* 0 or -EPROTO */
    const char *error; /* a part of tls_client_error() */
    const char *sni;   /* what the server saw, NULL for none */
};

static void test_handshake(void **state)
{
    static const struct hs_case cases[] = {
        { true, true, "localhost", 0, 0, "", "localhost" },
        { true, true, "LocalHost.", 0, 0, "", "LocalHost" },
        { true, true, "127.0.0.1", 0, 0, "", NULL },
        { true, true, "localhost", TLS1_2_VERSION, 0, "", "localhost" },
        { true, true, "127.0.0.1", TLS1_2_VERSION, 0, "", NULL },
        /* an unknown CA */
        { true, false, "localhost", 0, -EPROTO,
                "certificate verify failed: unable to get local issuer certificate", "localhost" },
        { true, false, "localhost", TLS1_2_VERSION, -EPROTO,
                "certificate verify failed: unable to get local issuer certificate", "localhost" },
        /* a name the certificate does not have */
        { true, true, "example.com", 0, -EPROTO, "certificate verify failed: hostname mismatch",
                "example.com" },
        { true, true, "localhost.example.com", 0, -EPROTO, "hostname mismatch", NULL },
        { true, true, "127.0.0.2", 0, -EPROTO, "certificate verify failed: IP address mismatch",
                NULL },
        { true, true, "::1", 0, -EPROTO, "IP address mismatch", NULL },
        /* verify off: anything goes */
        { false, false, "localhost", 0, 0, "", "localhost" },
        { false, false, "example.com", 0, 0, "", "example.com" },
        { false, true, "127.0.0.2", 0, 0, "", NULL },
        /* older than TLS 1.2 is refused, verify or not (the server says so first) */
        { true, true, "localhost", TLS1_1_VERSION, -EPROTO, "tlsv1 alert protocol version",
                "localhost" },
        { false, false, "localhost", TLS1_VERSION, -EPROTO, "tlsv1 alert protocol version",
                "localhost" },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        const struct hs_case *t = &cases[i];
        struct tls_config *cfg = config(t->verify, t->test_ca ? pki.ca_path : NULL);
        struct tls_client *c = NULL;
        struct srv s;
        int rc;

        print_message("case %zu: %s\n", i, t->name);
        srv_init(&s, t->max_version);
        assert_int_equal(tls_client_new(cfg, t->name, &c), 0);
        ASSERT_QUEUE_CLEAN();
        assert_false(tls_client_is_ready(c));
        rc = pump_handshake(c, &s);
        assert_int_equal(rc, t->want);
        if (t->error[0] == '\0')
            assert_string_equal(tls_client_error(c), "");
        else if (strstr(tls_client_error(c), t->error) == NULL)
            fail_msg("error \"%s\", want \"%s\"", tls_client_error(c), t->error);
        else
            print_message("  error: %s\n", tls_client_error(c));
        if (rc == 0) {
            const char *sni = SSL_get_servername(s.ssl, TLSEXT_NAMETYPE_host_name);

            assert_true(tls_client_is_ready(c));
            assert_int_equal(tls_client_handshake(c), 0); /* done stays done */
            if (t->sni == NULL)
                assert_null(sni);
            else
                assert_string_equal(sni, t->sni);
            if (t->max_version == TLS1_2_VERSION)
                assert_int_equal(SSL_version(s.ssl), TLS1_2_VERSION);
        } else {
            /* A failure sticks, and the client has an alert to send. */
            assert_false(tls_client_is_ready(c));
            assert_int_equal(tls_client_handshake(c), -EPROTO);
            ASSERT_QUEUE_CLEAN();
        }
        tls_client_free(c);
        tls_config_free(cfg);
        srv_free(&s);
    }
}

static void test_client_new_names(void **state)
{
    struct tls_config *cfg = config(true, pki.ca_path);
    struct tls_client *c = (struct tls_client *)&c; /* must be reset to NULL on failure */
    char name[300];

    (void)state;
    assert_int_equal(tls_client_new(cfg, "", &c), -EINVAL);
    assert_null(c);
    assert_int_equal(tls_client_new(cfg, ".", &c), -EINVAL);
    memset(name, 'a', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    assert_int_equal(tls_client_new(cfg, name, &c), -EINVAL);
    name[256] = '\0';
    assert_int_equal(tls_client_new(cfg, name, &c), -EINVAL);
    name[255] = '\0'; /* the longest */
    assert_int_equal(tls_client_new(cfg, name, &c), 0);
    tls_client_free(c);
    name[255] = '.'; /* with a trailing dot */
    assert_int_equal(tls_client_new(cfg, name, &c), 0);
    tls_client_free(c);
    ASSERT_QUEUE_CLEAN();
    tls_client_free(NULL);
    tls_config_free(NULL);
    tls_config_free(cfg);
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static uint8_t *random_bytes(size_t n, uint64_t seed)
{
    uint8_t *p = malloc(n);

    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(xorshift(&seed) >> 32);
    return p;
}

/* Sizes of the pieces written, moved and read, in turn. */
static const size_t pieces[] = { 1, 7, 16384, 1, 16385, 100, 65536, 3, 4096, 1500, 16383, 200000,
    2, 5000 };

static size_t next_piece(size_t *k)
{
    return pieces[(*k)++ % DP_ARRAY_LEN(pieces)];
}

/* 1 MiB each way at once, written, moved and read in pieces of every size in pieces[]. */
static void transfer(int max_version)
{
    const size_t total = MIB;
    uint8_t *up = random_bytes(total, 1);
    uint8_t *down = random_bytes(total, 2);
    uint8_t *got_up = malloc(total);
    uint8_t *got_down = malloc(total);
    size_t sent_up = 0, sent_down = 0, recv_up = 0, recv_down = 0;
    size_t k1 = 0, k2 = 3, k3 = 5, k4 = 7, k5 = 11, k6 = 13;
    struct tls_config *cfg = config(true, pki.ca_path);
    struct srv s;
    struct tls_client *c = connect_pair(cfg, &s, max_version);
    int steps = 0;

    assert_non_null(got_up);
    assert_non_null(got_down);
    while (recv_up < total || recv_down < total) {
        size_t n;

        assert_true(++steps < 10000);
        if (sent_up < total) {
            n = DP_MIN(next_piece(&k1), total - sent_up);
            assert_int_equal(tls_client_send(c, up + sent_up, n), 0);
            ASSERT_QUEUE_CLEAN();
            sent_up += n;
        }
        if (sent_down < total) {
            size_t w = 0;

            n = DP_MIN(next_piece(&k2), total - sent_down);
            assert_int_equal(SSL_write_ex(s.ssl, down + sent_down, n, &w), 1);
            assert_int_equal(w, n);
            sent_down += n;
        }
        client_to_srv(c, &s, next_piece(&k3));
        srv_to_client(&s, c, next_piece(&k4));
        while (recv_down < total) {
            size_t cap = DP_MIN(next_piece(&k5), total - recv_down);
            ssize_t r = tls_client_read(c, got_down + recv_down, cap);

            if (r == 0)
                break;
            assert_true(r > 0);
            recv_down += (size_t)r;
        }
        ASSERT_QUEUE_CLEAN();
        while (recv_up < total) {
            size_t got = 0;

            if (SSL_read_ex(s.ssl, got_up + recv_up, DP_MIN(next_piece(&k6), total - recv_up),
                        &got) != 1) {
                assert_int_equal(SSL_get_error(s.ssl, 0), SSL_ERROR_WANT_READ);
                break;
            }
            recv_up += got;
        }
        ERR_clear_error();
        /* Bytes a read produced (alerts, key updates) move on the next turn. */
    }
    assert_memory_equal(got_up, up, total);
    assert_memory_equal(got_down, down, total);
    assert_int_equal(tls_client_read(c, got_down, 1), 0);
    assert_string_equal(tls_client_error(c), "");

    tls_client_free(c);
    tls_config_free(cfg);
    srv_free(&s);
    free(up);
    free(down);
    free(got_up);
    free(got_down);
}

static void test_transfer_tls13(void **state)
{
    (void)state;
    transfer(0);
}

static void test_transfer_tls12(void **state)
{
    (void)state;
    transfer(TLS1_2_VERSION);
}

/* The server's last words then close_notify, moved one byte at a time: the data first, then
 * -EPIPE, and -EPIPE again. */
static void test_server_close_notify(void **state)
{
    static const char words[] = "last words";
    struct tls_config *cfg = config(true, pki.ca_path);
    struct srv s;
    struct tls_client *c = connect_pair(cfg, &s, 0);
    uint8_t buf[64];
    size_t got = 0, w = 0;
    ssize_t r = 0;
    int steps = 0;

    (void)state;
    assert_int_equal(SSL_write_ex(s.ssl, words, sizeof(words) - 1, &w), 1);
    assert_int_equal(SSL_shutdown(s.ssl), 0);
    while (r != -EPIPE) {
        assert_true(++steps < 10000);
        srv_to_client(&s, c, 1); /* all of it, one byte per recv */
        r = tls_client_read(c, buf + got, sizeof(buf) - got);
        ASSERT_QUEUE_CLEAN();
        assert_true(r >= 0 || r == -EPIPE);
        if (r > 0)
            got += (size_t)r;
    }
    assert_int_equal(got, sizeof(words) - 1);
    assert_memory_equal(buf, words, got);
    assert_int_equal(tls_client_read(c, buf, sizeof(buf)), -EPIPE);
    assert_string_equal(tls_client_error(c), "");

    /* Our close_notify in reply reaches the server as a clean end. */
    tls_client_shutdown(c);
    assert_true(tls_client_out_pending(c) > 0);
    client_to_srv(c, &s, 7);
    assert_int_equal(SSL_read_ex(s.ssl, buf, sizeof(buf), &got), 0);
    assert_int_equal(SSL_get_error(s.ssl, 0), SSL_ERROR_ZERO_RETURN);
    ERR_clear_error();

    tls_client_free(c);
    tls_config_free(cfg);
    srv_free(&s);
}

/* The client closes first; it cannot send after that, and a second shutdown queues nothing. */
static void test_client_shutdown(void **state)
{
    struct tls_config *cfg = config(true, pki.ca_path);
    struct srv s;
    struct tls_client *c = connect_pair(cfg, &s, 0);
    uint8_t buf[16];
    size_t got = 0;

    (void)state;
    tls_client_shutdown(c);
    assert_true(tls_client_out_pending(c) > 0);
    client_to_srv(c, &s, 4096);
    tls_client_shutdown(c);
    assert_int_equal(tls_client_out_pending(c), 0);
    assert_int_equal(tls_client_send(c, (const uint8_t *)"x", 1), -EPROTO);
    assert_string_equal(tls_client_error(c), "send after shutdown");
    ASSERT_QUEUE_CLEAN();
    assert_int_equal(SSL_read_ex(s.ssl, buf, sizeof(buf), &got), 0);
    assert_int_equal(SSL_get_error(s.ssl, 0), SSL_ERROR_ZERO_RETURN);
    ERR_clear_error();

    tls_client_free(c);
    tls_config_free(cfg);
    srv_free(&s);
}

/* A TLS 1.3 key update the server requests: the client answers with its own on its next send,
 * and data keeps flowing both ways. */
static void test_key_update(void **state)
{
    struct tls_config *cfg = config(true, pki.ca_path);
    struct srv s;
    struct tls_client *c = connect_pair(cfg, &s, 0);
    uint8_t buf[16];
    size_t w = 0;

    (void)state;
    assert_int_equal(SSL_key_update(s.ssl, SSL_KEY_UPDATE_REQUESTED), 1);
    assert_int_equal(SSL_write_ex(s.ssl, "ping", 4, &w), 1);
    srv_to_client(&s, c, 4096);
    assert_int_equal(tls_client_read(c, buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(tls_client_send(c, (const uint8_t *)"pong", 4), 0);
    client_to_srv(c, &s, 4096);
    assert_int_equal(SSL_read_ex(s.ssl, buf, sizeof(buf), &w), 1);
    assert_int_equal(w, 4);
    assert_memory_equal(buf, "pong", 4);
    ERR_clear_error();

    tls_client_free(c);
    tls_config_free(cfg);
    srv_free(&s);
}

/* A TLS 1.2 server asking to renegotiate: reading its HelloRequest queues a no_renegotiation
 * alert (bytes to send after a read), and the client carries on as before. */
static void test_renegotiation_refused(void **state)
{
    struct tls_config *cfg = config(true, pki.ca_path);
    struct srv s;
    struct tls_client *c = connect_pair(cfg, &s, TLS1_2_VERSION);
    uint8_t buf[16];
    size_t w = 0;
    ssize_t r;

    (void)state;
    assert_int_equal(SSL_renegotiate(s.ssl), 1);
    (void)SSL_do_handshake(s.ssl);
    ERR_clear_error();
    srv_to_client(&s, c, 4096);
    assert_int_equal(tls_client_read(c, buf, sizeof(buf)), 0);
    ASSERT_QUEUE_CLEAN();
    assert_true(tls_client_out_pending(c) > 0);
    client_to_srv(c, &s, 4096);
    /* What the server makes of the refusal is its business; ours is not to crash or hang. */
    (void)SSL_read_ex(s.ssl, buf, sizeof(buf), &w);
    ERR_clear_error();
    srv_to_client(&s, c, 4096);
    r = tls_client_read(c, buf, sizeof(buf));
    print_message("after the refusal: %zd %s\n", r, tls_client_error(c));
    assert_true(r == 0 || r == -EPROTO);
    ASSERT_QUEUE_CLEAN();

    tls_client_free(c);
    tls_config_free(cfg);
    srv_free(&s);
}

enum post_hs_kind { PH_KEY_UPDATE = 0, PH_TICKET, PH_HELLO_REQUEST, PH_COUNT };

/* The server queues one post-handshake message of <kind>. */
static void srv_post_hs(struct srv *s, enum post_hs_kind kind)
{
    switch (kind) {
    case PH_KEY_UPDATE:
        assert_int_equal(SSL_key_update(s->ssl, SSL_KEY_UPDATE_REQUESTED), 1);
        break;
    case PH_TICKET:
        assert_int_equal(SSL_new_session_ticket(s->ssl), 1);
        break;
    default:
        assert_int_equal(SSL_renegotiate(s->ssl), 1);
        break;
    }
    (void)SSL_do_handshake(s->ssl);
    ERR_clear_error();
}

/*
 * A server flooding post-handshake messages: KeyUpdate requests and HelloRequests are each
 * answered (a KeyUpdate, a no_renegotiation alert), tickets cost a session copy. 32 in a row are
 * taken; after 5000 the old code had queued 5000 answers (155 KB of alerts), as many as the
 * server sent. Now the 33rd fails the connection, and what was queued stays under 33 answers.
 */
static void test_post_handshake_flood(void **state)
{
    static const struct {
        enum post_hs_kind kind;
        int max_version;
    } cases[] = {
        { PH_KEY_UPDATE, 0 },
        { PH_TICKET, 0 },
        { PH_HELLO_REQUEST, TLS1_2_VERSION },
    };
    struct tls_config *cfg = config(true, pki.ca_path);

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        struct srv s;
        struct tls_client *c = connect_pair(cfg, &s, cases[i].max_version);
        uint8_t buf[16];
        size_t w = 0;

        print_message("case %zu\n", i);
        /* The server's own tickets after the handshake (2 for OpenSSL) come before "p". */
        assert_int_equal(SSL_write_ex(s.ssl, "p", 1, &w), 1);
        srv_to_client(&s, c, 4096);
        assert_int_equal(tls_client_read(c, buf, sizeof(buf)), 1);
        /* 32, then application data: taken, and the count starts again. Twice. */
        for (int round = 0; round < 2; round++) {
            for (int k = 0; k < 32; k++)
                srv_post_hs(&s, cases[i].kind);
            assert_int_equal(SSL_write_ex(s.ssl, "x", 1, &w), 1);
            srv_to_client(&s, c, 4096);
            assert_int_equal(tls_client_read(c, buf, sizeof(buf)), 1);
            assert_int_equal(buf[0], 'x');
            assert_int_equal(tls_client_read(c, buf, sizeof(buf)), 0);
            ASSERT_QUEUE_CLEAN();
            assert_true(tls_client_out_pending(c) < 33 * 64);
            client_to_srv(c, &s, 4096);
            ERR_clear_error();
        }
        /* 5000 and then data: the connection fails at the 33rd. */
        for (int k = 0; k < 5000; k++)
            srv_post_hs(&s, cases[i].kind);
        assert_int_equal(SSL_write_ex(s.ssl, "y", 1, &w), 1);
        srv_to_client(&s, c, 4096);
        assert_int_equal(tls_client_read(c, buf, sizeof(buf)), -EPROTO);
        ASSERT_QUEUE_CLEAN();
        assert_string_equal(tls_client_error(c), "more than 32 post-handshake messages in a row");
        assert_true(tls_client_out_pending(c) < 33 * 64);
        assert_int_equal(tls_client_read(c, buf, sizeof(buf)), -EPROTO);
        assert_int_equal(tls_client_send(c, (const uint8_t *)"z", 1), -EPROTO);
        ASSERT_QUEUE_CLEAN();
        tls_client_free(c);
        srv_free(&s);
    }
    tls_config_free(cfg);
}

/* No finite-field DH is offered: the server would pick its size (a 10000-bit TLS 1.2 DHE group
 * cost the client 1.1 s of CPU, ffdhe8192 0.15 s). The ClientHello lists ECDHE groups only and
 * no DHE cipher, and a server that speaks nothing but ffdhe2048 gets no handshake. */
static void test_no_finite_field_dh(void **state)
{
    static const int want_groups[] = { NID_X25519, NID_X9_62_prime256v1, NID_X448, NID_secp521r1,
        NID_secp384r1 };
    struct tls_config *cfg = config(true, pki.ca_path);
    struct tls_client *c = NULL;
    struct srv s;
    STACK_OF(SSL_CIPHER) *ciphers;
    int groups[16];
    long n;

    (void)state;
    c = connect_pair(cfg, &s, 0);
    n = SSL_get1_groups(s.ssl, NULL);
    assert_int_equal(n, DP_ARRAY_LEN(want_groups));
    assert_int_equal(SSL_get1_groups(s.ssl, groups), n);
    assert_memory_equal(groups, want_groups, sizeof(want_groups));
    ciphers = SSL_get_client_ciphers(s.ssl);
    assert_non_null(ciphers);
    assert_true(sk_SSL_CIPHER_num(ciphers) > 0);
    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); i++) {
        const SSL_CIPHER *ci = sk_SSL_CIPHER_value(ciphers, i);

        if (SSL_CIPHER_get_kx_nid(ci) == NID_kx_dhe)
            fail_msg("DHE cipher offered: %s", SSL_CIPHER_get_name(ci));
    }
    tls_client_free(c);
    srv_free(&s);

    srv_init(&s, 0);
    assert_int_equal(SSL_set1_groups_list(s.ssl, "ffdhe2048"), 1);
    assert_int_equal(tls_client_new(cfg, "localhost", &c), 0);
    assert_int_equal(pump_handshake(c, &s), -EPROTO);
    print_message("ffdhe2048 only: %s\n", tls_client_error(c));
    assert_string_equal(tls_client_error(c), "sslv3 alert handshake failure");
    tls_client_free(c);
    tls_config_free(cfg);
    srv_free(&s);
}

/* Calls out of order are refused without touching OpenSSL's state. */
static void test_before_handshake(void **state)
{
    struct tls_config *cfg = config(true, pki.ca_path);
    struct tls_client *c = NULL;
    uint8_t buf[16];

    (void)state;
    assert_int_equal(tls_client_new(cfg, "localhost", &c), 0);
    assert_string_equal(tls_client_error(c), "");
    assert_int_equal(tls_client_out_pending(c), 0);
    assert_int_equal(tls_client_take_out(c, buf, sizeof(buf)), 0);
    tls_client_shutdown(c); /* nothing to close yet */
    assert_int_equal(tls_client_out_pending(c), 0);
    assert_int_equal(tls_client_send(c, (const uint8_t *)"x", 1), -EPROTO);
    assert_string_equal(tls_client_error(c), "send before the handshake is done");
    assert_int_equal(tls_client_read(c, buf, sizeof(buf)), -EPROTO);
    assert_string_equal(tls_client_error(c), "read before the handshake is done");
    assert_int_equal(tls_client_recv(c, buf, 0), 0);
    ASSERT_QUEUE_CLEAN();

    /* The handshake still works afterwards. */
    assert_int_equal(tls_client_handshake(c), -EAGAIN);
    assert_true(tls_client_out_pending(c) > 0);
    assert_int_equal(tls_client_take_out(c, buf, 0), 0);
    tls_client_free(c);
    tls_config_free(cfg);
}

struct garbage {
    const char *bytes;
    size_t len;
};

/* Garbage from the "server" instead of its hello, whole or byte by byte: -EPROTO, a reason, no
 * crash, and every later call -EPROTO. */
static void test_garbage_handshake(void **state)
{
    static const struct garbage cases[] = {
        { "HTTP/1.1 400 Bad Request\r\n\r\n", 28 },         /* https to a plain HTTP port */
        { "\x15\x03\x03\x00\x02\x02\x28", 7 },              /* alert: handshake_failure */
        { "\x17\x03\x03\xff\xff", 5 },                      /* record too long */
        { "\x16\x03\x03\x00\x05\x02\x00\x00\x01\x00", 10 }, /* truncated ServerHello */
        { "\x16\x03\x03\x00\x04\x0e\x00\x00\x00", 9 },      /* ServerHelloDone first */
        { "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 10 }, /* NULs */
        { "\xff\xff\xff\xff\xff\xff\xff\xff", 8 },
    };
    struct tls_config *cfg = config(true, pki.ca_path);
    uint8_t buf[64];

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        const size_t steps[] = { 1, cases[i].len };

        for (size_t k = 0; k < DP_ARRAY_LEN(steps); k++) {
            size_t step = steps[k];
            struct tls_client *c = NULL;
            int rc = -EAGAIN;

            print_message("case %zu, pieces of %zu\n", i, step);
            assert_int_equal(tls_client_new(cfg, "localhost", &c), 0);
            assert_int_equal(tls_client_handshake(c), -EAGAIN);
            while (tls_client_take_out(c, buf, sizeof(buf)) > 0)
                ; /* the ClientHello, dropped */
            for (size_t off = 0; off < cases[i].len && rc == -EAGAIN; off += step) {
                const uint8_t *p = (const uint8_t *)cases[i].bytes + off;

                assert_int_equal(tls_client_recv(c, p, DP_MIN(step, cases[i].len - off)), 0);
                rc = tls_client_handshake(c);
                ASSERT_QUEUE_CLEAN();
            }
            assert_int_equal(rc, -EPROTO);
            print_message("  error: %s\n", tls_client_error(c));
            assert_true(tls_client_error(c)[0] != '\0');
            assert_int_equal(tls_client_handshake(c), -EPROTO);
            assert_int_equal(tls_client_send(c, buf, 1), -EPROTO);
            assert_int_equal(tls_client_read(c, buf, sizeof(buf)), -EPROTO);
            tls_client_shutdown(c);
            ASSERT_QUEUE_CLEAN();
            tls_client_free(c);
        }
    }
    tls_config_free(cfg);
}

/* Random bytes instead of the server's hello: -EAGAIN (waiting for a record's end) or -EPROTO,
 * never a crash or a leak. */
static void test_garbage_random(void **state)
{
    struct tls_config *cfg = config(false, NULL);
    uint64_t seed = 42;
    uint8_t buf[512];

    (void)state;
    for (int i = 0; i < 200; i++) {
        struct tls_client *c = NULL;
        size_t len = 1 + xorshift(&seed) % 300;
        int rc;

        for (size_t j = 0; j < len; j++)
            buf[j] = (uint8_t)(xorshift(&seed) >> 32);
        if (i % 2 == 0) {
            buf[0] = (uint8_t)(0x14 + i % 5); /* a record type, to get past the first check */
            if (len > 2) {
                buf[1] = 3;
                buf[2] = 3;
            }
        }
        assert_int_equal(tls_client_new(cfg, "localhost", &c), 0);
        assert_int_equal(tls_client_handshake(c), -EAGAIN);
        while (tls_client_take_out(c, buf + 300, 100) > 0)
            ;
        assert_int_equal(tls_client_recv(c, buf, len), 0);
        rc = tls_client_handshake(c);
        ASSERT_QUEUE_CLEAN();
        assert_true(rc == -EAGAIN || rc == -EPROTO);
        tls_client_free(c);
    }
    tls_config_free(cfg);
}

/* A forged application-data record after the handshake: -EPROTO from read, then from all. */
static void test_garbage_after_handshake(void **state)
{
    static const uint8_t forged[] = { 0x17, 0x03, 0x03, 0x00, 0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
        11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
    struct tls_config *cfg = config(true, pki.ca_path);
    struct srv s;
    struct tls_client *c = connect_pair(cfg, &s, 0);
    uint8_t buf[64];

    (void)state;
    assert_int_equal(tls_client_recv(c, forged, sizeof(forged)), 0);
    assert_int_equal(tls_client_read(c, buf, sizeof(buf)), -EPROTO);
    ASSERT_QUEUE_CLEAN();
    print_message("error: %s\n", tls_client_error(c));
    assert_non_null(strstr(tls_client_error(c), "bad record mac"));
    assert_int_equal(tls_client_read(c, buf, sizeof(buf)), -EPROTO);
    assert_int_equal(tls_client_send(c, buf, 1), -EPROTO);
    assert_int_equal(tls_client_handshake(c), -EPROTO);
    tls_client_free(c);
    tls_config_free(cfg);
    srv_free(&s);
}

static void test_config_errors(void **state)
{
    static const char missing[] = "/nonexistent/doppel-ca.pem";
    struct tls_config *cfg = (struct tls_config *)&cfg; /* must be reset to NULL */
    struct dp_err err = { 0 };

    (void)state;
    assert_int_equal(tls_config_new(true, missing, &cfg, &err), -ENOENT);
    assert_null(cfg);
    assert_int_equal(err.code, -ENOENT);
    assert_non_null(strstr(err.msg, missing));
    print_message("%s\n", err.msg);
    ASSERT_QUEUE_CLEAN();

    /* Named even with verify off: the user asked for that file. */
    memset(&err, 0, sizeof(err));
    assert_int_equal(tls_config_new(false, missing, &cfg, &err), -ENOENT);
    assert_non_null(strstr(err.msg, missing));

    /* A file without a certificate: the file and OpenSSL's reason. */
    memset(&err, 0, sizeof(err));
    assert_int_equal(tls_config_new(true, pki.empty_path, &cfg, &err), -EINVAL);
    assert_null(cfg);
    assert_int_equal(err.code, -EINVAL);
    assert_non_null(strstr(err.msg, pki.empty_path));
    print_message("%s\n", err.msg);
    ASSERT_QUEUE_CLEAN();

    /* NULL <err> is fine. */
    assert_int_equal(tls_config_new(true, missing, &cfg, NULL), -ENOENT);
    ASSERT_QUEUE_CLEAN();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_client_new_names),
        cmocka_unit_test(test_transfer_tls13),
        cmocka_unit_test(test_transfer_tls12),
        cmocka_unit_test(test_server_close_notify),
        cmocka_unit_test(test_client_shutdown),
        cmocka_unit_test(test_key_update),
        cmocka_unit_test(test_renegotiation_refused),
        cmocka_unit_test(test_no_finite_field_dh),
        cmocka_unit_test(test_post_handshake_flood),
        cmocka_unit_test(test_before_handshake),
        cmocka_unit_test(test_garbage_handshake),
        cmocka_unit_test(test_garbage_random),
        cmocka_unit_test(test_garbage_after_handshake),
        cmocka_unit_test(test_config_errors),
    };

    return cmocka_run_group_tests(tests, setup_pki, teardown_pki);
}
