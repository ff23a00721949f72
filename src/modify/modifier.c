#include "modify/modifier.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_head.h"
#include "modify/rx.h"

const char *const dp_mod_ctr_names[DP_MOD_CTR_COUNT] = {
    [DP_MOD_SEEN] = "seen",
    [DP_MOD_NOT_REQUEST] = "not_request",
    [DP_MOD_DROP_METHOD] = "dropped_method",
    [DP_MOD_DROP_URL] = "dropped_url",
    [DP_MOD_DROP_HEADER] = "dropped_header",
    [DP_MOD_DROP_AUTH] = "dropped_auth",
    [DP_MOD_DROP_HASH] = "dropped_hash",
    [DP_MOD_DROP_RESPONSE] = "dropped_response",
    [DP_MOD_REWRITTEN] = "rewritten",
    [DP_MOD_NOMEM] = "nomem",
};

#define IDSET_SLOTS  65536u          /* ids of dropped requests remembered */
#define IDSET_PROBES 4                /* the slots of one 64-byte line: one cache miss */
#define IDSET_TTL_NS (60 * 1000000000LL) /* GoReplay's 60 s */
#define NAMES_MAX    HTTP_NAMES_MAX   /* field names looked up in one pass over a head */

/* A replacement, Go's Expand template, parsed: literal bytes and groups in turn. */
struct seg {
    size_t off;   /* literal: tpl.lit[off, off + len) */
    size_t len;
    int32_t group; /* -1: a literal; else the group whose match goes here */
};

struct tpl {
    struct seg *v;
    size_t n;
    char *lit;
};

/* A rule: a name (header or param), a regex, a value or replacement, a percentage. */
struct rule {
    char *name;
    size_t name_len;
    struct rx rx;
    char *text;      /* set-header/set-param value, rewrite replacement */
    size_t text_len;
    struct tpl tpl;  /* rewrite: <text> parsed */
    uint8_t *line;   /* set-header: "name: text\r\n", inserted when the field is missing */
    size_t line_len;
    uint32_t percent;
    int32_t slot;    /* its name is dp_modifier.names[slot]; -1: looked up alone */
    bool odd_name;   /* empty, with ':' or LF, or SP/HTAB first: no field name can be it */
};

struct rules {
    struct rule *v;
    size_t n;
};

/* An allowed method. <word>: "name SP" as the first 8 bytes of a start line hold it, 0-padded, and
 * <mask> the bytes that are it, for a name of 1 to 7 bytes without SP (else mask 0): the line's
 * first word tells whether it starts with the method and where the method ends, as nginx reads
 * methods (ngx_str4cmp). */
struct method {
    struct dp_bytes name;
    uint64_t word;
    uint64_t mask;
};

struct idslot {
    uint64_t h;
    int64_t expires;
};

struct dp_modifier {
    struct method *methods;
    size_t n_methods;
    size_t idx_max; /* field lines to index: 0 when no rule reads or sets a header */
    struct rules set_header, set_param, allow_url, disallow_url, allow_header, disallow_header,
            basic_auth, header_limiter, param_limiter, rewrite_url, rewrite_header;
    /* the field names the rules read or set, each once (any case): one pass finds them all */
    struct http_name names[NAMES_MAX];
    size_t n_names;
    struct http_names nameset; /* names[], prepared for http_head_index_names() */
    int32_t auth_slot; /* basic-auth-filter's Authorization */
    struct idslot *dropped; /* IDSET_SLOTS, in lines of IDSET_PROBES */
    struct idslot *dropped_mem;
    uint64_t ctr[DP_MOD_CTR_COUNT];
    /* scratch for a new request-target */
    uint8_t *buf;
    size_t buf_cap;
};

uint32_t dp_fnv32a(const uint8_t *p, size_t n)
{
    uint32_t h = 0x811c9dc5u;

    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x01000193u;
    return h;
}

/* ---- settings ---- */

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Go's strings.TrimSpace on [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_space((*s)[*n - 1]))
        (*n)--;
}

static int rx_compile_flag(struct rx *r, const char *flag, const char *pat, size_t len,
        struct dp_err *err)
{
    int ecode = 0;
    size_t eoff = 0;
    int rc = rx_compile(r, pat, len, &ecode, &eoff);

    if (rc == -EINVAL) {
        char msg[256];

        rx_error_message(ecode, msg, sizeof(msg));
        return dp_err_set(err, -EINVAL, "--%s: bad regular expression \"%.*s\" at offset %zu: %s",
                flag, (int)len, pat, eoff, msg);
    }
    return rc != 0 ? dp_err_set(err, rc, "out of memory") : 0;
}

/* Parses a percentage "NN%" (Go's ParseInt base 0: 0x1f, 010) or the legacy "a/b", <v, n>
 * of the flag's value <whole>. */
static int parse_percent(const char *flag, const char *whole, const char *v, size_t n,
        uint32_t *out, struct dp_err *err)
{
    char tmp[64];
    char *end;

    if (n == 0 || n >= sizeof(tmp))
        goto bad;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    if (tmp[n - 1] == '%') {
        long long p;

        tmp[n - 1] = '\0';
        p = strtoll(tmp, &end, 0);
        if (end == tmp || *end != '\0' || p < 0)
            goto bad;
        *out = p > 100 ? 100 : (uint32_t)p;
        return 0;
    }
    {
        char *slash = strchr(tmp, '/');
        long long a;
        long long b;

        if (slash == NULL)
            goto bad;
        *slash = '\0';
        a = strtoll(tmp, &end, 10);
        if (end == tmp || *end != '\0')
            goto bad;
        b = strtoll(slash + 1, &end, 10);
        if (end == slash + 1 || *end != '\0' || b <= 0 || a < 0)
            goto bad;
        *out = (uint32_t)((double)a / (double)b * 100.0);
        return 0;
    }
bad:
    return dp_err_set(err, -EINVAL, "--%s \"%s\": the limit must be \"NN%%\" or \"a/b\"",
            flag, whole);
}

