/*
 * out_file.h: --output-file, .gor records to files, byte-compatible with GoReplay.
 *
 * Name template: %Y %m %d %H %M %S (local time), %NS (nanoseconds, not padded), %r (message
 * id), %t (message type), %i (8 random letters per process). The template is expanded for every
 * record; a new name closes the current file and opens the next.
 * Without --output-file-append the name gets a chunk index before its last extension
 * (rec.gor -> rec_0.gor, rec.gor.gz -> rec.gor_0.gz); a new chunk starts after
 * --output-file-queue-limit records or --output-file-size-limit bytes, and a restart continues
 * after the highest index on disk. A name this output wrote to shortly before in this run (the
 * last 8 names: %t switches at every record) goes on in its own chunk. With
 * --output-file-append, records are appended to the plain name (GoReplay truncates instead). A
 * name ending in .gz is one gzip member per open.
 */
#ifndef DP_OUTPUTS_OUT_FILE_H
#define DP_OUTPUTS_OUT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/pipeline.h"

extern const struct dp_output_ops out_file_ops;

/*
 * Expands the name template <tpl> into <out> (capacity <cap>) for a record of type <type> and id
 * <id,id_len> written at <wall_ns>. Bytes of the id other than [A-Za-z0-9_-] become '_', so a
 * hostile id cannot name another directory. Returns the length, or -ENAMETOOLONG.
 */
int out_file_expand(const char *tpl, int64_t wall_ns, char type, const uint8_t *id, size_t id_len,
        char *out, size_t cap);

/* Inserts "_<idx>" before the last extension of <name>: rec.gor -> rec_3.gor. -ENAMETOOLONG. */
int out_file_chunk_name(const char *name, unsigned idx, char *out, size_t cap);

/* The highest chunk index of <name> on disk, or -1 when there is none. */
long out_file_last_chunk(const char *name);

#endif
