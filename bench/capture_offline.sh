#!/bin/bash
# capture_offline: how fast doppel turns a pcap of HTTP/1.1 traffic into requests and responses
#   doppel --input-raw FILE --output-null        (the issue's command: requests kept, responses
#                                                framed and paired; the goal is measured on it)
#   doppel --input-raw FILE --input-raw-track-response --output-null   (responses kept too:
#                                                reported beside it)
# against, on the same file, in the same run (page cache warm, best of RUNS (5) alternating runs):
#   - pcap_count FILE (bench/pcap_count.c): libpcap reading every packet and nothing else, the
#     floor for any libpcap tool;
#   - tcpflow -r FILE -e http -o TMPDIR: tcpflow 1.6's TCP reassembly plus its HTTP scanner,
#     which parses each server->client stream with http-parser and writes every flow and every
#     response body to its own file (TMPDIR is on /dev/shm, emptied before each run, untimed).
# Goals: doppel/pcap_count >= 0.5 (time ratio) and doppel >= 5x faster than tcpflow.
# requests/s is doppel's requests= count divided by each tool's time, so the three compare.
# The pcap is made by bench/make_http_pcap.sh if missing (nginx + wrk on loopback, ~300 MB).
#   bench/capture_offline.sh [FILE]    (default bench/data/http_300mb.pcap; RUNS=5,
#                                       DOPPEL=build/doppel)
set -euo pipefail
IN=${1:+$(realpath -m "$1")}
cd "$(dirname "$0")/.."
IN=${IN:-bench/data/http_300mb.pcap}
RUNS=${RUNS:-5}
D=${DOPPEL:-build/doppel}
PC=build/bench/pcap_count
[ -x "$D" ] || make -s
command -v tcpflow >/dev/null || { echo "capture_offline: apt-get install -y tcpflow" >&2; exit 1; }
mkdir -p build/bench
if [ ! -x $PC ] || [ bench/pcap_count.c -nt $PC ]; then
    cc -std=c17 -O2 -Wall -Wextra -Werror bench/pcap_count.c -lpcap -o $PC
fi
[ -f "$IN" ] || bench/make_http_pcap.sh "$IN"

SHM=/dev/shm; [ -d $SHM ] && [ -w $SHM ] || SHM=${TMPDIR:-/tmp}
W=$(mktemp -d "$SHM/doppel_capture_offline.XXXXXX")
trap 'rm -rf "$W"' EXIT
cat "$IN" > /dev/null   # warm the page cache
bytes=$(stat -c %s "$IN")

# One timed run of "$@", in seconds; its stdout goes to $W/out, its stderr to $W/err.
timed() {
    local s e
    s=$(date +%s.%N)
    if ! "$@" > "$W/out" 2> "$W/err"; then
        echo "capture_offline: $1 failed:" >&2; tail -n 5 "$W/err" >&2; exit 1
    fi
    e=$(date +%s.%N)
    awk -v s="$s" -v e="$e" 'BEGIN{print e-s}'
}
min() { awk -v a="$1" -v b="$2" 'BEGIN{print (a<b)?a:b}'; }
# field FILE KEY: the value of KEY= in the summary line for input-raw#0 in FILE
field() { awk -v k="$2" '/^doppel: summary input-raw#0/ {
    for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' "$1"; }

t_pc=999999; t_dp=999999; t_tf=999999; t_dt=999999
for _ in $(seq "$RUNS"); do
    t=$(timed $PC "$IN"); t_pc=$(min "$t_pc" "$t")
    cp "$W/out" "$W/pcap_count.out"
    t=$(timed "$D" --input-raw "$IN" --output-null)
    t_dp=$(min "$t_dp" "$t")
    cp "$W/err" "$W/doppel.err"
    t=$(timed "$D" --input-raw "$IN" --input-raw-track-response --output-null)
    t_dt=$(min "$t_dt" "$t")
    rm -rf "$W/flows"; mkdir "$W/flows"
    t=$(timed tcpflow -r "$IN" -e http -o "$W/flows"); t_tf=$(min "$t_tf" "$t")
done
bodies=$(find "$W/flows" -name '*-HTTPBODY*' | wc -l)
rm -rf "$W/flows"

# Sanity: doppel must see every packet pcap_count saw, and about as many requests as wrk made.
pc_packets=$(sed -n 's/^packets=\([0-9]*\) .*/\1/p' "$W/pcap_count.out")
dp_packets=$(field "$W/doppel.err" packets)
dp_requests=$(field "$W/doppel.err" requests)
dp_responses=$(field "$W/doppel.err" responses)
dp_gaps=$(field "$W/doppel.err" gaps)
dp_dropped_incomplete=$(field "$W/doppel.err" dropped_incomplete)
dp_conns_opened=$(field "$W/doppel.err" conns_opened)
[ -n "$dp_requests" ] || { echo "capture_offline: no summary line from doppel:" >&2
                           cat "$W/doppel.err" >&2; exit 1; }
wrk_req=
[ -f "$IN.meta" ] && wrk_req=$(sed -n 's/^wrk_requests=//p' "$IN.meta")
if [ "$dp_packets" != "$pc_packets" ]; then
    echo "capture_offline: warning: doppel saw $dp_packets packets, pcap_count $pc_packets" >&2
fi

awk -v by="$bytes" -v n="$dp_requests" -v tp="$t_pc" -v td="$t_dp" -v tt="$t_tf" -v tk="$t_dt" \
    -v pk="$pc_packets" -v rs="$dp_responses" -v gaps="$dp_gaps" -v inc="$dp_dropped_incomplete" \
    -v conns="$dp_conns_opened" -v wrk="${wrk_req:-}" -v bodies="$bodies" -v runs="$RUNS" 'BEGIN {
    mb = by / 1048576
    printf "capture_offline: %.0f MB, %d packets, %d connections, best of %d\n", mb, pk, conns, runs
    printf "  doppel: requests=%d responses=%d gaps=%d dropped_incomplete=%d", n, rs, gaps, inc
    if (wrk != "") {
        d = n - wrk; if (d < 0) d = -d
        printf "; wrk made %d requests (%s)", wrk, (d <= wrk / 100 + 32) ? "ok" : "MISMATCH"
    }
    printf "\n  tcpflow: %d HTTP bodies written\n", bodies
    printf "  pcap_count  %.3fs  %8.1f MB/s  %10.0f requests/s\n", tp, mb / tp, n / tp
    printf "  doppel      %.3fs  %8.1f MB/s  %10.0f requests/s\n", td, mb / td, n / td
    printf "  doppel+track-response %.3fs  %8.1f MB/s  (responses kept too; ratio %.2f)\n", tk, mb / tk, tp / tk
    printf "  tcpflow     %.3fs  %8.1f MB/s  %10.0f requests/s\n", tt, mb / tt, n / tt
    printf "  ratio doppel/pcap_count = %.2f (goal >= 0.5)\n", tp / td
    printf "  doppel speed vs tcpflow = %.1f x (goal >= 5)\n", tt / td
}'
