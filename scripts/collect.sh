#!/usr/bin/env bash
# collect.sh: capture a panda-bundle/1 evidence bundle with plain bash, kubectl and curl.
#
# For engineers who reach the cluster only through an SSH jump host with no Python on it
# (seed 000). Writes the same layout as `panda-analysis collect` (DESIGN.md, "Bundle"),
# follows DESIGN.md's "Live collection rules" (read-only, bounded, redacted) and can be
# read back anywhere with `pa.load_bundle(PATH)`. Run `collect.sh --help` for the options.
#
# Needs: bash 4+, kubectl, curl (only with --focus-url / --rabbitmq-url), and the usual
# coreutils with sed, awk (mawk is enough), grep, date, tar, gzip, mktemp. jq is not needed.
#
# Redaction covers the obvious forms only (see --help); like panda_analysis.redact, an
# unquoted value ends at whitespace, & or a quote, and a secret with none of these shapes
# (a bare password in free text, a Cookie header) is not recognised. Kubernetes Secrets
# are never read. The multi-namespace merge relies on kubectl's 4-space JSON layout and
# refuses (recording a failure) anything else.

set -euo pipefail
export LC_ALL=C # byte-wise sed/grep/awk: evidence may hold any bytes; our patterns are ASCII

if ((BASH_VERSINFO[0] < 4)); then
    echo "collect.sh: bash 4 or newer is required (this is ${BASH_VERSION})" >&2
    exit 2
fi

readonly FORMAT="panda-bundle/1"
readonly REDACTED="<redacted>"
PROG=${0##*/}

usage() {
    cat <<EOF
Usage: $PROG [-o OUT.tar.gz|DIR] [-n NAMESPACE]... [--context CTX] [--since 2h]
             [--max-lines 20000] [--max-bytes 10000000] [--focus-url URL] [--insecure]
             [--rabbitmq-url URL] [--samples N] [--interval S]

Capture a read-only evidence bundle (panda-bundle/1) from a Kubernetes cluster with
kubectl and curl only, for reading later with panda_analysis (pa.load_bundle) or
'panda-analysis diagnose OUT'.

Options:
  -o, --out PATH         bundle to write: a directory (new or empty), or a file ending in
                         .tar.gz / .tgz (default: panda-bundle-<UTC time>.tar.gz)
  -n, --namespace NS     namespace to read; repeatable (default: panda and kube-system)
      --context CTX      kubeconfig context (default: the current context)
      --kubeconfig PATH  kubeconfig file (default: \$KUBECONFIG or ~/.kube/config)
      --since DURATION   window of current container logs, e.g. 30m, 2h, 1h30m, or 'all'
                         (default 2h; previous logs of restarted containers are not cut)
      --max-lines N      at most the last N lines per log (default 20000)
      --max-bytes N      at most N bytes per log or HTTP body (default 10000000)
      --timeout DURATION timeout of every kubectl request (default 30s); curl: 10 s
      --focus-url URL    Focus Server base URL: GET URL/live_metadata per sample
                         -> http/focus/live_metadata.jsonl
      --rabbitmq-url URL RabbitMQ management base URL (http://host:15672): GET
                         /api/overview, /api/queues, /api/consumers per sample
                         -> rabbitmq/snapshots.jsonl. Credentials come from the
                         environment (RABBITMQ_USER, RABBITMQ_PASSWORD) and are handed
                         to curl on stdin: never on its command line, never written.
      --insecure         do not verify TLS certificates of the HTTP URLs (curl -k)
      --samples N        number of HTTP samples, 1-100 (default 1)
      --interval S       time between samples: seconds, or 5s / 1m (default 5s)
  -h, --help             show this help

What it does (DESIGN.md "Live collection rules"):
  * read-only: only 'kubectl get' and 'kubectl logs', and HTTP GET;
  * bounded: every kubectl request has --request-timeout, every curl --max-time 10;
    logs are cut by --since, --max-lines and --max-bytes; a failed read is retried at
    most twice, with backoff, and only when the error looks transient;
  * per namespace: k8s/pods.json, events.json, jobs.json, services.json, endpoints.json
    (kubectl's List, several namespaces spliced into one List), k8s/pods.txt (the
    'kubectl get pods' table, with a NAMESPACE column), and logs/<ns>/<pod>/<container>.log
    (plus .previous.log when the container restarted); empty logs are not written;
  * redacted before anything is written: URI passwords (scheme://user:<redacted>@host),
    Authorization header credentials and Bearer tokens, password= passwd= token=
    secret= api_key= (and similar) values, JSON fields such as "password": "...", and
    pod env values of secret-looking names (DB_PASSWORD, API_TOKEN, ...). Raw output
    only passes through a private temporary directory (in /dev/shm when possible),
    removed on exit. manifest.json lists what was redacted by kind, file and count,
    never the secret itself;
  * a read that fails is recorded in manifest.json "failures" and collection goes on.

Exit status: 0 when something was collected (failures are listed), 1 when nothing could
be collected, 2 for a usage error.

Examples:
  $PROG -o incident.tar.gz -n panda -n kube-system --since 3h
  RABBITMQ_USER=monitor RABBITMQ_PASSWORD=... $PROG -o evidence/ \\
      --focus-url https://focus.panda.example --rabbitmq-url http://rabbitmq-panda:15672 \\
      --samples 6 --interval 10s
EOF
}

die_usage() {
    echo "$PROG: $1 (see --help)" >&2
    exit 2
}

# ------------------------------------------------------------------------- options
OUT=""
NAMESPACES=()
CONTEXT=""
KUBECONFIG_PATH=""
SINCE="2h"
MAX_LINES=20000
MAX_BYTES=10000000
TIMEOUT="30s"
FOCUS_URL=""
RABBITMQ_URL=""
INSECURE=0
SAMPLES=1
INTERVAL="5s"

need_value() {
    (($2 >= 2)) || die_usage "option $1 needs a value"
}

while (($# > 0)); do
    case $1 in
    -h | --help)
        usage
        exit 0
        ;;
    -o | --out) need_value "$1" $# && OUT=$2 && shift 2 ;;
    -n | --namespace) need_value "$1" $# && NAMESPACES+=("$2") && shift 2 ;;
    --context) need_value "$1" $# && CONTEXT=$2 && shift 2 ;;
    --kubeconfig) need_value "$1" $# && KUBECONFIG_PATH=$2 && shift 2 ;;
    --since) need_value "$1" $# && SINCE=$2 && shift 2 ;;
    --max-lines) need_value "$1" $# && MAX_LINES=$2 && shift 2 ;;
    --max-bytes) need_value "$1" $# && MAX_BYTES=$2 && shift 2 ;;
    --timeout) need_value "$1" $# && TIMEOUT=$2 && shift 2 ;;
    --focus-url) need_value "$1" $# && FOCUS_URL=${2%/} && shift 2 ;;
    --rabbitmq-url) need_value "$1" $# && RABBITMQ_URL=${2%/} && shift 2 ;;
    --insecure) INSECURE=1 && shift ;;
    --samples) need_value "$1" $# && SAMPLES=$2 && shift 2 ;;
    --interval) need_value "$1" $# && INTERVAL=$2 && shift 2 ;;
    --*=*) set -- "${1%%=*}" "${1#*=}" "${@:2}" ;; # --since=2h → --since 2h
    *) die_usage "unknown argument: $1" ;;
    esac
