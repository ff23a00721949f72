#!/bin/bash
# capture_live: the highest request rate at which doppel's live capture on loopback still gets
# every request, against the rate at which tcpdump starts dropping packets, on the same nginx
# in the same run.
#
#   bench/capture_live.sh           (as root; DOPPEL=build/doppel, CONNS, THREADS, DUR)
#
# wrk has no rate control, so the load is stepped by connections: wrk -t THREADS (1) -c C
# -d DUR (5s) for C in CONNS ("1 2 4 8 16 32 64") against a 6-byte static file of nginx on
# 127.0.0.1 (one worker, keep-alive, access_log to a file). Each step is run three times:
#   base     wrk alone, nothing capturing: what the box does without a capture;
#   doppel   doppel --input-raw lo:PORT --input-raw-track-response --output-null; the truth
#            is the number of lines of nginx's access log, against doppel's requests=, and its
#            kernel_drops= and ring_drops= (from its exit summary);
#   tcpdump  tcpdump -i lo -w /dev/null tcp port PORT (the same BPF filter doppel generates,
#            libpcap's default 2 MiB buffer as people run it, or -B TCPDUMP_B KiB; doppel's
#            is 64 MiB); its "packets dropped by kernel".
# A doppel step is 100% when requests = access log lines, kernel_drops = 0 and ring_drops = 0.
# Also printed: the CPU the capture process used (user+sys seconds / DUR, 100% = one core),
# and the load average before and after (other users of the box show there).
# "100% up to X req/s" is the highest rate of a clean step that is below the rate of every
# step that lost something: the claim holds for every step measured. Steps that lost are
# listed with their rates. Every step is bounded (timeout); all traffic is on loopback.
#
# On a 2-core box wrk, nginx and the capture share two cores: the capture's CPU is taken from
# nginx and wrk, so a step's rate with a capture is lower than the base rate. The rates
# reported are those wrk measured during the capture run itself.
set -euo pipefail
cd "$(dirname "$0")/.."
D=${DOPPEL:-build/doppel}
CONNS=${CONNS:-"1 2 4 8 16 32 64"}
TCPDUMP_B=${TCPDUMP_B:-}
THREADS=${THREADS:-1}
DUR=${DUR:-5}
[ "$(id -u)" = 0 ] || { echo "capture_live: needs root (packet capture)"; exit 1; }
for t in wrk nginx tcpdump python3; do
    command -v $t >/dev/null || { echo "capture_live: needs $t (make deps)"; exit 1; }
done
[ -x "$D" ] || make -s

W=$(mktemp -d /tmp/doppel_capture_live.XXXXXX)
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    if [ -f "$W/nginx.pid" ]; then kill "$(cat "$W/nginx.pid")" 2>/dev/null || true; fi
    rm -rf "$W"
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$W/www"
printf 'hello\n' > "$W/www/index.html"
cat > "$W/nginx.conf" <<EOF
daemon on;
worker_processes 1;
pid $W/nginx.pid;
error_log $W/error.log;
events { worker_connections 4096; }
http {
    access_log $W/access.log;
    client_body_temp_path $W/body;
    proxy_temp_path $W/proxy;
    fastcgi_temp_path $W/fcgi;
    uwsgi_temp_path $W/uwsgi;
    scgi_temp_path $W/scgi;
    server {
        listen 127.0.0.1:$PORT;
        root $W/www;
    }
}
EOF
nginx -c "$W/nginx.conf" -p "$W" 2>/dev/null
URL=http://127.0.0.1:$PORT/index.html
for _ in $(seq 100); do curl -s -o /dev/null "$URL" && break; sleep 0.05; done

# wait_for FILE TEXT SECONDS: until FILE holds TEXT; fails after SECONDS
wait_for() {
    local n=$(($3 * 20))
    while ! grep -q "$2" "$1" 2>/dev/null; do
        n=$((n - 1))
        [ $n -gt 0 ] || { echo "capture_live: no '$2' in $1:" >&2; cat "$1" >&2; exit 1; }
        sleep 0.05
    done
}
# stop PID: SIGINT, then at most 30 s for it to print its summary and exit
stop() {
    kill -INT "$1"
    for _ in $(seq 600); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" || true
    PIDS=""
}
# cpu_s PID: user+sys seconds of PID so far
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
# load C: runs wrk with C connections; prints its requests/sec
load() {
    : > "$W/access.log"
    timeout $((DUR + 20)) wrk -t"$THREADS" -c"$1" -d"${DUR}s" "$URL" > "$W/wrk.out"
    awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$W/wrk.out"
}
lines() { wc -l < "$W/access.log"; }
# kv KEY FILE: KEY's value in the last 'doppel: summary input-raw#0' line of FILE
kv() { awk -v k="$1" 'index($0, "doppel: summary input-raw#0") == 1 {
    for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) v = substr($i, length(k) + 2) }
    END { print v }' "$2"; }
