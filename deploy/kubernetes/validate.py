#!/usr/bin/python3
"""Validate Kubernetes manifests offline against the API's schema.

usage: validate.py MANIFEST...   (a path, or - for standard input)

kubectl's client-side dry run downloads the schema from an API server; this
needs none. It checks each document against the models the Kubernetes Python
client (Debian's python3-kubernetes) generates from the API's OpenAPI schema:

- apiVersion and kind name a known model (batch/v1 Job is V1Job);
- every field is one the schema has at that place (an unknown or misspelt
  field is an error, where the API server would drop or refuse it);
- every value has the schema's type (int, bool, str, list, map, object);
- required fields are present (the models refuse a missing one);
- resource quantities parse as Kubernetes quantities.

Prints one line per document checked and exits 0, or names each fault with
its path in the document and exits 1.
"""

import datetime
import re
import sys

import yaml
from kubernetes import client
from kubernetes.client import models
from kubernetes.utils import parse_quantity


def model_name(api_version, kind):
    """The client's model class name for apiVersion/kind: batch/v1 Job -> V1Job."""
    version = api_version.split("/")[-1]
    return version[0].upper() + version[1:] + kind


def check(value, typ, path, faults):
    """Append to faults every way value breaks the schema type typ."""
    if value is None:
        return
    m = re.fullmatch(r"list\[(.+)\]", typ)
    if m:
        if not isinstance(value, list):
            faults.append(f"{path}: a list expected, not {value!r}")
            return
        for i, v in enumerate(value):
            check(v, m.group(1), f"{path}[{i}]", faults)
        return
    m = re.fullmatch(r"dict\(str, (.+)\)", typ)
    if m:
        if not isinstance(value, dict):
            faults.append(f"{path}: a map expected, not {value!r}")
            return
        for k, v in value.items():
            check(v, m.group(1), f"{path}.{k}", faults)
        return
    scalars = {"str": (str,), "int": (int,), "bool": (bool,), "float": (int, float)}
    if typ in scalars:
        ok = isinstance(value, scalars[typ]) and not (
            typ != "bool" and isinstance(value, bool)
        )
        if not ok:
            faults.append(f"{path}: {typ} expected, not {value!r}")
        return
    if typ in ("object", "datetime", "date"):
        if typ != "object" and not isinstance(value, (str, datetime.date)):
            faults.append(f"{path}: a time expected, not {value!r}")
        return
    cls = getattr(models, typ, None)
    if cls is None:
        faults.append(f"{path}: the schema names type {typ}, unknown to this client")
        return
    if not isinstance(value, dict):
        faults.append(f"{path}: a {typ} object expected, not {value!r}")
        return
    fields = {json: attr for attr, json in cls.attribute_map.items()}
    for key, v in value.items():
        if key not in fields:
            faults.append(f"{path}.{key}: no such field in {typ}")
            continue
        check(v, cls.openapi_types[fields[key]], f"{path}.{key}", faults)
    if typ == "V1ResourceRequirements":
        for part in ("limits", "requests"):
            for k, q in (value.get(part) or {}).items():
                try:
                    parse_quantity(q)
                except ValueError:
                    faults.append(f"{path}.{part}.{k}: {q!r} is not a quantity")


def build(value, typ, path, faults):
    """Construct the model from value, as the client does from a server's
    answer, so its own validation (required fields) runs."""
    api = client.ApiClient()
    try:
        api._ApiClient__deserialize(value, typ)
    except (ValueError, TypeError) as e:
        faults.append(f"{path}: {e}")


def validate(doc, where):
    """The faults of one manifest document."""
    faults = []
    if not isinstance(doc, dict):
        return [f"{where}: not a mapping"]
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [f"{where}: apiVersion and kind are required"]
    typ = model_name(api_version, kind)
    if getattr(models, typ, None) is None:
        return [f"{where}: {api_version} {kind} is not a known API type"]
    check(doc, typ, where, faults)
    if not faults:
        build(doc, typ, where, faults)
    return faults


def main(paths):
    if not paths:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    failed = False
    for path in paths:
        text = sys.stdin.read() if path == "-" else open(path).read()
        for i, doc in enumerate(yaml.safe_load_all(text)):
            if doc is None:
                continue
            where = f"{path}#{i}"
            faults = validate(doc, where)
            for f in faults:
                print(f"validate.py: {f}", file=sys.stderr)
            if faults:
                failed = True
            else:
                name = doc.get("metadata", {}).get("name", "?")
                print(f"{where}: {doc['apiVersion']} {doc['kind']} {name}: valid")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
