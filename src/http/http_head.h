/*
 * http_head.h: reading and editing the head of an HTTP/1.x message held whole in memory.
 *
 *   [empty lines] start-line LF  field-line LF ... field-line LF  LF  body
 *                 ^ 0            ^ http_head_start_end()               (LF: CRLF or bare LF)
 *
 * Shared by the capture (--input-raw-realip-header) and the request modifiers
 * (--http-set-header and friends). Lines end at LF; a CR before it is not part of the line.
 * Field names compare case-insensitively (RFC 9110 §5.1). Obs-fold continuation lines (starting
 * with SP or HTAB) belong to the field above and are never matched as fields. Nothing here
 * reads outside <p, len>; a head that does not end within <len> is searched up to <len>.
 */
#ifndef DP_HTTP_HTTP_HEAD_H
#define DP_HTTP_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/msg.h"

/* One field line: offsets into the message. */
struct http_field {
    size_t line_off;  /* the line's first byte (the name) */
    size_t line_len;  /* up to and including its LF (or to the end of the bytes) */
    size_t name_len;
    size_t value_off; /* the value, without the whitespace around it */
    size_t value_len;
};

/* True when <p, len> is a non-empty token (RFC 9110 §5.6.2): what a field name must be. */
bool http_is_token(const char *p, size_t len);

/* Offset just past the start line's LF (leading empty lines skipped), or 0 when no whole start
 * line is within <p, len>. */
size_t http_head_start_end(const uint8_t *p, size_t len);

/* Offset just past the blank line that ends the head (the body starts there), or 0 when the
 * head does not end within <p, len>. */
size_t http_head_len(const uint8_t *p, size_t len);

/* Finds the first field named <name, name_len> in the head of <p, len>. True and *<f> filled,
 * or false. */
bool http_head_find(const uint8_t *p, size_t len, const char *name, size_t name_len,
        struct http_field *f);

/*
 * Sets field <name> to <value> in the payload of *<mp>, as GoReplay's SetHeader: the first
 * field of that name gets the new value (the name's spelling is kept), or, without one, the line
 * "name: value\r\n" is inserted right after the start line. 0; -EINVAL when the payload has no
 * whole start line (nothing changed); -ENOMEM.
 */
int http_head_set(struct dp_msg **mp, const char *name, size_t name_len, const char *value,
        size_t value_len) DP_WUR;

/* Removes every field named <name> (with its obs-fold continuation lines) from the head of
 * *<mp>. Returns how many were removed, or -ENOMEM. */
int http_head_remove(struct dp_msg **mp, const char *name, size_t name_len) DP_WUR;

/* Replaces the request-target of the request in *<mp> with <target>, and its method with
 * <method> when that is not NULL. 0; -EINVAL when the start line is not "METHOD SP target SP
 * version"; -ENOMEM. */
int http_head_set_target(struct dp_msg **mp, const char *method, size_t method_len,
        const char *target, size_t target_len) DP_WUR;

#endif
