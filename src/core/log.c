#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

unsigned char dp_log_levels[DP_LOG_COMP_COUNT] = {
    [DP_LOG_CORE] = DP_LOG_WARN,     [DP_LOG_FLAGS] = DP_LOG_WARN,  [DP_LOG_PIPELINE] = DP_LOG_WARN,
    [DP_LOG_INPUT] = DP_LOG_WARN,    [DP_LOG_OUTPUT] = DP_LOG_WARN, [DP_LOG_CAPTURE] = DP_LOG_WARN,
    [DP_LOG_HTTP] = DP_LOG_WARN,     [DP_LOG_FORMAT] = DP_LOG_WARN, [DP_LOG_MODIFY] = DP_LOG_WARN,
};

static const char *const level_names[DP_LOG_LEVEL_COUNT] = {
    [DP_LOG_ERROR] = "error", [DP_LOG_WARN] = "warn",   [DP_LOG_INFO] = "info",
    [DP_LOG_DEBUG] = "debug", [DP_LOG_TRACE] = "trace",
};

static const char *const comp_names[DP_LOG_COMP_COUNT] = {
    [DP_LOG_CORE] = "core",       [DP_LOG_FLAGS] = "flags",   [DP_LOG_PIPELINE] = "pipeline",
    [DP_LOG_INPUT] = "input",     [DP_LOG_OUTPUT] = "output", [DP_LOG_CAPTURE] = "capture",
    [DP_LOG_HTTP] = "http",       [DP_LOG_FORMAT] = "format", [DP_LOG_MODIFY] = "modify",
};

void dp_log_write(enum dp_log_level level, enum dp_log_comp comp, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    n = snprintf(line, sizeof(line), "doppel: level=%s comp=%s ", level_names[level],
            comp_names[comp]);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}

void dp_log_set_all(enum dp_log_level level)
{
    for (size_t i = 0; i < DP_LOG_COMP_COUNT; i++)
        dp_log_levels[i] = (unsigned char)level;
}

char *dp_log_escape(char *dst, size_t cap, const uint8_t *src, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    size_t i;

    DP_BUG_ON(cap < 8);
    for (i = 0; i < len; i++) {
        uint8_t c = src[i];
        size_t need = (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') ? 1 : 4;

        if (o + need + 4 > cap)
            break;
        if (need == 1) {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        }
    }
    if (i < len) {
        dst[o++] = '.';
        dst[o++] = '.';
        dst[o++] = '.';
    }
    dst[o] = '\0';
    return dst;
}
