#!/bin/sh
# modify_floor: how far doppel's modifiers are from the least work bench/modify_rate.sh's (b)
# can be done in. Counts instructions per request with callgrind (exact, unlike this VM's
# timings) on N requests (default 200,000) of modify_rate's file:
#   (a)   doppel --input-file |max --output-null           reading and parsing a record
#   (b)   the same with modify_rate's five modifiers        (b) - (a): what they cost
#   floor bench/modify_floor.c, the five rules hand-written for these requests alone
# and the budget (b)/(a) >= 0.7 leaves them: (a) x (1/0.7 - 1). The floor's output is checked
# byte-identical to doppel's --output-file before anything is counted. Needs valgrind.
#   bench/modify_floor.sh              N=200000
set -eu
cd "$(dirname "$0")/.."
N=${N:-200000}
D=build/doppel
F=build/bench/modify_floor
IN=bench/data/modify_${N}.gor
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
command -v valgrind >/dev/null || { echo "modify_floor: needs valgrind" >&2; exit 2; }
[ -x $D ] || make -s
mkdir -p bench/data build/bench
[ -f "$IN" ] || python3 bench/gen_modify_gor.py "$IN" "$N"
cc -std=c17 -O2 -Wall -Wextra -Werror bench/modify_floor.c -o $F

MODS="--http-allow-method GET --http-disallow-url ^/admin --http-set-header X-Replay:1 \
--http-rewrite-url /api/v1/(.*):/api/v2/\$1 --http-header-limiter X-User-Id:90%"

# shellcheck disable=SC2086
$D --input-file "$IN|max" --output-file "$TMP/doppel.gor" --output-file-append $MODS 2>/dev/null
$F "$IN" "$TMP/floor.gor" >/dev/null
cmp -s "$TMP/doppel.gor" "$TMP/floor.gor" || {
    echo "modify_floor: the floor's output differs from doppel's" >&2; exit 1; }

# instructions of "$@" (within function $FN when set)
ir() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null ${FN:+--toggle-collect=$FN} "$@" \
        2>&1 >/dev/null | sed -n 's/.*refs: *//p' | tr -d ,
}
a=$(ir $D --input-file "$IN|max" --output-null)
# shellcheck disable=SC2086
b=$(ir $D --input-file "$IN|max" --output-null $MODS)
f=$(FN=floor_modify ir $F "$IN")
awk -v n="$N" -v a="$a" -v b="$b" -v f="$f" 'BEGIN {
    printf "modify_floor: %d requests, instructions per request (callgrind)\n", n
    printf "  (a) doppel, no modifiers    %6.0f  reading and parsing a record\n", a/n
    printf "  (b) doppel, 5 modifiers     %6.0f  (b) - (a)\n", (b-a)/n
    printf "  hand-written floor          %6.0f  bench/modify_floor.c, same output\n", f/n
    printf "  budget for (b)/(a) >= 0.7   %6.0f  (a) x (1/0.7 - 1)\n", a/n*(1/0.7-1)
    printf "  doppel / floor: %.2fx; floor / budget: %.2f\n", (b-a)/f, f/(a*(1/0.7-1))
}'
