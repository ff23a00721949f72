#!/bin/bash
# make_http_pcap: records a pcap of real HTTP/1.1 keep-alive traffic on loopback, the input of
# bench/capture_offline.sh. It starts its own nginx on 127.0.0.1:<free port> (config, docroot and
# logs in a temp dir; files of 100 B, 2 KB, 16 KB and 64 KB), captures that port with
#   tcpdump -i lo -s 262144 -B 65536 -w OUT "tcp port P"
# and drives wrk (-t1 -c16, keep-alive, a Lua script rotating over the URLs, small files more
# often than big ones) in bounded rounds of ROUND_S (2) seconds until OUT holds SIZE_MB or MAX_S
# (120) seconds have passed; a request budget cuts each round so the file ends near SIZE_MB.
# It prints tcpdump's drop count and writes OUT.meta (wrk's total of completed requests,
# tcpdump's counters), which capture_offline.sh uses as a sanity check.
# Goal: a capture with no drops (a dropped packet turns into a gap that doppel must count).
#   bench/make_http_pcap.sh [OUT] [SIZE_MB]     (default bench/data/http_300mb.pcap 300)
# Note: loopback's MTU is 65536, so a 64 KB response is one or two packets, not ~45 as on
# Ethernet; the capture has fewer, bigger packets than a real link would give.
set -euo pipefail
OUT=${1:+$(realpath -m "$1")}   # a path given is relative to where we are called from
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/data/http_300mb.pcap}
SIZE_MB=${2:-300}
MAX_S=${MAX_S:-120}
ROUND_S=${ROUND_S:-2}
for t in nginx tcpdump wrk python3; do
    command -v $t >/dev/null || { echo "make_http_pcap: $t is missing" >&2; exit 1; }
done
mkdir -p "$(dirname "$OUT")"

T=$(mktemp -d /tmp/doppel_http_pcap.XXXXXX)
chmod 755 "$T"   # nginx's worker runs as nobody and must read the docroot
nginx_pid=; tcpdump_pid=
cleanup() {
    if [ -n "$tcpdump_pid" ]; then kill "$tcpdump_pid" 2>/dev/null || true; fi
    if [ -n "$nginx_pid" ]; then kill "$nginx_pid" 2>/dev/null || true; fi
    wait 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT

# A port the kernel says is free right now (tiny race, but we are the only one using it).
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')

mkdir -p "$T/www" "$T/tmp"
python3 - "$T/www" <<'EOF'
import base64, os, sys
for name, size in (("s100", 100), ("s2k", 2048), ("s16k", 16384), ("s64k", 65536)):
    with open(os.path.join(sys.argv[1], name + ".txt"), "wb") as f:
        f.write(base64.encodebytes(os.urandom(size))[:size])
EOF
chmod -R a+rX "$T/www"
cat > "$T/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $T/nginx.pid;
error_log $T/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $T/tmp/body;
    proxy_temp_path $T/tmp/proxy;
    fastcgi_temp_path $T/tmp/fastcgi;
    uwsgi_temp_path $T/tmp/uwsgi;
    scgi_temp_path $T/tmp/scgi;
    default_type text/plain;
    sendfile on;
    keepalive_requests 10000;
    keepalive_timeout 30s;
    server {
        listen 127.0.0.1:$PORT;
        root $T/www;
    }
}
EOF
# Small objects are the common case on the web: 3/8 of the requests get 100 B, 3/8 2 KB,
# 1/8 16 KB, 1/8 64 KB (about 11 KB per response on average).
cat > "$T/rotate.lua" <<'EOF'
local paths = { "/s100.txt", "/s2k.txt", "/s100.txt", "/s16k.txt",
                "/s2k.txt", "/s100.txt", "/s2k.txt", "/s64k.txt" }
local i = 0
request = function()
    i = i % #paths + 1
    return wrk.format("GET", paths[i])
end
-- WRK_BUDGET: stop after this many responses, so a round does not overshoot SIZE_MB
local n, budget = 0, tonumber(os.getenv("WRK_BUDGET") or "0")
response = function(status, headers, body)
    n = n + 1
    if budget > 0 and n >= budget then wrk.thread:stop() end
end
EOF

