#!/usr/bin/env bash
# Instructions per request under callgrind: warm up 1,000 requests, zero the
# counters, 10,000 requests back to back on one keep-alive connection, dump.
# usage: callgrind.sh RT PORT [TAG]   (dump: /tmp/cg.RT[.TAG].out.1)
# VGFLAGS="--compress-strings=no --compress-pos=no" keeps function names in the dump.
set -u
B=${B:-$(cd "$(dirname "$0")/.." && pwd)/target/release}
rt=$1 port=$2 tag=${3:+.$3}
N=${N:-10000} WARM=${WARM:-1000}
out=/tmp/cg.$rt$tag.out
rm -f $out $out.*
valgrind --tool=callgrind ${VGFLAGS:-} --callgrind-out-file=$out $B/probe-$rt $port > /tmp/cg.$rt$tag.log 2>&1 &
pid=$!
for _ in $(seq 300); do ss -ltnH "sport = :$port" | grep -q . && break; sleep 0.1; done
timeout 300 $B/probe-client $port $WARM $N "callgrind_control -z $pid >/dev/null" "callgrind_control -d $pid >/dev/null"
rc=$?
sleep 1
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
ir=$(awk '/^(summary|totals):/ {print $2; exit}' $out.1 2>/dev/null)
echo "$rt$tag client_rc=$rc Ir=$ir per_request=$(python3 -c "print(round($ir/$N,1))" 2>/dev/null)"
