"""flowsplit.read(): every direction's bytes read with d.read() and hashed."""

import hashlib
import sys

import flowsplit
from common import report

capture = sys.argv[1]
found = {}
for d in flowsplit.read(capture):
    data = d.read()
    found[d.name] = (len(data), hashlib.sha256(data).hexdigest())
report("flowsplit.read", found, capture)
