#include "outputs/http_url.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Percent-decodes [s, s+len) into <out> (capacity <cap>); returns the length or -1. */
static int pct_decode(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (c == '%') {
            int hi;

            if (i + 2 >= len)
                return -1;
            hi = dp_hex_val((uint8_t)s[i + 1]);
            if (hi < 0 || dp_hex_val((uint8_t)s[i + 2]) < 0)
                return -1;
            c = (char)(hi * 16 + dp_hex_val((uint8_t)s[i + 2]));
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return (int)o;
}

static void base64(const uint8_t *in, size_t len, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;

    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;

        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = tbl[v >> 18 & 63];
        out[o++] = tbl[v >> 12 & 63];
        out[o++] = i + 1 < len ? tbl[v >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? tbl[v & 63] : '=';
    }
    out[o] = '\0';
}

int http_url_parse(const char *s, struct http_url *out, struct dp_err *err)
{
    const char *p = s;
    const char *hp;
    const char *at;
    const char *slash;
    const char *hend;
    const char *pstart = NULL;
    unsigned long port = 0;

    memset(out, 0, sizeof(*out));
    if (strncmp(p, "https://", 8) == 0) {
        out->tls = true;
        p += 8;
    } else if (strncmp(p, "http://", 7) == 0) {
        p += 7;
    } else if (strstr(p, "://") != NULL) {
        return dp_err_set(err, -EINVAL, "--output-http %s: only http:// and https:// are supported",
                s);
    }
    slash = p + strcspn(p, "/?#");
    at = memchr(p, '@', (size_t)(slash - p));
    if (at != NULL) {
        char user[256];
        char raw[384];
        const char *colon = memchr(p, ':', (size_t)(at - p));
        int ul = pct_decode(p, (size_t)((colon != NULL ? colon : at) - p), user, sizeof(user));
        char pass[256] = "";
        int pl = 0;
        int n;

        if (colon != NULL)
            pl = pct_decode(colon + 1, (size_t)(at - colon - 1), pass, sizeof(pass));
        if (ul < 0 || pl < 0)
            return dp_err_set(err, -EINVAL, "--output-http %s: bad credentials before '@'", s);
        n = snprintf(raw, sizeof(raw), "%s:%s", user, pass);
        if (n < 0 || (size_t)n >= sizeof(raw))
            return dp_err_set(err, -EINVAL, "--output-http %s: credentials too long", s);
        memcpy(out->auth, "Basic ", 6);
        base64((const uint8_t *)raw, (size_t)n, out->auth + 6);
        p = at + 1;
    }
    hp = p;
    if (*hp == '[') {
        const char *close = memchr(hp, ']', (size_t)(slash - hp));

        if (close == NULL)
            return dp_err_set(err, -EINVAL, "--output-http %s: unclosed '[' in the host", s);
        if ((size_t)(close - hp - 1) >= sizeof(out->host))
            return dp_err_set(err, -EINVAL, "--output-http %s: host too long", s);
        memcpy(out->host, hp + 1, (size_t)(close - hp - 1));
        out->host_is_ipv6 = true;
        hend = close + 1;
        if (hend < slash && *hend == ':')
            pstart = hend + 1;
        else if (hend != slash)
            return dp_err_set(err, -EINVAL, "--output-http %s: junk after ']'", s);
    } else {
        const char *colon = memchr(hp, ':', (size_t)(slash - hp));

        hend = colon != NULL ? colon : slash;
        if ((size_t)(hend - hp) >= sizeof(out->host))
            return dp_err_set(err, -EINVAL, "--output-http %s: host too long", s);
        memcpy(out->host, hp, (size_t)(hend - hp));
        if (colon != NULL)
            pstart = colon + 1;
    }
    if (out->host[0] == '\0')
        return dp_err_set(err, -EINVAL, "--output-http %s: no host (example: http://staging:8080)",
                s);
    if (pstart != NULL) {
        const char *q = pstart;

        while (q < slash && *q >= '0' && *q <= '9' && port <= 65535)
            port = port * 10 + (unsigned long)(*q++ - '0');
        if (q != slash || q == pstart || port == 0 || port > 65535)
            return dp_err_set(err, -EINVAL, "--output-http %s: bad port", s);
        out->port = (uint16_t)port;
    } else {
        out->port = out->tls ? 443 : 80;
    }
    if (snprintf(out->hostport, sizeof(out->hostport), "%s%s%s", out->host_is_ipv6 ? "[" : "",
                out->host, out->host_is_ipv6 ? "]" : "") < 0)
        return -EINVAL;
    if (out->port != (out->tls ? 443 : 80)) {
        size_t l = strlen(out->hostport);

        snprintf(out->hostport + l, sizeof(out->hostport) - l, ":%u", out->port);
    }
    if (*slash == '#')
        return dp_err_set(err, -EINVAL, "--output-http %s: a #fragment makes no sense here", s);
    if (*slash != '\0' && strcmp(slash, "/") != 0) {
        if (*slash == '?')
            snprintf(out->target, sizeof(out->target), "/%s", slash);
        else if (strlen(slash) >= sizeof(out->target))
            return dp_err_set(err, -EINVAL, "--output-http %s: path too long", s);
        else
            snprintf(out->target, sizeof(out->target), "%s", slash);
    }
    for (const char *c = out->host; *c != '\0'; c++) {
        if ((unsigned char)*c <= ' ' || *c == '/' || *c == '@')
            return dp_err_set(err, -EINVAL, "--output-http %s: bad character in the host", s);
    }
    return 0;
}
