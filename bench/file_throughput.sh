#!/bin/sh
# file_throughput: .gor file -> doppel (input-file at |max) -> .gor file, against cp of the same
# file, in the same run, page cache warm, best of RUNS (5) alternating runs each. Goal: doppel/cp >= 0.5 (MB/s).
#   SIZE_MB=1024 bench/file_throughput.sh     (default 1024)
set -eu
cd "$(dirname "$0")/.."
SIZE_MB=${SIZE_MB:-1024}
DATA=bench/data
IN=$DATA/traffic_${SIZE_MB}mb.gor
OUT=${TMPDIR:-/tmp}/doppel_bench_out.gor
D=build/doppel
[ -x $D ] || make -s
mkdir -p $DATA
[ -f "$IN" ] || { echo "generating $IN ..."; python3 bench/gen_gor.py "$IN" "$SIZE_MB"; }
cat "$IN" > /dev/null   # warm the page cache
bytes=$(stat -c %s "$IN")
records=$($D --input-file "$IN" --input-file-dry-run 2>/dev/null | awk '/records:/ {print $2}')

# One timed run of "$@", in seconds. The output file is removed and dirty pages written back
# before each run, so that neither program pays for the previous run's writeback.
timed() {
    rm -f "$OUT"; sync
    s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
    awk -v s="$s" -v e="$e" 'BEGIN{print e-s}'
}
min() { awk -v a="$1" -v b="$2" 'BEGIN{print (a<b)?a:b}'; }

# cp and doppel alternate, best of RUNS each: the machine's noise hits both alike.
RUNS=${RUNS:-5}
t_cp=999999; t_dp=999999
for i in $(seq "$RUNS"); do
    t_cp=$(min "$t_cp" "$(timed cp "$IN" "$OUT")")
    t_dp=$(min "$t_dp" "$(timed $D --input-file "$IN|max" --output-file "$OUT" --output-file-append)")
done
rm -f "$OUT"
awk -v by="$bytes" -v n="$records" -v tc="$t_cp" -v td="$t_dp" 'BEGIN {
    printf "file_throughput: %.0f MB, %d records\n", by/1048576, n
    printf "  cp      %.3fs  %8.1f MB/s\n", tc, by/1048576/tc
    printf "  doppel  %.3fs  %8.1f MB/s  %10.0f records/s\n", td, by/1048576/td, n/td
    printf "  ratio doppel/cp = %.2f (goal >= 0.5)\n", tc/td
}'
