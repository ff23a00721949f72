#include "core/limiter.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

int dp_limiter_parse(struct dp_limiter *l, char *addr, const char *flag, struct dp_err *err)
{
    char *bar = strchr(addr, '|');
    char *spec;
    size_t len;
    int64_t n = 0;

    memset(l, 0, sizeof(*l));
    if (getrandom(&l->rng, sizeof(l->rng), 0) != (ssize_t)sizeof(l->rng) || l->rng == 0)
        l->rng = 0x9e3779b97f4a7c15ULL;
    if (bar == NULL)
        return 0;
    *bar = '\0';
    spec = bar + 1;
    len = strlen(spec);
    if (strcmp(spec, "max") == 0) {
        l->kind = DP_LIMIT_MAX;
        return 0;
    }
    l->kind = DP_LIMIT_RATE;
    if (len > 1 && spec[len - 1] == '%') {
        l->kind = DP_LIMIT_PERCENT;
        len--;
    }
    if (len == 0 || len > 12)
        goto bad;
    for (size_t i = 0; i < len; i++) {
        if (spec[i] < '0' || spec[i] > '9')
            goto bad;
        n = n * 10 + (spec[i] - '0');
    }
    l->n = n;
    return 0;
bad:
    return dp_err_set(err, -EINVAL,
            "--%s '%s|%s': the limiter after '|' must be N (messages per second), N%% or max",
            flag, addr, spec);
}

static uint64_t xorshift64s(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

bool dp_limiter_pass(struct dp_limiter *l, int64_t now_ns)
{
    switch (l->kind) {
    case DP_LIMIT_PERCENT:
        return (int64_t)(xorshift64s(&l->rng) % 100) < l->n;
    case DP_LIMIT_RATE:
        if (now_ns - l->window_ns > 1000000000) {
            l->window_ns = now_ns;
            l->in_window = 0;
        }
        if (l->in_window >= l->n)
            return false;
        l->in_window++;
        return true;
    case DP_LIMIT_NONE:
    case DP_LIMIT_MAX:
    case DP_LIMIT_KIND_COUNT:
        break;
    }
    return true;
}
