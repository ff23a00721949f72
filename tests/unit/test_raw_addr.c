/* test_raw_addr.c: --input-raw address forms and the BPF they generate (GoReplay's rules). */
#include <errno.h>
#include <string.h>

#include "dp_test.h"

#include "inputs/raw_addr.h"

struct addr_case {
    const char *in;
    bool force_file;
    int rc;
    enum raw_addr_kind kind;
    const char *host;
    unsigned n_ports;
    uint16_t port0;
};

static const struct addr_case addr_cases[] = {
    { ":80", false, 0, RAW_ADDR_ANY, "", 1, 80 },
    { ":80,8080", false, 0, RAW_ADDR_ANY, "", 2, 80 },
    { ":0", false, 0, RAW_ADDR_ANY, "", 0, 0 },
    { "0.0.0.0:80", false, 0, RAW_ADDR_ANY, "", 1, 80 },
    { "[::]:80", false, 0, RAW_ADDR_ANY, "", 1, 80 },
    { "127.0.0.1:8080", false, 0, RAW_ADDR_IP, "127.0.0.1", 1, 8080 },
    { "localhost:80", false, 0, RAW_ADDR_IP, "127.0.0.1", 1, 80 },
    { "[::1]:80", false, 0, RAW_ADDR_IP, "::1", 1, 80 },
    { "eth0:80", false, 0, RAW_ADDR_IFACE, "eth0", 1, 80 },
    { "eth*:443", false, 0, RAW_ADDR_IFACE_PREFIX, "eth", 1, 443 },
    { "traffic.pcap", false, 0, RAW_ADDR_FILE, "traffic.pcap", 0, 0 },
    { "/tmp/t.pcapng:8080", false, 0, RAW_ADDR_FILE, "/tmp/t.pcapng", 1, 8080 },
    { "/tmp/capture.bin", true, 0, RAW_ADDR_FILE, "/tmp/capture.bin", 0, 0 },
    { "/tmp/capture.bin:80", true, 0, RAW_ADDR_FILE, "/tmp/capture.bin", 1, 80 },
    { "eth0", false, -EINVAL, RAW_ADDR_ANY, "", 0, 0 },
    { ":http", false, -EINVAL, RAW_ADDR_ANY, "", 0, 0 },
    { ":70000", false, -EINVAL, RAW_ADDR_ANY, "", 0, 0 },
    { "", false, -EINVAL, RAW_ADDR_ANY, "", 0, 0 },
    { "[::1]80", false, -EINVAL, RAW_ADDR_ANY, "", 0, 0 },
    { ":80,", false, -EINVAL, RAW_ADDR_ANY, "", 0, 0 },
};

static void test_raw_addr_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < DP_ARRAY_LEN(addr_cases); i++) {
        const struct addr_case *c = &addr_cases[i];
        struct raw_addr a;
        struct dp_err err = { 0, { 0 } };
        int rc = raw_addr_parse(c->in, c->force_file, &a, &err);

        print_message("case %zu: '%s' -> %d %s\n", i, c->in, rc, err.msg);
        assert_int_equal(rc, c->rc);
        if (rc != 0) {
            assert_true(err.msg[0] != '\0');
            continue;
        }
        assert_int_equal(a.kind, c->kind);
        assert_string_equal(a.host, c->host);
        assert_int_equal(a.n_ports, c->n_ports);
        if (c->n_ports > 0)
            assert_int_equal(a.ports[0], c->port0);
    }
}

static void test_raw_addr_bpf(void **state)
{
    struct raw_addr a;
    char bpf[1024];
    struct raw_bpf_opts o = { false, false, false };

    (void)state;
    assert_int_equal(raw_addr_parse("10.0.0.10:80,8080", false, &a, NULL), 0);
    assert_true(raw_addr_bpf(&a, &o, bpf, sizeof(bpf)) > 0);
    assert_string_equal(bpf, "((tcp dst port 80 or tcp dst port 8080) and (dst host 10.0.0.10))");
    o.track_response = true;
    assert_true(raw_addr_bpf(&a, &o, bpf, sizeof(bpf)) > 0);
    assert_string_equal(bpf, "((tcp dst port 80 or tcp dst port 8080) and (dst host 10.0.0.10)) or "
                             "((tcp src port 80 or tcp src port 8080) and (src host 10.0.0.10))");
    o.promisc = true;
    o.track_response = false;
    assert_true(raw_addr_bpf(&a, &o, bpf, sizeof(bpf)) > 0);
    assert_string_equal(bpf, "((tcp dst port 80 or tcp dst port 8080))");
    assert_int_equal(raw_addr_parse(":0", false, &a, NULL), 0);
    o.vlan = true;
    assert_true(raw_addr_bpf(&a, &o, bpf, sizeof(bpf)) > 0);
    assert_string_equal(bpf, "(((tcp))) or (vlan and (((tcp)))) or (vlan and vlan and (((tcp))))");
    assert_int_equal(raw_addr_bpf(&a, &o, bpf, 8), -ENAMETOOLONG);
}

static void test_raw_addr_has_port(void **state)
{
    struct raw_addr a;

    (void)state;
    assert_int_equal(raw_addr_parse(":80,8080", false, &a, NULL), 0);
    assert_true(raw_addr_has_port(&a, 8080));
    assert_false(raw_addr_has_port(&a, 81));
    assert_int_equal(raw_addr_parse(":0", false, &a, NULL), 0);
    assert_true(raw_addr_has_port(&a, 12345));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_addr_parse),
        cmocka_unit_test(test_raw_addr_bpf),
        cmocka_unit_test(test_raw_addr_has_port),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
