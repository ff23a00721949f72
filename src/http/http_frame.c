/*
 * http_frame.c: the streaming HTTP/1.x framer (RFC 9112 §2-§7). See http_frame.h and
 * docs/internals/http_frame.md.
 *
 * The head is read one byte at a time by a state machine (step()); bodies and uninteresting
 * header values are skipped in bulk. Header values that decide framing (Content-Length,
 * Transfer-Encoding, Connection, Expect) are tokenised as comma-separated lists one byte at a
 * time, keeping only the current element in tok[] (Content-Length elements are accumulated as
 * numbers), so a value split across feeds needs no buffer.
 */
#include "http/http_frame.h"

#include <string.h>

#include "core/common.h"

#define HTTP_FRAME_DEFAULT_MAX_HEAD 65536u
#define CL_MAX_DIGITS               20 /* UINT64_MAX has 20 digits */
#define CHUNK_MAX_DIGITS            16 /* 16 hex digits fill a uint64_t */

const char *const http_frame_kind_names[HTTP_FRAME_KIND_COUNT] = {
    [HTTP_FRAME_REQUEST] = "request",
    [HTTP_FRAME_RESPONSE] = "response",
};

const char *const http_frame_rc_names[HTTP_FRAME_RC_COUNT] = {
    [HTTP_FRAME_AGAIN] = "again",
    [HTTP_FRAME_DONE] = "done",
    [HTTP_FRAME_BAD] = "bad",
};

const char *const http_body_kind_names[HTTP_BODY_KIND_COUNT] = {
    [HTTP_BODY_NONE] = "none",   [HTTP_BODY_LENGTH] = "length", [HTTP_BODY_CHUNKED] = "chunked",
    [HTTP_BODY_CLOSE] = "close", [HTTP_BODY_TUNNEL] = "tunnel",
};

/* The framer's states; docs/internals/http_frame.md has the diagram. */
enum hf_state {
    ST_START = 0,   /* before the start line: empty lines are skipped (RFC 9112 §2.2) */
    ST_START_LF,    /* after a CR of a leading empty line */
    ST_RL_METHOD,   /* request-line = method SP request-target SP HTTP-version (§3) */
    ST_RL_TARGET0,  /* first byte of the target */
    ST_RL_TARGET,   /* rest of the target */
    ST_RL_VERSION,  /* "HTTP/1." then one digit */
    ST_RL_EOL,      /* CR or LF after the version */
    ST_SL_VERSION,  /* status-line = HTTP-version SP status-code SP [reason-phrase] (§4) */
    ST_SL_SP,       /* the SP after the version */
    ST_SL_CODE,     /* three digits */
    ST_SL_AFTER,    /* SP, or the line end (a missing reason and its SP are tolerated) */
    ST_SL_REASON,   /* reason phrase up to the line end */
    ST_LINE_LF,     /* LF after the CR of the start line */
    ST_H_LINE,      /* start of a field line, an obs-fold continuation or the blank line */
    ST_H_NAME,      /* field-name up to ':' (§5.1: no whitespace before the colon) */
    ST_H_VALUE,     /* field-value up to the line end */
    ST_H_VALUE_LF,  /* LF after the CR of a field line */
    ST_H_END_LF,    /* LF after the CR of the blank line */
    ST_CH_SIZE0,    /* first hex digit of a chunk size (§7.1) */
    ST_CH_SIZE,     /* more hex digits */
    ST_CH_WS,       /* BWS after the size */
    ST_CH_EXT,      /* chunk-ext up to the line end */
    ST_CH_SIZE_LF,  /* LF after the CR of the chunk-size line */
    ST_CH_DATA,     /* chunk data, skipped in bulk */
    ST_CH_DATA_CR,  /* the CR after chunk data */
    ST_CH_DATA_LF,  /* the LF after chunk data */
    ST_BODY_LENGTH, /* Content-Length bytes, skipped in bulk */
    ST_BODY_CLOSE,  /* everything until eof() */
    ST_DONE,
    ST_BAD,
    ST_COUNT
};

