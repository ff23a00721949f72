/*
 * test_rx.c: the modifiers' regexes (modify/rx) answer as PCRE2 does, offsets included, whether
 * or not they call it. Every pattern is matched against every subject from every start offset,
 * by rx_exec() and by pcre2_match() on a separate compile (the interpreter, no JIT).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "dp_test.h"

#include "core/common.h"
#include "modify/rx.h"

#define L(s) (sizeof(s) - 1)

struct shape_case {
    const char *pat;
    enum rx_shape shape;
    bool anchored;
    const char *lit; /* what every match starts with */
};

static void test_rx_shapes(void **state)
{
    static const struct shape_case cases[] = {
        { "^/admin", RX_LIT, true, "/admin" },
        { "/restricted1", RX_LIT, false, "/restricted1" },
        { "/api/v1/(.*)", RX_LIT_GROUP, false, "/api/v1/" },
        { "^/api/(.*)", RX_LIT_GROUP, true, "/api/" },
        { "a.*", RX_LIT_ANY, false, "a" },
        { "(.*)", RX_LIT_GROUP, false, "" },
        { "^.*", RX_LIT_ANY, true, "" },
        /* PCRE2 decides, after LIT less its last byte (a quantifier may follow it) */
        { "/v1/user/([^\\/]+)/ping", RX_PCRE, false, "/v1/user" },
        { "ab?c", RX_PCRE, false, "a" },
        { "ab(?#x)*", RX_PCRE, false, "a" },
        { "ab\\E*", RX_PCRE, false, "a" },
        { "^a*", RX_PCRE, true, "" },
        { "/a.*$", RX_PCRE, false, "/" },
        /* nothing known */
        { "a|b", RX_PCRE, false, "" },
        { "ab\\|c", RX_PCRE, false, "" },
        { "(*CR)a.*", RX_PCRE, false, "" },
        { "(?i)abc", RX_PCRE, false, "" },
        { "", RX_PCRE, false, "" },
        { "^", RX_PCRE, false, "" },
        { "\\d+", RX_PCRE, false, "" },
    };

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        struct rx r;
        int ecode = 0;
        size_t eoff = 0;

        assert_int_equal(rx_compile(&r, cases[i].pat, strlen(cases[i].pat), &ecode, &eoff), 0);
        if (r.shape != cases[i].shape || r.anchored != cases[i].anchored ||
                r.lit_len != strlen(cases[i].lit) ||
                (r.lit_len > 0 && memcmp(r.lit, cases[i].lit, r.lit_len) != 0))
            fail_msg("\"%s\": shape %s anchored %d lit \"%.*s\"", cases[i].pat,
                    rx_shape_names[r.shape], r.anchored, (int)r.lit_len,
                    r.lit_len > 0 ? r.lit : "");
        rx_free(&r);
    }
}

static void test_rx_compile_errors(void **state)
{
    struct rx r;
    int ecode = 0;
    size_t eoff = 0;
    char msg[256];

    (void)state;
    assert_int_equal(rx_compile(&r, "a(", 2, &ecode, &eoff), -EINVAL);
    assert_int_equal(eoff, 2);
    rx_error_message(ecode, msg, sizeof(msg));
    assert_true(strlen(msg) > 0);
    rx_error_message(ecode, msg, 4); /* truncated, still a C string */
    assert_true(strlen(msg) <= 3);
    rx_free(&r); /* a failed compile leaves nothing to free: harmless */
}

/*
 * "(*UTF)" is refused: PCRE2 10.42's JIT code read past the end of a cut UTF-8 sequence in
 * traffic ("(*UTF)\\X" on "/\xff\xfea" crashed doppel), and its interpreter checks the whole
 * rest of the subject on every call. Without it "\\X" and "." take one byte of any value.
 */
static void test_rx_utf_refused(void **state)
{
    static const char *const utf[] = { "(*UTF)\\X", "(*UTF)a", "(*UCP)(*UTF).", "(*UTF)" };
    static const uint8_t subj[] = "/\xff\xfe" "a\xe2\x82";
    struct dp_guarded g;
    struct rx r;
    int ecode = 0;
    size_t eoff = 0;
    char msg[256];

    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(utf); i++) {
        assert_int_equal(rx_compile(&r, utf[i], strlen(utf[i]), &ecode, &eoff), -EINVAL);
        rx_error_message(ecode, msg, sizeof(msg));
        assert_non_null(strstr(msg, "UTF is disabled"));
    }
    dp_guarded_init(&g, subj, L(subj)); /* the cut sequence ends on the guard page */
    for (int k = 0; k < 2; k++) {
        assert_int_equal(rx_compile(&r, k == 0 ? "\\X" : ".", k == 0 ? 2 : 1, &ecode, &eoff), 0);
        for (size_t start = 0; start < g.len; start++) {
            assert_true(rx_exec(&r, g.ptr, g.len, start));
            assert_int_equal(r.ov[0], start);
            assert_int_equal(r.ov[1], start + 1);
        }
        assert_false(rx_exec(&r, g.ptr, g.len, g.len));
        rx_free(&r);
    }
    dp_guarded_free(&g);
}

