#!/bin/sh
# replay_rate: how fast doppel replays a recording to an HTTP server, against wrk on the same
# server in the same run. Goal: doppel/wrk >= 0.9 (requests per second), for C = 10 and 50.
#
#   bench/replay_rate.sh            N=200000 requests, C="10 50", RUNS=3 (best of)
#
# The target is nginx on 127.0.0.1 (access_log off, one worker, a 13-byte static file), started
# here. doppel: --input-file 'reqs.gor|max' --output-http http://127.0.0.1:P
# --output-http-workers C (C keep-alive connections, one request in flight each, as wrk -c C).
# Its rate is N / wall time of the whole run (start, read, replay, drain, exit). wrk runs
# -t1 -c C -d 5s on the same URL. Also printed: doppel's peak RSS (/usr/bin/time %M).
set -eu
cd "$(dirname "$0")/.."
N=${N:-200000}
CS=${C:-"10 50"}
RUNS=${RUNS:-3}
D=build/doppel
[ -x $D ] || make -s
command -v wrk >/dev/null || { echo "replay_rate: needs wrk (apt-get install wrk)"; exit 1; }
command -v nginx >/dev/null || { echo "replay_rate: needs nginx (apt-get install nginx-light)"; exit 1; }
[ -x /usr/bin/time ] || { echo "replay_rate: needs /usr/bin/time (apt-get install time)"; exit 1; }

W=$(mktemp -d)
trap 'kill $(cat $W/nginx.pid 2>/dev/null) 2>/dev/null; rm -rf "$W"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$W/www"
printf 'hello world\n\n' > "$W/www/index.html"
cat > "$W/nginx.conf" <<EOF
daemon on;
worker_processes 1;
pid $W/nginx.pid;
error_log $W/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $W/body;
    proxy_temp_path $W/proxy;
    fastcgi_temp_path $W/fcgi;
    uwsgi_temp_path $W/uwsgi;
    scgi_temp_path $W/scgi;
    server { listen 127.0.0.1:$PORT; root $W/www; }
}
EOF
nginx -c "$W/nginx.conf" -p "$W"
sleep 0.3

# N small GETs as a .gor file, as a capture of browsers would hold them.
python3 - "$W/reqs.gor" "$N" <<'EOF'
import sys
path, n = sys.argv[1], int(sys.argv[2])
sep = b"\n\xf0\x9f\x90\xb5\xf0\x9f\x99\x88\xf0\x9f\x99\x89\n"
with open(path, "wb") as f:
    for i in range(n):
        req = (b"GET /index.html HTTP/1.1\r\nHost: www.example.com\r\n"
               b"User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: */*\r\n\r\n")
        f.write(b"1 %024x %d 0\n" % (i, 1700000000000000000 + i * 1000) + req + sep)
EOF

best() { awk -v a="$1" -v b="$2" 'BEGIN{print (a>b)?a:b}'; }
echo "replay_rate: $N GETs to nginx on 127.0.0.1, best of $RUNS"
for c in $CS; do
    wrk_best=0; dp_best=0; rss_max=0
    for i in $(seq "$RUNS"); do
        r=$(wrk -t1 -c "$c" -d 5s "http://127.0.0.1:$PORT/index.html" | awk '/Requests\/sec/ {print $2}')
        wrk_best=$(best "$wrk_best" "$r")
        s=$(date +%s.%N)
        /usr/bin/time -f '%M' -o "$W/rss" $D --input-file "$W/reqs.gor|max" \
            --output-http "http://127.0.0.1:$PORT" --output-http-workers "$c" \
            --output-http-queue-len 1000 2> "$W/err" >/dev/null
        e=$(date +%s.%N)
        grep -q "delivered=$N failed=0" "$W/err" || { echo "doppel did not deliver all:"; tail -3 "$W/err"; exit 1; }
        r=$(awk -v n="$N" -v s="$s" -v e="$e" 'BEGIN{print n/(e-s)}')
        dp_best=$(best "$dp_best" "$r")
        rss_max=$(best "$rss_max" "$(tail -1 "$W/rss")")
    done
    awk -v c="$c" -v w="$wrk_best" -v d="$dp_best" -v m="$rss_max" 'BEGIN {
        printf "  C=%-3d wrk %9.0f req/s   doppel %9.0f req/s   ratio doppel/wrk = %.2f (goal >= 0.9)   doppel peak RSS %.1f MB\n", c, w, d, d/w, m/1024
    }'
done