/* Header fields whose value decides framing. */
enum hf_hdr {
    HDR_OTHER = 0,
    HDR_CONTENT_LENGTH,
    HDR_TRANSFER_ENCODING,
    HDR_CONNECTION,
    HDR_EXPECT,
    HDR_COUNT
};

static const struct {
    const char *name; /* lower case */
    uint8_t len;
} hdr_names[HDR_COUNT] = {
    [HDR_OTHER] = { "", 0 },
    [HDR_CONTENT_LENGTH] = { "content-length", 14 },
    [HDR_TRANSFER_ENCODING] = { "transfer-encoding", 17 },
    [HDR_CONNECTION] = { "connection", 10 },
    [HDR_EXPECT] = { "expect", 6 },
};

/* f->flags */
#define HF_TRAILER     0x0001u /* reading the trailer section, not the head */
#define HF_FOLD_OK     0x0002u /* a field line precedes: leading whitespace is obs-fold */
#define HF_CL          0x0004u /* a Content-Length was seen; its value is info.content_length */
#define HF_TE          0x0008u /* a Transfer-Encoding was seen */
#define HF_TE_CHUNKED  0x0010u /* ... and its last coding so far is chunked */
#define HF_CONN_CLOSE  0x0020u /* Connection: close */
#define HF_CONN_KA     0x0040u /* Connection: keep-alive */
#define HF_REQ_HEAD    0x0080u /* responses: the request was HEAD */
#define HF_REQ_CONNECT 0x0100u /* responses: the request was CONNECT */
#define HF_ELEMS       0x0200u /* the current field value had a non-empty list element */
#define HF_LONG_METHOD 0x0400u /* requests: the method did not fit in info.method */
#define HF_HEAD_DONE   0x0800u /* the head is complete; info.head_len is to be set */

/* f->elem: the list element being read */
#define EL_SEEN      0x01u /* a non-whitespace byte */
#define EL_NAME_DONE 0x02u /* whitespace or ';' ended the element's first word */
#define EL_LONG      0x04u /* the first word did not fit in tok[] */

static const char http_1_dot[7] = { 'H', 'T', 'T', 'P', '/', '1', '.' };

enum step_rc {
    STEP_OK = 0, /* the byte was consumed */
    STEP_DONE,   /* the byte was consumed and ends the message */
    STEP_BAD,    /* the byte is not consumed: the message is invalid at it */
    STEP_RC_COUNT
};

/* tchar, RFC 9110 §5.6.2 */
static bool is_tchar(uint8_t c)
{
    /* clang-format off */
    static const uint8_t map[256] = {
        ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
        ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
        ['~'] = 1,
        ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
        ['7'] = 1, ['8'] = 1, ['9'] = 1,
        ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
        ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
        ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
        ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
        ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
        ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
        ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
        ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
    };
    /* clang-format on */

    return map[c] != 0;
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c | 0x20) : c;
}

/* A request-target byte: anything but SP and CTLs (RFC 9112 §3.2; obs-text is tolerated). */
static bool is_target(uint8_t c)
{
    return c > ' ' && c != 0x7f;
}

/* Bytes that may appear inside a reason phrase, a field value or a chunk extension without
 * ending it. NUL is refused (RFC 9110 §5.5); a CR must start a CRLF. Other CTLs are tolerated. */
static bool is_text(uint8_t c)
{
    return c != '\r' && c != '\n' && c != '\0';
}

static size_t scan_text(const uint8_t *p, size_t n)
{
    size_t i = 0;

    while (i < n && is_text(p[i]))
        i++;
    return i;
}

static bool tok_is(const struct http_frame *f, const char *s, size_t len)
{
    return !(f->elem & EL_LONG) && f->tok_len == len && memcmp(f->tok, s, len) == 0;
}

