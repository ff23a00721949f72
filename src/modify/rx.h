/*
 * rx.h: a PCRE2 regex (JIT-compiled when it can be) for the request modifiers, that answers
 * without a PCRE2 call when its pattern says enough.
 *
 * A PCRE2 JIT call costs a few hundred instructions however short the subject, and most
 * modifier rules are a literal with a little around it. At compile time the pattern is read
 * for the shape
 *
 *   [^] LIT [rest]        LIT: bytes that are none of \ ^ $ . | ? * + ( ) [ ] { }
 *
 * (no '|' anywhere, no option that changes what a literal, '^' or '.' matches). Every match then
 * starts with LIT (at 0 with '^'), so a subject without LIT needs no call, and a call starts at
 * LIT's first occurrence. Two rests are answered whole: none ("^/admin") and ".*" or "(.*)"
 * when '.' is "any byte but LF" ("/api/v1/(.*)"). Anything else goes to PCRE2. The answers
 * are PCRE2's, offsets included; tests/fuzz/fuzz_rx.c compares the two.
 */
#ifndef DP_MODIFY_RX_H
#define DP_MODIFY_RX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include "core/common.h"

enum rx_shape {
    RX_PCRE = 0,    /* PCRE2 decides (after the literal, when there is one) */
    RX_LIT,         /* [^]LIT */
    RX_LIT_ANY,     /* [^]LIT.* */
    RX_LIT_GROUP,   /* [^]LIT(.*) */
    RX_SHAPE_COUNT
};

extern const char *const rx_shape_names[RX_SHAPE_COUNT];

struct rx {
    pcre2_code *code;
    pcre2_match_data *md;
    const PCRE2_SIZE *ov;  /* the last match: ov[2g], ov[2g + 1] for group g < groups */
    PCRE2_SIZE own_ov[4];  /* the offsets of a match found without PCRE2 */
    uint32_t groups;       /* group 0 (the match) and the capture groups */
    uint32_t minlen;       /* PCRE2_INFO_MINLENGTH: no match is shorter */
    bool jit;
    bool anchored;         /* '^' first: a match starts at 0 */
    uint8_t shape;         /* enum rx_shape */
    size_t lit_len;        /* 0: no literal known */
    char *lit;
    uint64_t lit8;         /* lit_len <= 8: LIT's bytes as loaded from memory, 0s after */
    uint64_t lit8_mask;    /* 0xff for each of LIT's bytes, 0 after (0: not <= 8 bytes) */
};

/*
 * Compiles <pat, len> into <r>. 0; -EINVAL with *<ecode> and *<eoff> PCRE2's error code and
 * offset (rx_error_message() words it), also for "(*UTF)": patterns match bytes; -ENOMEM. <r>
 * is rx_free()d either way.
 */
int rx_compile(struct rx *r, const char *pat, size_t len, int *ecode, size_t *eoff) DP_WUR;

/* PCRE2's message for <ecode>, into <buf, n> (NUL-terminated). */
void rx_error_message(int ecode, char *buf, size_t n);

/* PCRE2's first match of <r> in <p, n> starting at or after <start> (<= <n>): true with its
 * offsets in r->ov, valid until the next call. */
bool rx_exec(struct rx *r, const uint8_t *p, size_t n, size_t start);

/* The number of the group named <name> (a C string), or -1. */
int rx_group_number(const struct rx *r, const char *name);

/* Frees what <r> holds; <r> zeroed or compiled. */
void rx_free(struct rx *r);

#endif
