/*
 * in_file.h: --input-file, replay of .gor files (plain or gzip, one path or a glob).
 *
 * The files a pattern matches are read together and merged by timestamp: each keeps up to
 * --input-file-read-depth records in a min-heap, and the record with the smallest timestamp
 * across the files goes next. Records are paced against the start of the replay:
 *   due = start + (ts - ts_first) / speed - skipped
 * so that a slow output never adds up to drift (GoReplay sleeps between records and drifts).
 * Lateness is measured and reported as lag. "FILE|200%" sets the speed, "FILE|max" removes the
 * pacing (as fast as the outputs accept). The input pauses while an output is full.
 */
#ifndef DP_INPUTS_IN_FILE_H
#define DP_INPUTS_IN_FILE_H

#include "core/pipeline.h"

extern const struct dp_input_ops in_file_ops;

#endif
