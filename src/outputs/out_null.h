/* out_null.h: --output-null. */
#ifndef DP_OUTPUTS_OUT_NULL_H
#define DP_OUTPUTS_OUT_NULL_H

#include "core/pipeline.h"

extern const struct dp_output_ops out_null_ops;

#endif
