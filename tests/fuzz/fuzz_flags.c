/*
 * fuzz_flags.c: the command line parser on hostile argv.
 * The input is split on NUL bytes into at most 64 arguments (argv[0] is fixed).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/flags.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    char *argv[65];
    int argc = 0;
    struct dp_config cfg;
    struct dp_err err = { 0, { 0 } };
    size_t start = 0;

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    argv[argc++] = (char *)(uintptr_t)"doppel";
    for (size_t i = 0; i <= size && argc < 64; i++) {
        if (i == size || copy[i] == '\0') {
            argv[argc++] = copy + start;
            start = i + 1;
        }
    }
    argv[argc] = NULL;
    dp_flags_parse(&cfg, argc, argv, &err);
    dp_flags_free(&cfg);
    free(copy);
    return 0;
}
