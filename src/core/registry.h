/*
 * registry.h: the table of plugins, by the flag that creates them (STYLE.md rule 2).
 * Adding a plugin means one new file in inputs/ or outputs/ and one row in registry.c.
 */
#ifndef DP_CORE_REGISTRY_H
#define DP_CORE_REGISTRY_H

#include "core/plugin.h"

enum dp_addr_source {
    DP_ADDR_LIST = 0, /* one instance per value of a repeated flag (struct dp_strlist) */
    DP_ADDR_BOOL = 1, /* one instance when a bool flag is set */
    DP_ADDR_SOURCE_COUNT
};

struct dp_registry_entry {
    const struct dp_input_ops *in;
    const struct dp_output_ops *out;
    enum dp_addr_source source;
    size_t off; /* offsetof(struct dp_config, <the flag's field>) */
};

extern const struct dp_registry_entry dp_registry[];
extern const size_t dp_registry_len;

#endif
