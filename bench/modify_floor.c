/*
 * modify_floor: what bench/modify_rate.sh's five modifiers cost when written by hand for that
 * benchmark's requests alone, as a floor for doppel's general rule engine:
 *
 *   --http-allow-method GET --http-disallow-url ^/admin --http-set-header X-Replay:1
 *   --http-rewrite-url /api/v1/(.*):/api/v2/$1 --http-header-limiter X-User-Id:90%
 *
 * Nothing is configurable: the rules are code, their order and values fixed. One SSE2 pass finds
 * the head's lines (64 bytes a step) and the two fields, the request is rebuilt by copies into a
 * buffer. It only handles what the benchmark's requests hold (heads of 64 bytes or more, no
 * X-Replay field, no obs-fold), and exits 1 on anything else. No counters, no memory of dropped
 * ids, no messages: only the work. bench/modify_floor.sh counts its instructions in
 * floor_modify() with callgrind, and checks that its output is byte-identical to doppel's.
 *
 *   cc -std=c17 -O2 -Wall -Wextra -Werror bench/modify_floor.c -o build/bench/modify_floor
 *   build/bench/modify_floor IN.gor [OUT.gor]
 */
#define _GNU_SOURCE /* memmem */
#include <emmintrin.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEP     "\n\xf0\x9f\x90\xb5\xf0\x9f\x99\x88\xf0\x9f\x99\x89\n"
#define SEP_LEN 14

static uint8_t out[65536];
static size_t out_len;
static bool unhandled;

/* True when the line <l, ll> is a field named <name> (lower case, 8 to 15 bytes). */
static inline bool field_is(const uint8_t *l, size_t ll, const char *name, size_t nl)
{
    uint64_t a;
    uint64_t b;

    if (ll <= nl || l[nl] != ':')
        return false;
    memcpy(&a, l, 8);
    memcpy(&b, name, 8);
    if ((a | 0x2020202020202020ull) != b)
        return false;
    for (size_t i = 8; i < nl; i++) {
        if ((l[i] | 0x20) != (uint8_t)name[i])
            return false;
    }
    return true;
}

/* The first "/api/v1/" in <t, n>, 16 places a step (first and last bytes, then all 8). */
static const uint8_t *find_api_v1(const uint8_t *t, size_t n)
{
    const __m128i first = _mm_set1_epi8('/');
    const __m128i last = _mm_set1_epi8('/');
    uint64_t lit;

    memcpy(&lit, "/api/v1/", 8);
    if (n < 8 + 15) {
        for (size_t k = 0; k + 8 <= n; k++) {
            uint64_t w;

            memcpy(&w, t + k, 8);
            if (w == lit)
                return t + k;
        }
        return NULL;
    }
    for (size_t i = 0;; i += 16) {
        size_t o = i + 8 + 15 <= n ? i : n - 8 - 15;
        uint32_t m = (uint32_t)_mm_movemask_epi8(_mm_and_si128(
                _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(t + o)), first),
                _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(t + o + 7)),
                        last)));

        for (; m != 0; m &= m - 1) {
            uint64_t w;

            memcpy(&w, t + o + (size_t)__builtin_ctz(m), 8);
            if (w == lit)
                return t + o + (size_t)__builtin_ctz(m);
        }
        if (o != i)
            return NULL;
    }
}

/* The five rules on the request <p, len>: false when it is dropped, else the new request in
 * out[0, out_len). */
__attribute__((noinline)) static bool floor_modify(const uint8_t *p, size_t len)
{
    const __m128i lf = _mm_set1_epi8('\n');
    const uint8_t *t = p + 4;
    const uint8_t *sp = NULL;
    const uint8_t *uid = NULL;
    const uint8_t *uid_end = NULL;
    const uint8_t *hit;
    size_t start_end = 0;
    size_t s = 0;
    uint8_t *o = out;
    uint64_t w;

    if (len < 64) {
        unhandled = true;
        return false;
    }
    /* allow-method GET */
    memcpy(&w, p, 8);
    if ((w & 0xffffffffu) != 0x20544547u) /* "GET " */
        return false;
    for (size_t i = 0; i + 16 <= len - 4; i += 16) {
        uint32_t m = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(
                _mm_loadu_si128((const __m128i *)(const void *)(t + i)), _mm_set1_epi8(' ')));

        if (m != 0) {
            sp = t + i + __builtin_ctz(m);
            break;
        }
    }
    if (sp == NULL) {
        unhandled = true;
        return false;
    }
    /* disallow-url ^/admin */
    if (sp - t >= 6 && memcmp(t, "/admin", 6) == 0)
        return false;
    /* the head's lines, 64 bytes a step: the start line's end, X-User-Id, no X-Replay */
    for (size_t b = 0; b < len; b += 64) {
        const uint8_t *q = p + (len - b >= 64 ? b : len - 64);
        uint64_t m0 = (uint32_t)_mm_movemask_epi8(
                _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)q), lf));
        uint64_t m1 = (uint32_t)_mm_movemask_epi8(
                _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(q + 16)), lf));
        uint64_t m2 = (uint32_t)_mm_movemask_epi8(
                _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(q + 32)), lf));
        uint64_t m3 = (uint32_t)_mm_movemask_epi8(
                _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(q + 48)), lf));
        uint64_t m = (m0 | m1 << 16 | m2 << 32 | m3 << 48) >> (b - (size_t)(q - p));

        for (; m != 0; m &= m - 1) {
            size_t e = b + (size_t)__builtin_ctzll(m);

            if (start_end == 0) {
                start_end = s = e + 1;
                continue;
            }
            if (e - s <= 1)
                goto head_end; /* the blank line */
            if ((p[s] | 0x20) == 'x') {
                if (field_is(p + s, e - s, "x-user-id", 9)) {
                    if (uid == NULL) {
                        uid = p + s + 10;
                        uid_end = p + e;
                    }
                } else if (field_is(p + s, e - s, "x-replay", 8)) {
                    unhandled = true;
                    return false;
                }
            }
            s = e + 1;
        }
    }
