#!/usr/bin/env bash
# Requests per second, side by side: each probe started fresh on CPU 0, wrk on
# CPU 1, the four interleaved; the order rotates each round.
# usage: wrk.sh ROUNDS [LUA_SCRIPT]   (prints one line per run; wrk output in /tmp/wrk.*)
set -u
B=${B:-$(cd "$(dirname "$0")/.." && pwd)/target/release}
rounds=${1:-3} lua=${2:-}
rts=(compio monoio glommio tokio-uring)
port=18500; [ -n "$lua" ] && port=18600
for r in $(seq $rounds); do
  for i in 0 1 2 3; do
    rt=${rts[$(( (i + r - 1) % 4 ))]}
    port=$((port+1))
    taskset -c 0 $B/probe-$rt $port > /tmp/wrk.$rt.server.log 2>&1 &
    pid=$!
    for _ in $(seq 50); do ss -ltnH "sport = :$port" | grep -q . && break; sleep 0.1; done
    tag=$rt.r$r${lua:+.pipe}
    taskset -c 1 timeout 20 wrk -t1 -c50 -d3s ${lua:+-s $lua} http://127.0.0.1:$port/plaintext > /tmp/wrk.$tag 2>&1
    kill $pid; wait $pid 2>/dev/null
    rps=$(awk '/^Requests\/sec/ {print $2}' /tmp/wrk.$tag)
    reqs=$(awk '/requests in/ {print $1}' /tmp/wrk.$tag)
    errs=$(grep -E "Socket errors|Non-2xx" /tmp/wrk.$tag | tr -s ' ' | tr '\n' ';')
    echo "round $r $rt${lua:+ pipelined}: req/s=$rps requests=$reqs errors=[${errs:-none}]"
  done
done
