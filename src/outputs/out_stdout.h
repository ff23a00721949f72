/* out_stdout.h: --output-stdout, the .gor bytes on standard output (as GoReplay). */
#ifndef DP_OUTPUTS_OUT_STDOUT_H
#define DP_OUTPUTS_OUT_STDOUT_H

#include "core/pipeline.h"

extern const struct dp_output_ops out_stdout_ops;

#endif
