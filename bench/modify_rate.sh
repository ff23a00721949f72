#!/bin/sh
# modify_rate: what each way of changing traffic costs. N requests (default 1,000,000) from a
# .gor file at |max to --output-null through:
#   (a) nothing                                   the baseline
#   (b) 5 typical modifiers                       goal: >= 0.7 of (a)
#   (c) a Lua hook that sets a header             goal: >= 0.3 of (a), and >= 10x (d)
#   (d) --middleware echo in Python               (GoReplay's way)
# Records per second each, best of RUNS (3) alternating runs, ratios against (a) of the same run.
#   bench/modify_rate.sh              N=1000000 RUNS=3
set -eu
cd "$(dirname "$0")/.."
N=${N:-1000000}
RUNS=${RUNS:-3}
D=build/doppel
[ -x $D ] || make -s
DATA=bench/data
IN=$DATA/modify_${N}.gor
mkdir -p $DATA
[ -f "$IN" ] || python3 bench/gen_modify_gor.py "$IN" "$N"
cat "$IN" > /dev/null

MODS="--http-allow-method GET --http-disallow-url ^/admin --http-set-header X-Replay:1 \
--http-rewrite-url /api/v1/(.*):/api/v2/\$1 --http-header-limiter X-User-Id:90%"
LUA=examples/lua/set_header.lua
MW="python3 examples/middleware/echo.py"

timed() {
    s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
    awk -v s="$s" -v e="$e" 'BEGIN{print e-s}'
}
min() { awk -v a="$1" -v b="$2" 'BEGIN{print (a<b)?a:b}'; }

ta=999999; tb=999999; tc=999999; td=999999
for _ in $(seq "$RUNS"); do
    ta=$(min "$ta" "$(timed $D --input-file "$IN|max" --output-null)")
    # shellcheck disable=SC2086
    tb=$(min "$tb" "$(timed $D --input-file "$IN|max" --output-null $MODS)")
    tc=$(min "$tc" "$(timed $D --input-file "$IN|max" --output-null --lua $LUA)")
done
# the middleware once: it is the slow one
td=$(timed $D --input-file "$IN|max" --output-null --middleware "$MW")
awk -v n="$N" -v a="$ta" -v b="$tb" -v c="$tc" -v d="$td" 'BEGIN {
    printf "modify_rate: %d requests, input-file |max -> output-null\n", n
    printf "  (a) no modifiers        %.2fs  %9.0f records/s\n", a, n/a
    printf "  (b) 5 modifiers         %.2fs  %9.0f records/s  ratio %.2f (goal >= 0.7)\n", b, n/b, a/b
    printf "  (c) Lua set_header      %.2fs  %9.0f records/s  ratio %.2f (goal >= 0.3)\n", c, n/c, a/c
    printf "  (d) middleware echo.py  %.2fs  %9.0f records/s  ratio %.2f\n", d, n/d, a/d
    printf "  Lua vs middleware: %.1fx (goal >= 10)\n", d/c
}'
