/* in_dummy.h: --input-dummy, a GET request and its response every second (as GoReplay). */
#ifndef DP_INPUTS_IN_DUMMY_H
#define DP_INPUTS_IN_DUMMY_H

#include "core/pipeline.h"

extern const struct dp_input_ops in_dummy_ops;

#endif
