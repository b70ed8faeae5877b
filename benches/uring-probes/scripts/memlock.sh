#!/usr/bin/env bash
# Does each probe's ring/executor start under a given RLIMIT_MEMLOCK, as root
# (CAP_IPC_LOCK, which exempts io_uring from memlock accounting) and with
# CAP_IPC_LOCK dropped? Starts each server, sends 10 requests, kills it.
B=${B:-$(cd "$(dirname "$0")/.." && pwd)/target/release}
port=18200
for rt in compio monoio glommio tokio-uring; do
  for lim in 8192 64; do
    for caps in root no-ipc-lock; do
      port=$((port+1))
      if [ $caps = root ]; then pre=(); else pre=(setpriv --inh-caps=-ipc_lock --ambient-caps=-ipc_lock --bounding-set=-ipc_lock); fi
      ( ulimit -l $lim; exec "${pre[@]}" strace -f -o /tmp/ml.$rt.$lim.$caps.strace \
          -e trace=io_uring_setup,io_uring_register,mlock,mmap \
          $B/probe-$rt $port ) > /tmp/ml.$rt.$lim.$caps.log 2>&1 &
      pid=$!
      sleep 1
      if timeout 5 $B/probe-client $port 0 10 2>/dev/null; then r=serves; else r=FAILS; fi
      # strace ignores SIGTERM while it runs a command: kill the probe (its child).
      kill $(cat /proc/$pid/task/$pid/children 2>/dev/null) 2>/dev/null; wait $pid 2>/dev/null
      echo "$rt ulimit-l=$lim $caps: $r; stderr: $(tr '\n' ' ' < /tmp/ml.$rt.$lim.$caps.log | cut -c1-400)"
      grep -E "io_uring_setup|io_uring_register|mlock" /tmp/ml.$rt.$lim.$caps.strace | sed 's/^/    /' | cut -c1-200 | head -8
    done
  done
done
