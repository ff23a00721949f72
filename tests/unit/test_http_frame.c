/*
 * test_http_frame.c: the streaming HTTP/1.x framer.
 *
 * Every case is one input (explicit length, may hold NULs) and the list of results it must give:
 * each DONE/BAD of feed() and, when the input runs out, the result of eof(). Every case runs fed
 * whole, one byte at a time, and split at every offset into two feeds (STYLE.md rule 26); each
 * piece is copied so that it ends on a PROT_NONE page. After DONE the driver re-inits and feeds
 * the rest, so pipelined inputs check each boundary.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_test.h"

#include "core/common.h"
#include "http/http_frame.h"

#define L(s)      (sizeof(s) - 1)
#define IN(s)     .in = (s), .len = L(s)
#define MAX_GOT   6
#define W_INTERIM 0x1u
#define W_CLOSE   0x2u
#define W_EXPECT  0x4u

/* One expected result. DONE and eof-DONE check every field; BAD and eof-BAD only rc and end. */
struct want {
    enum http_frame_rc rc;
    uint64_t end; /* absolute: DONE: end of the message; BAD: the offending byte; eof: input end */
    bool eof;     /* the result of http_frame_eof(), not of a feed */
    enum http_body_kind body;
    int status;
    uint64_t cl;
    uint64_t head_len;
    unsigned flags; /* W_* */
    uint8_t minor;
    const char *method; /* expected info.method (requests: parsed; responses: as set) */
    uint32_t lead;
};

/* clang-format off */
#define BAD_AT(e)  { .rc = HTTP_FRAME_BAD, .end = (e) }
#define BAD_EOF(e) { .rc = HTTP_FRAME_BAD, .end = (e), .eof = true }
/* clang-format on */

struct tcase {
    const char *name;
    enum http_frame_kind kind;
    const char *in;
    size_t len;
    uint32_t max_head;
    const char *req_method[MAX_GOT]; /* responses: the request method of each message */
    struct want want[MAX_GOT];       /* ends at the first rc == 0 && end == 0 */
};

struct got {
    enum http_frame_rc rc;
    uint64_t end;
    bool eof;
    struct http_frame_info info;
};

/* ---- the cases ---- */

#define REQ_GET "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1\r\n\r\n"
#define POST_H  "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n"
#define POST_B  "hello world"
#define CL0     "POST /empty HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
#define CH_H    "POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
#define CH_B    "5\r\nhello\r\n6;name=val;x=\"q\"\r\n world\r\n0\r\n\r\n"
#define CHT_B   "a\r\n0123456789\r\nA \t;e\r\n0123456789\r\n0;last\r\nX-Sum: abc\r\nX-T: 1\r\n\r\n"
#define CHLF_B  "5\nhello\r\n0\n\n"
#define TECL_H  "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
#define TE2_H   "PUT /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n"
#define TEF_H   "PUT /x HTTP/1.1\r\nTransfer-Encoding: gzip,\r\n  chunked\r\nX: a\r\n b\r\n\r\n"
#define LEAD    "\r\n\n\r\nGET / HTTP/1.1\r\n\r\n"
#define BARELF  "GET / HTTP/1.1\nHost: x\nX-Empty:\n\n"
#define H10     "GET / HTTP/1.0\r\n\r\n"
#define H10KA   "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
#define H11C    "GET / HTTP/1.1\r\nConnection: upgrade ,\tCLOSE\r\n\r\n"
#define EXP_H   "PUT /f HTTP/1.1\r\nexpect: 100-Continue\r\nContent-Length: 4\r\n\r\n"
#define LONGM   "PROPFINDVERYLONGX /dav HTTP/1.1\r\n\r\n"
#define PURGE   "PURGE /x HTTP/1.1\r\nContent-length:\t 2 \r\n\r\nab"
#define CLLIST  "POST / HTTP/1.1\r\nContent-Length: 3, 3\r\nCONTENT-LENGTH: 003\r\n\r\n"
#define CLMAXH  "POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n"

#define RS_CL   "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
#define RS_CH   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
#define RS_CLO  "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n"
#define RS_10   "HTTP/1.0 200 OK\r\n\r\n"
#define RS_10KA "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n"
#define RS_HEAD "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
#define RS_204  "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
#define RS_304  "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"
#define RS_100  "HTTP/1.1 100 Continue\r\n\r\n"
#define RS_103  "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
#define RS_OK2  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
#define RS_101                                                                                     \
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
#define RS_CONN "HTTP/1.1 200 Connection established\r\n\r\n"
#define RS_407  "HTTP/1.1 407 Proxy Auth\r\nContent-Length: 3\r\n\r\n"
#define RS_TEGZ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 4\r\n\r\n"
#define RS_NORS "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"
#define RS_EMRS "HTTP/1.1 404 \nContent-Length: 1\n\n"
#define RS_999  "HTTP/1.1 999 Whatever\r\nContent-Length: 0\r\n\r\n"

