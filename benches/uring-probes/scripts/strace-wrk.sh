#!/usr/bin/env bash
# Extra: system calls per request under load (wrk -c50 -d3s, not pinned),
# strace -f -c over the server's whole life; per request = calls / wrk's count.
set -u
B=${B:-$(cd "$(dirname "$0")/.." && pwd)/target/release}
port=18700
for rt in compio monoio glommio tokio-uring; do
  port=$((port+1))
  strace -f -c -o /tmp/stw.$rt $B/probe-$rt $port > /dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do ss -ltnH "sport = :$port" | grep -q . && break; sleep 0.1; done
  timeout 20 wrk -t1 -c50 -d3s http://127.0.0.1:$port/plaintext > /tmp/stw.$rt.wrk 2>&1
  kill $(cat /proc/$pid/task/$pid/children) 2>/dev/null; wait $pid 2>/dev/null
  n=$(awk '/requests in/ {print $1}' /tmp/stw.$rt.wrk)
  awk -v n=$n -v rt=$rt 'NR>2 && $4+0>=100 && $NF!="total" {printf "%s %s: %d calls = %.4f per request\n", rt, $NF, $4, $4/n}
       $NF=="total" {printf "%s total: %d calls / %d requests = %.4f per request\n", rt, $4, n, $4/n}' /tmp/stw.$rt
done
