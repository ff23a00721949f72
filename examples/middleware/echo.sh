#!/bin/sh
# echo.sh: a doppel / GoReplay middleware in POSIX sh that passes every message through.
#
#   doppel ... --middleware 'examples/middleware/echo.sh'           (cat: fast, any line length)
#   doppel ... --middleware 'examples/middleware/echo.sh --loop'    (a read loop to edit)
#
# Every line on stdin is one message, hex-encoded (README.md); echoing a line keeps the
# message. The lines are plain ASCII hex digits, never NULs, so the shell's read is safe with
# any payload. `read` in sh takes a byte per system call, though: the loop moves a few MB/s,
# enough for experiments, not for a 10 MB message per request at speed. Decode a line with
#     printf '%s' "$line" | xxd -r -p        (meta line, LF, payload)
# and encode with `xxd -p | tr -d '\n'`. Write logs to stderr, never to stdout.

if [ "${1:-}" = "--loop" ]; then
    while IFS= read -r line || [ -n "$line" ]; do
        printf '%s\n' "$line"
    done
    exit 0
fi
exec cat
