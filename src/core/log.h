/*
 * log.h: one key=value line per event, on stderr.
 *
 * dp_log() tests the level before it evaluates its arguments, so a disabled debug line costs one
 * comparison. Verbosity is set per component. Wire bytes go through dp_log_escape() first so
 * that a hostile payload cannot forge log lines.
 */
#ifndef DP_CORE_LOG_H
#define DP_CORE_LOG_H

#include "core/common.h"

enum dp_log_level {
    DP_LOG_ERROR = 0,
    DP_LOG_WARN = 1,
    DP_LOG_INFO = 2,
    DP_LOG_DEBUG = 3,
    DP_LOG_TRACE = 4,
    DP_LOG_LEVEL_COUNT
};

enum dp_log_comp {
    DP_LOG_CORE = 0,
    DP_LOG_FLAGS,
    DP_LOG_PIPELINE,
    DP_LOG_INPUT,
    DP_LOG_OUTPUT,
    DP_LOG_CAPTURE,
    DP_LOG_HTTP,
    DP_LOG_FORMAT,
    DP_LOG_MODIFY,
    DP_LOG_COMP_COUNT
};

extern unsigned char dp_log_levels[DP_LOG_COMP_COUNT];

#define dp_log(level, comp, ...)                                                                   \
    do {                                                                                           \
        if (DP_UNLIKELY((unsigned)(level) <= dp_log_levels[(comp)]))                               \
            dp_log_write((level), (comp), __VA_ARGS__);                                            \
    } while (0)

/* Writes one line "doppel: level=L comp=C <formatted>\n" to stderr. Use dp_log() instead. */
void dp_log_write(enum dp_log_level level, enum dp_log_comp comp, const char *fmt, ...)
        DP_PRINTF(3, 4);

/* Sets the threshold of every component to <level>. */
void dp_log_set_all(enum dp_log_level level);

/*
 * Writes at most <cap>-1 bytes of <src,len> into <dst> with non-printable bytes as \xHH and a
 * trailing "..." when cut; always NUL-terminates <dst> (cap >= 8). Returns <dst>.
 */
char *dp_log_escape(char *dst, size_t cap, const uint8_t *src, size_t len);

#endif
