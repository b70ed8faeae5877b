#!/usr/bin/env python3
"""Self (exclusive) Ir per function from a callgrind dump written with
--compress-strings=no --compress-pos=no; prints the top K, divided by N."""
import sys, collections
path, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 12
self_ir = collections.Counter()
fn, skip = None, False
for line in open(path):
    if line.startswith("fn="):
        fn = line[3:].strip()
    elif line.startswith("calls="):
        skip = True
    elif line[:1].isdigit() or line[:1] in "+-*":
        parts = line.split()
        if skip:
            skip = False
        elif fn is not None and len(parts) >= 2:
            self_ir[fn] += int(parts[1])
total = sum(self_ir.values())
print(f"total self Ir {total} = {total / n:.1f} per request")
for f, v in self_ir.most_common(k):
    print(f"{v / n:9.1f} {100 * v / total:5.1f}%  {f[:120]}")