# stats_requests FILE: requests= of the last periodic stats line
stats_requests() { awk 'index($0, "doppel: stats input-raw#0") == 1 {
    for (i = 1; i <= NF; i++) if (index($i, "requests=") == 1) v = substr($i, 10) }
    END { print v + 0 }' "$1"; }

echo "capture_live: $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%5s | %8s | %8s %8s %8s %6s %6s %5s %5s | %8s %9s %8s %5s\n' \
    conns base_rps dp_rps truth dp_reqs k_drop r_drop cpu% ok td_rps td_pkts td_drop cpu%
dp_ok=""; dp_bad=""; td_ok=""; td_bad=""
for C in $CONNS; do
    base=$(load "$C")

    "$D" --verbose 1 --stats --stats-interval 200ms --input-raw "lo:$PORT" \
        --input-raw-track-response --output-null 2> "$W/doppel.err" &
    dpid=$!; PIDS="$dpid"
    wait_for "$W/doppel.err" "event=capture" 15
    dp_rps=$(load "$C")
    truth=$(lines)
    # the last packets pass the 10 ms ring block timeout: wait (at most 3 s) until doppel's
    # stats count the access log's requests, so that the stop cuts nothing
    for _ in $(seq 60); do
        [ "$(stats_requests "$W/doppel.err")" -ge "$truth" ] && break
        sleep 0.05
    done
    dp_cpu=$(cpu_s $dpid)
    stop $dpid
    reqs=$(kv requests "$W/doppel.err"); kd=$(kv kernel_drops "$W/doppel.err")
    rd=$(kv ring_drops "$W/doppel.err")
    if [ "$reqs" = "$truth" ] && [ "$kd" = 0 ] && [ "$rd" = 0 ]; then
        ok=yes; dp_ok="$dp_ok $dp_rps"
    else
        ok=no; dp_bad="$dp_bad c=$C:$dp_rps"
    fi

    tcpdump -i lo ${TCPDUMP_B:+-B "$TCPDUMP_B"} -w /dev/null "tcp port $PORT" 2> "$W/tcpdump.err" &
    tpid=$!; PIDS="$tpid"
    wait_for "$W/tcpdump.err" "listening on" 15
    td_rps=$(load "$C")
    sleep 0.5
    td_cpu=$(cpu_s $tpid)
    stop $tpid
    td_pkts=$(awk '/packets captured/ { print $1 }' "$W/tcpdump.err")
    td_drop=$(awk '/packets dropped by kernel/ { print $1 }' "$W/tcpdump.err")
    if [ "$td_drop" = 0 ]; then td_ok="$td_ok $td_rps"; else td_bad="$td_bad c=$C:$td_rps"; fi

    printf '%5s | %8s | %8s %8s %8s %6s %6s %5.0f %5s | %8s %9s %8s %5.0f\n' \
        "$C" "$base" "$dp_rps" "$truth" "$reqs" "$kd" "$rd" \
        "$(awk -v c="$dp_cpu" -v d="$DUR" 'BEGIN { print 100 * c / d }')" "$ok" \
        "$td_rps" "$td_pkts" "$td_drop" \
        "$(awk -v c="$td_cpu" -v d="$DUR" 'BEGIN { print 100 * c / d }')"
done
# upto "OK RATES" "BAD c=C:RATE ...": the highest OK rate below every BAD rate (0 if none)
upto() { echo "$2" | tr ' ' '\n' | awk -F: -v ok="$1" '
    NF == 2 { if (min == "" || $2 + 0 < min) min = $2 + 0 }
    END { n = split(ok, r, " "); best = 0
          for (i = 1; i <= n; i++)
              if ((min == "" || r[i] + 0 < min) && r[i] + 0 > best) best = r[i] + 0
          print best }'; }
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -z "$dp_bad" ] || echo "doppel lost requests at (conns:req/s):$dp_bad"
[ -z "$td_bad" ] || echo "tcpdump dropped packets at (conns:req/s):$td_bad"
echo "doppel: 100% up to $(upto "$dp_ok" "$dp_bad") req/s;" \
    "tcpdump -w /dev/null: no drops up to $(upto "$td_ok" "$td_bad") req/s"
