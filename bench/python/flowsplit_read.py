"""flowsplit.read(): every direction's bytes read with d.read() and hashed."""

import gc
import hashlib
import sys
import time

import flowsplit
from common import report

capture = sys.argv[1]
start = time.perf_counter()
found = {}
it = flowsplit.read(capture)
for d in it:
    data = d.read()
    found[d.name] = (len(data), hashlib.sha256(data).hexdigest())
loop = time.perf_counter() - start
del it, d
gc.collect()  # the run's private folder is deleted here
cleanup = time.perf_counter() - start - loop
report("flowsplit.read", found, capture, extra={"loop_s": round(loop, 2), "cleanup_s": round(cleanup, 2)})
