#!/bin/bash
# The Kubernetes recipe without a cluster (issue 32): run.sh runs against a
# stand-in `kubectl` that keeps what is applied and, when run.sh waits for a
# Job, runs that Job's container command line the way the Job controller
# would: the split Job once per completion index (JOB_COMPLETION_INDEX and
# the manifest's env set, `$(VAR)` expanded as Kubernetes expands it), the
# merge Job once, with /data a local folder standing for the shared volume.
# Then the merged folder must equal a single run with the same options (every
# file byte for byte; report.xml with the output folder's name replaced).
#
# usage: deploy/kubernetes/test.sh FLOWSPLIT_BINARY CAPTURE
set -euo pipefail
die() { echo "deploy/kubernetes/test.sh: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: test.sh FLOWSPLIT_BINARY CAPTURE"
bin=$(realpath "$1") capture=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/data" "$tmp/bin" "$tmp/state"
ln -s "$capture" "$tmp/data/capture.pcap"
ln -s "$bin" "$tmp/bin/flowsplit"

# The stand-in kubectl. State: the manifests applied (by Job name) and the
# env that `set env` added.
cat >"$tmp/bin/kubectl" <<'KUBECTL'
#!/bin/bash
set -euo pipefail
state=$KUBE_STATE
case "$1 $2" in
    "set env")
        shift 2
        out=$(cat)
        for a in "$@"; do
            case $a in *=*) printf '%s\0' "$a" >>"$state/env" ;; esac
        done
        printf '%s\n' "$out"
        ;;
    "apply -f")
        if [ "$3" = - ]; then text=$(cat); else text=$(cat "$3"); fi
        name=$(printf '%s\n' "$text" | sed -n 's/^  name: \(.*\)$/\1/p' | head -n 1)
        printf '%s\n' "$text" >"$state/$name.yaml"
        echo "job.batch/$name created"
        ;;
    "wait --for=condition=complete")
        job=${4#job/}
        manifest=$state/$job.yaml
        # The container's command line: the folded scalar after `- >-`.
        cmd=$(awk '/^ *- >-$/ { on = 1; next } on && /^ *[A-Za-z]+:/ { on = 0 } on { sub(/^ +/, ""); printf "%s ", $0 }' "$manifest")
        completions=$(sed -n 's/^  completions: \([0-9]*\)$/\1/p' "$manifest")
        # The manifest's env, then what `set env` changed.
        declare -A env=()
        while IFS= read -r line; do
            n=$(sed -n 's/.*name: \([A-Z_]*\), value: "\(.*\)"}.*/\1/p' <<<"$line")
            [ -n "$n" ] && env[$n]=$(sed -n 's/.*value: "\(.*\)"}.*/\1/p' <<<"$line")
        done < <(grep -E '^ *- \{name: [A-Z_]+, value: ' "$manifest" || true)
        if [ -s "$state/env" ] && [ -n "$completions" ]; then
            while IFS= read -r -d '' kv; do env[${kv%%=*}]=${kv#*=}; done <"$state/env"
        fi
        for k in $(seq 0 $(( ${completions:-1} - 1 ))); do
            line=${cmd//\/data/$KUBE_DATA}
            line=${line//\$(JOB_COMPLETION_INDEX)/$k}
            for v in "${!env[@]}"; do line=${line//\$($v)/${env[$v]}}; done
            (
                for v in "${!env[@]}"; do export "$v=${env[$v]}"; done
                export JOB_COMPLETION_INDEX=$k
                sh -c "$line"
            ) >>"$state/$job.log" 2>&1 || { cat "$state/$job.log" >&2; exit 1; }
        done
        echo "job.batch/$job condition met"
        ;;
    "logs job/flowsplit-merge") cat "$state/flowsplit-merge.log" ;;
    *) echo "stand-in kubectl: $* not simulated" >&2; exit 1 ;;
esac
KUBECTL
chmod +x "$tmp/bin/kubectl"
export PATH=$tmp/bin:$PATH KUBE_STATE=$tmp/state KUBE_DATA=$tmp/data

# The manifests against the Kubernetes API's schema, offline (validate.py):
# as shipped, and (below) as run.sh applies them. The validator must refuse
# a misspelt field, a value of the wrong type, a missing required field and
# a quantity that is none, or its "valid" would mean nothing.
"$here/validate.py" "$here/split-job.yaml" "$here/merge-job.yaml" >&2 ||
    die "the shipped manifests are not valid Job objects"
broken() { # broken WHAT PYTHON-STATEMENT-ON-d
    /usr/bin/python3 -c "import yaml, sys
d = yaml.safe_load(open(sys.argv[1]))
c = d['spec']['template']['spec']['containers'][0]
$2
print(yaml.safe_dump(d))" "$here/split-job.yaml" >"$tmp/broken.yaml"
    if "$here/validate.py" "$tmp/broken.yaml" 2>"$tmp/broken.err"; then
        die "validate.py passed a manifest with $1"
    fi
    grep -q "$3" "$tmp/broken.err" || die "validate.py on $1 did not say '$3': $(cat "$tmp/broken.err")"
}
broken "a misspelt field" "d['spec']['completionMod'] = d['spec'].pop('completionMode')" \
    "spec.completionMod: no such field in V1JobSpec"
broken "a string for an int" "d['spec']['backoffLimit'] = '8'" "spec.backoffLimit: int expected"
broken "no container name" "del c['name']" "Invalid value for \`name\`, must not be \`None\`"
broken "a bad quantity" "c['resources']['requests']['cpu'] = 'two'" "'two' is not a quantity"

# Options with a space and a quote in them, to show any word survives.
"$here/run.sh" 3 -e http -T "%A.%a-%B.%b%C%c" "tcp port 80"
[ -d "$tmp/data/out" ] || die "no merged folder"
"$here/validate.py" "$tmp"/state/flowsplit-*.yaml >&2 ||
    die "a manifest as run.sh applied it is not a valid Job object"
[ "$(ls -d "$tmp"/data/split/shard-* | wc -l)" = 3 ] || die "not 3 shards: $(ls "$tmp/data/split")"
# The same input path as the shards read: it is named in report.traffic.json.
"$bin" -q -e http -T "%A.%a-%B.%b%C%c" -r "$tmp/data/capture.pcap" -o "$tmp/single" "tcp port 80"
sed -i "s#$tmp/single/#OUT/#g" "$tmp/single/report.xml"
sed -i "s#$tmp/data/out/#OUT/#g" "$tmp/data/out/report.xml"
diff -r "$tmp/single" "$tmp/data/out" >&2 || die "the merged folder differs from a single run"
bodies=$(find "$tmp/data/out" -name '*HTTPBODY*' | wc -l)
[ "$bodies" -gt 0 ] || die "no HTTP body: -e http was not passed to the shards"
if "$here/run.sh" 2 -o /elsewhere 2>/dev/null; then die "-o was not refused"; fi
echo "deploy/kubernetes/test.sh: manifests valid against the API schema (4 broken ones refused); 3 shards merged equal a single run ($(find "$tmp/data/out" -type f | wc -l) files, $bodies HTTP bodies); -o refused"