done

((${#NAMESPACES[@]} > 0)) || NAMESPACES=(panda kube-system)
for ns in "${NAMESPACES[@]}"; do # DNS-1123 label: also keeps paths and JSON simple
    [[ $ns =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || die_usage "not a namespace name: '$ns'"
done
[[ $SINCE == all || $SINCE =~ ^([0-9]+(h|m|s))+$ ]] || die_usage "--since takes a duration like 30m, 2h, 1h30m or 'all', not '$SINCE'"
[[ $MAX_LINES =~ ^[1-9][0-9]{0,8}$ ]] || die_usage "--max-lines takes a positive integer, not '$MAX_LINES'"
[[ $MAX_BYTES =~ ^[1-9][0-9]{0,11}$ ]] || die_usage "--max-bytes takes a positive integer, not '$MAX_BYTES'"
[[ $TIMEOUT =~ ^([0-9]+(h|m|s))+$ ]] || die_usage "--timeout takes a duration like 30s, not '$TIMEOUT'"
if [[ ! $SAMPLES =~ ^[1-9][0-9]{0,2}$ ]] || ((SAMPLES > 100)); then
    die_usage "--samples takes an integer from 1 to 100, not '$SAMPLES'"
fi
if [[ $INTERVAL =~ ^([0-9]{1,4}(\.[0-9]+)?)(s?)$ ]]; then
    INTERVAL_S=${BASH_REMATCH[1]}
elif [[ $INTERVAL =~ ^([0-9]{1,2})m$ ]]; then
    INTERVAL_S=$((BASH_REMATCH[1] * 60))
else
    die_usage "--interval takes seconds (5, 5s, 0.5) or minutes (1m), not '$INTERVAL'"
fi
((${INTERVAL_S%.*} <= 600)) || die_usage "--interval is at most 600 s"
for url in "$FOCUS_URL" "$RABBITMQ_URL"; do
    [[ -z $url || $url =~ ^https?:// ]] || die_usage "URLs must start with http:// or https://"
done
command -v kubectl >/dev/null || die_usage "kubectl is not on PATH"
if [[ -n $FOCUS_URL || -n $RABBITMQ_URL ]]; then
    command -v curl >/dev/null || die_usage "curl is not on PATH (needed for --focus-url / --rabbitmq-url)"
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
CREATED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
[[ -n $OUT ]] || OUT="panda-bundle-$STAMP.tar.gz"
PACK=0
case $OUT in *.tar.gz | *.tgz) PACK=1 ;; esac
if ((PACK)); then
    [[ ! -e $OUT ]] || die_usage "$OUT exists; choose a new name"
    [[ -d $(dirname -- "$OUT") ]] || die_usage "directory of $OUT does not exist"
elif [[ -e $OUT ]]; then
    [[ -d $OUT && -z $(ls -A -- "$OUT") ]] || die_usage "$OUT exists and is not an empty directory"
fi

# ------------------------------------------------------------------------- work space
# RAW holds unredacted output for the moment it takes to redact it: a private (0700)
# directory, in memory when /dev/shm is usable, removed on exit whatever happens.
umask 077
if [[ -d /dev/shm && -w /dev/shm ]]; then
    RAW=$(mktemp -d /dev/shm/panda-collect.XXXXXX)
else
    RAW=$(mktemp -d "${TMPDIR:-/tmp}/panda-collect.XXXXXX")
fi
STAGE=$(mktemp -d "${TMPDIR:-/tmp}/panda-bundle.XXXXXX")
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() { rm -rf -- "$RAW" "$STAGE"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
umask 022
if ((PACK)); then
    NAME=$(basename -- "$OUT")
    NAME=${NAME%.tar.gz}
    NAME=${NAME%.tgz}
    ROOT="$STAGE/$NAME"
else
    ROOT=$OUT
fi
mkdir -p -- "$ROOT"

KUBECTL=(kubectl "--request-timeout=$TIMEOUT")
[[ -z $CONTEXT ]] || KUBECTL+=("--context=$CONTEXT")
[[ -z $KUBECONFIG_PATH ]] || KUBECTL+=("--kubeconfig=$KUBECONFIG_PATH")

progress() { printf '%s\n' "$*" >&2; }

# ------------------------------------------------------------------------- JSON helpers
# A JSON string literal of $1: escapes \ and ", turns newlines and tabs into \n and \t,
# and drops other control characters and non-ASCII bytes (so the manifest always parses).
json_str() {
    local s
    s=$(printf '%s' "$1" | tr -cd '\11\12\40-\176' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' | sed -e ':a' -e 'N' -e '$!ba' -e 's/\n/\\n/g')
    printf '"%s"' "$s"
}

# ------------------------------------------------------------------------- redaction
# Case-insensitive ERE for a fragment of letters, digits and ERE operators
# ("api[_-]?key" → "[Aa][Pp][Ii][_-]?[Kk][Ee][Yy]"); the same text works in grep -E and sed -E.
ci() {
    local s=$1 out="" c i
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        if [[ $c == [a-zA-Z] ]]; then out+="[${c^^}${c,,}]"; else out+=$c; fi
    done
    printf '%s' "$out"
}

SECRET_WORDS=$(ci 'password|passwd|passphrase|password[_-]?hash|secret|token|api[_-]?key|access[_-]?key|secret[_-]?key|private[_-]?key')
AUTH_SCHEMES=$(ci 'bearer|basic|token|digest|negotiate|apikey')
ASSIGN_KEY="(^|[^A-Za-z0-9])([A-Za-z0-9_.-]*($SECRET_WORDS))="
# Rules run in this order; each is (kind, ERE, replacement). A value that is already
# "<redacted>" never matches again (values may not start with "<"), so redaction is
# idempotent and counts are exact: grep -o counts the same non-overlapping matches that
# sed's g flag replaces.
RULE_KIND=()
RULE_RE=()
RULE_REP=()
rule() {
    RULE_KIND+=("$1")
    RULE_RE+=("$2")
    RULE_REP+=("$3")
}
# scheme://user:password@host (MongoDB, AMQP, Redis, HTTP URIs)
rule uri_password "([A-Za-z][A-Za-z0-9+.-]*://[^:/?#@[:space:]\"'<>]*:)[^@/?#[:space:]\"'<>]+@" "\\1$REDACTED@"
# Authorization: Bearer xxx / "Authorization": "Basic xxx" (the scheme stays visible)
rule authorization "($(ci authorization)\\\\?[\"']?[[:space:]]*[:=][[:space:]]*\\\\?[\"']?($AUTH_SCHEMES)[[:space:]]+)[^[:space:]\"'<,][^[:space:]\"',]*" "\\1$REDACTED"
# a bare "Bearer <token>" anywhere else (logged headers, curl command lines)
rule authorization "($(ci bearer)[[:space:]]+)[A-Za-z0-9._~+/-]{8,}=*" "\\1$REDACTED"
# "password": "...", "api_key": "..." (also inside JSON-in-JSON, \"password\":\"...\")
rule json_secret_field "(\\\\?\"[A-Za-z0-9_.-]*($SECRET_WORDS)\\\\?\"[[:space:]]*:[[:space:]]*\\\\?\")[^\"\\\\<][^\"\\\\]*" "\\1$REDACTED"
# password="..." / password='...' / password=value (ends at whitespace, & or a quote)
rule secret_assignment "$ASSIGN_KEY\"[^\"<][^\"]*\"" "\\1\\2=\"$REDACTED\""
rule secret_assignment "$ASSIGN_KEY'[^'<][^']*'" "\\1\\2='$REDACTED'"
rule secret_assignment "${ASSIGN_KEY}[^[:space:]&\"'<][^[:space:]&\"']*" "\\1\\2=$REDACTED"

# Pod env values of secret-looking names. kubectl prints sorted keys, so "name" comes
# on the line just before "value" (the multi-line form); the one-line forms
# {"name":"X","value":"..."} and its escaped twin inside the last-applied-configuration
# annotation are handled too. The text goes to the file `out`; the number of values
# replaced is printed on stdout.
# shellcheck disable=SC2016  # awk program, not shell
ENV_AWK='
function secret_name(n,    u) {
    u = "_" toupper(n) "_"
    gsub(/[^A-Z0-9]+/, "_", u)
    if (u ~ /_(PASSWORD|PASSWD|PWD|PASSPHRASE|SECRET|SECRETS|TOKEN|TOKENS|APIKEY|APIKEYS|CREDENTIAL|CREDENTIALS|CREDS|COOKIE|DSN|AUTHORIZATION|ACCESSKEY|PRIVATEKEY|SECRETKEY|CONNECTIONSTRING)_/) return 1
    if (u ~ /[A-Z0-9](PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|APIKEY)_/) return 1
    if (u ~ /_(API|ACCESS|PRIVATE|SECRET|ACCOUNT|SIGNING|ENCRYPTION|MASTER)_KEYS?_/) return 1
    if (u ~ /_CONN(ECTION)?_STR(ING)?_/) return 1
    return 0
}
function placeholder(v) { return v == "" || v == "<redacted>" }
# {"name":"X","value":"V"} and \"name\":\"X\",\"value\":\"V\" within one line
function one_line(s,    out, m, nm, rest, q, v, cut) {
    out = ""
    while (match(s, /\\?"name\\?":[ ]*\\?"[A-Za-z0-9_.-]+\\?",[ ]*\\?"value\\?":[ ]*\\?"/)) {
        m = substr(s, RSTART, RLENGTH)
        out = out substr(s, 1, RSTART + RLENGTH - 1)
        rest = substr(s, RSTART + RLENGTH)
        nm = m
        sub(/^\\?"name\\?":[ ]*\\?"/, "", nm)
        sub(/\\?",.*$/, "", nm)
        q = index(rest, "\"")
        if (q == 0) { s = rest; continue }
        cut = (q > 1 && substr(rest, q - 1, 1) == "\\") ? q - 1 : q
        v = substr(rest, 1, cut - 1)
        if (secret_name(nm) && !placeholder(v)) {
            out = out "<redacted>"
            n++
        } else {
            out = out v
        }
        s = substr(rest, cut)
    }
    return out s
}
{
    line = $0
    if (pending && line ~ /^[ \t]*"value": "/) {
        match(line, /"value": "/)
        head = substr(line, 1, RSTART + RLENGTH - 1)
        rest = substr(line, RSTART + RLENGTH)
        last = 0
        for (i = length(rest); i > 0; i--) if (substr(rest, i, 1) == "\"") { last = i; break }
        if (last > 0 && !placeholder(substr(rest, 1, last - 1))) {
            line = head "<redacted>" substr(rest, last)
            n++
        }
    }
    pending = 0
    if (line ~ /^[ \t]*"name": "[^"]*",?$/) {
        nm = line
        sub(/^[ \t]*"name": "/, "", nm)
        sub(/",?$/, "", nm)
        pending = secret_name(nm)
    } else if (index(line, "name")) {
        line = one_line(line)
    }
    print line > out
}
END { close(out); print n + 0 }
'

declare -A REDACTIONS=() # "kind<TAB>file" → count
REDACTION_ORDER=()
record_redaction() {
    local key="$1"$'\t'"$2"
    [[ -n ${REDACTIONS[$key]+x} ]] || REDACTION_ORDER+=("$key")
    REDACTIONS[$key]=$((${REDACTIONS[$key]:-0} + $3))
}

# redact SRC REL DEST: write SRC (raw, inside $RAW) to DEST with the secrets replaced,
# recording what was replaced under REL (the path inside the bundle). SRC is consumed.
redact() {
    local src=$1 rel=$2 dest=$3 work="$RAW/redact.work" n i d=$'\001'
    n=$(awk -v out="$work" "$ENV_AWK" "$src")
    rm -f -- "$src"
    [[ -e $work ]] || : >"$work" # awk opens `out` only for a non-empty input
    ((n == 0)) || record_redaction env_secret "$rel" "$n"
    for i in "${!RULE_RE[@]}"; do
        n=$({ grep -aoE -- "${RULE_RE[i]}" "$work" || true; } | wc -l)
        if ((n > 0)); then
            sed -E "s${d}${RULE_RE[i]}${d}${RULE_REP[i]}${d}g" "$work" >"$work.next"
            mv -f -- "$work.next" "$work"
            record_redaction "${RULE_KIND[i]}" "$rel" "$n"
        fi
    done
    mkdir -p -- "$(dirname -- "$dest")"
    cat -- "$work" >"$dest" # cat, not mv: $RAW may be another filesystem with 0600 files
    rm -f -- "$work"
}

# ------------------------------------------------------------------------- failures
FAILURES=() # JSON objects
failure() { # failure SOURCE MESSAGE
    local msg_file="$RAW/failure.txt" clean="$RAW/failure.clean" text
    printf '%s' "${2:0:2000}" >"$msg_file"
    redact "$msg_file" manifest.json "$clean"
    text=$(cat -- "$clean")
    rm -f -- "$clean"
    FAILURES+=("{\"source\": $(json_str "$1"), \"error\": $(json_str "$text")}")
    progress "  FAILED $1: ${text:0:200}"
}

# A failed read is retried (twice at most, after 1 s then 2 s) only when its error looks
# transient; NotFound, Forbidden, BadRequest... are answers, not accidents.
TRANSIENT='timeout|timed out|connection refused|connection reset|EOF|TLS handshake|ServiceUnavailable|TooManyRequests|InternalError|503|429|temporarily'

# When the API server cannot be reached at all (after the retries of the first read),
# the remaining Kubernetes reads are skipped instead of each waiting for its own timeouts.
UNREACHABLE='Unable to connect to the server|connection to the server .* was refused|no such host|i/o timeout|network is unreachable'
KUBE_DOWN=0

# kube_read OUTFILE ARGS...: run one read-only kubectl command into OUTFILE (stderr in
# $RAW/last.err); status 0 on success.
kube_read() {
    local outfile=$1 attempt
    shift
    for attempt in 1 2 3; do
        if "${KUBECTL[@]}" "$@" >"$outfile" 2>"$RAW/last.err"; then
            return 0
        fi
        if ((attempt == 3)) || ! grep -qiE -- "$TRANSIENT" "$RAW/last.err"; then
            break
        fi
        sleep "$attempt"
    done
    if ((N_OBJECTS + N_LOGS == 0)) && grep -qiE -- "$UNREACHABLE" "$RAW/last.err"; then
        KUBE_DOWN=1
    fi
    return 1
}

# The error of the last read: kubectl's own message lines, without the klog lines
# ("E1123 07:58:58.471103 ...") it repeats them in, unless there is nothing else.
err_text() {
    local text
    text=$(grep -avE '^[IWEF][0-9]{4} [0-9:.]+ ' -- "$RAW/last.err" || true)
    [[ -n $text ]] || text=$(tail -n 1 -- "$RAW/last.err")
    printf '%s' "$text" | tr -s '\n' ' ' | sed -e 's/ *$//'
}

# ------------------------------------------------------------------------- Kubernetes objects
# Splice the items of several kubectl `-o json` Lists into one List. kubectl prints
# 4-space indented JSON with one item per 8-space "{ ... }" block, which is all we rely
# on; a file that does not look like that fails the merge loudly instead of guessing.
# shellcheck disable=SC2016
MERGE_AWK='
FNR == 1 { state = 0; files++ }
state == 0 && /^    "items": \[\],?$/ { state = 2; ok++; next }
state == 0 && /^    "items": \[$/ { state = 1; ok++; next }
state == 1 && /^    \],?$/ { state = 2; next }
state == 1 {
    if ($0 ~ /^        \{$/ && items++) printf ",\n"
    else if ($0 ~ /^        \{$/) printf "\n"
    if ($0 ~ /^        \},?$/) printf "        }"
    else print
}
BEGIN { printf "{\n    \"apiVersion\": \"v1\",\n    \"items\": [" }
END {
    printf "%s],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n", (items ? "\n    " : "")
    if (ok != files) exit 3
}
'

declare -A OBJECTS=() # kind → number of objects
N_OBJECTS=0
N_LOGS=0
N_PREVIOUS=0
N_PROBES=0
N_SNAPSHOTS=0

collect_list() { # collect_list RESOURCE FILE: kubectl get RESOURCE -o json per namespace
    local resource=$1 file=$2 ns parts=() part count total=0
    for ns in "${NAMESPACES[@]}"; do
        ((KUBE_DOWN == 0)) || return 0
        part="$RAW/$file.$ns"
        if kube_read "$part" get "$resource" -n "$ns" -o json; then
            parts+=("$part")
            count=$(grep -c '^        {$' "$part" || true)
            total=$((total + count))
        else
            failure "kubectl get $resource -n $ns" "$(err_text)"
            rm -f -- "$part"
        fi
    done
    ((${#parts[@]} > 0)) || return 0
    if ((${#parts[@]} == 1)); then
        mv -- "${parts[0]}" "$RAW/$file"
    elif ! awk "$MERGE_AWK" "${parts[@]}" >"$RAW/$file"; then
        failure "merge k8s/$file" "kubectl's JSON for $resource was not in the expected layout; not written"
        rm -f -- "${parts[@]}" "$RAW/$file"
        return 0
    fi
    rm -f -- "${parts[@]}"
    redact "$RAW/$file" "k8s/$file" "$ROOT/k8s/$file"
    OBJECTS[$resource]=$total
    N_OBJECTS=$((N_OBJECTS + total))
    progress "  k8s/$file: $total $resource"
}

progress "collect.sh: namespaces ${NAMESPACES[*]} -> $OUT"
collect_list pods pods.json
collect_list events events.json
collect_list jobs jobs.json
collect_list services services.json
collect_list endpoints endpoints.json

# The `kubectl get pods` table as pasted in tickets, one table per namespace with a
# NAMESPACE column in front (as `kubectl get pods -A` prints it).
width=9 # len("NAMESPACE")
for ns in "${NAMESPACES[@]}"; do ((${#ns} > width)) && width=${#ns}; done
: >"$RAW/pods.txt"
for ns in "${NAMESPACES[@]}"; do
    ((KUBE_DOWN == 0)) || break
    if kube_read "$RAW/pods.txt.part" get pods -n "$ns"; then
        awk -v ns="$ns" -v fmt="%-$((width + 3))s%s\n" '{ printf fmt, (FNR == 1 && $1 == "NAME" ? "NAMESPACE" : ns), $0 }' \
            "$RAW/pods.txt.part" >>"$RAW/pods.txt"
    else
        failure "kubectl get pods -n $ns (table)" "$(err_text)"
    fi
    rm -f -- "$RAW/pods.txt.part"
done
if [[ -s $RAW/pods.txt ]]; then
    redact "$RAW/pods.txt" k8s/pods.txt "$ROOT/k8s/pods.txt"
else
    rm -f -- "$RAW/pods.txt"
fi

# ------------------------------------------------------------------------- logs
# Containers and their restart counts, one pod per line: "pod<TAB>c1:0 c2:4 "
# (init containers too: their failures are often the story of a crash loop).
JSONPATH='{range .items[*]}{.metadata.name}{"\t"}{range .status.initContainerStatuses[*]}{.name}{":"}{.restartCount}{" "}{end}{range .status.containerStatuses[*]}{.name}{":"}{.restartCount}{" "}{end}{"\n"}{end}'
LOG_ARGS=(--timestamps "--tail=$MAX_LINES" "--limit-bytes=$MAX_BYTES")

fetch_log() { # fetch_log NS POD CONTAINER PREVIOUS(0|1)
    local ns=$1 pod=$2 container=$3 previous=$4 rel args=() what
    rel="logs/$ns/$pod/$container.log"
    args=(logs -n "$ns" "$pod" -c "$container" "${LOG_ARGS[@]}")
    what="kubectl logs -n $ns $pod -c $container"
    if ((previous)); then
        rel="logs/$ns/$pod/$container.previous.log"
        args+=(--previous) # the crash that matters may be older than --since: not cut
        what+=" --previous"
    elif [[ $SINCE != all ]]; then
        args+=("--since=$SINCE")
    fi
    if ! kube_read "$RAW/log" "${args[@]}"; then
        failure "$what" "$(err_text)"
        rm -f -- "$RAW/log"
        return 0
    fi
    if [[ ! -s $RAW/log ]]; then # no output in the window: nothing to keep
        rm -f -- "$RAW/log"
        return 0
    fi
    redact "$RAW/log" "$rel" "$ROOT/$rel"
    N_LOGS=$((N_LOGS + 1))
    ((previous == 0)) || N_PREVIOUS=$((N_PREVIOUS + 1))
}

for ns in "${NAMESPACES[@]}"; do
    ((KUBE_DOWN == 0)) || break
    if ! kube_read "$RAW/containers" get pods -n "$ns" -o "jsonpath=$JSONPATH"; then
        failure "kubectl get pods -n $ns (containers)" "$(err_text)"
        continue
    fi
    before=$N_LOGS
    while IFS=$'\t' read -r pod containers; do
        [[ -n $pod ]] || continue
        for entry in $containers; do
            container=${entry%:*}
            restarts=${entry##*:}
            fetch_log "$ns" "$pod" "$container" 0
            if [[ $restarts =~ ^[0-9]+$ ]] && ((restarts > 0)); then
                fetch_log "$ns" "$pod" "$container" 1
            fi
        done
    done <"$RAW/containers"
    rm -f -- "$RAW/containers"
    progress "  logs/$ns: $((N_LOGS - before)) files"
done

if ((KUBE_DOWN)); then
    failure kubernetes "the API server could not be reached; the other Kubernetes reads were skipped"
fi

# ------------------------------------------------------------------------- HTTP sources
CURL_BASE=(curl -sS --connect-timeout 5 --max-time 10 --retry 2 --retry-delay 1 --max-filesize "$MAX_BYTES" -H "Accept: application/json")
((INSECURE == 0)) || CURL_BASE+=(-k)
shown_url() { printf '%s' "$1" | sed -E 's#//[^/@]*@#//#'; } # never show userinfo

now_iso() {
    local t
    t=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
    [[ $t == *N* ]] && t=$(date -u +%Y-%m-%dT%H:%M:%SZ) # a date(1) without %N
    printf '%s' "$t"
}

# http_get URL BODYFILE [curl config on stdin]: prints the HTTP status; non-zero when
# curl failed (no answer). Credentials, when any, arrive on stdin as a curl config.
http_get() {
    local url=$1 body=$2
    "${CURL_BASE[@]}" -K - -o "$body" -w '%{http_code}' -- "$url" 2>"$RAW/last.err"
}

# A body as one JSON value on one line: JSON objects and arrays as they came (newlines
# between tokens are insignificant), anything else as a JSON string.
json_body() {
    local first
    first=$(tr -d ' \t\r\n' <"$1" | head -c 1 || true) # head may close the pipe early
    if [[ $first == "{" || $first == "[" ]]; then
        tr '\r\n' '  ' <"$1"
    else
        json_str "$(head -c 4000 -- "$1")"
    fi
}

probe_focus() {
    local at status size
    at=$(now_iso)
    if ! status=$(http_get "$FOCUS_URL/live_metadata" "$RAW/body" </dev/null); then
        failure "GET $(shown_url "$FOCUS_URL")/live_metadata" "$(err_text)"
        return 0
    fi
    size=$(wc -c <"$RAW/body")
    if ((size > MAX_BYTES)); then
        failure "GET $(shown_url "$FOCUS_URL")/live_metadata" "body of $size bytes is over --max-bytes $MAX_BYTES; not kept"
        return 0
    fi
    printf '{"at": "%s", "status": %d, "body": %s}\n' "$at" "$status" "$(json_body "$RAW/body")" >>"$RAW/live_metadata.jsonl"
    N_PROBES=$((N_PROBES + 1))
}

rabbit_config() { # curl config naming the user, from the environment only
    local user=${RABBITMQ_USER-} pass=${RABBITMQ_PASSWORD-}
    [[ -n $user ]] || return 0
    pass=${pass//\\/\\\\}
    pass=${pass//\"/\\\"}
    user=${user//\\/\\\\}
    user=${user//\"/\\\"}
    printf 'user = "%s:%s"\n' "$user" "$pass"
}

snapshot_rabbitmq() {
    local at part status size bodies=() api
    at=$(now_iso)
    for part in overview queues consumers; do
        api="$(shown_url "$RABBITMQ_URL")/api/$part"
        if ! status=$(rabbit_config | http_get "$RABBITMQ_URL/api/$part" "$RAW/body"); then
            failure "GET $api" "$(err_text)"
            return 0
        fi
        size=$(wc -c <"$RAW/body")
        if [[ $status != 200 ]]; then
            failure "GET $api" "HTTP $status: $(head -c 300 -- "$RAW/body")"
            return 0
        elif ((size > MAX_BYTES)); then
            failure "GET $api" "body of $size bytes is over --max-bytes $MAX_BYTES; not kept"
            return 0
        fi
        bodies+=("$(json_body "$RAW/body")")
    done
    printf '{"at": "%s", "overview": %s, "queues": %s, "consumers": %s}\n' "$at" "${bodies[@]}" >>"$RAW/snapshots.jsonl"
    N_SNAPSHOTS=$((N_SNAPSHOTS + 1))
}

if [[ -n $FOCUS_URL || -n $RABBITMQ_URL ]]; then
    for ((sample = 1; sample <= SAMPLES; sample++)); do
        ((sample == 1)) || sleep "$INTERVAL_S"
        [[ -z $FOCUS_URL ]] || probe_focus
        [[ -z $RABBITMQ_URL ]] || snapshot_rabbitmq
        progress "  sample $sample/$SAMPLES: focus probes $N_PROBES, rabbitmq snapshots $N_SNAPSHOTS"
    done
    rm -f -- "$RAW/body"
    [[ ! -s $RAW/live_metadata.jsonl ]] || redact "$RAW/live_metadata.jsonl" http/focus/live_metadata.jsonl "$ROOT/http/focus/live_metadata.jsonl"
    [[ ! -s $RAW/snapshots.jsonl ]] || redact "$RAW/snapshots.jsonl" rabbitmq/snapshots.jsonl "$ROOT/rabbitmq/snapshots.jsonl"
fi

# ------------------------------------------------------------------------- manifest
join_by() { # join_by SEP ITEMS...
    local sep=$1 first=1 item
    shift
    for item in "$@"; do
        ((first)) || printf '%s' "$sep"
        printf '%s' "$item"
        first=0
    done
}

ns_json=()
for ns in "${NAMESPACES[@]}"; do ns_json+=("$(json_str "$ns")"); done
redacted_json=()
for key in "${REDACTION_ORDER[@]}"; do
    redacted_json+=("{\"kind\": $(json_str "${key%%$'\t'*}"), \"file\": $(json_str "${key#*$'\t'}"), \"count\": ${REDACTIONS[$key]}}")
done
{
    printf '{\n  "format": "%s",\n  "created_at": "%s",\n  "source": "collect.sh",\n' "$FORMAT" "$CREATED_AT"
    printf '  "namespaces": [%s],\n' "$(join_by ', ' "${ns_json[@]}")"
    printf '  "context": %s,\n' "$(if [[ -n $CONTEXT ]]; then json_str "$CONTEXT"; else echo null; fi)"
    printf '  "limits": {"since": %s, "max_lines": %d, "max_bytes": %d, "request_timeout": %s, "samples": %d, "interval_s": %s},\n' \
        "$(json_str "$SINCE")" "$MAX_LINES" "$MAX_BYTES" "$(json_str "$TIMEOUT")" "$SAMPLES" "$INTERVAL_S"
    printf '  "redacted": [%s],\n' "$(join_by $',\n    ' "${redacted_json[@]}")"
    printf '  "failures": [%s]\n}\n' "$(join_by $',\n    ' "${FAILURES[@]}")"
} >"$ROOT/manifest.json"

# ------------------------------------------------------------------------- pack and report
if ((PACK)); then
    tar -C "$STAGE" -czf "$OUT" -- "$NAME"
fi

n_redacted=0
for key in "${REDACTION_ORDER[@]}"; do n_redacted=$((n_redacted + REDACTIONS[$key])); done
summary=""
for kind in pods events jobs services endpoints; do
    [[ -z ${OBJECTS[$kind]+x} ]] || summary+=" $kind ${OBJECTS[$kind]},"
done
{
    summary=${summary# }
    echo "collected: $N_OBJECTS Kubernetes objects (${summary%,}); $N_LOGS logs ($N_PREVIOUS previous); $N_PROBES Focus probes; $N_SNAPSHOTS RabbitMQ snapshots"
    echo "redacted: $n_redacted values$( ((${#REDACTION_ORDER[@]} == 0)) || printf ' in %d kind/file pairs (see manifest.json "redacted")' "${#REDACTION_ORDER[@]}")"
    echo "failures: ${#FAILURES[@]}$( ((${#FAILURES[@]} == 0)) || echo ' (see manifest.json "failures")')"
    echo "bundle: $OUT"
} >&2

if ((N_OBJECTS + N_LOGS + N_PROBES + N_SNAPSHOTS == 0)); then
    echo "$PROG: nothing could be collected; see the failures above" >&2
    exit 1
fi
exit 0