head_end:
    /* header-limiter X-User-Id:90% */
    if (uid != NULL) {
        uint32_t h = 0x811c9dc5u;

        while (uid < uid_end && (*uid == ' ' || *uid == '\t'))
            uid++;
        while (uid_end > uid && (uid_end[-1] == ' ' || uid_end[-1] == '\t' ||
                uid_end[-1] == '\r'))
            uid_end--;
        if (uid_end > uid) {
            for (const uint8_t *v = uid; v < uid_end; v++)
                h = (h ^ *v) * 0x01000193u;
            if (h % 100 >= 90)
                return false;
        }
    }
    /* rewrite-url /api/v1/(.*):/api/v2/$1, and set-header's line after the start line */
    hit = find_api_v1(t, (size_t)(sp - t));
    memcpy(o, p, 4);
    o += 4;
    if (hit != NULL) {
        memcpy(o, t, (size_t)(hit - t));
        o += hit - t;
        memcpy(o, "/api/v2/", 8);
        o += 8;
        t = hit + 8;
    }
    memcpy(o, t, (size_t)(p + start_end - t));
    o += p + start_end - t;
    memcpy(o, "X-Replay: 1\r\n", 13);
    o += 13;
    memcpy(o, p + start_end, len - start_end);
    o += len - start_end;
    out_len = (size_t)(o - out);
    return true;
}

int main(int argc, char **argv)
{
    FILE *in;
    FILE *dst = NULL;
    uint8_t *buf;
    long n;
    size_t records = 0;
    size_t kept = 0;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s IN.gor [OUT.gor]\n", argv[0]);
        return 2;
    }
    in = fopen(argv[1], "rb");
    if (in == NULL || fseek(in, 0, SEEK_END) != 0 || (n = ftell(in)) < 0 ||
            fseek(in, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) == NULL ||
            fread(buf, 1, (size_t)n, in) != (size_t)n) {
        perror(argv[1]);
        return 2;
    }
    if (argc == 3 && (dst = fopen(argv[2], "wb")) == NULL) {
        perror(argv[2]);
        return 2;
    }
    for (uint8_t *q = buf, *end = buf + n; q < end;) {
        uint8_t *r = memmem(q, (size_t)(end - q), SEP, SEP_LEN);
        uint8_t *nl;

        if (r == NULL)
            r = end;
        nl = memchr(q, '\n', (size_t)(r - q));
        if (nl == NULL || q[0] != '1') {
            fprintf(stderr, "modify_floor: record %zu is not a request\n", records);
            return 1;
        }
        records++;
        if (floor_modify(nl + 1, (size_t)(r - (nl + 1)))) {
            kept++;
            if (dst != NULL && (fwrite(q, 1, (size_t)(nl + 1 - q), dst) != (size_t)(nl + 1 - q) ||
                    fwrite(out, 1, out_len, dst) != out_len || fwrite(SEP, 1, SEP_LEN, dst) !=
                    SEP_LEN)) {
                perror(argv[2]);
                return 2;
            }
        }
        if (unhandled) {
            fprintf(stderr, "modify_floor: record %zu is not one this program handles\n",
                    records - 1);
            return 1;
        }
        q = r + SEP_LEN;
    }
    if (dst != NULL && fclose(dst) != 0) {
        perror(argv[2]);
        return 2;
    }
    printf("records=%zu kept=%zu\n", records, kept);
    free(buf);
    fclose(in);
    return 0;
}
