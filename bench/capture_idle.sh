#!/bin/bash
# capture_idle: what N idle TCP connections cost doppel in memory. bench/gen_idle_pcap.py writes
# a capture of N (100000) connections that each make one request, get one response and stay
# open (no FIN) within < 1 s of packet time; doppel reads it with a 60 s expiry, so at the end
# of the file all N are tracked at once:
#   /usr/bin/time -f %M doppel --input-raw FILE --input-raw-track-response \
#       --input-raw-expire 60s --output-null --stats --stats-interval 100ms
# against the same run on a capture of 1 such connection (the baseline: libuv, threads, rings).
# Prints both peak RSS values (the worst of RUNS (3) runs each), the difference per connection,
# and the connections tracked. Goal: peak RSS of the N-connection run < 100 MB.
#   N=100000 bench/capture_idle.sh     (captures cached in bench/data/; DOPPEL=build/doppel)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
RUNS=${RUNS:-3}
D=${DOPPEL:-build/doppel}
DATA=bench/data
IN=$DATA/idle_${N}.pcap
BASE=$DATA/idle_1.pcap
[ -x "$D" ] || make -s
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null
mkdir -p $DATA
# regenerate when the generator changes, so a cached file always matches it
for f in "$IN:$N" "$BASE:1"; do
    if [ ! -f "${f%:*}" ] || [ bench/gen_idle_pcap.py -nt "${f%:*}" ]; then
        python3 bench/gen_idle_pcap.py "${f%:*}" "${f##*:}"
    fi
done
cat "$IN" > /dev/null   # warm the page cache

ERR=$(mktemp /tmp/doppel_capture_idle.XXXXXX)
trap 'rm -f "$ERR"' EXIT

# peak FILE: runs doppel on FILE RUNS times, prints the highest peak RSS in KiB; the stderr
# of the last run stays in $ERR (time's %M is its last line).
peak() {
    local worst=0 kb
    for _ in $(seq "$RUNS"); do
        if ! /usr/bin/time -f %M "$D" --input-raw "$1" --input-raw-track-response \
                --input-raw-expire 60s --output-null --stats --stats-interval 100ms 2> "$ERR"; then
            echo "capture_idle: doppel failed on $1:" >&2; tail -n 5 "$ERR" >&2; exit 1
        fi
        kb=$(tail -n 1 "$ERR")
        [ "$kb" -gt "$worst" ] && worst=$kb
    done
    echo "$worst"
}
# field KEY LINE-PREFIX: KEY's value in the last line of $ERR starting with LINE-PREFIX
field() { awk -v k="$1" -v p="$2" 'index($0, p) == 1 {
    for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) v = substr($i, length(k) + 2) }
    END { print v }' "$ERR"; }

kb_base=$(peak "$BASE")
kb_n=$(peak "$IN")
S='doppel: summary input-raw#0'
opened=$(field conns_opened "$S"); closed=$(field conns_closed "$S")
evicted=$(field conns_evicted "$S"); expired=$(field conns_expired "$S")
requests=$(field requests "$S"); responses=$(field responses "$S")
# the last stats line before the end: counters are snapshots taken every 4096 packets
st_conns=$(field conns 'doppel: stats input-raw#0')
st_expired=$(field conns_expired 'doppel: stats input-raw#0')
st_packets=$(field packets 'doppel: stats input-raw#0')
if [ -z "$opened" ]; then
    echo "capture_idle: no summary line from doppel:" >&2; cat "$ERR" >&2; exit 1
fi
if [ "$opened" != "$N" ] || [ "$closed" != 0 ] || [ "$evicted" != 0 ]; then
    echo "capture_idle: warning: expected $N connections opened and none closed or evicted" >&2
fi

awk -v n="$N" -v kb="$kb_n" -v kb0="$kb_base" -v o="$opened" -v c="$closed" -v ev="$evicted" \
    -v ex="$expired" -v rq="$requests" -v rs="$responses" -v sc="${st_conns:-?}" \
    -v se="${st_expired:-?}" -v sp="${st_packets:-?}" -v runs="$RUNS" 'BEGIN {
    printf "capture_idle: %d idle connections (1 request + 1 response each, no FIN), " \
        "expire 60s\n", n
    printf "  summary: conns_opened=%s conns_closed=%s conns_evicted=%s requests=%s responses=%s\n",
        o, c, ev, rq, rs
    printf "  conns_expired=%s: the end-of-capture flush (packet span < 1 s, expire 60 s),\n", ex
    printf "    so all %s were tracked at once when the file ended\n", o - c - ev
    printf "  last stats line: conns=%s conns_expired=%s at packets=%s of %d\n", sc, se, sp, n * 6
    printf "  peak RSS, 1 connection   %8.1f MB  (worst of %d)\n", kb0 / 1024, runs
    printf "  peak RSS, %d conns   %8.1f MB  (worst of %d)\n", n, kb / 1024, runs
    printf "  per connection           %8.0f bytes\n", (kb - kb0) * 1024 / n
    printf "  RSS for %d idle connections = %.1f MB (goal < 100 MB)\n", n, kb / 1024
}'