nginx -p "$T" -e "$T/error.log" -c "$T/nginx.conf" &
nginx_pid=$!
for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break
    sleep 0.1
done
if ! (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then
    echo "make_http_pcap: nginx did not start:" >&2; cat "$T/error.log" >&2; exit 1
fi

PART=$OUT.part
rm -f "$PART"
# -Z root: tcpdump would otherwise drop to user tcpdump, who may not write in bench/data.
tcpdump -i lo -s 262144 -B 65536 -Z root -w "$PART" "tcp port $PORT" 2> "$T/tcpdump.err" &
tcpdump_pid=$!
for _ in $(seq 50); do
    grep -q 'listening on' "$T/tcpdump.err" && break
    sleep 0.1
done
if ! grep -q 'listening on' "$T/tcpdump.err"; then
    echo "make_http_pcap: tcpdump did not start:" >&2; cat "$T/tcpdump.err" >&2; exit 1
fi

target=$((SIZE_MB * 1048576))
total_req=0; rounds=0
start=$SECONDS
size() { stat -c %s "$PART" 2>/dev/null || echo 0; }
while [ "$(size)" -lt "$target" ] && [ $((SECONDS - start)) -lt "$MAX_S" ]; do
    # Loopback carries ~300 MB/s, so a round is cut by a request budget: a probe of 5000
    # (fewer for a small SIZE_MB) first, then what the bytes per request seen so far say is
    # missing (+2%).
    if [ "$total_req" -eq 0 ]; then
        budget=$(( SIZE_MB * 30 < 5000 ? SIZE_MB * 30 : 5000 ))
    else
        sz=$(size)
        budget=$(( (target - sz) * total_req * 102 / (100 * sz) + 100 ))
    fi
    # each round is bounded three times: the budget, wrk's own -d, and timeout if wrk hangs
    n=$(WRK_BUDGET=$budget timeout $((ROUND_S + 10)) wrk -t1 -c16 -d"${ROUND_S}s" \
            -s "$T/rotate.lua" "http://127.0.0.1:$PORT/" | awk '/requests in/ {print $1}')
    total_req=$((total_req + ${n:-0}))
    rounds=$((rounds + 1))
    printf '  round %d: %s requests, pcap %d MB\n' "$rounds" "${n:-0}" $(( $(size) / 1048576 ))
done
elapsed=$((SECONDS - start))
# Let the last FIN/ACKs reach the file: libpcap's TPACKET_V3 ring hands a block to tcpdump
# when it is full or after tcpdump's 1 s timeout, and SIGINT drops a block not yet handed over.
sleep 2.5
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" || true
tcpdump_pid=
kill "$nginx_pid"; wait "$nginx_pid" 2>/dev/null || true
nginx_pid=

# On lo the kernel shows each packet twice (sent and received): "received by filter" counts
# both, libpcap keeps one, so captured = received / 2 is normal and no loss.
captured=$(awk '/packets captured/ {print $1}' "$T/tcpdump.err")
received=$(awk '/packets received by filter/ {print $1}' "$T/tcpdump.err")
dropped=$(awk '/packets dropped by kernel/ {print $1}' "$T/tcpdump.err")
mv "$PART" "$OUT"
bytes=$(stat -c %s "$OUT")
cat > "$OUT.meta" <<EOF
wrk_requests=$total_req
wrk_rounds=$rounds
seconds=$elapsed
port=$PORT
bytes=$bytes
tcpdump_captured=$captured
tcpdump_received=$received
tcpdump_dropped=$dropped
EOF
printf 'make_http_pcap: %s, %d MB, %d wrk requests in %d rounds (%d s), port %d\n' \
    "$OUT" $((bytes / 1048576)) "$total_req" "$rounds" "$elapsed" "$PORT"
printf '  tcpdump: %s captured, %s received by filter, %s dropped by kernel\n' \
    "$captured" "$received" "$dropped"
if [ "$bytes" -lt "$target" ]; then
    echo "make_http_pcap: warning: only $((bytes / 1048576)) MB after ${MAX_S}s" \
         "(wanted $SIZE_MB)" >&2
fi
if [ "${dropped:-1}" != 0 ]; then
    echo "make_http_pcap: warning: tcpdump dropped ${dropped:-?} packets: the capture has gaps" >&2
fi
