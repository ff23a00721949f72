/*
 * http_frame.h: a streaming HTTP/1.x message framer (RFC 9112).
 *
 * The framer tells where one HTTP/1.x message ends in a byte stream. It never buffers the message
 * and never allocates: it is fed the bytes in pieces of any size (one byte at a time works) and
 * answers AGAIN (all consumed, not complete), DONE (the message ended after *used bytes) or BAD.
 * Its state is one fixed struct of 128 bytes. Passive capture uses it to cut reassembled TCP
 * streams into messages; the replay output uses it to find the end of each response.
 *
 *   [empty lines] start line, header fields, blank line --+--> DONE   no body, or 1xx interim
 *                                                        +--> Content-Length bytes --> DONE
 *                                                        +--> chunks, trailers ------> DONE
 *                                                        +--> bytes until eof() -----> DONE
 *                                                        +--> DONE   tunnel: not HTTP after it
 *
 * After DONE the caller re-inits for the next message; bytes after *used belong to it. After BAD
 * the stream is not HTTP/1.x (or is out of sync): see http_frame_find_start(). The details, the
 * state diagram and the invariants are in docs/internals/http_frame.md.
 */
#ifndef DP_HTTP_HTTP_FRAME_H
#define DP_HTTP_HTTP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum http_frame_kind { HTTP_FRAME_REQUEST = 0, HTTP_FRAME_RESPONSE = 1, HTTP_FRAME_KIND_COUNT };

enum http_frame_rc {
    HTTP_FRAME_AGAIN = 0, /* all bytes consumed, the message is not complete yet */
    HTTP_FRAME_DONE = 1,  /* the message ended after *used bytes of this feed */
    HTTP_FRAME_BAD = 2,   /* not HTTP/1.x, or a framing error: *used = where it was detected */
    HTTP_FRAME_RC_COUNT
};

enum http_body_kind {
    HTTP_BODY_NONE = 0,    /* no body (GET without length, HEAD response, 1xx, 204, 304) */
    HTTP_BODY_LENGTH = 1,  /* Content-Length */
    HTTP_BODY_CHUNKED = 2, /* Transfer-Encoding: chunked (with extensions and trailers) */
    HTTP_BODY_CLOSE = 3,   /* response body until the connection closes */
    HTTP_BODY_TUNNEL = 4,  /* 101, or a 2xx answer to CONNECT: the rest is not HTTP */
    HTTP_BODY_KIND_COUNT
};

extern const char *const http_frame_kind_names[HTTP_FRAME_KIND_COUNT];
extern const char *const http_frame_rc_names[HTTP_FRAME_RC_COUNT];
extern const char *const http_body_kind_names[HTTP_BODY_KIND_COUNT];

/* What the framer learned. Fields from the head are valid once the head is complete
 * (head_len != 0); total_len is updated after every feed. */
struct http_frame_info {
    int status;            /* responses: 100..999 */
    uint8_t version_minor; /* HTTP/1.<minor> */
    bool interim;          /* a 1xx other than 101: another response follows */
    bool connection_close; /* Connection: close, or HTTP/1.0 without Connection: keep-alive */
    bool expect_continue;  /* requests: Expect: 100-continue */
    uint8_t method_len;    /* requests: the method, up to 15 bytes kept (longer: 0 but still
                            * valid); responses: the method given to set_request_method() */
    char method[16];       /* NUL-terminated copy of method_len bytes, for printing */
    enum http_body_kind body_kind;
    uint64_t content_length; /* HTTP_BODY_LENGTH (also the parsed value when a CL is ignored) */
    uint64_t head_len;       /* bytes of [leading empty lines +] start line + headers + blank line;
                              * the body starts at this offset of the message */
    uint64_t total_len;      /* bytes of the whole message so far (all of it once DONE) */
    uint32_t lead_len;       /* addition: leading empty-line bytes (RFC 9112 §2.2), in head_len */
    uint32_t header_count;   /* addition: header field lines (obs-fold continuations excluded) */
};

/* The state. Callers read it only through http_frame_info(). */
struct http_frame {
    struct http_frame_info info;
    uint64_t remaining; /* body bytes left: Content-Length, or the current chunk */
    uint64_t num;       /* the number being read: chunk size, or one Content-Length element */
    uint32_t max_head;  /* cap on the head, a chunk-size line and the trailer section */
    uint32_t count;     /* bytes of the current head / chunk-size line / trailer section */
    uint8_t kind;       /* enum http_frame_kind */
    uint8_t state;      /* file-local enum of http_frame.c */
    uint8_t hdr;        /* the header whose value is being examined (file-local enum) */
    uint8_t pos;        /* position in a fixed string ("HTTP/1."), or digits read */
    uint16_t flags;     /* file-local HF_* bits */
    uint8_t elem;       /* file-local EL_* bits of the list element being read */
    uint8_t tok_len;    /* bytes in tok[] */
    uint8_t te_chunked; /* "chunked" codings seen */
    uint8_t tok[24];    /* scratch: lower-cased header name, then the current list element */
};

/* Prepares <f> for one message of <kind>. <max_head> caps the head (start line + headers + blank
 * line, leading empty lines included), each chunk-size line and the trailer section; 0 means the
 * default, 64 KiB. A longer one is BAD. */
void http_frame_init(struct http_frame *f, enum http_frame_kind kind, uint32_t max_head);

/* Responses: the method of the request this response answers, <method,len> (borrowed until
 * return; methods are case-sensitive, RFC 9110 §9.1). HEAD -> no body; CONNECT + 2xx -> tunnel.
 * Call after init, before feeding; again after each interim (1xx) response's re-init. A no-op on
 * a request framer. */
void http_frame_set_request_method(struct http_frame *f, const char *method, size_t len);

/* Feeds <p,len> (borrowed until return; never read outside it). Returns AGAIN when all <len>
 * bytes were consumed and the message goes on (*used = len), DONE when the message ended after
 * *used bytes (the rest belongs to the next message), BAD when the bytes are not a valid
 * HTTP/1.x message (*used = offset of the byte where that was detected; the bytes before it were
 * consumed). DONE and BAD are sticky: later feeds return them again with *used = 0.
 * An HTTP_BODY_TUNNEL message is DONE right after its head. */
enum http_frame_rc http_frame_feed(struct http_frame *f, const uint8_t *p, size_t len,
                                   size_t *used);

/* The stream ended (FIN/RST). DONE when that completes the message (a close-delimited body, or
 * one already DONE), else BAD (truncated). A stream that ended between messages gives BAD too:
 * the caller tells that case by info->total_len == info->lead_len (nothing but empty lines). */
enum http_frame_rc http_frame_eof(struct http_frame *f);

/* The info of <f>; valid until the next init. */
const struct http_frame_info *http_frame_info(const struct http_frame *f);

/* Resynchronisation after a gap: the offset in <p,len> of the first byte that starts a plausible
 * start line of <kind>, or <len> when there is none. Only p[0] and bytes right after a '\n'
 * count. Requests: "TOKEN SP target SP HTTP/1.d" followed by CR, LF or the end of <p,len>.
 * Responses: "HTTP/1.d SP ddd" (first digit 1-9) followed by SP, CR, LF or the end. A start line
 * cut by the end of <p,len> counts when what there is matches (a request: at least its method
 * and a space; a response: at least "HTTP/"): the caller frames from there, and a framer that
 * then fails (BAD) sends it back here one byte further. */
size_t http_frame_find_start(const uint8_t *p, size_t len, enum http_frame_kind kind);

#endif
