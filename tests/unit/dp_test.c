#include "dp_test.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void dp_guarded_init(struct dp_guarded *g, const void *src, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t data_pages = (len + page - 1) / page;
    uint8_t *base;

    if (data_pages == 0)
        data_pages = 1;
    g->map_len = (data_pages + 1) * page;
    g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(g->map != MAP_FAILED);
    base = g->map;
    assert_int_equal(mprotect(base + data_pages * page, page, PROT_NONE), 0);
    g->ptr = base + data_pages * page - len;
    g->len = len;
    if (len > 0)
        memcpy(g->ptr, src, len);
}

void dp_guarded_free(struct dp_guarded *g)
{
    munmap(g->map, g->map_len);
    g->map = NULL;
}
