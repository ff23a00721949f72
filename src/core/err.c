#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int dp_err_set(struct dp_err *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

void dp_bug(const char *file, int line, const char *what)
{
    fprintf(stderr, "doppel: BUG at %s:%d: %s\n", file, line, what);
    abort();
}
