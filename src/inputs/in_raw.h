/*
 * in_raw.h: --input-raw, passive capture (live interfaces or pcap/pcapng files).
 *
 * Each address gets a capture thread (capture/capture.h) that decodes, reassembles and cuts
 * HTTP/1.x (or, with --input-raw-protocol binary, any TCP protocol) into messages; this plugin
 * moves them from the thread's ring into the pipeline on the loop. A capture file is read as
 * fast as the outputs take it and the input ends at the end of the file; a live capture runs
 * until doppel is stopped and never waits for the outputs (what they cannot take is counted).
 */
#ifndef DP_INPUTS_IN_RAW_H
#define DP_INPUTS_IN_RAW_H

#include "core/pipeline.h"

extern const struct dp_input_ops in_raw_ops;

#endif
