"""flowsplit.http(): every exchange, every body read; bodies counted are
the responses' with bytes (as the other tools count them)."""

import hashlib
import sys

import flowsplit
from common import report

capture = sys.argv[1]
bodies = 0
for x in flowsplit.http(capture):
    for half in (x.request, x.response):
        body = None if half is None else half.body
        if body:
            hashlib.sha256(body).hexdigest()
            bodies += half is x.response
report("flowsplit.http", None, capture, bodies)
