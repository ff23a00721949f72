/* test_http_url.c: --output-http URLs, including the cases GoReplay gets wrong. */
#include <errno.h>
#include <string.h>

#include "dp_test.h"

#include "outputs/http_url.h"

struct url_case {
    const char *in;
    int rc;
    bool tls;
    const char *host;
    unsigned port;
    const char *hostport;
    const char *target;
    const char *auth;
};

static const struct url_case cases[] = {
    { "http://staging:8080", 0, false, "staging", 8080, "staging:8080", "", "" },
    { "staging.example.com", 0, false, "staging.example.com", 80, "staging.example.com", "", "" },
    { "127.0.0.1:8000", 0, false, "127.0.0.1", 8000, "127.0.0.1:8000", "", "" },
    { "localhost:18080", 0, false, "localhost", 18080, "localhost:18080", "", "" },
    { "https://api.example.com", 0, true, "api.example.com", 443, "api.example.com", "", "" },
    { "https://api.example.com:8443/", 0, true, "api.example.com", 8443, "api.example.com:8443",
            "", "" },
    { "http://host/", 0, false, "host", 80, "host", "", "" },
    { "http://host/v2/echo?x=1", 0, false, "host", 80, "host", "/v2/echo?x=1", "" },
    { "http://host?x=1", 0, false, "host", 80, "host", "/?x=1", "" },
    { "http://[::1]:8080/", 0, false, "::1", 8080, "[::1]:8080", "", "" },
    { "http://[::1]", 0, false, "::1", 80, "[::1]", "", "" },
    { "http://user:pass@host", 0, false, "host", 80, "host", "", "Basic dXNlcjpwYXNz" },
    { "http://us%40er:p%3Ass@host:81", 0, false, "host", 81, "host:81", "",
            "Basic dXNAZXI6cDpzcw==" },
    { "http://user@host", 0, false, "host", 80, "host", "", "Basic dXNlcjo=" },
    { "ftp://host", -EINVAL, false, "", 0, "", "", "" },
    { "http://", -EINVAL, false, "", 0, "", "", "" },
    { "http://host:0", -EINVAL, false, "", 0, "", "", "" },
    { "http://host:99999", -EINVAL, false, "", 0, "", "", "" },
    { "http://host:8o", -EINVAL, false, "", 0, "", "", "" },
    { "http://[::1", -EINVAL, false, "", 0, "", "", "" },
    { "http://u:%zz@host", -EINVAL, false, "", 0, "", "", "" },
    { "http://host#frag", -EINVAL, false, "", 0, "", "", "" },
};

static void test_http_url_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(cases); i++) {
        const struct url_case *c = &cases[i];
        struct http_url u;
        struct dp_err err = { 0, { 0 } };
        int rc = http_url_parse(c->in, &u, &err);

        print_message("case %zu: %s -> %d %s\n", i, c->in, rc, err.msg);
        assert_int_equal(rc, c->rc);
        if (rc != 0) {
            assert_true(strstr(err.msg, c->in) != NULL);
            continue;
        }
        assert_int_equal(u.tls, c->tls);
        assert_string_equal(u.host, c->host);
        assert_int_equal(u.port, c->port);
        assert_string_equal(u.hostport, c->hostport);
        assert_string_equal(u.target, c->target);
        assert_string_equal(u.auth, c->auth);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_url_cases),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
