/*
 * fuzz_gorfile.c: the .gor reader on hostile bytes.
 * Byte 0 picks the payload cap, byte 1 the read size; the rest is the file.
 * Invariants: no crash, payloads never exceed the cap, every record is accounted for once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/gorfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem_src {
    const uint8_t *p;
    size_t len;
    size_t chunk;
};

static ssize_t mem_read(void *src, uint8_t *buf, size_t cap)
{
    struct mem_src *m = src;
    size_t n = m->len < cap ? m->len : cap;

    if (n > m->chunk)
        n = m->chunk;
    memcpy(buf, m->p, n);
    m->p += n;
    m->len -= n;
    return (ssize_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t caps[] = { 0, 1, 16, 100, 4096, 65536 };
    struct gor_reader r;
    struct mem_src src;
    size_t max_payload;
    uint64_t emitted = 0;

    if (size < 2)
        return 0;
    max_payload = caps[data[0] % (sizeof(caps) / sizeof(caps[0]))];
    src.chunk = (size_t)(data[1] % 32) + 1;
    if (data[1] & 0x80)
        src.chunk = (size_t)1 << 20;
    src.p = data + 2;
    src.len = size - 2;
    if (gor_reader_init(&r, mem_read, &src, max_payload) != 0)
        return 0;
    for (int guard = 0; guard < 1000000; guard++) {
        struct dp_msg *m = NULL;
        enum gor_status st = gor_reader_next(&r, &m);

        if (st == GOR_RECORD) {
            if (m->len > max_payload || m->meta_len == 0 || m->id_len == 0)
                abort();
            emitted++;
            dp_msg_unref(m);
            continue;
        }
        if (m != NULL)
            abort();
        if (st == GOR_EOF || st == GOR_ERROR)
            break;
    }
    if (emitted != r.records)
        abort();
    gor_reader_free(&r);
    return 0;
}
