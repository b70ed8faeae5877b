#!/usr/bin/env bash
# System calls per request: strace -f -c over the whole server life, 10,000
# requests back to back on one connection (no warm-up), then the probe is
# killed (SIGTERM to the probe itself: strace ignores it while it runs a
# command) and strace writes its summary to /tmp/st.RT.
# usage: strace.sh RT PORT
set -u
B=${B:-$(cd "$(dirname "$0")/.." && pwd)/target/release}
rt=$1 port=$2 N=${N:-10000}
rm -f /tmp/st.$rt
strace -f -c -o /tmp/st.$rt $B/probe-$rt $port > /tmp/st.$rt.log 2>&1 &
pid=$!
for _ in $(seq 100); do ss -ltnH "sport = :$port" | grep -q . && break; sleep 0.1; done
timeout 300 $B/probe-client $port 0 $N
kill $(cat /proc/$pid/task/$pid/children) 2>/dev/null
wait $pid 2>/dev/null
enter=$(awk '$NF=="io_uring_enter" {print $4}' /tmp/st.$rt)
total=$(awk '$NF=="total" {print $4}' /tmp/st.$rt)
echo "$rt io_uring_enter=$enter per_req=$(python3 -c "print(${enter:-0}/$N)") total=$total per_req=$(python3 -c "print(${total:-0}/$N)")"
