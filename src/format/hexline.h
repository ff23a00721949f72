/*
 * hexline.h: GoReplay's middleware line protocol.
 *
 *   doppel -> middleware stdin:   hex(meta line + payload) "\n"      (lowercase)
 *   middleware stdout -> doppel:  hex(meta line + payload) "\n"      (either case; a trailing
 *                                 "\r" before the "\n" is accepted; lines of any length)
 *
 * The meta line is the message's own ("1 ID TS LAT\n", with its LF), so a record read back
 * is split into meta and payload exactly as a .gor record (dp_msg_parse_meta).
 */
#ifndef DP_FORMAT_HEXLINE_H
#define DP_FORMAT_HEXLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"

/* Bytes hexline_encode() writes for <m>: 2 * (meta + payload) + 1. */
size_t hexline_len(const struct dp_msg *m);

/* Writes <m>'s line (lowercase hex, then '\n') to <out>, which holds hexline_len(m) bytes. */
void hexline_encode(const struct dp_msg *m, uint8_t *out);

enum hexline_bad {
    HEXLINE_NOT_HEX = 0, /* a byte that is not a hex digit, or an odd number of digits */
    HEXLINE_BAD_META,    /* decoded, but no valid meta line (dp_msg_parse_meta) */
    HEXLINE_TOO_LONG,    /* longer than max_line: the line is skipped up to its end */
    HEXLINE_BAD_COUNT
};

extern const char *const hexline_bad_names[HEXLINE_BAD_COUNT];

/* A decoded message (the callee takes the reference), or a bad line (<line_no> from 1). */
typedef void hexline_msg_fn(void *ctx, struct dp_msg *m);
typedef void hexline_bad_fn(void *ctx, uint64_t line_no, enum hexline_bad why);

/* A streaming decoder: bytes in any pieces, messages out, memory bounded by max_line. */
struct hexline_dec {
    size_t max_line;   /* longest line accepted, in hex digits (a decoded record is half) */
    hexline_msg_fn *on_msg;
    hexline_bad_fn *on_bad;
    void *ctx;
    uint64_t line_no;  /* lines ended so far (a message's line is line_no in on_msg) */
    /* private */
    uint8_t *buf;      /* decoded bytes of the line so far */
    size_t len;
    size_t cap;
    size_t digits;     /* hex digits of the line so far */
    int half;          /* a high nibble waiting for its low one, or -1 */
    bool skipping;     /* a bad line: ignore up to its LF */
    bool cr;           /* a '\r' was seen last (valid only right before '\n') */
};

/* Prepares <d>; <max_line> 0 means 2 * (64 MiB + 1024). */
void hexline_dec_init(struct hexline_dec *d, size_t max_line, hexline_msg_fn *on_msg,
        hexline_bad_fn *on_bad, void *ctx);

/* Feeds <p, n> (borrowed until return). Calls on_msg / on_bad for every line that ends in it,
 * and on_bad as soon as a line is known to be bad (a non-hex byte, max_line passed), once per
 * line. Empty lines (also "\r") are skipped silently but counted in line_no. The callbacks must
 * not feed, finish or free <d>.
 * 0, or -ENOMEM (the line being decoded is then dropped, reported as on_bad TOO_LONG). */
int hexline_dec_feed(struct hexline_dec *d, const uint8_t *p, size_t n);

/* The stream ended: a last line without '\n' is decoded as if it had one (empty: nothing).
 */
void hexline_dec_finish(struct hexline_dec *d);

void hexline_dec_free(struct hexline_dec *d);

#endif