/* Appends a segment to <t>, merging a literal into the literal before it. */
static void tpl_add(struct tpl *t, size_t *lit_len, const char *p, size_t n, long group)
{
    if (group < 0) {
        memcpy(t->lit + *lit_len, p, n);
        if (t->n > 0 && t->v[t->n - 1].group < 0) {
            t->v[t->n - 1].len += n;
        } else {
            t->v[t->n].off = *lit_len;
            t->v[t->n].len = n;
            t->v[t->n++].group = -1;
        }
        *lit_len += n;
        return;
    }
    t->v[t->n].off = 0;
    t->v[t->n].len = 0;
    t->v[t->n++].group = (int32_t)group;
}

/*
 * Parses the replacement of <r> as Go's regexp.Expand reads it, once: "$$" is a '$', "$name"
 * and "${name}" a group by number or name (the longest run of letters, digits and '_'), a
 * name that is no group of the regex expands to nothing, and any other '$' is itself.
 */
static bool tpl_parse(struct rule *r)
{
    const char *tpl = r->text;
    size_t tn = r->text_len;
    struct tpl *t = &r->tpl;
    size_t lit_len = 0;

    /* at most one segment and one literal byte per template byte */
    t->v = calloc(tn + 1, sizeof(*t->v));
    t->lit = malloc(tn + 1);
    if (t->v == NULL || t->lit == NULL)
        return false;
    for (size_t i = 0; i < tn; i++) {
        size_t j;
        size_t name_off;
        size_t name_len;
        bool braces = false;
        long group = -1;

        if (tpl[i] != '$') {
            tpl_add(t, &lit_len, tpl + i, 1, -1);
            continue;
        }
        if (i + 1 < tn && tpl[i + 1] == '$') {
            tpl_add(t, &lit_len, "$", 1, -1);
            i++;
            continue;
        }
        j = i + 1;
        if (j < tn && tpl[j] == '{') {
            braces = true;
            j++;
        }
        name_off = j;
        while (j < tn && (tpl[j] == '_' || (tpl[j] >= '0' && tpl[j] <= '9') ||
                                 ((tpl[j] | 32) >= 'a' && (tpl[j] | 32) <= 'z')))
            j++;
        name_len = j - name_off;
        if (name_len == 0 || (braces && (j >= tn || tpl[j] != '}'))) {
            tpl_add(t, &lit_len, "$", 1, -1); /* malformed: a literal '$' */
            continue;
        }
        if (braces)
            j++;
        {
            char name[64];
            size_t k = 0;

            while (k < name_len && tpl[name_off + k] >= '0' && tpl[name_off + k] <= '9')
                k++;
            if (k == name_len && name_len < 9 && (name_len == 1 || tpl[name_off] != '0')) {
                group = 0;
                for (k = 0; k < name_len; k++)
                    group = group * 10 + (tpl[name_off + k] - '0');
            } else if (name_len < sizeof(name)) {
                memcpy(name, tpl + name_off, name_len);
                name[name_len] = '\0';
                group = rx_group_number(&r->rx, name);
            }
        }
        if (group >= 0 && (uint32_t)group < r->rx.groups)
            tpl_add(t, &lit_len, NULL, 0, group);
        i = j - 1;
    }
    return true;
}

enum rule_kind {
    RK_SET_HEADER,     /* "Name: value" */
    RK_SET_PARAM,      /* "name=value" */
    RK_REGEX,          /* "regex" */
    RK_HEADER_REGEX,   /* "Name:regex" (the regex trimmed, the name not) */
    RK_LIMITER,        /* "name:NN%" */
    RK_REWRITE_URL,    /* "regex:replacement" */
    RK_REWRITE_HEADER, /* "Name: regex,replacement" */
};

static int rule_parse(struct rule *r, enum rule_kind kind, const char *flag, const char *v,
        struct dp_err *err)
{
    size_t len = strlen(v);
    const char *sep = memchr(v, kind == RK_SET_PARAM ? '=' : ':', len);
    const char *a = v;
    size_t an = sep != NULL ? (size_t)(sep - v) : len;
    const char *b = sep != NULL ? sep + 1 : v + len;
    size_t bn = sep != NULL ? len - an - 1 : 0;

    if (kind == RK_REGEX)
        return rx_compile_flag(&r->rx, flag, v, len, err);
    if (sep == NULL)
        return dp_err_set(err, -EINVAL, "--%s \"%s\": expected %s", flag, v,
                kind == RK_SET_PARAM ? "name=value" :
                kind == RK_SET_HEADER ? "\"Name: value\"" :
                kind == RK_REWRITE_URL ? "regex:replacement" :
                kind == RK_REWRITE_HEADER ? "\"Name: regex,replacement\"" :
                kind == RK_LIMITER ? "name:NN%" : "Name:regex");
    switch (kind) {
    case RK_SET_HEADER:
        trim(&a, &an);
        trim(&b, &bn);
        if (!http_is_token(a, an))
            return dp_err_set(err, -EINVAL, "--%s \"%s\": \"%.*s\" is not a header name", flag,
                    v, (int)an, a);
        break;
    case RK_SET_PARAM:
        trim(&a, &an);
        trim(&b, &bn);
        if (an == 0)
            return dp_err_set(err, -EINVAL, "--%s \"%s\": empty parameter name", flag, v);
        /* a space or control byte would break the request line (and hide it from the filters) */
        for (size_t i = 0; i < an + bn; i++) {
            unsigned char c = (unsigned char)(i < an ? a[i] : b[i - an]);

            if (c <= ' ' || c == 0x7f)
                return dp_err_set(err, -EINVAL, "--%s \"%s\": spaces and control characters "
                        "are not allowed in a query parameter (percent-encode them)", flag, v);
        }
        break;
    case RK_HEADER_REGEX:
        trim(&b, &bn);
        if (rx_compile_flag(&r->rx, flag, b, bn, err) != 0)
            return -EINVAL;
        b = NULL;
        break;
    case RK_LIMITER:
        if (parse_percent(flag, v, b, bn, &r->percent, err) != 0)
            return -EINVAL;
        b = NULL;
        break;
    case RK_REWRITE_URL:
        if (rx_compile_flag(&r->rx, flag, a, an, err) != 0)
            return -EINVAL;
        break;
    case RK_REWRITE_HEADER: {
        const char *comma;

        trim(&b, &bn);
        comma = memchr(b, ',', bn);
        if (comma == NULL)
            return dp_err_set(err, -EINVAL, "--%s \"%s\": expected \"Name: regex,replacement\"",
                    flag, v);
        if (rx_compile_flag(&r->rx, flag, b, (size_t)(comma - b), err) != 0)
            return -EINVAL;
        bn -= (size_t)(comma + 1 - b);
        b = comma + 1;
        break;
    }
    case RK_REGEX:
        break;
    }
    r->name = dup_n(a, an);
    r->name_len = an;
    r->odd_name = an == 0 || a[0] == ' ' || a[0] == '\t' || memchr(a, ':', an) != NULL ||
            memchr(a, '\n', an) != NULL;
    if (b != NULL) {
        r->text = dup_n(b, bn);
        r->text_len = bn;
    }
    if (r->name == NULL || (b != NULL && r->text == NULL))
        return dp_err_set(err, -ENOMEM, "out of memory");
    if ((kind == RK_REWRITE_URL || kind == RK_REWRITE_HEADER) && !tpl_parse(r))
        return dp_err_set(err, -ENOMEM, "out of memory");
    if (kind == RK_SET_HEADER && memchr(r->text, '\n', r->text_len) == NULL) {
        r->line_len = an + bn + 4; /* a token: the name has no LF */
        r->line = malloc(r->line_len);
        if (r->line == NULL)
            return dp_err_set(err, -ENOMEM, "out of memory");
        memcpy(r->line, a, an);
        memcpy(r->line + an, ": ", 2);
        memcpy(r->line + an + 2, r->text, bn);
        memcpy(r->line + an + 2 + bn, "\r\n", 2);
    }
    return 0;
}