static const char *const patterns[] = {
    "^/admin", "/admin", "/api/v1/(.*)", "^/api/v1/(.*)", "/api/v1/.*", "a.*", ".*", "(.*)",
    "^(.*)", "^.*", "/", "^/", "x*", "ab?c", "ab(?#x)*", "ab\\E*", "a|b", "^a*", "/a.*$",
    "/(?P<n>a)/", "(a)", "a\\Kb", "(?<=a)b", "\\d+", "", "^", "$", "aa", "^aa", "/\\?k=1$",
    "(?i)API", "(*CR)a.*", "a(?s).*", "\\.\\*", "\xc3\xa9", "a\x01" "b",
    /* literals longer than 8 and 16 bytes; a literal found 16 places at a time (SSE2) */
    "/api/v1/users", "/api/v1/users/1234567", "^/api/v1/users/1234567", "/users/1234567(.*)",
    "a//", "/v1/(.*)",
};

static const struct {
    const char *s;
    size_t n;
} subjects[] = {
#define S(x) { x, L(x) }
    S(""), S("/"), S("/admin"), S("/admin/x"), S("/adm"), S("x/admin"), S("/api/v1/users/1?a=b"),
    S("/api/v1/"), S("/api/v1"), S("/x/api/v1/y/api/v1/z"), S("/api/v1/a\nb"), S("/api/v1/a\rb"),
    S("/api/v1/\n"), S("aaa"), S("abc ac abbc"), S("xaxbxab"), S("a\nb\na"), S("\n"),
    S("/a/"), S("/p?k=1"), S("\xc3\xa9\xc3\xa9"), S("a\0b\0a\x01" "b"), S("API api"),
    S("a\rb\r\na"), S("12 34"), S("/static/app.1.js?v=1"),
    /* 16 places or more: the literal first, in the second step, in the last (overlapping) one,
     * at the end, after candidates whose first and last bytes match */
    S("/static/app.123456.js?v=123456"), S("/x/y/z/w/v/u/t/s/api/v1/users/1"),
    S("/static/app.1.js?v=1/api/v1/"), S("/////////////////////////api/v1//api/v1/"),
    S("/api/v1/users/1234567/api/v1/users/1234567x"), S("/api/v1/users/123456/api/v1/users/1234567"),
    S("/x/api/v1/aaaaaaaaaaaaaaaaaa\nbbbb/api/v1/c"), S("a/a//a///aaaaaaaaaaaaaaaaaaaaaaaaaaaa//"),
    S("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0/v1/\0"),
#undef S
};

/* rx_exec() from every start offset of every subject gives PCRE2's answer. */
static void test_rx_matches_pcre2(void **state)
{
    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(patterns); i++) {
        struct rx r;
        int ecode = 0;
        size_t eoff = 0;
        PCRE2_SIZE off;
        pcre2_code *ref = pcre2_compile((PCRE2_SPTR)patterns[i], strlen(patterns[i]), 0, &ecode,
                &off, NULL);
        pcre2_match_data *md;

        assert_non_null(ref);
        md = pcre2_match_data_create_from_pattern(ref, NULL);
        assert_non_null(md);
        assert_int_equal(rx_compile(&r, patterns[i], strlen(patterns[i]), &ecode, &eoff), 0);
        for (size_t j = 0; j < DP_ARRAY_LEN(subjects); j++) {
            const uint8_t *s = (const uint8_t *)subjects[j].s;
            size_t n = subjects[j].n;

            for (size_t start = 0; start <= n; start++) {
                bool want = pcre2_match(ref, s, n, start, 0, md, NULL) >= 0;
                bool got = rx_exec(&r, s, n, start);
                const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);

                if (got != want)
                    fail_msg("\"%s\" on subject %zu from %zu: %d, PCRE2 %d", patterns[i], j,
                            start, got, want);
                for (uint32_t g = 0; want && g < r.groups; g++) {
                    if (r.ov[2 * g] != ov[2 * g] || r.ov[2 * g + 1] != ov[2 * g + 1])
                        fail_msg("\"%s\" on subject %zu from %zu: group %u at %zu-%zu, PCRE2 "
                                 "%zu-%zu", patterns[i], j, start, g, (size_t)r.ov[2 * g],
                                (size_t)r.ov[2 * g + 1], (size_t)ov[2 * g],
                                (size_t)ov[2 * g + 1]);
                }
            }
        }
        rx_free(&r);
        pcre2_match_data_free(md);
        pcre2_code_free(ref);
    }
}

/* A named group is found by name; a missing one is -1. */
static void test_rx_group_number(void **state)
{
    struct rx r;
    int ecode = 0;
    size_t eoff = 0;

    (void)state;
    assert_int_equal(rx_compile(&r, "(a)(?P<n>b)", 11, &ecode, &eoff), 0);
    assert_int_equal(rx_group_number(&r, "n"), 2);
    assert_int_equal(rx_group_number(&r, "m"), -1);
    assert_int_equal(r.groups, 3);
    rx_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rx_shapes),
        cmocka_unit_test(test_rx_compile_errors),
        cmocka_unit_test(test_rx_matches_pcre2),
        cmocka_unit_test(test_rx_group_number),
        cmocka_unit_test(test_rx_utf_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
