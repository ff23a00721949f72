#!/bin/sh
# spoe: what mirroring through HAProxy's SPOE to doppel costs production (issue 6).
#
#   bench/spoe.sh              DURATION=10 CONNS=32 RUNS=1, D=build/doppel
#   PERF=/tmp/spoe.perf bench/spoe.sh   also records doppel during (b) (perf record -e cpu-clock)
#   OUT=--output-null bench/spoe.sh      doppel ACKs and builds the requests but mirrors nothing:
#                                        the cost of the SPOE path alone
#   SPOE_AGENT_EXTRA="    maxconnrate 4" bench/spoe.sh   more lines for the spoe-agent section
#   DOPPEL_ARGS="..." bench/spoe.sh     doppel's other flags (default: --output-http-queue-len
#                                        20000, room for the mirror to lag ~0.5 s at 40k req/s)
#
# One HAProxy (Debian's 2.6, nbthread 2), two frontends on the same backend (nginx, return 200):
#   (a) fe_plain   no SPOE
#   (b) fe_mirror  SPOE filter, every request sent to doppel --input-spop, which ACKs and
#                  mirrors it with --output-http to a second nginx (access log on: the count)
# wrk -t1 -c CONNS -d DURATION --latency runs against (a) then (b), in the same run, RUNS times.
# Printed per run: req/s, p50/p99 of both, (b)/(a); doppel's CPU during (b) (utime+stime from
# /proc, in % of one core and in us per request), its RSS after the load and its peak (VmHWM),
# and the fraction of (b)'s requests that reached the mirror (the mirror's access log lines /
# the requests fe_mirror received, from HAProxy's stats socket); and where the CPU went during
# (a) and (b): haproxy, both nginx, doppel, and how busy the whole machine was.
# Goals: (b)/(a) >= 0.85, mirrored >= 99.9 %, RSS bounded. HAProxy's spoa-mirror: about 0.28.
# The machine's load (uptime) is printed before and after: the numbers are only comparable
# between runs on a quiet machine.
set -eu
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
RUNS=${RUNS:-1}
D=${D:-build/doppel}
[ -x "$D" ] || make -s
for t in haproxy nginx wrk python3; do
    command -v $t >/dev/null || { echo "spoe: needs $t (make deps)"; exit 1; }
done