static int rules_parse(struct rules *rs, const struct dp_strlist *l, enum rule_kind kind,
        const char *flag, struct dp_err *err)
{
    if (l->n == 0)
        return 0;
    rs->v = calloc(l->n, sizeof(*rs->v));
    if (rs->v == NULL)
        return dp_err_set(err, -ENOMEM, "out of memory");
    for (uint32_t i = 0; i < l->n; i++) {
        int rc = rule_parse(&rs->v[i], kind, flag, l->v[i], err);

        rs->n = i + 1;
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void rules_free(struct rules *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        rx_free(&rs->v[i].rx);
        free(rs->v[i].name);
        free(rs->v[i].text);
        free(rs->v[i].tpl.v);
        free(rs->v[i].line);
        free(rs->v[i].tpl.lit);
    }
    free(rs->v);
}

static uint8_t lower_c(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c | 0x20) : c;
}

/* The slot of <name, len> in m->names, added when new: -1 for an odd name (looked up by its
 * own rules), or when the table is full. */
static int32_t name_slot(struct dp_modifier *m, const char *name, size_t len, bool odd)
{
    size_t k;

    if (odd)
        return -1;
    for (k = 0; k < m->n_names; k++) {
        const struct http_name *nm = &m->names[k];
        size_t i = 0;

        while (i < len && nm->len == len &&
                lower_c((uint8_t)nm->name[i]) == lower_c((uint8_t)name[i]))
            i++;
        if (nm->len == len && i == len)
            return (int32_t)k;
    }
    if (k == NAMES_MAX)
        return -1;
    m->names[k] = (struct http_name){ name, len };
    m->n_names++;
    return (int32_t)k;
}

static void rules_slot(struct dp_modifier *m, struct rules *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        rs->v[i].slot = name_slot(m, rs->v[i].name, rs->v[i].name_len, rs->v[i].odd_name);
}

int dp_modifier_new(const struct dp_config *cfg, struct dp_modifier **out, struct dp_err *err)
{
    struct dp_modifier *m;
    int rc = 0;

    *out = NULL;
    if (cfg->http_allow_method.n + cfg->http_set_header.n + cfg->http_set_param.n +
                    cfg->http_allow_url.n + cfg->http_disallow_url.n + cfg->http_allow_header.n +
                    cfg->http_disallow_header.n + cfg->http_basic_auth_filter.n +
                    cfg->http_header_limiter.n + cfg->http_param_limiter.n +
                    cfg->http_rewrite_url.n + cfg->http_rewrite_header.n == 0)
        return 0;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return dp_err_set(err, -ENOMEM, "out of memory");
    /* calloc()'s pages stay untouched until used; the slots start on a 64-byte line */
    m->dropped_mem = calloc(IDSET_SLOTS + IDSET_PROBES, sizeof(*m->dropped));
    if (m->dropped_mem != NULL)
        m->dropped = (struct idslot *)(void *)((uintptr_t)(m->dropped_mem + IDSET_PROBES) &
                ~(uintptr_t)63);
    m->n_methods = cfg->http_allow_method.n;
    m->methods = calloc(m->n_methods + 1, sizeof(*m->methods));
    if (m->dropped == NULL || m->methods == NULL)
        rc = dp_err_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < m->n_methods; i++) {
        const char *v = cfg->http_allow_method.v[i];
        struct method *mt = &m->methods[i];

        mt->name = (struct dp_bytes){ (const uint8_t *)v, strlen(v) };
        if (mt->name.len > 0 && mt->name.len < 8 && memchr(v, ' ', mt->name.len) == NULL) {
            uint8_t w[8] = { 0 };
            uint8_t k[8] = { 0 };

            memcpy(w, v, mt->name.len);
            w[mt->name.len] = ' ';
            memset(k, 0xff, mt->name.len + 1);
            memcpy(&mt->word, w, 8);
            memcpy(&mt->mask, k, 8);
        }
    }
    if (rc == 0)
        rc = rules_parse(&m->set_header, &cfg->http_set_header, RK_SET_HEADER, "http-set-header",
                err);
    if (rc == 0)
        rc = rules_parse(&m->set_param, &cfg->http_set_param, RK_SET_PARAM, "http-set-param",
                err);
    if (rc == 0)
        rc = rules_parse(&m->allow_url, &cfg->http_allow_url, RK_REGEX, "http-allow-url", err);
    if (rc == 0)
        rc = rules_parse(&m->disallow_url, &cfg->http_disallow_url, RK_REGEX,
                "http-disallow-url", err);
    if (rc == 0)
        rc = rules_parse(&m->allow_header, &cfg->http_allow_header, RK_HEADER_REGEX,
                "http-allow-header", err);
    if (rc == 0)
        rc = rules_parse(&m->disallow_header, &cfg->http_disallow_header, RK_HEADER_REGEX,
                "http-disallow-header", err);
    if (rc == 0)
        rc = rules_parse(&m->basic_auth, &cfg->http_basic_auth_filter, RK_REGEX,
                "http-basic-auth-filter", err);
    if (rc == 0)
        rc = rules_parse(&m->header_limiter, &cfg->http_header_limiter, RK_LIMITER,
                "http-header-limiter", err);
    if (rc == 0)
        rc = rules_parse(&m->param_limiter, &cfg->http_param_limiter, RK_LIMITER,
                "http-param-limiter", err);
    if (rc == 0)
        rc = rules_parse(&m->rewrite_url, &cfg->http_rewrite_url, RK_REWRITE_URL,
                "http-rewrite-url", err);
    if (rc == 0)
        rc = rules_parse(&m->rewrite_header, &cfg->http_rewrite_header, RK_REWRITE_HEADER,
                "http-rewrite-header", err);
    if (rc != 0) {
        dp_modifier_free(m);
        return rc;
    }
    if (m->set_header.n + m->allow_header.n + m->disallow_header.n + m->basic_auth.n +
                    m->header_limiter.n + m->rewrite_header.n > 0)
        m->idx_max = HTTP_IDX_MAX;
    rules_slot(m, &m->set_header);
    rules_slot(m, &m->allow_header);
    rules_slot(m, &m->disallow_header);
    rules_slot(m, &m->header_limiter);
    m->auth_slot = m->basic_auth.n > 0 ? name_slot(m, "Authorization", 13, false) : -1;
    http_names_init(&m->nameset, m->names, m->n_names);
    *out = m;
    return 0;
}

