/*
 * mw_plugin.h: the middleware process as a pipeline plugin: an output that writes every
 * message to the process, and its feedback input, through which what the process echoes
 * enters the pipeline again (then modifiers, then the other outputs).
 *
 *   inputs, other outputs' feedback --> [middleware output] --> process --> [middleware:out]
 *                                                                               |
 *                                        modifiers --> prettify --> outputs <---+
 *
 * The pipeline creates it for --middleware (it is not in the registry) and closes it first at
 * shutdown: its input is closed, the process echoes what it holds and exits, and only then do
 * the other outputs drain. What other outputs produce after that goes straight to the outputs
 * (counted as bypassed).
 */
#ifndef DP_MODIFY_MW_PLUGIN_H
#define DP_MODIFY_MW_PLUGIN_H

#include "core/plugin.h"

extern const struct dp_output_ops dp_mw_plugin_ops;

#endif