/* clang-format off */
static const struct tcase cases[] = {
    /* requests: every body kind */
    { "get", HTTP_FRAME_REQUEST, IN(REQ_GET), 0, { 0 },
            { { HTTP_FRAME_DONE, L(REQ_GET), false, HTTP_BODY_NONE, 0, 0, L(REQ_GET), 0, 1,
                    "GET", 0 } } },
    { "post-cl", HTTP_FRAME_REQUEST, IN(POST_H POST_B), 0, { 0 },
            { { HTTP_FRAME_DONE, L(POST_H POST_B), false, HTTP_BODY_LENGTH, 0, 11, L(POST_H), 0,
                    1, "POST", 0 } } },
    { "cl-0", HTTP_FRAME_REQUEST, IN(CL0), 0, { 0 },
            { { HTTP_FRAME_DONE, L(CL0), false, HTTP_BODY_LENGTH, 0, 0, L(CL0), 0, 1, "POST",
                    0 } } },
    { "chunked-ext", HTTP_FRAME_REQUEST, IN(CH_H CH_B), 0, { 0 },
            { { HTTP_FRAME_DONE, L(CH_H CH_B), false, HTTP_BODY_CHUNKED, 0, 0, L(CH_H), 0, 1,
                    "POST", 0 } } },
    { "chunked-trailers", HTTP_FRAME_REQUEST, IN(CH_H CHT_B), 0, { 0 },
            { { HTTP_FRAME_DONE, L(CH_H CHT_B), false, HTTP_BODY_CHUNKED, 0, 0, L(CH_H), 0, 1,
                    "POST", 0 } } },
    { "chunked-bare-lf", HTTP_FRAME_REQUEST, IN(CH_H CHLF_B), 0, { 0 },
            { { HTTP_FRAME_DONE, L(CH_H CHLF_B), false, HTTP_BODY_CHUNKED, 0, 0, L(CH_H), 0, 1,
                    "POST", 0 } } },
    { "te-wins-over-cl", HTTP_FRAME_REQUEST, IN(TECL_H CH_B), 0, { 0 },
            { { HTTP_FRAME_DONE, L(TECL_H CH_B), false, HTTP_BODY_CHUNKED, 0, 3, L(TECL_H), 0,
                    1, "POST", 0 } } },
    { "te-two-lines", HTTP_FRAME_REQUEST, IN(TE2_H CHLF_B), 0, { 0 },
            { { HTTP_FRAME_DONE, L(TE2_H CHLF_B), false, HTTP_BODY_CHUNKED, 0, 0, L(TE2_H), 0,
                    1, "PUT", 0 } } },
    { "te-obs-fold", HTTP_FRAME_REQUEST, IN(TEF_H CHLF_B), 0, { 0 },
            { { HTTP_FRAME_DONE, L(TEF_H CHLF_B), false, HTTP_BODY_CHUNKED, 0, 0, L(TEF_H), 0,
                    1, "PUT", 0 } } },
    { "leading-empty-lines", HTTP_FRAME_REQUEST, IN(LEAD), 0, { 0 },
            { { HTTP_FRAME_DONE, L(LEAD), false, HTTP_BODY_NONE, 0, 0, L(LEAD), 0, 1, "GET",
                    5 } } },
    { "bare-lf", HTTP_FRAME_REQUEST, IN(BARELF), 0, { 0 },
            { { HTTP_FRAME_DONE, L(BARELF), false, HTTP_BODY_NONE, 0, 0, L(BARELF), 0, 1, "GET",
                    0 } } },
    { "http10-close", HTTP_FRAME_REQUEST, IN(H10), 0, { 0 },
            { { HTTP_FRAME_DONE, L(H10), false, HTTP_BODY_NONE, 0, 0, L(H10), W_CLOSE, 0, "GET",
                    0 } } },
    { "http10-keep-alive", HTTP_FRAME_REQUEST, IN(H10KA), 0, { 0 },
            { { HTTP_FRAME_DONE, L(H10KA), false, HTTP_BODY_NONE, 0, 0, L(H10KA), 0, 0, "GET",
                    0 } } },
    { "http11-close-list", HTTP_FRAME_REQUEST, IN(H11C), 0, { 0 },
            { { HTTP_FRAME_DONE, L(H11C), false, HTTP_BODY_NONE, 0, 0, L(H11C), W_CLOSE, 1,
                    "GET", 0 } } },
    { "expect-continue", HTTP_FRAME_REQUEST, IN(EXP_H "body"), 0, { 0 },
            { { HTTP_FRAME_DONE, L(EXP_H "body"), false, HTTP_BODY_LENGTH, 0, 4, L(EXP_H),
                    W_EXPECT, 1, "PUT", 0 } } },
    { "long-method", HTTP_FRAME_REQUEST, IN(LONGM), 0, { 0 },
            { { HTTP_FRAME_DONE, L(LONGM), false, HTTP_BODY_NONE, 0, 0, L(LONGM), 0, 1, "",
                    0 } } },
    { "purge-cl-ows", HTTP_FRAME_REQUEST, IN(PURGE), 0, { 0 },
            { { HTTP_FRAME_DONE, L(PURGE), false, HTTP_BODY_LENGTH, 0, 2, L(PURGE) - 2, 0, 1,
                    "PURGE", 0 } } },
    { "cl-equal-list", HTTP_FRAME_REQUEST, IN(CLLIST "abc"), 0, { 0 },
            { { HTTP_FRAME_DONE, L(CLLIST "abc"), false, HTTP_BODY_LENGTH, 0, 3, L(CLLIST), 0,
                    1, "POST", 0 } } },
    { "cl-max-truncated", HTTP_FRAME_REQUEST, IN(CLMAXH "abc"), 0, { 0 },
            { BAD_EOF(L(CLMAXH "abc")) } },
    { "max-head-exact", HTTP_FRAME_REQUEST, IN(REQ_GET), L(REQ_GET), { 0 },
            { { HTTP_FRAME_DONE, L(REQ_GET), false, HTTP_BODY_NONE, 0, 0, L(REQ_GET), 0, 1,
                    "GET", 0 } } },

    /* pipelined requests: DONE at each exact boundary */
    { "pipelined-requests", HTTP_FRAME_REQUEST,
            IN(REQ_GET POST_H POST_B CH_H CH_B "\r\n" H10 CL0), 0, { 0 },
            { { HTTP_FRAME_DONE, L(REQ_GET), false, HTTP_BODY_NONE, 0, 0, L(REQ_GET), 0, 1,
                      "GET", 0 },
                    { HTTP_FRAME_DONE, L(REQ_GET POST_H POST_B), false, HTTP_BODY_LENGTH, 0, 11,
                            L(POST_H), 0, 1, "POST", 0 },
                    { HTTP_FRAME_DONE, L(REQ_GET POST_H POST_B CH_H CH_B), false,
                            HTTP_BODY_CHUNKED, 0, 0, L(CH_H), 0, 1, "POST", 0 },
                    { HTTP_FRAME_DONE, L(REQ_GET POST_H POST_B CH_H CH_B "\r\n" H10), false,
                            HTTP_BODY_NONE, 0, 0, L("\r\n" H10), W_CLOSE, 0, "GET", 2 },
                    { HTTP_FRAME_DONE, L(REQ_GET POST_H POST_B CH_H CH_B "\r\n" H10 CL0), false,
                            HTTP_BODY_LENGTH, 0, 0, L(CL0), 0, 1, "POST", 0 } } },

    /* responses */
    { "resp-cl", HTTP_FRAME_RESPONSE, IN(RS_CL "hello"), 0, { "GET" },
            { { HTTP_FRAME_DONE, L(RS_CL "hello"), false, HTTP_BODY_LENGTH, 200, 5, L(RS_CL), 0,
                    1, "GET", 0 } } },
    { "resp-chunked", HTTP_FRAME_RESPONSE, IN(RS_CH CHT_B), 0, { "POST" },
            { { HTTP_FRAME_DONE, L(RS_CH CHT_B), false, HTTP_BODY_CHUNKED, 200, 0, L(RS_CH), 0,
                    1, "POST", 0 } } },
    { "resp-close", HTTP_FRAME_RESPONSE, IN(RS_CLO "some body\r\n\r\nHTTP/1.1 200 OK\r\n"), 0,
            { "GET" },
            { { HTTP_FRAME_DONE, L(RS_CLO "some body\r\n\r\nHTTP/1.1 200 OK\r\n"), true,
                    HTTP_BODY_CLOSE, 200, 0, L(RS_CLO), 0, 1, "GET", 0 } } },
    { "resp-close-empty", HTTP_FRAME_RESPONSE, IN(RS_CLO), 0, { "GET" },
            { { HTTP_FRAME_DONE, L(RS_CLO), true, HTTP_BODY_CLOSE, 200, 0, L(RS_CLO), 0, 1,
                    "GET", 0 } } },
    { "resp-http10", HTTP_FRAME_RESPONSE, IN(RS_10 "abc"), 0, { "GET" },
            { { HTTP_FRAME_DONE, L(RS_10 "abc"), true, HTTP_BODY_CLOSE, 200, 0, L(RS_10),
                    W_CLOSE, 0, "GET", 0 } } },
    { "resp-http10-ka", HTTP_FRAME_RESPONSE, IN(RS_10KA "ab"), 0, { "GET" },
            { { HTTP_FRAME_DONE, L(RS_10KA "ab"), false, HTTP_BODY_LENGTH, 200, 2, L(RS_10KA), 0,
                    0, "GET", 0 } } },
    { "resp-head", HTTP_FRAME_RESPONSE, IN(RS_HEAD RS_OK2 "ok"), 0, { "HEAD", "GET" },
            { { HTTP_FRAME_DONE, L(RS_HEAD), false, HTTP_BODY_NONE, 200, 1234, L(RS_HEAD), 0, 1,
                      "HEAD", 0 },
                    { HTTP_FRAME_DONE, L(RS_HEAD RS_OK2 "ok"), false, HTTP_BODY_LENGTH, 200, 2,
                            L(RS_OK2), 0, 1, "GET", 0 } } },
    { "resp-head-lowercase-is-not-head", HTTP_FRAME_RESPONSE, IN(RS_OK2 "ok"), 0, { "head" },
            { { HTTP_FRAME_DONE, L(RS_OK2 "ok"), false, HTTP_BODY_LENGTH, 200, 2, L(RS_OK2), 0, 1,
                    "head", 0 } } },
    { "resp-204", HTTP_FRAME_RESPONSE, IN(RS_204 RS_OK2 "ok"), 0, { "DELETE", "GET" },
            { { HTTP_FRAME_DONE, L(RS_204), false, HTTP_BODY_NONE, 204, 10, L(RS_204), 0, 1,
                      "DELETE", 0 },
                    { HTTP_FRAME_DONE, L(RS_204 RS_OK2 "ok"), false, HTTP_BODY_LENGTH, 200, 2,
                            L(RS_OK2), 0, 1, "GET", 0 } } },
    { "resp-304", HTTP_FRAME_RESPONSE, IN(RS_304), 0, { "GET" },
            { { HTTP_FRAME_DONE, L(RS_304), false, HTTP_BODY_NONE, 304, 0, L(RS_304), 0, 1,
                    "GET", 0 } } },
    { "resp-100-then-200", HTTP_FRAME_RESPONSE, IN(RS_100 RS_103 RS_OK2 "ok"), 0,
            { "PUT", "PUT", "PUT" },
            { { HTTP_FRAME_DONE, L(RS_100), false, HTTP_BODY_NONE, 100, 0, L(RS_100), W_INTERIM,
                      1, "PUT", 0 },
                    { HTTP_FRAME_DONE, L(RS_100 RS_103), false, HTTP_BODY_NONE, 103, 0, L(RS_103),
                            W_INTERIM, 1, "PUT", 0 },
                    { HTTP_FRAME_DONE, L(RS_100 RS_103 RS_OK2 "ok"), false, HTTP_BODY_LENGTH,
                            200, 2, L(RS_OK2), 0, 1, "PUT", 0 } } },
    { "resp-101-tunnel", HTTP_FRAME_RESPONSE, IN(RS_101 "\x81\x05hello\r\n\r\n"), 0, { "GET" },
            { { HTTP_FRAME_DONE, L(RS_101), false, HTTP_BODY_TUNNEL, 101, 0, L(RS_101), 0, 1,
                    "GET", 0 } } },
    { "resp-connect-tunnel", HTTP_FRAME_RESPONSE, IN(RS_CONN "\x16\x03\x01\x00"), 0,
            { "CONNECT" },
            { { HTTP_FRAME_DONE, L(RS_CONN), false, HTTP_BODY_TUNNEL, 200, 0, L(RS_CONN), 0, 1,
                    "CONNECT", 0 } } },
    { "resp-connect-407", HTTP_FRAME_RESPONSE, IN(RS_407 "abc"), 0, { "CONNECT" },
            { { HTTP_FRAME_DONE, L(RS_407 "abc"), false, HTTP_BODY_LENGTH, 407, 3, L(RS_407), 0,
                    1, "CONNECT", 0 } } },
    { "resp-te-not-chunked-close", HTTP_FRAME_RESPONSE, IN(RS_TEGZ "\x1f\x8b\x00\x00zz"), 0,
            { "GET" },
            { { HTTP_FRAME_DONE, L(RS_TEGZ "\x1f\x8b\x00\x00zz"), true, HTTP_BODY_CLOSE, 200, 4,
                    L(RS_TEGZ), 0, 1, "GET", 0 } } },
    { "resp-no-reason", HTTP_FRAME_RESPONSE, IN(RS_NORS RS_EMRS "x" RS_999), 0,
            { "GET", "GET", "GET" },
            { { HTTP_FRAME_DONE, L(RS_NORS), false, HTTP_BODY_LENGTH, 200, 0, L(RS_NORS), 0, 1,
                      "GET", 0 },
                    { HTTP_FRAME_DONE, L(RS_NORS RS_EMRS "x"), false, HTTP_BODY_LENGTH, 404, 1,
                            L(RS_EMRS), 0, 1, "GET", 0 },
                    { HTTP_FRAME_DONE, L(RS_NORS RS_EMRS "x" RS_999), false, HTTP_BODY_LENGTH,
                            999, 0, L(RS_999), 0, 1, "GET", 0 } } },
    { "resp-leading-crlf", HTTP_FRAME_RESPONSE, IN("\r\n" RS_CL "hello"), 0, { "GET" },
            { { HTTP_FRAME_DONE, L("\r\n" RS_CL "hello"), false, HTTP_BODY_LENGTH, 200, 5,
                    L("\r\n" RS_CL), 0, 1, "GET", 2 } } },

    /* bad inputs: rc and the offset where it is detected */
    { "bad-tls", HTTP_FRAME_REQUEST, IN("\x16\x03\x01\x00\xa5\x01\x00\x00"), 0, { 0 },
            { BAD_AT(0) } },
    { "bad-empty-method", HTTP_FRAME_REQUEST, IN(" / HTTP/1.1\r\n\r\n"), 0, { 0 },
            { BAD_AT(0) } },
    { "bad-http2-preface", HTTP_FRAME_REQUEST, IN("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, { 0 },
            { BAD_AT(L("PRI * HTTP/")) } },
    { "bad-version-10", HTTP_FRAME_REQUEST, IN("GET / HTTP/1.10\r\n\r\n"), 0, { 0 },
            { BAD_AT(L("GET / HTTP/1.1")) } },
    { "bad-space-in-target", HTTP_FRAME_REQUEST, IN("GET /a b HTTP/1.1\r\n\r\n"), 0, { 0 },
            { BAD_AT(L("GET /a ")) } },
    { "bad-double-sp", HTTP_FRAME_REQUEST, IN("GET  / HTTP/1.1\r\n\r\n"), 0, { 0 },
            { BAD_AT(L("GET ")) } },
    { "bad-ctl-in-target", HTTP_FRAME_REQUEST, IN("GET /a\x01 HTTP/1.1\r\n\r\n"), 0, { 0 },
            { BAD_AT(L("GET /a")) } },
    { "bad-cr-in-request-line", HTTP_FRAME_REQUEST, IN("GET / HTTP/1.1\rX\n\r\n"), 0, { 0 },
            { BAD_AT(L("GET / HTTP/1.1\r")) } },
    { "bad-leading-cr", HTTP_FRAME_REQUEST, IN("\rGET / HTTP/1.1\r\n\r\n"), 0, { 0 },
            { BAD_AT(1) } },
    { "bad-response-as-request", HTTP_FRAME_REQUEST, IN(RS_CL "hello"), 0, { 0 },
            { BAD_AT(L("HTTP")) } },
    { "bad-header-no-colon", HTTP_FRAME_REQUEST, IN("GET / HTTP/1.1\r\nHost example\r\n\r\n"), 0,
            { 0 }, { BAD_AT(L("GET / HTTP/1.1\r\nHost")) } },
    { "bad-header-no-colon-eol", HTTP_FRAME_REQUEST, IN("GET / HTTP/1.1\r\nHostexample\r\n\r\n"),
            0, { 0 }, { BAD_AT(L("GET / HTTP/1.1\r\nHostexample")) } },
    { "bad-space-before-colon", HTTP_FRAME_REQUEST, IN("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 0,
            { 0 }, { BAD_AT(L("GET / HTTP/1.1\r\nHost")) } },
    { "bad-fold-first-line", HTTP_FRAME_REQUEST, IN("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), 0,
            { 0 }, { BAD_AT(L("GET / HTTP/1.1\r\n")) } },
    { "bad-nul-in-value", HTTP_FRAME_REQUEST, IN("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"), 0, { 0 },
            { BAD_AT(L("GET / HTTP/1.1\r\nX: a")) } },
    { "bad-bare-cr-in-value", HTTP_FRAME_REQUEST, IN("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"), 0,
            { 0 }, { BAD_AT(L("GET / HTTP/1.1\r\nX: a\r")) } },
    { "bad-cl-mismatch", HTTP_FRAME_REQUEST,
            IN("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"), 0,
            { 0 },
            { BAD_AT(L("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n")) } },
    { "bad-cl-list-mismatch", HTTP_FRAME_REQUEST,
            IN("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\nX: y\r\n\r\nhello!"), 0, { 0 },
            { BAD_AT(L("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n")) } },
    { "bad-cl-overflow", HTTP_FRAME_REQUEST,
            IN("POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n"), 0, { 0 },
            { BAD_AT(L("POST / HTTP/1.1\r\nContent-Length: 1844674407370955161")) } },
    { "bad-cl-200-digits", HTTP_FRAME_RESPONSE,
            IN("HTTP/1.1 200 OK\r\nContent-Length: "
               "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
               "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
               "0000000000000000000000000000000000001\r\n\r\n"),
            0, { "GET" },
            { BAD_AT(L("HTTP/1.1 200 OK\r\nContent-Length: 00000000000000000000")) } },
    { "bad-cl-sign", HTTP_FRAME_REQUEST, IN("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 0,
            { 0 }, { BAD_AT(L("POST / HTTP/1.1\r\nContent-Length: ")) } },
    { "bad-cl-trailing", HTTP_FRAME_REQUEST, IN("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n"),
            0, { 0 }, { BAD_AT(L("POST / HTTP/1.1\r\nContent-Length: 1 ")) } },
    { "bad-cl-empty", HTTP_FRAME_REQUEST, IN("POST / HTTP/1.1\r\nContent-Length: \r\n\r\n"), 0,
            { 0 }, { BAD_AT(L("POST / HTTP/1.1\r\nContent-Length: \r\n")) } },
    { "bad-te-not-chunked-last", HTTP_FRAME_REQUEST,
            IN("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"), 0, { 0 },
            { BAD_AT(L("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r")) } },
    { "bad-te-chunked-twice", HTTP_FRAME_REQUEST,
            IN("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"), 0,
            { 0 },
            { BAD_AT(L("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n")) } },
    { "bad-chunk-size", HTTP_FRAME_REQUEST, IN(CH_H "zz\r\n"), 0, { 0 },
            { BAD_AT(L(CH_H)) } },
    { "bad-chunk-size-overflow", HTTP_FRAME_REQUEST, IN(CH_H "11111111111111111\r\n"), 0, { 0 },
            { BAD_AT(L(CH_H "1111111111111111")) } },
    { "bad-chunk-data-crlf", HTTP_FRAME_REQUEST, IN(CH_H "5\r\nhelloX\r\n0\r\n\r\n"), 0, { 0 },
            { BAD_AT(L(CH_H "5\r\nhello")) } },
    { "bad-chunk-data-bare-lf", HTTP_FRAME_REQUEST, IN(CH_H "5\r\nhello\n0\r\n\r\n"), 0, { 0 },
            { BAD_AT(L(CH_H "5\r\nhello")) } },
    { "bad-chunk-ws-garbage", HTTP_FRAME_REQUEST, IN(CH_H "5 x\r\nhello\r\n0\r\n\r\n"), 0, { 0 },
            { BAD_AT(L(CH_H "5 ")) } },
    { "bad-trailer-no-colon", HTTP_FRAME_REQUEST, IN(CH_H "0\r\nX-Sum\r\n\r\n"), 0, { 0 },
            { BAD_AT(L(CH_H "0\r\nX-Sum")) } },
    { "bad-head-over-max", HTTP_FRAME_REQUEST, IN(REQ_GET), L(REQ_GET) - 1, { 0 },
            { BAD_AT(L(REQ_GET) - 1) } },
    { "bad-head-over-max-in-value", HTTP_FRAME_REQUEST,
            IN("GET / HTTP/1.1\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n"), 30, { 0 },
            { BAD_AT(30) } },
    { "bad-status-2-digits", HTTP_FRAME_RESPONSE, IN("HTTP/1.1 20 OK\r\n\r\n"), 0, { "GET" },
            { BAD_AT(L("HTTP/1.1 20")) } },
    { "bad-status-099", HTTP_FRAME_RESPONSE, IN("HTTP/1.1 099 X\r\n\r\n"), 0, { "GET" },
            { BAD_AT(L("HTTP/1.1 ")) } },
    { "bad-status-no-sp", HTTP_FRAME_RESPONSE, IN("HTTP/1.1 200OK\r\n\r\n"), 0, { "GET" },
            { BAD_AT(L("HTTP/1.1 200")) } },
    { "bad-status-lowercase", HTTP_FRAME_RESPONSE, IN("http/1.1 200 OK\r\n\r\n"), 0, { "GET" },
            { BAD_AT(0) } },
    { "bad-status-http2", HTTP_FRAME_RESPONSE, IN("HTTP/2 200\r\n\r\n"), 0, { "GET" },
            { BAD_AT(L("HTTP/")) } },
    { "bad-request-as-response", HTTP_FRAME_RESPONSE, IN(REQ_GET), 0, { "GET" },
            { BAD_AT(0) } },

    /* truncated: eof() is BAD */
    { "trunc-head", HTTP_FRAME_REQUEST, IN("GET / HTTP/1.1\r\nHost: x\r\n"), 0, { 0 },
            { BAD_EOF(L("GET / HTTP/1.1\r\nHost: x\r\n")) } },
    { "trunc-cl-body", HTTP_FRAME_RESPONSE, IN(RS_CL "hell"), 0, { "GET" },
            { BAD_EOF(L(RS_CL "hell")) } },
    { "trunc-chunked", HTTP_FRAME_RESPONSE, IN(RS_CH "5\r\nhello\r\n0\r\n"), 0, { "GET" },
            { BAD_EOF(L(RS_CH "5\r\nhello\r\n0\r\n")) } },
    { "trunc-after-done", HTTP_FRAME_REQUEST, IN(REQ_GET "GET /"), 0, { 0 },
            { { HTTP_FRAME_DONE, L(REQ_GET), false, HTTP_BODY_NONE, 0, 0, L(REQ_GET), 0, 1,
                      "GET", 0 },
                    BAD_EOF(L(REQ_GET "GET /")) } },
};
/* clang-format on */

/* ---- the driver ---- */

static void start_msg(struct http_frame *f, const struct tcase *tc, size_t i)
{
    http_frame_init(f, tc->kind, tc->max_head);
    if (tc->kind == HTTP_FRAME_RESPONSE && i < MAX_GOT && tc->req_method[i] != NULL)
        http_frame_set_request_method(f, tc->req_method[i], strlen(tc->req_method[i]));
}

/* Feeds <tc> in pieces: whole when <split> == 0, one byte at a time when <split> == SIZE_MAX,
 * else [0, split) then [split, len). Each piece ends on <g>'s guard page. */
static size_t drive(const struct tcase *tc, struct dp_guarded *g, size_t split, struct got *got)
{
    struct http_frame f;
    size_t ngot = 0;
    size_t a = 0;
    bool stop = false;

    start_msg(&f, tc, 0);
    while (a < tc->len && !stop) {
        size_t b = split == 0 ? tc->len : split == SIZE_MAX ? a + 1 : a < split ? split : tc->len;
        size_t n = b - a;
        size_t off = 0;
        uint8_t *q = g->ptr + g->len - n;

        memmove(q, tc->in + a, n);
        while (off < n) {
            size_t used = SIZE_MAX;
            enum http_frame_rc rc = http_frame_feed(&f, q + off, n - off, &used);
            const struct http_frame_info *in = http_frame_info(&f);

            assert_true(used <= n - off);
            if (rc == HTTP_FRAME_AGAIN) {
                assert_int_equal(used, n - off);
                off = n;
                break;
            }
            assert_true(ngot < MAX_GOT);
            got[ngot] = (struct got){ rc, a + off + used, false, *in };
            ngot++;
            off += used;
            /* DONE and BAD are sticky. */
            assert_int_equal(http_frame_feed(&f, q + off, n - off, &used), rc);
            assert_int_equal(used, 0);
            if (rc == HTTP_FRAME_BAD || in->body_kind == HTTP_BODY_TUNNEL || ngot == MAX_GOT) {
                stop = true;
                break;
            }
            start_msg(&f, tc, ngot);
        }
        a = b;
    }
    if (!stop && (http_frame_info(&f)->total_len > 0 || ngot == 0)) {
        enum http_frame_rc rc = http_frame_eof(&f);

        assert_true(ngot < MAX_GOT);
        got[ngot] = (struct got){ rc, tc->len, true, *http_frame_info(&f) };
        ngot++;
    }
    return ngot;
}

static void check(const struct tcase *tc, size_t split, const struct got *got, size_t ngot)
{
    size_t nwant = 0;
    uint64_t prev = 0;
    char where[128];

    while (nwant < MAX_GOT && (tc->want[nwant].rc != 0 || tc->want[nwant].end != 0))
        nwant++;
    snprintf(where, sizeof(where), "case %s, split %s%zu", tc->name,
             split == SIZE_MAX ? "bytewise " : "", split == SIZE_MAX ? (size_t)0 : split);
    if (ngot != nwant)
        fail_msg("%s: %zu results, want %zu", where, ngot, nwant);
    for (size_t i = 0; i < nwant; i++) {
        const struct want *w = &tc->want[i];
        const struct got *g = &got[i];
        const struct http_frame_info *in = &g->info;

        if (g->rc != w->rc || g->end != w->end || g->eof != w->eof)
            fail_msg("%s, result %zu: %s at %llu%s, want %s at %llu%s", where, i,
                     http_frame_rc_names[g->rc], (unsigned long long)g->end, g->eof ? " (eof)" : "",
                     http_frame_rc_names[w->rc], (unsigned long long)w->end,
                     w->eof ? " (eof)" : "");
        if (w->rc == HTTP_FRAME_BAD) {
            if (!w->eof && in->total_len != w->end - prev)
                fail_msg("%s, result %zu: total_len %llu", where, i,
                         (unsigned long long)in->total_len);
            continue;
        }
        if (in->body_kind != w->body || in->status != w->status || in->content_length != w->cl ||
            in->head_len != w->head_len || in->total_len != w->end - prev ||
            in->version_minor != w->minor || in->interim != !!(w->flags & W_INTERIM) ||
            in->connection_close != !!(w->flags & W_CLOSE) ||
            in->expect_continue != !!(w->flags & W_EXPECT) || in->lead_len != w->lead)
            fail_msg("%s, result %zu: body %s status %d cl %llu head %llu total %llu minor %u "
                     "interim %d close %d expect %d lead %u",
                     where, i, http_body_kind_names[in->body_kind], in->status,
                     (unsigned long long)in->content_length, (unsigned long long)in->head_len,
                     (unsigned long long)in->total_len, in->version_minor, in->interim,
                     in->connection_close, in->expect_continue, in->lead_len);
        if (w->method != NULL) {
            size_t ml = strlen(w->method);

            if (in->method_len != ml || memcmp(in->method, w->method, ml + 1) != 0)
                fail_msg("%s, result %zu: method '%.*s' (%u)", where, i, (int)in->method_len,
                         in->method, in->method_len);
        }
        prev = w->end;
    }
}

static void test_cases(void **state)
{
    (void)state;
    for (size_t c = 0; c < DP_ARRAY_LEN(cases); c++) {
        const struct tcase *tc = &cases[c];
        struct dp_guarded g;
        struct got got[MAX_GOT];
        size_t n;

        dp_guarded_init(&g, tc->in, tc->len);
        n = drive(tc, &g, 0, got);
        check(tc, 0, got, n);
        n = drive(tc, &g, SIZE_MAX, got);
        check(tc, SIZE_MAX, got, n);
        for (size_t k = 1; k < tc->len; k++) {
            n = drive(tc, &g, k, got);
            check(tc, k, got, n);
        }
        dp_guarded_free(&g);
    }
}

/* ---- single-purpose tests ---- */

static void test_empty_feed_and_eof(void **state)
{
    struct http_frame f;
    size_t used = 99;

    (void)state;
    http_frame_init(&f, HTTP_FRAME_REQUEST, 0);
    http_frame_set_request_method(&f, "HEAD", 4); /* ignored by a request framer */
    assert_int_equal(http_frame_feed(&f, NULL, 0, &used), HTTP_FRAME_AGAIN);
    assert_int_equal(used, 0);
    /* A stream that ends between messages: BAD, told apart by total_len == lead_len. */
    assert_int_equal(http_frame_eof(&f), HTTP_FRAME_BAD);
    assert_int_equal(http_frame_info(&f)->total_len, 0);

    http_frame_init(&f, HTTP_FRAME_REQUEST, 0);
    assert_int_equal(http_frame_feed(&f, (const uint8_t *)"\r\n", 2, &used), HTTP_FRAME_AGAIN);
    assert_int_equal(http_frame_eof(&f), HTTP_FRAME_BAD);
    assert_int_equal(http_frame_info(&f)->total_len, http_frame_info(&f)->lead_len);
    /* After BAD, feeds stay BAD. */
    assert_int_equal(http_frame_feed(&f, (const uint8_t *)"GET", 3, &used), HTTP_FRAME_BAD);
    assert_int_equal(used, 0);

    /* set_request_method() does not touch a request framer's method. */
    http_frame_init(&f, HTTP_FRAME_REQUEST, 0);
    http_frame_set_request_method(&f, "HEAD", 4);
    assert_int_equal(http_frame_feed(&f, (const uint8_t *)H10, L(H10), &used), HTTP_FRAME_DONE);
    assert_int_equal(http_frame_info(&f)->method_len, 3);
    assert_string_equal(http_frame_info(&f)->method, "GET");
}

static void test_info_before_done(void **state)
{
    static const char head[] = RS_CL;
    struct http_frame f;
    size_t used;

    (void)state;
    http_frame_init(&f, HTTP_FRAME_RESPONSE, 0);
    http_frame_set_request_method(&f, "GET", 3);
    assert_int_equal(http_frame_feed(&f, (const uint8_t *)head, L(head) - 1, &used),
                     HTTP_FRAME_AGAIN);
    assert_int_equal(http_frame_info(&f)->head_len, 0);
    assert_int_equal(http_frame_info(&f)->total_len, L(head) - 1);
    assert_int_equal(http_frame_feed(&f, (const uint8_t *)"\nhe", 3, &used), HTTP_FRAME_AGAIN);
    assert_int_equal(http_frame_info(&f)->head_len, L(head));
    assert_int_equal(http_frame_info(&f)->body_kind, HTTP_BODY_LENGTH);
    assert_int_equal(http_frame_info(&f)->header_count, 1);
    assert_int_equal(http_frame_feed(&f, (const uint8_t *)"lloXYZ", 6, &used), HTTP_FRAME_DONE);
    assert_int_equal(used, 3);
    assert_int_equal(http_frame_info(&f)->total_len, L(head) + 5);
    /* eof after DONE stays DONE. */
    assert_int_equal(http_frame_eof(&f), HTTP_FRAME_DONE);
}

static void test_large_bodies(void **state)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n";
    static uint8_t zeros[65536];
    struct http_frame f;
    size_t used;

    (void)state;
    /* The largest Content-Length parses; the body is skipped without buffering. */
    http_frame_init(&f, HTTP_FRAME_RESPONSE, 0);
    assert_int_equal(http_frame_feed(&f, (const uint8_t *)head, L(head), &used), HTTP_FRAME_AGAIN);
    assert_true(http_frame_info(&f)->content_length == UINT64_MAX);
    for (int i = 0; i < 100; i++)
        assert_int_equal(http_frame_feed(&f, zeros, sizeof(zeros), &used), HTTP_FRAME_AGAIN);
    assert_true(http_frame_info(&f)->total_len == L(head) + 100 * sizeof(zeros));
    assert_int_equal(http_frame_eof(&f), HTTP_FRAME_BAD);

    /* A close-delimited body keeps consuming until eof. */
    http_frame_init(&f, HTTP_FRAME_RESPONSE, 0);
    http_frame_set_request_method(&f, "GET", 3);
    assert_int_equal(http_frame_feed(&f, (const uint8_t *)RS_CLO, L(RS_CLO), &used),
                     HTTP_FRAME_AGAIN);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(http_frame_feed(&f, zeros, sizeof(zeros), &used), HTTP_FRAME_AGAIN);
        assert_int_equal(used, sizeof(zeros));
    }
    assert_int_equal(http_frame_eof(&f), HTTP_FRAME_DONE);
    assert_true(http_frame_info(&f)->total_len == L(RS_CLO) + 100 * sizeof(zeros));
    assert_int_equal(http_frame_info(&f)->body_kind, HTTP_BODY_CLOSE);

    /* A 16-digit chunk size is accepted (then truncated here). */
    http_frame_init(&f, HTTP_FRAME_RESPONSE, 0);
    assert_int_equal(http_frame_feed(&f, (const uint8_t *)RS_CH "FFFFFFFFFFFFFFFF\r\n",
                                     L(RS_CH "FFFFFFFFFFFFFFFF\r\n"), &used),
                     HTTP_FRAME_AGAIN);
    assert_int_equal(http_frame_feed(&f, zeros, sizeof(zeros), &used), HTTP_FRAME_AGAIN);
    assert_int_equal(http_frame_eof(&f), HTTP_FRAME_BAD);
}

static void test_default_max_head(void **state)
{
    static uint8_t buf[70000];
    static const char start[] = "GET / HTTP/1.1\r\nX-Big: ";
    struct http_frame f;
    size_t used;
    size_t n;

    (void)state;
    /* A head of exactly 65536 bytes passes; one more byte is BAD at that byte. */
    for (int extra = 0; extra <= 1; extra++) {
        n = 65536 + (size_t)extra;
        memcpy(buf, start, L(start));
        memset(buf + L(start), 'a', n - L(start) - 4);
        memcpy(buf + n - 4, "\r\n\r\n", 4);
        http_frame_init(&f, HTTP_FRAME_REQUEST, 0);
        if (extra == 0) {
            assert_int_equal(http_frame_feed(&f, buf, n, &used), HTTP_FRAME_DONE);
            assert_int_equal(used, n);
        } else {
            assert_int_equal(http_frame_feed(&f, buf, n, &used), HTTP_FRAME_BAD);
            assert_int_equal(used, 65536);
        }
    }
}

static void test_find_start(void **state)
{
    static const struct {
        enum http_frame_kind kind;
        const char *in;
        size_t len;
        size_t want;
    } t[] = {
        { HTTP_FRAME_REQUEST, IN("GET / HTTP/1.1\r\n"), 0 },
        { HTTP_FRAME_REQUEST, IN("GET / HTTP/1.1"), 0 },
        /* a start line cut by the end counts once it has its method and a space */
        { HTTP_FRAME_REQUEST, IN("GET / HTTP/1."), 0 },
        { HTTP_FRAME_REQUEST, IN("GET /very-long-target-cut-by-the-packet"), 0 },
        { HTTP_FRAME_REQUEST, IN("body\nGET "), L("body\n") },
        { HTTP_FRAME_REQUEST, IN("56789"), L("56789") },
        { HTTP_FRAME_REQUEST, IN("body\nGET"), L("body\nGET") },
        { HTTP_FRAME_REQUEST, IN("GET / HTTP/2"), L("GET / HTTP/2") },
        { HTTP_FRAME_REQUEST, IN("GET / HTTP/1.x"), L("GET / HTTP/1.x") },
        { HTTP_FRAME_REQUEST, IN("body bytes\r\nmore\nPROPFIND /d HTTP/1.1\r\n"),
          L("body bytes\r\nmore\n") },
        { HTTP_FRAME_REQUEST, IN("xx GET / HTTP/1.1\r\n"), L("xx GET / HTTP/1.1\r\n") },
        { HTTP_FRAME_REQUEST, IN("\0\xff\n\0GET / HTTP/1.1\r\nPOST /a HTTP/1.0\n"),
          L("\0\xff\n\0GET / HTTP/1.1\r\n") },
        { HTTP_FRAME_REQUEST, IN("GET /a b HTTP/1.1\r\n"), L("GET /a b HTTP/1.1\r\n") },
        { HTTP_FRAME_REQUEST, IN("GET / HTTP/1.1x\r\n"), L("GET / HTTP/1.1x\r\n") },
        { HTTP_FRAME_REQUEST, IN("HTTP/1.1 200 OK\r\n"), L("HTTP/1.1 200 OK\r\n") },
        { HTTP_FRAME_REQUEST, IN(""), 0 },
        { HTTP_FRAME_REQUEST, IN("\n"), 1 },
        { HTTP_FRAME_REQUEST, IN("\nM-SEARCH * HTTP/1.1\n"), 1 },
        { HTTP_FRAME_RESPONSE, IN("HTTP/1.1 200 OK\r\n"), 0 },
        { HTTP_FRAME_RESPONSE, IN("HTTP/1.0 404"), 0 },
        { HTTP_FRAME_RESPONSE, IN("HTTP/1.0 40"), 0 },
        { HTTP_FRAME_RESPONSE, IN("HTTP/"), 0 },
        { HTTP_FRAME_RESPONSE, IN("HTTP/1.1 2"), 0 },
        { HTTP_FRAME_RESPONSE, IN("HTT"), L("HTT") },
        { HTTP_FRAME_RESPONSE, IN("HTTP/1.1 0"), L("HTTP/1.1 0") },
        { HTTP_FRAME_RESPONSE, IN("HTTP/1.1 2x"), L("HTTP/1.1 2x") },
        { HTTP_FRAME_RESPONSE, IN("HTTP/2"), L("HTTP/2") },
        { HTTP_FRAME_RESPONSE, IN("HTTP/1.1 200x\r\n"), L("HTTP/1.1 200x\r\n") },
        { HTTP_FRAME_RESPONSE, IN("HTTP/1.1 099 X\r\n"), L("HTTP/1.1 099 X\r\n") },
        { HTTP_FRAME_RESPONSE, IN("abc HTTP/1.1 200 OK\r\nHTTP/1.1 204\r\n"),
          L("abc HTTP/1.1 200 OK\r\n") },
        { HTTP_FRAME_RESPONSE, IN("GET / HTTP/1.1\r\n"), L("GET / HTTP/1.1\r\n") },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(t); i++) {
        struct dp_guarded g;
        size_t got;

        dp_guarded_init(&g, t[i].in, t[i].len);
        got = http_frame_find_start(g.ptr, g.len, t[i].kind);
        if (got != t[i].want)
            fail_msg("find_start #%zu: %zu, want %zu", i, got, t[i].want);
        dp_guarded_free(&g);
    }
}

static void test_name_tables(void **state)
{
    (void)state;
    for (int i = 0; i < HTTP_BODY_KIND_COUNT; i++)
        assert_non_null(http_body_kind_names[i]);
    for (int i = 0; i < HTTP_FRAME_RC_COUNT; i++)
        assert_non_null(http_frame_rc_names[i]);
    for (int i = 0; i < HTTP_FRAME_KIND_COUNT; i++)
        assert_non_null(http_frame_kind_names[i]);
    assert_string_equal(http_body_kind_names[HTTP_BODY_TUNNEL], "tunnel");
    /* The state stays small: no buffer grows with the message. */
    assert_true(sizeof(struct http_frame) <= 160);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_empty_feed_and_eof),
        cmocka_unit_test(test_info_before_done),
        cmocka_unit_test(test_large_bodies),
        cmocka_unit_test(test_default_max_head),
        cmocka_unit_test(test_find_start),
        cmocka_unit_test(test_name_tables),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