void dp_modifier_free(struct dp_modifier *m)
{
    if (m == NULL)
        return;
    rules_free(&m->set_header);
    rules_free(&m->set_param);
    rules_free(&m->allow_url);
    rules_free(&m->disallow_url);
    rules_free(&m->allow_header);
    rules_free(&m->disallow_header);
    rules_free(&m->basic_auth);
    rules_free(&m->header_limiter);
    rules_free(&m->param_limiter);
    rules_free(&m->rewrite_url);
    rules_free(&m->rewrite_header);
    free(m->dropped_mem);
    free(m->methods);
    free(m->buf);
    free(m);
}

const uint64_t *dp_modifier_ctr(const struct dp_modifier *m)
{
    return m->ctr;
}

/* ---- the ids of dropped requests ---- */

/* Ids are 24 or 40 hex digits: hashed 8 bytes at a time, then mixed (splitmix64's finalizer)
 * so that every byte reaches the low bits that pick the slot. */
static uint64_t id_hash(struct dp_bytes id)
{
    uint64_t h = 0xcbf29ce484222325ull ^ id.len;
    size_t i = 0;

    for (; i + 8 <= id.len; i += 8) {
        uint64_t w;

        memcpy(&w, id.ptr + i, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 32;
    }
    for (; i < id.len; i++)
        h = (h ^ id.ptr[i]) * 0x100000001b3ull;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h | 1; /* 0 marks a free slot */
}

static void idset_add(struct dp_modifier *m, struct dp_bytes id, int64_t now)
{
    uint64_t h = id_hash(id);
    struct idslot *line = &m->dropped[(h >> 2) & (IDSET_SLOTS - IDSET_PROBES)];
    struct idslot *victim = NULL;

    for (unsigned i = 0; i < IDSET_PROBES; i++) {
        struct idslot *s = &line[i];

        if (s->h == 0 || s->h == h || s->expires <= now) {
            victim = s;
            break;
        }
        if (victim == NULL || s->expires < victim->expires)
            victim = s; /* full: the oldest goes */
    }
    victim->h = h;
    victim->expires = now + IDSET_TTL_NS;
}

/* True (and forgotten) when <id> was dropped in the last 60 s. */
static bool idset_take(struct dp_modifier *m, struct dp_bytes id, int64_t now)
{
    uint64_t h = id_hash(id);
    struct idslot *line = &m->dropped[(h >> 2) & (IDSET_SLOTS - IDSET_PROBES)];

    for (unsigned i = 0; i < IDSET_PROBES; i++) {
        struct idslot *s = &line[i];

        if (s->h == h && s->expires > now) {
            s->h = 0;
            return true;
        }
    }
    return false;
}

/* ---- the request line ---- */

struct reqline {
    size_t start;     /* the method's offset (after leading empty lines) */
    size_t method_len;
    size_t target_off;
    size_t target_len;
    bool allowed;     /* the method is known to be one of --http-allow-method's */
};

/* The length of the allowed method whose "name SP" starts the line <l, n> (its first SP follows
 * it), or 0: none does, as far as the words of m->methods tell. */
static size_t method_word(const struct dp_modifier *m, const uint8_t *l, size_t n)
{
    uint64_t w;

    if (m->n_methods == 0 || n < 8)
        return 0;
    memcpy(&w, l, 8);
    for (size_t i = 0; i < m->n_methods; i++) {
        const struct method *mt = &m->methods[i];

        if (mt->mask != 0 && (w & mt->mask) == mt->word)
            return mt->name.len;
    }
    return 0;
}

/* "METHOD SP target SP HTTP/x.y": the start line of <p> that <ix> found. */
static bool reqline_parse(const struct dp_modifier *m, const uint8_t *p,
        const struct http_head_idx *ix, struct reqline *rl)
{
    size_t end = ix->start_end;
    size_t s = ix->start;
    size_t e;
    const uint8_t *sp2;

    if (end == 0)
        return false;
    /* the line ends at its LF, its only one, and does not start with it: CRs alone can come
     * before the method */
    while (p[s] == '\r')
        s++;
    e = s + method_word(m, p + s, end - s);
    rl->allowed = e > s;
    if (!rl->allowed) { /* else e is at the method's SP, and before the line's end */
        while (e < end && p[e] != ' ') /* a method is a few bytes: no memchr call */
            e++;
        if (e == end || e == s)
            return false;
    }
    sp2 = memchr(p + e + 1, ' ', end - (e + 1));
    if (sp2 == NULL || sp2 == p + e + 1 || (size_t)(p + end - (sp2 + 1)) < 5 ||
            memcmp(sp2 + 1, "HTTP/", 5) != 0)
        return false;
    rl->start = s;
    rl->method_len = e - s;
    rl->target_off = e + 1;
    rl->target_len = (size_t)(sp2 - (p + e + 1));
    return true;
}

/*
 * The value of the first field named as rule <r> says (empty when missing), for the filters:
 * the first line whose bytes before a ':' are the name (any case), its value without the SP
 * and HTAB around it and any CR at its end. A head longer than the index: as
 * http_head_find().
 */
static struct dp_bytes idx_header(const struct http_head_idx *ix, const uint8_t *p, size_t len,
        const char *name, size_t nl, bool odd_name)
{
    struct http_field f;

    if (ix->more || !odd_name) {
        /* http_head_idx_find() finds the same line for a name a field could have */
        const uint8_t *v;
        const uint8_t *e;

        if (!http_head_idx_find(ix, p, len, name, nl, &f))
            return (struct dp_bytes){ NULL, 0 };
        v = p + f.value_off;
        e = v + f.value_len;
        while (!ix->more && e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        return (struct dp_bytes){ v, (size_t)(e - v) };
    }
    for (size_t i = 0; i < ix->n; i++) {
        const uint8_t *l = p + ix->line[i];
        size_t room = len - ix->line[i];
        size_t k = 0;

        if (room <= nl || l[nl] != ':')
            continue;
        while (k < nl && lower_c(l[k]) == lower_c((uint8_t)name[k]))
            k++;
        if (k < nl)
            continue;
        {
            const uint8_t *v = l + nl + 1;
            const uint8_t *lf = memchr(v, '\n', (size_t)(p + len - v));
            const uint8_t *e = lf != NULL ? lf : p + len;

            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
                e--;
            return (struct dp_bytes){ v, (size_t)(e - v) };
        }
    }
    return (struct dp_bytes){ NULL, 0 };
}

/*
 * The fields of one request that the rules name, found in one pass (valid while <lazy>: a head
 * longer than the index, or an edit the table cannot follow, turns it off), and the lines
 * set-header is to insert, kept aside until the request passes the filters: GoReplay inserts
 * each right after the start line, so pend[np - 1] goes first. at[k] for m->names[k]: the
 * indexed line it is on, -1 when missing, or -2 - j for pend[j].
 */
struct pend {
    const struct rule *name; /* the rule that inserted the line: its name's spelling */
    const struct rule *text; /* the last rule that set it: its value */
};

struct fields {
    bool lazy;
    size_t np;
    int32_t at[NAMES_MAX];
    struct pend pend[NAMES_MAX];
};

/* idx_header() through <fs> for a rule with name slot <slot>: the same value. */
static inline struct dp_bytes field_value(const struct fields *fs,
        const struct http_head_idx *ix, const uint8_t *p, size_t len, const char *name, size_t nl,
        bool odd_name, int32_t slot)
{
    if (fs->lazy && slot >= 0) {
        int32_t at = fs->at[slot];
        const uint8_t *v;
        const uint8_t *e;

        if (at == -1)
            return (struct dp_bytes){ NULL, 0 };
        if (at < -1) { /* a line to insert: its value was trimmed, and has no LF */
            const struct rule *r = fs->pend[-2 - at].text;

            return (struct dp_bytes){ (const uint8_t *)r->text, r->text_len };
        }
        /* http_head_idx_field()'s value, then less any SP, HTAB and CR at its end */
        v = p + ix->line[at] + nl + 1;
        e = p + ix->line[at + 1];
        if (e[-1] == '\n')
            e--;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        while (e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        return (struct dp_bytes){ v, (size_t)(e - v) };
    }
    return idx_header(ix, p, len, name, nl, odd_name);
}

/* ---- building a new request-target in m->buf ---- */

static bool buf_reserve(struct dp_modifier *m, size_t n)
{
    if (n <= m->buf_cap)
        return true;
    {
        size_t cap = DP_MAX(n, 2 * m->buf_cap);
        uint8_t *b = realloc(m->buf, cap);

        if (b == NULL)
            return false;
        m->buf = b;
        m->buf_cap = cap;
    }
    return true;
}

static inline bool buf_put(struct dp_modifier *m, size_t *len, const void *p, size_t n)
{
    if (DP_UNLIKELY(n > m->buf_cap - *len) && (*len > SIZE_MAX - n || !buf_reserve(m, *len + n)))
        return false;
    if (n > 0)
        memcpy(m->buf + *len, p, n);
    *len += n;
    return true;
}

/* pend_put() of more than one line, or of one set by two rules. */
static bool pend_put_all(struct dp_modifier *m, size_t *len, const struct fields *fs)
{
    for (size_t j = fs->np; j-- > 0;) {
        const struct pend *pd = &fs->pend[j];

        if (pd->name == pd->text) {
            if (!buf_put(m, len, pd->name->line, pd->name->line_len))
                return false;
        } else if (!buf_put(m, len, pd->name->name, pd->name->name_len) ||
                !buf_put(m, len, ": ", 2) ||
                !buf_put(m, len, pd->text->text, pd->text->text_len) ||
                !buf_put(m, len, "\r\n", 2)) {
            return false;
        }
    }
    return true;
}

/* Appends the lines set-header is to insert, first line first, to m->buf[0, *len). */
static inline bool pend_put(struct dp_modifier *m, size_t *len, const struct fields *fs)
{
    if (fs->np == 1 && fs->pend[0].name == fs->pend[0].text) /* the most common */
        return buf_put(m, len, fs->pend[0].name->line, fs->pend[0].name->line_len);
    return pend_put_all(m, len, fs);
}

/* Go's regexp.Expand of <t> for the match of <r> (r->ov) over <subj>. */
static bool expand(struct dp_modifier *m, size_t *len, const struct rx *r, const uint8_t *subj,
        const struct tpl *t)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct seg *sg = &t->v[i];

        if (sg->group < 0) {
            if (!buf_put(m, len, t->lit + sg->off, sg->len))
                return false;
        } else if (r->ov[2 * sg->group] != PCRE2_UNSET) {
            size_t a = r->ov[2 * sg->group];

            if (!buf_put(m, len, subj + a, r->ov[2 * sg->group + 1] - a))
                return false;
        }
    }
    return true;
}

/* Length of the UTF-8 sequence at <p> (1 for an invalid one), as Go's DecodeRune. */
static size_t utf8_width(const uint8_t *p, size_t n)
{
    size_t w = p[0] < 0x80 ? 1 : (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 :
            (p[0] & 0xf8) == 0xf0 ? 4 : 1;

    if (w > n || (w == 2 && p[0] < 0xc2))
        return 1;
    for (size_t i = 1; i < w; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 1;
    }
    return w;
}

/* Go's regexp.ReplaceAll(<subj>, <t>) into m->buf, the first match (rx_exec() from 0) already
 * in r->ov; the result's length in *out_len. */
static bool replace_all(struct dp_modifier *m, struct rx *r, const uint8_t *subj, size_t n,
        const struct tpl *t, size_t *out_len)
{
    size_t len = 0;
    size_t last_end = 0;
    size_t pos = 0;

    do {
        size_t a0 = r->ov[0];
        size_t a1 = r->ov[1];

        if (!buf_put(m, &len, subj + last_end, a0 - last_end))
            return false;
        /* no replacement for an empty match right after another match */
        if ((a1 > last_end || a0 == 0) && !expand(m, &len, r, subj, t))
            return false;
        last_end = a1;
        if (a1 == n)
            break; /* a match from here on is an empty one right after this one: no replacement */
        {   /* always advance at least one character (Go: one UTF-8 sequence, or a byte) */
            size_t w = pos < n ? utf8_width(subj + pos, n - pos) : 1;

            pos = pos + w > a1 ? pos + w : a1;
        }
    } while (pos <= n && rx_exec(r, subj, n, pos));
    if (!buf_put(m, &len, subj + last_end, n - last_end))
        return false;
    *out_len = len;
    return true;
}

/* Where the value of query parameter <name> starts in the target <t, tn>, as GoReplay's
 * PathParam: after the first "&name=", else after the first "?name="; SIZE_MAX when neither. */
static size_t param_at(const uint8_t *t, size_t tn, const char *name, size_t nn)
{
    for (int pass = 0; pass < 2; pass++) {
        char c = pass == 0 ? '&' : '?';

        for (size_t i = 0; i + 1 + nn + 1 <= tn; i++) {
            if (t[i] == c && memcmp(t + i + 1, name, nn) == 0 && t[i + 1 + nn] == '=')
                return i + 1 + nn + 1;
        }
    }
    return SIZE_MAX;
}

/* GoReplay's SetPathParam: replace the value of "&name=" or "?name=" in the target, or
 * append "?name=value" / "&name=value". The new target goes to m->buf. */
static bool set_param(struct dp_modifier *m, const uint8_t *t, size_t tn, const struct rule *r,
        size_t *out_len)
{
    size_t len = 0;
    size_t at = param_at(t, tn, r->name, r->name_len);

    if (at != SIZE_MAX) {
        const uint8_t *amp = memchr(t + at, '&', tn - at);
        size_t vend = amp != NULL ? (size_t)(amp - t) : tn;

        if (!buf_put(m, &len, t, at) || !buf_put(m, &len, r->text, r->text_len) ||
                !buf_put(m, &len, t + vend, tn - vend))
            return false;
    } else if (!buf_put(m, &len, t, tn) ||
            !buf_put(m, &len, memchr(t, '?', tn) != NULL ? "&" : "?", 1) ||
            !buf_put(m, &len, r->name, r->name_len) || !buf_put(m, &len, "=", 1) ||
            !buf_put(m, &len, r->text, r->text_len)) {
        return false;
    }
    *out_len = len;
    return true;
}

/* The raw value of query parameter <name> in the target, as GoReplay's PathParam. */
static struct dp_bytes path_param(const uint8_t *t, size_t tn, const char *name, size_t nn)
{
    size_t at = param_at(t, tn, name, nn);
    const uint8_t *amp;

    if (at == SIZE_MAX)
        return (struct dp_bytes){ NULL, 0 };
    amp = memchr(t + at, '&', tn - at);
    return (struct dp_bytes){ t + at, amp != NULL ? (size_t)(amp - t) - at : tn - at };
}

static int b64_val(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64, as Go's DecodeString on error: the bytes of the whole 4-character groups
 * before the first bad one (a group cut short by the end of the input is bad; "xx==" and
 * "xxx=" end the input). */
static size_t b64_decode(const uint8_t *in, size_t n, uint8_t *out)
{
    size_t o = 0;

    for (size_t i = 0; i + 4 <= n; i += 4) {
        int v[4];
        int pad = 0;

        for (int k = 0; k < 4; k++) {
            v[k] = b64_val(in[i + k]);
            if (v[k] < 0 && in[i + k] == '=' && k >= 2)
                pad++;
            else if (v[k] < 0 || pad > 0)
                return o; /* a bad character, or data after '=' */
        }
        if (pad == 1 && v[2] < 0)
            return o;
        out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
        if (pad < 2)
            out[o++] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
        if (pad == 0)
            out[o++] = (uint8_t)((v[2] & 3) << 6 | v[3]);
        if (pad > 0)
            return o;
    }
    return o;
}

/* ---- the modifier ---- */

/* Puts the new target in m->buf[0, len) in place of the request's. */
static bool set_target(struct dp_modifier *m, struct dp_msg **mp, struct http_head_idx *ix,
        struct reqline *rl, size_t len)
{
    if (http_head_idx_splice(mp, ix, rl->target_off, rl->target_len, m->buf, len) != 0) {
        m->ctr[DP_MOD_NOMEM]++;
        return false;
    }
    rl->target_len = len;
    return true;
}

/* Inserts the lines kept aside in <fs> through <ix>, which stays valid. False when one could
 * not be (counted). */
static bool pend_flush(struct dp_modifier *m, struct dp_msg **mp, struct http_head_idx *ix,
        struct fields *fs)
{
    bool ok = true;

    for (size_t j = 0; j < fs->np; j++) {
        const struct pend *pd = &fs->pend[j];
        size_t len = 0;

        if (pd->name == pd->text) {
            if (http_head_idx_insert(mp, ix, pd->name->line, pd->name->line_len) == 0)
                continue;
        } else if (pend_put(m, &len, &(struct fields){ .np = 1, .pend = { *pd } }) &&
                http_head_idx_insert(mp, ix, m->buf, len) == 0) {
            continue;
        }
        m->ctr[DP_MOD_NOMEM]++;
        ok = false;
    }
    fs->np = 0;
    return ok;
}

/* Counts a request dropped for <why>; false. */
static inline bool drop(struct dp_modifier *m, enum dp_mod_ctr why)
{
    m->ctr[why]++;
    return false;
}

/*
 * Filters 4 to 10 on the request <p, len> (its target at <rl>, its fields through <fs> and <ix>,
 * with set-header's values): true when it passes them all, else false, counted.
 */
static bool filter(struct dp_modifier *m, const uint8_t *p, size_t len,
        const struct reqline *rl, const struct fields *fs, const struct http_head_idx *ix)
{
    /* 4 allow-url, 5 disallow-url: on the target as written */
    if (m->allow_url.n > 0) {
        bool ok = false;

        for (size_t i = 0; i < m->allow_url.n && !ok; i++)
            ok = rx_exec(&m->allow_url.v[i].rx, p + rl->target_off, rl->target_len, 0);
        if (!ok)
            return drop(m, DP_MOD_DROP_URL);
    }
    for (size_t i = 0; i < m->disallow_url.n; i++) {
        if (rx_exec(&m->disallow_url.v[i].rx, p + rl->target_off, rl->target_len, 0))
            return drop(m, DP_MOD_DROP_URL);
    }
    /* 6 allow-header: every rule must match a present, non-empty value */
    for (size_t i = 0; i < m->allow_header.n; i++) {
        struct rule *r = &m->allow_header.v[i];
        struct dp_bytes v = field_value(fs, ix, p, len, r->name, r->name_len, r->odd_name,
                r->slot);

        if (v.len == 0 || !rx_exec(&r->rx, v.ptr, v.len, 0))
            return drop(m, DP_MOD_DROP_HEADER);
    }
    /* 7 disallow-header */
    for (size_t i = 0; i < m->disallow_header.n; i++) {
        struct rule *r = &m->disallow_header.v[i];
        struct dp_bytes v = field_value(fs, ix, p, len, r->name, r->name_len, r->odd_name,
                r->slot);

        if (v.len > 0 && rx_exec(&r->rx, v.ptr, v.len, 0))
            return drop(m, DP_MOD_DROP_HEADER);
    }
    /* 8 basic-auth-filter: only on "Basic " credentials */
    if (m->basic_auth.n > 0) {
        struct dp_bytes v = field_value(fs, ix, p, len, "Authorization", 13, false,
                m->auth_slot);

        if (v.len > 6 && memcmp(v.ptr, "Basic ", 6) == 0) {
            uint8_t dec[768];
            size_t dn = b64_decode(v.ptr + 6, DP_MIN(v.len - 6, (size_t)1024), dec);

            for (size_t i = 0; i < m->basic_auth.n; i++) {
                if (!rx_exec(&m->basic_auth.v[i].rx, dec, dn, 0))
                    return drop(m, DP_MOD_DROP_AUTH);
            }
        }
    }
    /* 9 header-limiter, 10 param-limiter */
    for (size_t i = 0; i < m->header_limiter.n; i++) {
        const struct rule *r = &m->header_limiter.v[i];
        struct dp_bytes v = field_value(fs, ix, p, len, r->name, r->name_len, r->odd_name,
                r->slot);

        if (v.len > 0 && dp_fnv32a(v.ptr, v.len) % 100 >= r->percent)
            return drop(m, DP_MOD_DROP_HASH);
    }
    for (size_t i = 0; i < m->param_limiter.n; i++) {
        const struct rule *r = &m->param_limiter.v[i];
        struct dp_bytes v = path_param(p + rl->target_off, rl->target_len, r->name, r->name_len);

        if (v.ptr != NULL && dp_fnv32a(v.ptr, v.len) % 100 >= r->percent)
            return drop(m, DP_MOD_DROP_HASH);
    }
    return true;
}

/*
 * The head is indexed once, the fields the rules name found in the same pass
 * (http_head_index_names); every edit below goes through http_head_idx_*(), which keeps the
 * index valid, so that no rule looks for lines again. set-header's new lines are kept aside
 * until the request has passed the filters (which read them from there), then go in with
 * rewrite-url's new target in one splice: the tail of the message moves once. A dropped
 * request's id is remembered (at <now_ns>) for its responses.
 */
static bool apply_request(struct dp_modifier *m, struct dp_msg **mp, int64_t now_ns)
{
    struct http_head_idx ix;
    struct reqline rl;
    struct fields fs;
    const uint8_t *p = dp_msg_payload(*mp);
    bool changed = false;

    m->ctr[DP_MOD_SEEN]++;
    memset(fs.at, 0xff, sizeof(fs.at)); /* -1: not found */
    http_head_index_names(p, (*mp)->len, m->idx_max, &ix, &m->nameset, fs.at);
    if (!reqline_parse(m, p, &ix, &rl)) {
        m->ctr[DP_MOD_NOT_REQUEST]++;
        return true;
    }
    /* 1 allow-method */
    if (m->n_methods > 0 && !rl.allowed) {
        bool ok = false;

        for (size_t i = 0; i < m->n_methods && !ok; i++) {
            const uint8_t *a = m->methods[i].name.ptr;
            size_t k = 0;

            if (m->methods[i].name.len != rl.method_len)
                continue;
            while (k < rl.method_len && a[k] == p[rl.start + k]) /* a few bytes: no call */
                k++;
            ok = k == rl.method_len;
        }
        if (!ok) {
            m->ctr[DP_MOD_DROP_METHOD]++;
            idset_add(m, dp_msg_id(*mp), now_ns);
            return false;
        }
    }
    /* 2 set-header: http_head_idx_set(), the line to insert made once and kept aside (the
     * filters read it from there, and a dropped request never gets it) */
    fs.lazy = !ix.more && m->n_names > 0;
    fs.np = 0;
    for (size_t i = 0; i < m->set_header.n; i++) {
        const struct rule *r = &m->set_header.v[i];
        struct http_field f;
        int rc;

        if (fs.lazy && r->slot >= 0 && r->line != NULL) {
            int32_t at = fs.at[r->slot];

            if (at >= 0) { /* no LF in the value: the lines stay where they are */
                http_head_idx_field(&ix, dp_msg_payload(*mp), (size_t)at, r->name_len, &f);
                rc = http_head_idx_splice(mp, &ix, f.value_off, f.value_len,
                        (const uint8_t *)r->text, r->text_len);
                if (rc != 0)
                    m->ctr[DP_MOD_NOMEM]++;
                else
                    changed = true;
            } else if (at == -1) {
                fs.at[r->slot] = -2 - (int32_t)fs.np;
                fs.pend[fs.np++] = (struct pend){ r, r };
            } else {
                fs.pend[-2 - at].text = r;
            }
            continue;
        }
        if (fs.np > 0 && pend_flush(m, mp, &ix, &fs)) /* the lines above it go first */
            changed = true;
        fs.lazy = false;
        if (r->line == NULL)
            rc = http_head_idx_set(mp, &ix, r->name, r->name_len, r->text, r->text_len);
        else if (http_head_idx_find(&ix, dp_msg_payload(*mp), (*mp)->len, r->name, r->name_len,
                         &f))
            rc = http_head_idx_splice(mp, &ix, f.value_off, f.value_len,
                    (const uint8_t *)r->text, r->text_len);
        else
            rc = http_head_idx_insert(mp, &ix, r->line, r->line_len);
        if (rc != 0)
            m->ctr[DP_MOD_NOMEM]++;
        else
            changed = true;
    }
    /* 3 set-param. set-header edits field lines only: the request line keeps its offsets,
     * and set-param changes the target's length alone. */
    for (size_t i = 0; i < m->set_param.n; i++) {
        size_t len;

        p = dp_msg_payload(*mp);
        if (set_param(m, p + rl.target_off, rl.target_len, &m->set_param.v[i], &len) &&
                set_target(m, mp, &ix, &rl, len))
            changed = true;
    }
    p = dp_msg_payload(*mp);
    if (!filter(m, p, (*mp)->len, &rl, &fs, &ix)) {
        idset_add(m, dp_msg_id(*mp), now_ns);
        return false;
    }
    /* the request passes: set-header's lines go in. Without rewrite-header nothing reads the
     * index after this, and one splice takes them with rewrite-url's new target. */
    if (fs.np > 0 && m->rewrite_header.n > 0 && pend_flush(m, mp, &ix, &fs))
        changed = true;
    /* 11 rewrite-url: the first rule that matches; its match is the first of replace_all() */
    for (size_t i = 0; i < m->rewrite_url.n; i++) {
        struct rule *r = &m->rewrite_url.v[i];
        size_t len;

        if (!rx_exec(&r->rx, p + rl.target_off, rl.target_len, 0))
            continue;
        if (!replace_all(m, &r->rx, p + rl.target_off, rl.target_len, &r->tpl, &len))
            break; /* no room for the new target: the old one stays */
        if (fs.np == 0) {
            if (set_target(m, mp, &ix, &rl, len))
                changed = true;
            break;
        }
        {   /* [target, start line's end) becomes new target, the rest, the lines */
            size_t t_end = rl.target_off + rl.target_len;

            if (buf_put(m, &len, p + t_end, ix.start_end - t_end) && pend_put(m, &len, &fs) &&
                    dp_msg_splice(mp, rl.target_off, ix.start_end - rl.target_off, m->buf,
                            len) == 0)
                changed = true;
            else
                m->ctr[DP_MOD_NOMEM]++;
            fs.np = 0;
        }
        break;
    }
    if (fs.np > 0) {
        size_t len = 0;

        if (pend_put(m, &len, &fs) && dp_msg_splice(mp, ix.start_end, 0, m->buf, len) == 0)
            changed = true;
        else
            m->ctr[DP_MOD_NOMEM]++;
    }
    /* 12 rewrite-header: every rule (GoReplay stops at the first missing header) */
    for (size_t i = 0; i < m->rewrite_header.n; i++) {
        struct rule *r = &m->rewrite_header.v[i];
        struct http_field f;
        const uint8_t *v;
        size_t len;

        p = dp_msg_payload(*mp);
        if (!http_head_idx_find(&ix, p, (*mp)->len, r->name, r->name_len, &f) ||
                f.value_len == 0)
            continue;
        v = p + f.value_off;
        if (!rx_exec(&r->rx, v, f.value_len, 0))
            continue;
        if (!replace_all(m, &r->rx, v, f.value_len, &r->tpl, &len) ||
                http_head_idx_splice(mp, &ix, f.value_off, f.value_len, m->buf, len) != 0) {
            m->ctr[DP_MOD_NOMEM]++;
            continue;
        }
        changed = true;
    }
    if (changed)
        m->ctr[DP_MOD_REWRITTEN]++;
    return true;
}

bool dp_modifier_apply(struct dp_modifier *m, struct dp_msg **mp, int64_t now_ns)
{
    struct dp_msg *msg = *mp;

    if (msg->type == DP_MSG_REQUEST)
        return apply_request(m, mp, now_ns);
    if (msg->type == DP_MSG_RESPONSE || msg->type == DP_MSG_REPLAY) {
        if (idset_take(m, dp_msg_id(msg), now_ns)) {
            m->ctr[DP_MOD_DROP_RESPONSE]++;
            return false;
        }
    }
    return true;
}
