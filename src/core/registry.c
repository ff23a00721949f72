/*
 * registry.c: every plugin, in the order its instances are created (inputs and outputs are
 * each kept in this order; --split-output goes round-robin over the outputs in this order).
 */
#include "core/registry.h"

#include <stddef.h>

#include "inputs/in_dummy.h"
#include "inputs/in_file.h"
#include "inputs/in_raw.h"
#include "inputs/in_spop.h"
#include "outputs/out_file.h"
#include "outputs/out_http.h"
#include "outputs/out_null.h"
#include "outputs/out_stdout.h"

#define LIST(field) DP_ADDR_LIST, offsetof(struct dp_config, field)
#define BOOL(field) DP_ADDR_BOOL, offsetof(struct dp_config, field)

const struct dp_registry_entry dp_registry[] = {
    { &in_dummy_ops, NULL, LIST(input_dummy) },
    { &in_file_ops, NULL, LIST(input_file) },
    { &in_raw_ops, NULL, LIST(input_raw) },
    { &in_spop_ops, NULL, LIST(input_spop) },
    { NULL, &out_stdout_ops, BOOL(output_stdout) },
    { NULL, &out_null_ops, BOOL(output_null) },
    { NULL, &out_file_ops, LIST(output_file) },
    { NULL, &out_http_ops, LIST(output_http) },
};

const size_t dp_registry_len = DP_ARRAY_LEN(dp_registry);
