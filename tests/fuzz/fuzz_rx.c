/*
 * fuzz_rx.c: the modifiers' regexes (modify/rx) on hostile patterns and subjects.
 *
 * Byte 0 is the pattern's length (mod 64), the pattern follows, the rest is the subject.
 * Invariant: rx_compile() fails exactly when pcre2_compile() with PCRE2_NEVER_UTF does ("(*UTF)"
 * is refused), and rx_exec() from every start offset answers as pcre2_match() on its own
 * compile of the pattern (JIT-compiled the same way): the same yes or no, the same offsets for
 * every group.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "modify/rx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t plen;
    const char *pat;
    const uint8_t *s;
    size_t n;
    struct rx r;
    int ecode = 0;
    size_t eoff = 0;
    PCRE2_SIZE off;
    pcre2_code *ref;
    pcre2_match_data *md;
    int rc;

    if (size < 1)
        return 0;
    plen = DP_MIN((size_t)(data[0] % 64), size - 1);
    pat = (const char *)data + 1;
    s = data + 1 + plen;
    n = size - 1 - plen;
    ref = pcre2_compile((PCRE2_SPTR)pat, plen, PCRE2_NEVER_UTF, &ecode, &off, NULL);
    rc = rx_compile(&r, pat, plen, &ecode, &eoff);
    if ((ref == NULL) != (rc == -EINVAL))
        abort();
    if (ref == NULL || rc != 0) {
        pcre2_code_free(ref);
        return 0;
    }
    if (r.jit && pcre2_jit_compile(ref, PCRE2_JIT_COMPLETE) != 0)
        abort();
    md = pcre2_match_data_create_from_pattern(ref, NULL);
    if (md == NULL) {
        rx_free(&r);
        pcre2_code_free(ref);
        return 0;
    }
    for (size_t start = 0; start <= n && start < 256; start++) {
        int want = pcre2_match(ref, s, n, start, 0, md, NULL);
        bool got = rx_exec(&r, s, n, start);
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);

        if (want < 0 && want != PCRE2_ERROR_NOMATCH)
            break; /* a limit hit (match, depth, heap, JIT stack): no answer to compare */
        if (got != (want >= 0))
            abort();
        for (uint32_t g = 0; got && g < r.groups; g++) {
            if (r.ov[2 * g] != ov[2 * g] || r.ov[2 * g + 1] != ov[2 * g + 1])
                abort();
        }
    }
    pcre2_match_data_free(md);
    pcre2_code_free(ref);
    rx_free(&r);
    return 0;
}
