"""flowsplit.http(): every exchange, every body read; bodies counted are
the responses' with bytes (as the other tools count them)."""

import gc
import hashlib
import sys
import time

import flowsplit
from common import report

capture = sys.argv[1]
start = time.perf_counter()
bodies = 0
for x in flowsplit.http(capture):
    for half in (x.request, x.response):
        body = None if half is None else half.body
        if body:
            hashlib.sha256(body).hexdigest()
            bodies += half is x.response
loop = time.perf_counter() - start
del x
gc.collect()  # the run's private folder is deleted here
cleanup = time.perf_counter() - start - loop
report("flowsplit.http", None, capture, bodies, extra={"loop_s": round(loop, 2), "cleanup_s": round(cleanup, 2)})
