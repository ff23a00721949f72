/*
 * common.h: small definitions every module uses.
 *
 * DP_BUG_ON() guards invariants of our own code and stays on in release builds. It is never used
 * to validate input: hostile input is counted and skipped by the code that reads it.
 */
#ifndef DP_CORE_COMMON_H
#define DP_CORE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define DP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define DP_WUR          __attribute__((warn_unused_result))
#define DP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define DP_UNUSED       __attribute__((unused))
#define DP_LIKELY(x)    __builtin_expect(!!(x), 1)
#define DP_UNLIKELY(x)  __builtin_expect(!!(x), 0)
#define DP_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define DP_MAX(a, b)    ((a) > (b) ? (a) : (b))

/* Aborts with the file and line when <cond> holds. For our own invariants only. */
#define DP_BUG_ON(cond)                                                                            \
    do {                                                                                           \
        if (DP_UNLIKELY(cond))                                                                     \
            dp_bug(__FILE__, __LINE__, #cond);                                                     \
    } while (0)

__attribute__((noreturn)) void dp_bug(const char *file, int line, const char *what);

/* A borrowed view of bytes; never NUL-terminated by contract. */
struct dp_bytes {
    const uint8_t *ptr;
    size_t len;
};

#define DP_BYTES_LIT(s) ((struct dp_bytes){ (const uint8_t *)(s), sizeof(s) - 1 })

/* The value of hex digit <c>, or -1. */
static inline int dp_hex_val(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Big-endian reads from a buffer the caller has already length-checked. */
static inline uint16_t rd_be16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t rd_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint16_t rd_le16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[1] << 8 | p[0]);
}

static inline uint32_t rd_le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static inline void wr_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void wr_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#endif