void http_frame_init(struct http_frame *f, enum http_frame_kind kind, uint32_t max_head)
{
    memset(f, 0, sizeof(*f));
    f->kind = (uint8_t)kind;
    f->max_head = max_head != 0 ? max_head : HTTP_FRAME_DEFAULT_MAX_HEAD;
    f->state = ST_START;
}

void http_frame_set_request_method(struct http_frame *f, const char *method, size_t len)
{
    size_t keep = len < sizeof(f->info.method) ? len : 0;

    if (f->kind != HTTP_FRAME_RESPONSE)
        return; /* a request's method comes from its request line */
    f->flags &= (uint16_t) ~(HF_REQ_HEAD | HF_REQ_CONNECT);
    memset(f->info.method, 0, sizeof(f->info.method));
    if (keep > 0)
        memcpy(f->info.method, method, keep);
    f->info.method_len = (uint8_t)keep;
    /* RFC 9110 §9.1: methods are case-sensitive. */
    if (len == 4 && memcmp(method, "HEAD", 4) == 0)
        f->flags |= HF_REQ_HEAD;
    else if (len == 7 && memcmp(method, "CONNECT", 7) == 0)
        f->flags |= HF_REQ_CONNECT;
}

const struct http_frame_info *http_frame_info(const struct http_frame *f)
{
    return &f->info;
}

/* End of one list element of an interesting field value (RFC 9110 §5.6.1: empty elements are
 * ignored, except in Content-Length). false: the message is invalid. */
static bool elem_end(struct http_frame *f)
{
    bool ok = true;

    if (!(f->elem & EL_SEEN)) {
        ok = f->hdr != HDR_CONTENT_LENGTH;
        goto reset;
    }
    f->flags |= HF_ELEMS;
    switch (f->hdr) {
    case HDR_CONTENT_LENGTH:
        /* RFC 9110 §8.6: a list of identical values ("5, 5") may be taken as that value; differing
         * values are unrecoverable (RFC 9112 §6.3 item 5). */
        if ((f->flags & HF_CL) && f->info.content_length != f->num)
            ok = false;
        f->info.content_length = f->num;
        f->flags |= HF_CL;
        break;
    case HDR_TRANSFER_ENCODING:
        f->flags |= HF_TE;
        if (tok_is(f, "chunked", 7)) {
            /* RFC 9112 §6.1: chunked must not be applied more than once. */
            if (f->te_chunked++ > 0)
                ok = false;
            f->flags |= HF_TE_CHUNKED;
        } else {
            f->flags &= (uint16_t)~HF_TE_CHUNKED;
        }
        break;
    case HDR_CONNECTION:
        if (tok_is(f, "close", 5))
            f->flags |= HF_CONN_CLOSE;
        else if (tok_is(f, "keep-alive", 10))
            f->flags |= HF_CONN_KA;
        break;
    case HDR_EXPECT:
        if (tok_is(f, "100-continue", 12))
            f->info.expect_continue = true;
        break;
    default:
        break;
    }
reset:
    f->elem = 0;
    f->tok_len = 0;
    f->num = 0;
    return ok;
}

/* One byte of an interesting field value (not CR, LF or NUL). Each element's first word goes to
 * tok[] lower-cased; what follows it (parameters, "; q=1") is skipped. Content-Length elements
 * must be digits only, RFC 9110 §8.6. false: the message is invalid. */
