#include "inputs/raw_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *const raw_addr_kind_names[RAW_ADDR_KIND_COUNT] = {
    [RAW_ADDR_ANY] = "any",     [RAW_ADDR_IP] = "ip",     [RAW_ADDR_IFACE] = "interface",
    [RAW_ADDR_IFACE_PREFIX] = "interface-prefix",  [RAW_ADDR_FILE] = "file",
};

static bool ends_with(const char *s, size_t len, const char *suffix, size_t slen)
{
    return len >= slen && memcmp(s + len - slen, suffix, slen) == 0;
}

static bool is_capture_file(const char *s, size_t len)
{
    return ends_with(s, len, "pcap", 4) || ends_with(s, len, "pcapng", 6) ||
            ends_with(s, len, "cap", 3);
}

static int parse_ports(const char *s, struct raw_addr *out, const char *whole, struct dp_err *err)
{
    const char *p = s;

    out->n_ports = 0;
    for (;;) {
        unsigned long v = 0;
        const char *start = p;

        while (*p >= '0' && *p <= '9' && v <= 65535)
            v = v * 10 + (unsigned long)(*p++ - '0');
        if (p == start || v > 65535 || (*p != ',' && *p != '\0'))
            return dp_err_set(err, -EINVAL,
                    "--input-raw %s: '%s' is not a port list (examples: :80, :80,8080, :0 for all)",
                    whole, s);
        if (v == 0) {
            out->n_ports = 0; /* port 0 means every port */
            return 0;
        }
        if (out->n_ports == RAW_ADDR_MAX_PORTS)
            return dp_err_set(err, -EINVAL, "--input-raw %s: at most %d ports", whole,
                    RAW_ADDR_MAX_PORTS);
        out->ports[out->n_ports++] = (uint16_t)v;
        if (*p == '\0')
            return 0;
        p++;
    }
}

int raw_addr_parse(const char *s, bool force_file, struct raw_addr *out, struct dp_err *err)
{
    size_t len = strlen(s);
    const char *colon;
    size_t hlen;
    struct in6_addr a6;
    struct in_addr a4;

    memset(out, 0, sizeof(*out));
    if (len == 0)
        return dp_err_set(err, -EINVAL, "--input-raw needs an address, e.g. :80");
    if (s[0] == '[') {
        const char *close = strchr(s, ']');

        if (close == NULL || close[1] != ':')
            return dp_err_set(err, -EINVAL, "--input-raw %s: write IPv6 as [addr]:port", s);
        hlen = (size_t)(close - s - 1);
        if (hlen >= sizeof(out->host))
            return dp_err_set(err, -EINVAL, "--input-raw %s: address too long", s);
        memcpy(out->host, s + 1, hlen);
        out->host[hlen] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (force_file || is_capture_file(s, len) ||
                (colon != NULL && is_capture_file(s, (size_t)(colon - s)))) {
            out->kind = RAW_ADDR_FILE;
            hlen = is_capture_file(s, len) || colon == NULL || force_file ? len
                                                                           : (size_t)(colon - s);
            if (force_file && colon != NULL && !is_capture_file(s, len)) {
                /* engine pcap_file with "path:port" */
                const char *c = colon + 1;
                bool digits = *c != '\0';

                for (; *c != '\0'; c++)
                    digits &= *c >= '0' && *c <= '9';
                if (digits)
                    hlen = (size_t)(colon - s);
            }
            if (hlen >= sizeof(out->host))
                return dp_err_set(err, -EINVAL, "--input-raw %s: path too long", s);
            memcpy(out->host, s, hlen);
            out->host[hlen] = '\0';
            return hlen < len ? parse_ports(s + hlen + 1, out, s, err) : 0;
        }
        if (strcmp(s, "::") == 0)
            return dp_err_set(err, -EINVAL, "--input-raw %s: missing port (e.g. [::]:80)", s);
        if (colon == NULL)
            return dp_err_set(err, -EINVAL,
                    "--input-raw %s: missing port (examples: :80, eth0:80, 10.0.0.1:80)", s);
        hlen = (size_t)(colon - s);
        if (hlen >= sizeof(out->host))
            return dp_err_set(err, -EINVAL, "--input-raw %s: host too long", s);
        memcpy(out->host, s, hlen);
        out->host[hlen] = '\0';
    }
    if (parse_ports(colon + 1, out, s, err) != 0)
        return err != NULL ? err->code : -EINVAL;
    if (strcmp(out->host, "localhost") == 0)
        snprintf(out->host, sizeof(out->host), "127.0.0.1");
    if (out->host[0] == '\0' || strcmp(out->host, "0.0.0.0") == 0 || strcmp(out->host, "::") == 0) {
        out->kind = RAW_ADDR_ANY;
        out->host[0] = '\0';
    } else if (inet_pton(AF_INET, out->host, &a4) == 1) {
        out->kind = RAW_ADDR_IP;
    } else if (inet_pton(AF_INET6, out->host, &a6) == 1) {
        out->kind = RAW_ADDR_IP;
        out->ipv6 = true;
    } else if (out->host[strlen(out->host) - 1] == '*') {
        out->kind = RAW_ADDR_IFACE_PREFIX;
        out->host[strlen(out->host) - 1] = '\0';
    } else {
        out->kind = RAW_ADDR_IFACE;
    }
    return 0;
}

bool raw_addr_has_port(const struct raw_addr *a, uint16_t port)
{
    if (a->n_ports == 0)
        return true;
    for (unsigned i = 0; i < a->n_ports; i++) {
        if (a->ports[i] == port)
            return true;
    }
    return false;
}

struct sbuf {
    char *p;
    size_t cap;
    size_t len;
    bool overflow;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) DP_PRINTF(2, 3);

static void sb_add(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->overflow)
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->cap - b->len)
        b->overflow = true;
    else
        b->len += (size_t)n;
}

static void side(struct sbuf *b, const struct raw_addr *a, const struct raw_bpf_opts *o,
        const char *dir)
{
    sb_add(b, "((");
    if (a->n_ports == 0) {
        sb_add(b, "tcp");
    } else {
        for (unsigned i = 0; i < a->n_ports; i++)
            sb_add(b, "%stcp %s port %u", i ? " or " : "", dir, a->ports[i]);
    }
    sb_add(b, ")");
    if (a->kind == RAW_ADDR_IP && !o->promisc)
        sb_add(b, " and (%s host %s)", dir, a->host);
    sb_add(b, ")");
}

int raw_addr_bpf(const struct raw_addr *a, const struct raw_bpf_opts *o, char *out, size_t cap)
{
    char expr[2048];
    struct sbuf e = { expr, sizeof(expr), 0, false };
    struct sbuf b = { out, cap, 0, false };

    side(&e, a, o, "dst");
    if (o->track_response) {
        sb_add(&e, " or ");
        side(&e, a, o, "src");
    }
    if (e.overflow)
        return -ENAMETOOLONG;
    if (o->vlan)
        sb_add(&b, "(%s) or (vlan and (%s)) or (vlan and vlan and (%s))", expr, expr, expr);
    else
        sb_add(&b, "%s", expr);
    return b.overflow ? -ENAMETOOLONG : (int)b.len;
}
