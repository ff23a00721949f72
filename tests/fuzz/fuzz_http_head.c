/*
 * fuzz_http_head.c: finding and setting header fields on hostile bytes.
 *
 * Byte 0 picks the field name; the rest is the message. Invariants: every offset found lies
 * inside the input; setting a field changes the length by exactly what it replaced or inserted,
 * and afterwards the first field of that name holds the new value; bytes outside the edit are
 * unchanged.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = { "Host", "X-Real-IP", "a", "Content-Length", "x" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char value[] = "192.0.2.1";
    const char *name;
    size_t name_len;
    struct http_field f;
    struct dp_msg *m;
    size_t start;
    bool found;
    int rc;

    if (size < 1)
        return 0;
    name = names[data[0] % (sizeof(names) / sizeof(names[0]))];
    name_len = strlen(name);
    data++;
    size--;
    start = http_head_start_end(data, size);
    if (start > size)
        abort();
    found = http_head_find(data, size, name, name_len, &f);
    if (found && (start == 0 || f.line_off < start || f.line_off + f.line_len > size ||
                         f.value_off < f.line_off + name_len + 1 ||
                         f.value_off + f.value_len > f.line_off + f.line_len))
        abort();
    m = dp_msg_new(DP_MSG_REQUEST, (const uint8_t *)"id", 2, 0, 0, data, size);
    if (m == NULL)
        return 0;
    rc = http_head_set(&m, name, name_len, value, sizeof(value) - 1);
    if (start == 0) {
        if (rc == 0 || m->len != size || memcmp(dp_msg_payload(m), data, size) != 0)
            abort();
    } else if (rc == 0) {
        struct http_field g;
        const uint8_t *p = dp_msg_payload(m);
        size_t at = found ? f.value_off : start;
        size_t del = found ? f.value_len : 0;
        size_t ins = found ? sizeof(value) - 1 : name_len + sizeof(value) - 1 + 4;

        if (m->len != size - del + ins || memcmp(p, data, at) != 0 ||
                memcmp(p + at + ins, data + at + del, size - at - del) != 0)
            abort();
        if (!http_head_find(p, m->len, name, name_len, &g) || g.value_len != sizeof(value) - 1 ||
                memcmp(p + g.value_off, value, g.value_len) != 0)
            abort();
    }
    dp_msg_unref(m);
    return 0;
}