static bool value_byte(struct http_frame *f, uint8_t c)
{
    if (c == ',')
        return elem_end(f);
    if (c == ' ' || c == '\t') {
        if (f->elem & EL_SEEN)
            f->elem |= EL_NAME_DONE;
        return true;
    }
    if (f->hdr == HDR_CONTENT_LENGTH) {
        if ((f->elem & EL_NAME_DONE) || !is_digit(c) || f->tok_len >= CL_MAX_DIGITS)
            return false;
        if (f->num > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
            return false; /* overflow */
        f->num = f->num * 10 + (uint64_t)(c - '0');
        f->tok_len++;
        f->elem |= EL_SEEN;
        return true;
    }
    f->elem |= EL_SEEN;
    if (f->elem & EL_NAME_DONE)
        return true;
    if (c == ';') {
        f->elem |= EL_NAME_DONE;
        return true;
    }
    if (f->tok_len < sizeof(f->tok))
        f->tok[f->tok_len++] = lower(c);
    else
        f->elem |= EL_LONG;
    return true;
}

/* The field line (with its obs-fold continuations) of <f->hdr> is over. */
static bool field_end(struct http_frame *f)
{
    bool ok = true;

    if (f->hdr == HDR_OTHER)
        return true;
    ok = elem_end(f);
    if (f->hdr == HDR_TRANSFER_ENCODING && !(f->flags & HF_ELEMS)) {
        /* An empty Transfer-Encoding: present, and chunked is not its final coding. */
        f->flags |= HF_TE;
        f->flags &= (uint16_t)~HF_TE_CHUNKED;
    }
    f->hdr = HDR_OTHER;
    f->flags &= (uint16_t)~HF_ELEMS;
    return ok;
}

static void field_name_end(struct http_frame *f)
{
    f->hdr = HDR_OTHER;
    if (f->flags & HF_TRAILER)
        return; /* RFC 9112 §7.1.2: trailers do not change framing */
    for (int h = HDR_OTHER + 1; h < HDR_COUNT; h++) {
        if (h == HDR_EXPECT && f->kind != HTTP_FRAME_REQUEST)
            continue;
        if (tok_is(f, hdr_names[h].name, hdr_names[h].len)) {
            f->hdr = (uint8_t)h;
            break;
        }
    }
    f->tok_len = 0;
    f->elem = 0;
    f->num = 0;
}

/* The blank line ending the head: decide the body, RFC 9112 §6.3. */
static enum step_rc head_end(struct http_frame *f)
{
    struct http_frame_info *in = &f->info;
    int st = in->status;

    f->flags |= HF_HEAD_DONE;
    in->connection_close =
            (f->flags & HF_CONN_CLOSE) || (in->version_minor == 0 && !(f->flags & HF_CONN_KA));
    /* RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing; the
     * connection closes after it. */
    if ((f->flags & HF_TE) && in->version_minor == 0)
        in->connection_close = true;
    if (f->kind == HTTP_FRAME_REQUEST) {
        if (f->flags & HF_TE) {
            /* §6.3 item 4: a request whose final coding is not chunked has no knowable length. */
            if (!(f->flags & HF_TE_CHUNKED))
                return STEP_BAD;
            in->body_kind = HTTP_BODY_CHUNKED;
        } else if (f->flags & HF_CL) {
            in->body_kind = HTTP_BODY_LENGTH;
        } else {
            in->body_kind = HTTP_BODY_NONE; /* §6.3 item 7 */
        }
    } else if (st >= 100 && st <= 199) {
        /* §6.3 item 1; 101 switches protocols (RFC 9110 §15.2.2). */
        if (st == 101) {
            in->body_kind = HTTP_BODY_TUNNEL;
        } else {
            in->body_kind = HTTP_BODY_NONE;
            in->interim = true;
        }
    } else if ((f->flags & HF_REQ_HEAD) || st == 204 || st == 304) {
        in->body_kind = HTTP_BODY_NONE; /* §6.3 item 1 */
    } else if ((f->flags & HF_REQ_CONNECT) && st >= 200 && st <= 299) {
        in->body_kind = HTTP_BODY_TUNNEL; /* §6.3 item 2 */
    } else if (f->flags & HF_TE) {
        /* §6.3 items 3-4: TE overrides CL; a response not ending in chunked runs to the close. */
        in->body_kind = (f->flags & HF_TE_CHUNKED) ? HTTP_BODY_CHUNKED : HTTP_BODY_CLOSE;
    } else if (f->flags & HF_CL) {
        in->body_kind = HTTP_BODY_LENGTH;
    } else {
        in->body_kind = HTTP_BODY_CLOSE; /* §6.3 item 8 */
    }

    switch (in->body_kind) {
    case HTTP_BODY_LENGTH:
        if (in->content_length == 0)
            return STEP_DONE;
        f->remaining = in->content_length;
        f->state = ST_BODY_LENGTH;
        return STEP_OK;
    case HTTP_BODY_CHUNKED:
        f->count = 0;
        f->state = ST_CH_SIZE0;
        return STEP_OK;
    case HTTP_BODY_CLOSE:
        f->state = ST_BODY_CLOSE;
        return STEP_OK;
    default:
        return STEP_DONE;
    }
}

/* The blank line ending the head or the trailer section. */
static enum step_rc section_end(struct http_frame *f)
{
    if (f->flags & HF_TRAILER)
        return STEP_DONE;
    return head_end(f);
}

/* The chunk-size line is over, RFC 9112 §7.1. */
static void chunk_line_end(struct http_frame *f)
{
    f->count = 0;
    if (f->num == 0) {
        /* last-chunk: the trailer section follows, read like header fields (§7.1.2). */
        f->flags |= HF_TRAILER;
        f->flags &= (uint16_t)~HF_FOLD_OK;
        f->hdr = HDR_OTHER;
        f->state = ST_H_LINE;
        return;
    }
    f->remaining = f->num;
    f->state = ST_CH_DATA;
}

/* One byte of the head, a chunk-size line, a chunk's CRLF or the trailer section. */
static enum step_rc step(struct http_frame *f, uint8_t c)
{
    switch ((enum hf_state)f->state) {
    case ST_START:
        if (c == '\r' || c == '\n') {
            f->info.lead_len++;
            if (c == '\r')
                f->state = ST_START_LF;
            return STEP_OK;
        }
        if (f->kind == HTTP_FRAME_RESPONSE) {
            f->pos = 0;
            f->state = ST_SL_VERSION;
            return step(f, c);
        }
        if (!is_tchar(c))
            return STEP_BAD;
        f->state = ST_RL_METHOD;
        return step(f, c);
    case ST_START_LF:
        if (c != '\n')
            return STEP_BAD;
        f->info.lead_len++;
        f->state = ST_START;
        return STEP_OK;

    case ST_RL_METHOD:
        if (c == ' ') {
            if (f->flags & HF_LONG_METHOD) {
                f->info.method_len = 0;
                memset(f->info.method, 0, sizeof(f->info.method));
            }
            f->state = ST_RL_TARGET0;
            return STEP_OK;
        }
        if (!is_tchar(c))
            return STEP_BAD;
        if (f->info.method_len < sizeof(f->info.method) - 1)
            f->info.method[f->info.method_len++] = (char)c;
        else
            f->flags |= HF_LONG_METHOD;
        return STEP_OK;
    case ST_RL_TARGET0:
        if (!is_target(c))
            return STEP_BAD;
        f->state = ST_RL_TARGET;
        return STEP_OK;
    case ST_RL_TARGET:
        if (c == ' ') {
            f->pos = 0;
            f->state = ST_RL_VERSION;
            return STEP_OK;
        }
        return is_target(c) ? STEP_OK : STEP_BAD;
    case ST_RL_VERSION:
    case ST_SL_VERSION:
        if (f->pos < sizeof(http_1_dot)) {
            if (c != (uint8_t)http_1_dot[f->pos])
                return STEP_BAD;
            f->pos++;
            return STEP_OK;
        }
        if (!is_digit(c))
            return STEP_BAD;
        f->info.version_minor = (uint8_t)(c - '0');
        f->state = f->state == ST_RL_VERSION ? ST_RL_EOL : ST_SL_SP;
        return STEP_OK;
    case ST_RL_EOL:
        if (c == '\r') {
            f->state = ST_LINE_LF;
            return STEP_OK;
        }
        if (c == '\n') {
            f->state = ST_H_LINE;
            return STEP_OK;
        }
        return STEP_BAD;

    case ST_SL_SP:
        if (c != ' ')
            return STEP_BAD;
        f->pos = 0;
        f->state = ST_SL_CODE;
        return STEP_OK;
    case ST_SL_CODE:
        if (!is_digit(c) || (f->pos == 0 && c == '0'))
            return STEP_BAD;
        f->info.status = f->info.status * 10 + (c - '0');
        if (++f->pos == 3)
            f->state = ST_SL_AFTER;
        return STEP_OK;
    case ST_SL_AFTER:
        if (c == ' ') {
            f->state = ST_SL_REASON;
            return STEP_OK;
        }
        if (c == '\r') {
            f->state = ST_LINE_LF;
            return STEP_OK;
        }
        if (c == '\n') {
            f->state = ST_H_LINE;
            return STEP_OK;
        }
        return STEP_BAD;
    case ST_SL_REASON:
        if (c == '\r') {
            f->state = ST_LINE_LF;
            return STEP_OK;
        }
        if (c == '\n') {
            f->state = ST_H_LINE;
            return STEP_OK;
        }
        return is_text(c) ? STEP_OK : STEP_BAD;
    case ST_LINE_LF:
        if (c != '\n')
            return STEP_BAD;
        f->state = ST_H_LINE;
        return STEP_OK;

    case ST_H_LINE:
        if (c == ' ' || c == '\t') {
            /* RFC 9112 §5.2 obs-fold: the continuation joins the previous value as whitespace.
             * Whitespace before the first field line is refused (§2.2). */
            if (!(f->flags & HF_FOLD_OK))
                return STEP_BAD;
            f->state = ST_H_VALUE;
            return f->hdr == HDR_OTHER || value_byte(f, ' ') ? STEP_OK : STEP_BAD;
        }
        if (!field_end(f))
            return STEP_BAD;
        f->flags &= (uint16_t)~HF_FOLD_OK;
        if (c == '\r') {
            f->state = ST_H_END_LF;
            return STEP_OK;
        }
        if (c == '\n')
            return section_end(f);
        if (!is_tchar(c))
            return STEP_BAD;
        f->tok_len = 0;
        f->elem = 0;
        f->state = ST_H_NAME;
        return step(f, c);
    case ST_H_NAME:
        if (c == ':') {
            field_name_end(f);
            if (!(f->flags & HF_TRAILER))
                f->info.header_count++;
            f->state = ST_H_VALUE;
            return STEP_OK;
        }
        /* Whitespace before the colon, a line end or any non-token byte: BAD (§5.1). */
        if (!is_tchar(c))
            return STEP_BAD;
        if (f->tok_len < sizeof(f->tok))
            f->tok[f->tok_len++] = lower(c);
        else
            f->elem |= EL_LONG;
        return STEP_OK;
    case ST_H_VALUE:
        if (c == '\r') {
            f->state = ST_H_VALUE_LF;
            return STEP_OK;
        }
        if (c == '\n') {
            f->flags |= HF_FOLD_OK;
            f->state = ST_H_LINE;
            return STEP_OK;
        }
        if (c == '\0')
            return STEP_BAD;
        if (f->hdr != HDR_OTHER && !value_byte(f, c))
            return STEP_BAD;
        return STEP_OK;
    case ST_H_VALUE_LF:
        if (c != '\n')
            return STEP_BAD;
        f->flags |= HF_FOLD_OK;
        f->state = ST_H_LINE;
        return STEP_OK;
    case ST_H_END_LF:
        if (c != '\n')
            return STEP_BAD;
        return section_end(f);

    case ST_CH_SIZE0:
    case ST_CH_SIZE: {
        int v = dp_hex_val(c);

        if (v >= 0) {
            if (f->state == ST_CH_SIZE0) {
                f->num = 0;
                f->pos = 0;
                f->state = ST_CH_SIZE;
            }
            if (f->pos >= CHUNK_MAX_DIGITS)
                return STEP_BAD; /* would overflow 64 bits */
            f->pos++;
            f->num = f->num << 4 | (uint64_t)v;
            return STEP_OK;
        }
        if (f->state == ST_CH_SIZE0)
            return STEP_BAD;
        f->state = ST_CH_WS;
        return step(f, c);
    }
    case ST_CH_WS:
        /* chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ), §7.1.1 */
        if (c == ' ' || c == '\t')
            return STEP_OK;
        if (c == ';') {
            f->state = ST_CH_EXT;
            return STEP_OK;
        }
        if (c == '\r') {
            f->state = ST_CH_SIZE_LF;
            return STEP_OK;
        }
        if (c == '\n') {
            chunk_line_end(f);
            return STEP_OK;
        }
        return STEP_BAD;
    case ST_CH_EXT:
        if (c == '\r') {
            f->state = ST_CH_SIZE_LF;
            return STEP_OK;
        }
        if (c == '\n') {
            chunk_line_end(f);
            return STEP_OK;
        }
        return is_text(c) ? STEP_OK : STEP_BAD;
    case ST_CH_SIZE_LF:
        if (c != '\n')
            return STEP_BAD;
        chunk_line_end(f);
        return STEP_OK;
    case ST_CH_DATA_CR:
        /* The CRLF after chunk data is exact: anything else means the size was wrong. */
        if (c != '\r')
            return STEP_BAD;
        f->state = ST_CH_DATA_LF;
        return STEP_OK;
    case ST_CH_DATA_LF:
        if (c != '\n')
            return STEP_BAD;
        f->count = 0;
        f->state = ST_CH_SIZE0;
        return STEP_OK;

    default:
        /* Body states are handled in bulk by http_frame_feed(); DONE/BAD never reach here. */
        return STEP_BAD;
    }
}

enum http_frame_rc http_frame_feed(struct http_frame *f, const uint8_t *p, size_t len, size_t *used)
{
    enum http_frame_rc rc = HTTP_FRAME_AGAIN;
    size_t i = 0;

    if (f->state == ST_DONE || f->state == ST_BAD) {
        *used = 0;
        return f->state == ST_DONE ? HTTP_FRAME_DONE : HTTP_FRAME_BAD;
    }
    while (i < len) {
        size_t n = len - i;
        enum step_rc s;

        switch ((enum hf_state)f->state) {
        case ST_BODY_LENGTH:
        case ST_CH_DATA:
            if ((uint64_t)n > f->remaining)
                n = (size_t)f->remaining;
            f->remaining -= n;
            i += n;
            if (f->remaining != 0)
                continue;
            if (f->state == ST_CH_DATA) {
                f->state = ST_CH_DATA_CR;
                continue;
            }
            f->state = ST_DONE;
            rc = HTTP_FRAME_DONE;
            goto out;
        case ST_BODY_CLOSE:
            i = len;
            continue;
        case ST_RL_TARGET: { /* the target in bulk, up to its SP */
            size_t room = f->max_head - f->count;
            size_t k = 0;

            n = n < room ? n : room;
            while (k < n && is_target(p[i + k]))
                k++;
            f->count += (uint32_t)k;
            i += k;
            if (i == len)
                continue;
            break;
        }
        case ST_H_NAME: { /* a field name in bulk, up to its ':' */
            size_t room = f->max_head - f->count;
            size_t k = 0;

            n = n < room ? n : room;
            for (; k < n && is_tchar(p[i + k]); k++) {
                if (f->tok_len < sizeof(f->tok))
                    f->tok[f->tok_len++] = lower(p[i + k]);
                else
                    f->elem |= EL_LONG;
            }
            f->count += (uint32_t)k;
            i += k;
            if (i == len)
                continue;
            break;
        }
        case ST_H_VALUE:
        case ST_SL_REASON:
        case ST_CH_EXT:
            /* Skip text that does not decide framing in bulk, within the head cap. */
            if (f->state != ST_H_VALUE || f->hdr == HDR_OTHER) {
                size_t room = f->max_head - f->count;

                n = scan_text(p + i, n < room ? n : room);
                f->count += (uint32_t)n;
                i += n;
                if (i == len)
                    continue;
            }
            break;
        default:
            break;
        }
        /* The byte-by-byte part: the head, chunk-size lines, chunk CRLFs and trailers. */
        if (f->count >= f->max_head) {
            f->state = ST_BAD;
            rc = HTTP_FRAME_BAD;
            goto out;
        }
        f->count++;
        s = step(f, p[i]);
        if (s == STEP_BAD) {
            f->state = ST_BAD;
            rc = HTTP_FRAME_BAD;
            goto out;
        }
        i++;
        if (f->info.head_len == 0 && (f->flags & HF_HEAD_DONE))
            f->info.head_len = f->info.total_len + i;
        if (s == STEP_DONE) {
            f->state = ST_DONE;
            rc = HTTP_FRAME_DONE;
            goto out;
        }
    }
out:
    f->info.total_len += i;
    *used = i;
    return rc;
}

enum http_frame_rc http_frame_eof(struct http_frame *f)
{
    if (f->state == ST_BODY_CLOSE || f->state == ST_DONE) {
        f->state = ST_DONE;
        return HTTP_FRAME_DONE;
    }
    f->state = ST_BAD;
    return HTTP_FRAME_BAD;
}

enum sl { SL_NO, SL_YES, SL_CUT };

/* Does <n> bytes at <q> match the start of <want, wn>? */
static bool prefix_of(const uint8_t *q, size_t n, const char *want, size_t wn)
{
    return memcmp(q, want, DP_MIN(n, wn)) == 0;
}

/* Is there a plausible start line of <kind> at <p>: YES, NO, or CUT when <end> cuts one that
 * matches so far (a request has its method and a space, a response "HTTP/"). */
static enum sl start_line_at(const uint8_t *p, const uint8_t *end, enum http_frame_kind kind)
{
    const uint8_t *q = p;
    const uint8_t *t;

    if (kind == HTTP_FRAME_REQUEST) {
        while (q < end && is_tchar(*q))
            q++;
        if (q == p || q >= end || *q != ' ')
            return SL_NO;
        t = ++q;
        while (q < end && is_target(*q))
            q++;
        if (q == end)
            return SL_CUT;
        if (q == t || *q != ' ')
            return SL_NO;
        q++;
        if (!prefix_of(q, (size_t)(end - q), http_1_dot, sizeof(http_1_dot)))
            return SL_NO;
        if (end - q < 8)
            return SL_CUT;
        if (!is_digit(q[7]))
            return SL_NO;
        q += 8;
        return q == end || *q == '\r' || *q == '\n' ? SL_YES : SL_NO;
    }
    if (end - q < 5 || !prefix_of(q, (size_t)(end - q), http_1_dot, sizeof(http_1_dot)))
        return SL_NO;
    if (end - q < 12) { /* check what there is of "HTTP/1.d ddd" */
        for (const uint8_t *c = q + 7; c < end; c++) {
            size_t i = (size_t)(c - q);

            if ((i == 7 || i >= 10) ? !is_digit(*c) : i == 8 ? *c != ' ' : (*c < '1' || *c > '9'))
                return SL_NO;
        }
        return SL_CUT;
    }
    if (!is_digit(q[7]) || q[8] != ' ' || q[9] < '1' || q[9] > '9' || !is_digit(q[10]) ||
            !is_digit(q[11]))
        return SL_NO;
    q += 12;
    return q == end || *q == ' ' || *q == '\r' || *q == '\n' ? SL_YES : SL_NO;
}

size_t http_frame_find_start(const uint8_t *p, size_t len, enum http_frame_kind kind)
{
    const uint8_t *end = p + len;
    const uint8_t *q = p;

    while (q < end) {
        const uint8_t *nl;

        if (start_line_at(q, end, kind) != SL_NO)
            return (size_t)(q - p);
        nl = memchr(q, '\n', (size_t)(end - q));
        if (nl == NULL)
            break;
        q = nl + 1;
    }
    return len;
}