W=$(mktemp -d)
DPID=""
HPID=""
cleanup() {
    set +e # everything is stopped, whatever already ended
    [ -n "$DPID" ] && kill "$DPID" 2>/dev/null
    [ -n "$HPID" ] && kill "$HPID" 2>/dev/null
    for n in prod mirror; do kill "$(cat "$W/$n.pid" 2>/dev/null)" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PROD=$(port); MIRROR=$(port); AGENT=$(port); FA=$(port); FB=$(port)

nginx_conf() { # name port access_log
    cat > "$W/$1.conf" <<EOF
daemon on;
worker_processes 1;
pid $W/$1.pid;
error_log $W/$1.err;
events { worker_connections 4096; }
http {
    access_log $3${4:-};
    keepalive_requests 10000000;
    client_body_temp_path $W/body;
    proxy_temp_path $W/proxy;
    fastcgi_temp_path $W/fcgi;
    uwsgi_temp_path $W/uwsgi;
    scgi_temp_path $W/scgi;
    server { listen 127.0.0.1:$2; location / { return 200 "ok\n"; } }
}
EOF
    nginx -c "$W/$1.conf" -p "$W"
}
nginx_conf prod "$PROD" off
nginx_conf mirror "$MIRROR" "$W/mirror.log" " combined buffer=256k flush=100ms"

cat > "$W/spoe.cfg" <<EOF
[mirror]
spoe-agent mirror-agent
    messages mirror
    use-backend spoe_agents
    option var-prefix spoe
    option set-on-error err
    timeout hello      500ms
    timeout idle       2m
    timeout processing 500ms
${SPOE_AGENT_EXTRA:-}

spoe-message mirror
    args arg_method=method arg_path=url arg_ver=req.ver arg_hdrs=req.hdrs_bin arg_body=req.body
    event on-frontend-http-request
EOF
cat > "$W/haproxy.cfg" <<EOF
global
    nbthread 2
    maxconn 8000
    stats socket $W/haproxy.sock mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client  30s
    timeout server  30s
    timeout http-request 10s
frontend fe_plain
    bind 127.0.0.1:$FA
    default_backend be_prod
frontend fe_mirror
    bind 127.0.0.1:$FB
    option http-buffer-request
    filter spoe engine mirror config $W/spoe.cfg
    default_backend be_prod
backend be_prod
    server prod 127.0.0.1:$PROD
backend spoe_agents
    mode tcp
    balance roundrobin
    option spop-check
    timeout connect 1s
    timeout server  3m
    server agent1 127.0.0.1:$AGENT check inter 1s rise 1
EOF

$D --input-spop "127.0.0.1:$AGENT" ${OUT:---output-http http://127.0.0.1:$MIRROR} \
    ${DOPPEL_ARGS---output-http-queue-len 20000} \
    --stats --stats-interval 1s 2> "$W/doppel.err" > /dev/null &
DPID=$!
haproxy -db -f "$W/haproxy.cfg" > "$W/haproxy.log" 2>&1 &
HPID=$!
# the agent is UP once a health check passed
i=0
until grep -q "health_checks=[1-9]" "$W/doppel.err" 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 100 ] || { echo "spoe: no health check"; cat "$W/doppel.err" "$W/haproxy.log"; exit 1; }
    sleep 0.1
done
sleep 1.2 # HAProxy marks the server UP after its check passed

# requests fe_mirror received (HAProxy's req_tot): what production served through (b)
fe_requests() {
    python3 - "$W/haproxy.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"show stat\n")
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
lines = out.decode().splitlines()
cols = lines[0].lstrip("# ").split(",")
for line in lines[1:]:
    f = line.split(",")
    if f[0] == "fe_mirror" and f[1] == "FRONTEND":
        print(f[cols.index("req_tot")])
PY
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
busy() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
# doppel's read and write system calls, and its context switches (all threads)
sysc() { awk '$1 == "syscr:" || $1 == "syscw:" {n += $2} END {print n + 0}' "/proc/$DPID/io"; }
cswch() { cat /proc/"$DPID"/task/*/status | awk '/ctxt_switches/ {n += $2} END {print n + 0}'; }
rss() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$DPID/status"; }
lines() { wc -l < "$W/mirror.log" 2>/dev/null || echo 0; }
run_wrk() { wrk -t1 -c "$CONNS" -d "${DURATION}s" --latency "$1" > "$W/wrk.out"; }
field() { # the wrk.out value: rps p50 p99 errors
    case $1 in
    rps) awk '/Requests\/sec/ {print $2}' "$W/wrk.out" ;;
    p50) awk '$1 == "50%" {print $2}' "$W/wrk.out" ;;
    p99) awk '$1 == "99%" {print $2}' "$W/wrk.out" ;;
    errors) awk '/Non-2xx/ {print $5}' "$W/wrk.out" ;;
    esac
}
PROD_W=$(pgrep -P "$(cat "$W/prod.pid")" | head -1)
MIRROR_W=$(pgrep -P "$(cat "$W/mirror.pid")" | head -1)
# CPU ticks of haproxy, nginx prod, nginx mirror, doppel, and of the whole machine
snap() { echo "$(ticks $HPID) $(ticks $PROD_W) $(ticks $MIRROR_W) $(ticks $DPID) $(busy) $(date +%s.%N)"; }
cpu_line() { # label "snap before" "snap after"
    echo "$2 $3" | awk -v l="$1" -v hz="$(getconf CLK_TCK)" -v n="$(nproc)" '{
        w = $12 - $6
        printf "    CPU during %s, %% of one core: haproxy %.0f, nginx prod %.0f, nginx mirror %.0f, doppel %.0f; machine %.0f%% busy\n", l, 100 * ($7 - $1) / hz / w, 100 * ($8 - $2) / hz / w, 100 * ($9 - $3) / hz / w, 100 * ($10 - $4) / hz / w, 100 * ($11 - $5) / hz / w / n
    }'
}

echo "spoe: wrk -t1 -c$CONNS -d${DURATION}s; HAProxy $(haproxy -v | awk 'NR==1 {print $3}'), nbthread 2; $(nproc) CPUs"
echo "  load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$RUNS"); do
    sa0=$(snap)
    run_wrk "http://127.0.0.1:$FA/"
    sa1=$(snap)
    a_rps=$(field rps); a_p50=$(field p50); a_p99=$(field p99); a_err=$(field errors)
    l0=$(lines); q0=$(fe_requests)
    PPID_=""
    if [ -n "${PERF:-}" ]; then
        perf record -q -e cpu-clock -F 1999 -g -p "$DPID" -o "$PERF" -- sleep "$DURATION" \
            2>/dev/null &
        PPID_=$!
    fi
    sb0=$(snap); sc0=$(sysc); cs0=$(cswch)
    run_wrk "http://127.0.0.1:$FB/"
    sb1=$(snap); sc1=$(sysc); cs1=$(cswch)
    [ -z "$PPID_" ] || wait "$PPID_"
    b_rps=$(field rps); b_p50=$(field p50); b_p99=$(field p99); b_total=$(($(fe_requests) - q0))
    b_err=$(field errors)
    # the mirror gets what doppel still holds within a few seconds
    i=0; prev=-1
    while [ "$(lines)" != "$prev" ] && [ $i -lt 50 ]; do prev=$(lines); sleep 0.3; i=$((i + 1)); done
    l1=$(lines)
    echo "$sb0 $sb1" | awk -v r="$r" -v ar="$a_rps" -v a50="$a_p50" -v a99="$a_p99" \
        -v br="$b_rps" -v b50="$b_p50" -v b99="$b_p99" -v bt="$b_total" -v m="$((l1 - l0))" \
        -v hz="$(getconf CLK_TCK)" -v rss="$(rss VmRSS)" -v hwm="$(rss VmHWM)" \
        -v ae="${a_err:-0}" -v be="${b_err:-0}" -v sc="$((sc1 - sc0))" -v cs="$((cs1 - cs0))" '{
        cpu = ($10 - $4) / hz; wall = $12 - $6
        printf "  run %d\n", r
        printf "    (a) no SPOE      %8.0f req/s   p50 %-8s p99 %-8s non-2xx %d\n", ar, a50, a99, ae
        printf "    (b) SPOE+doppel  %8.0f req/s   p50 %-8s p99 %-8s non-2xx %d\n", br, b50, b99, be
        printf "    (b)/(a) = %.2f (goal >= 0.85)\n", br / ar
        printf "    doppel CPU during (b): %.0f%% of a core, %.1f us per request\n", 100 * cpu / wall, 1e6 * cpu / bt
        printf "    doppel per request: %.2f reads+writes, %.2f context switches\n", sc / bt, cs / bt
        printf "    mirrored: %d of %d = %.3f%% (goal >= 99.9%%)\n", m, bt, 100 * m / bt
        printf "    doppel RSS after the load %.1f MB, peak %.1f MB\n", rss / 1024, hwm / 1024
    }'
    cpu_line "(a)" "$sa0" "$sa1"
    cpu_line "(b)" "$sb0" "$sb1"
done
echo "  load after: $(cut -d' ' -f1-3 /proc/loadavg)"
grep "stats input-spop" "$W/doppel.err" | tail -1 | sed 's/^doppel: stats /  doppel: /'
grep "stats output-http#0 " "$W/doppel.err" | tail -1 | sed 's/^doppel: stats /  doppel: /' | cut -c1-200
