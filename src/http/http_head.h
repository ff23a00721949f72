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
#include <stdint.h>

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
 * *<mp>, in one pass whatever their number. Returns how many were removed, or -ENOMEM. */
int http_head_remove(struct dp_msg **mp, const char *name, size_t name_len) DP_WUR;

/* Replaces the request-target of the request in *<mp> with <target>, and its method with
 * <method> when that is not NULL. 0; -EINVAL when the start line is not "METHOD SP target SP
 * version"; -ENOMEM. */
int http_head_set_target(struct dp_msg **mp, const char *method, size_t method_len,
        const char *target, size_t target_len) DP_WUR;

/*
 * The lines of a head, found in one pass, for code that reads and edits one message's head
 * several times (the request modifiers). Offsets are into the payload:
 *
 *   [empty lines] start-line LF  field-line LF  field-line LF ...  LF  body
 *                 ^ start        ^ line[0]      ^ line[1]          ^ line[n]
 *                                ^ start_end
 *
 * Line i runs from line[i] up to line[i + 1] (its LF included). line[n] is where the blank
 * line starts, or the end of the bytes when the head does not end within them, or, when <more>
 * is set, the first line not indexed: the lines from there on are searched one by one. An
 * obs-fold continuation line (starting with SP or HTAB) is a line of its own, never matched as
 * a field. A last line without LF is indexed unless it is empty (or a lone CR). Edits made
 * through http_head_idx_*() keep the index what http_head_index() would build anew.
 */
#define HTTP_IDX_MAX 64

struct http_head_idx {
    size_t start;     /* the start line's first byte (after leading empty lines) */
    size_t start_end; /* just past the start line's LF; 0: no whole start line (n is 0) */
    size_t n;         /* field lines indexed */
    size_t max;       /* the <max> it was built with */
    bool more;        /* line[n] starts a field line that was not indexed (nor those after) */
    size_t line[HTTP_IDX_MAX + 1];
};

/* Indexes the head of <p, len>, with at most <max> (<= HTTP_IDX_MAX) field lines: 0 finds the
 * start line alone. Reads nothing outside <p, len>. */
void http_head_index(const uint8_t *p, size_t len, size_t max, struct http_head_idx *ix);

/* http_head_find() through <ix>, the index of <p, len>: the same answer. */
bool http_head_idx_find(const struct http_head_idx *ix, const uint8_t *p, size_t len,
        const char *name, size_t name_len, struct http_field *f);

/* A field name to look for: <len> bytes at <name>. */
struct http_name {
    const char *name;
    size_t len;
};

/* Field names for http_head_index_names(), prepared once by http_names_init(). */
#define HTTP_NAMES_MAX 8

struct http_names {
    const struct http_name *v; /* borrowed */
    size_t n;
    uint8_t first[256];  /* first[c]: the names (bit k for v[k]) a line starting with c can be */
    uint8_t by_len[17];  /* by_len[L]: the names of L bytes, [16]: those of 16 and more */
    uint8_t low[HTTP_NAMES_MAX][16]; /* the names of 1 to 15 bytes in lower case, 0-padded */
};

/* Prepares <nm> for the <n> (<= HTTP_NAMES_MAX) names at <v>, which it borrows for as long as
 * it is used. */
void http_names_init(struct http_names *nm, const struct http_name *v, size_t n);

/*
 * http_head_index(), and in the same pass the names of <nm>: line[k], -1 on the call, becomes
 * the index (into ix->line) of the first indexed line that is a field named nm->v[k], the line
 * http_head_idx_find() finds when it is indexed. The lines past the index (ix->more) are not
 * searched; an empty name is never found.
 */
void http_head_index_names(const uint8_t *p, size_t len, size_t max, struct http_head_idx *ix,
        const struct http_names *nm, int32_t *line);

/* *<f> for indexed line <i> (< ix->n) of <p>, a field whose name is <name_len> bytes long (as
 * http_head_idx_find_names() found it): what http_head_idx_find() fills. */
void http_head_idx_field(const struct http_head_idx *ix, const uint8_t *p, size_t i,
        size_t name_len, struct http_field *f);

/*
 * dp_msg_splice() of *<mp> that keeps <ix>, its index, valid. [off, off + del) lies within one
 * line of the start line or a field line, LF excluded, and does not start at the line's first
 * byte unless <del> > 0 (an LF in <ins> is fine: the head is indexed again). 0, or -ENOMEM with
 * *<mp> and <ix> unchanged.
 */
int http_head_idx_splice(struct dp_msg **mp, struct http_head_idx *ix, size_t off, size_t del,
        const uint8_t *ins, size_t ins_len) DP_WUR;

/* Inserts the field line <line, line_len> (it ends with its only LF) right after the start
 * line of *<mp>, as http_head_set() does for a missing field; <ix>, its index, stays valid. 0;
 * -EINVAL without a whole start line; -ENOMEM. */
int http_head_idx_insert(struct dp_msg **mp, struct http_head_idx *ix, const uint8_t *line,
        size_t line_len) DP_WUR;

/* http_head_set() through <ix>, the index of *<mp>, which stays valid: the same result. */
int http_head_idx_set(struct dp_msg **mp, struct http_head_idx *ix, const char *name,
        size_t name_len, const char *value, size_t value_len) DP_WUR;

#endif
