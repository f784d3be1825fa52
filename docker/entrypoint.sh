#!/bin/sh
# Portcullis entrypoint: one image (or one checkout), several roles.
#
#   entrypoint.sh [--dry-run] ROLE [ARGS...]
#
#   web          granian (WSGI) serving idp.wsgi:application; WEB_SERVER=gunicorn:
#                gunicorn -c docker/gunicorn.conf.py idp.wsgi   (RUN_MIGRATIONS=1: migrate first)
#   worker       celery -A idp worker --loglevel $LOG_LEVEL
#   beat         celery -A idp beat --loglevel $LOG_LEVEL --schedule $BEAT_SCHEDULE_FILE
#                (exactly one beat per deployment)
#   migrate      manage.py migrate --noinput, then exit
#   bootstrap    manage.py bootstrap --no-migrate ARGS   (e.g. --create-admin --email you@example.com)
#   check        manage.py check --deploy ARGS
#   manage       manage.py ARGS                          (e.g. manage clients list)
#   healthcheck  GET http://127.0.0.1:$PORT/healthz with Python's urllib; exit 0 when it answers 200
#   anything else is exec'd as a command                (e.g. sh, python -c ...)
#
# ARGS after a role are appended to its command. The last process is exec'd, so it runs as
# PID 1 in a container and receives SIGTERM itself.
#
# Environment:
#   APP_DIR        the project directory (default: the parent of this script's directory)
#   VENV           virtualenv whose bin/ is searched first for python, gunicorn and celery,
#                  before PATH (default: /opt/venv)
#   WEB_SERVER     granian (default: measured fastest, see docs/performance.md) or gunicorn
#   HOST, PORT     where `web` listens (default 0.0.0.0:8000)
#   WEB_CONCURRENCY  web worker processes (default: granian one per CPU core, gunicorn two)
#   WEB_THREADS    granian: threads per worker running Django (default 1); GRANIAN_* variables
#                  reach granian itself (e.g. GRANIAN_LOG_ACCESS_ENABLED=true)
#   RUN_MIGRATIONS 1 = `web` runs `manage.py migrate --noinput` before starting the server.
#                  Off by default: with several web replicas, run the `migrate` role once instead.
#   LOG_LEVEL      celery's --loglevel (default INFO), the same variable Django's logging reads
#   BEAT_SCHEDULE_FILE  beat's schedule file (default: $IDP_DATA_DIR/celerybeat-schedule, where
#                  IDP_DATA_DIR defaults to $APP_DIR/var); its directory must be writable
#   PROMETHEUS_MULTIPROC_DIR  created if missing; `web` also empties it before gunicorn starts
#   ENTRYPOINT_DRY_RUN=1 (or --dry-run)  print the commands instead of running them:
#                  "run: CMD" for a step before the last process, "exec: CMD" for the last one,
#                  each a shell-quoted line.
set -eu

DRY_RUN=${ENTRYPOINT_DRY_RUN:-0}
if [ "${1:-}" = "--dry-run" ]; then
    DRY_RUN=1
    shift
fi

script_dir=$(cd "$(dirname "$0")" && pwd -P)
APP_DIR=${APP_DIR:-$(dirname "$script_dir")}
VENV=${VENV:-/opt/venv}
LOG_LEVEL=${LOG_LEVEL:-INFO}

usage() {
    # The comment block at the top of this file.
    sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'
}

is_true() {
    case $1 in
        1 | [Tt][Rr][Uu][Ee] | [Yy][Ee][Ss] | [Oo][Nn]) return 0 ;;
        *) return 1 ;;
    esac
}

if is_true "$DRY_RUN"; then DRY_RUN=1; else DRY_RUN=0; fi

# find_tool NAME...: the first NAME found in $VENV/bin, else the first found on PATH.
find_tool() {
    for tool_name in "$@"; do
        if [ -x "$VENV/bin/$tool_name" ]; then
            printf '%s\n' "$VENV/bin/$tool_name"
            return 0
        fi
    done
    for tool_name in "$@"; do
        if tool_path=$(command -v "$tool_name" 2>/dev/null); then
            printf '%s\n' "$tool_path"
            return 0
        fi
    done
    echo "entrypoint: cannot find $* in $VENV/bin or on PATH (set VENV)" >&2
    return 127
}

# quote WORD: WORD as the shell would need it typed.
quote() {
    case $1 in
        '' | *[!A-Za-z0-9_./:=@%+,-]*)
            printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
            ;;
        *) printf '%s' "$1" ;;
    esac
}

# show PREFIX WORD...: print "PREFIX: WORD WORD ..." as one shell-quoted line.
show() {
    show_line="$1:"
    shift
    for show_word in "$@"; do
        show_line="$show_line $(quote "$show_word")"
    done
    printf '%s\n' "$show_line"
}

# run CMD...: a step before the last process.
run() {
    if [ "$DRY_RUN" = 1 ]; then
        show run "$@"
        return 0
    fi
    "$@"
}

# run_exec CMD...: replace this shell with the last process.
run_exec() {
    if [ "$DRY_RUN" = 1 ]; then
        show exec "$@"
        exit 0
    fi
    exec "$@"
}

# The project's own packages come first, before any copy installed in the virtualenv:
# settings find templates/ and static/ relative to the imported idp package.
case ":${PYTHONPATH:-}:" in
    *":$APP_DIR:"*) ;;
    *) PYTHONPATH="$APP_DIR${PYTHONPATH:+:$PYTHONPATH}" ;;
esac
export PYTHONPATH

# Multi-process Prometheus metrics (several gunicorn workers): the directory must exist, and
# must be emptied when gunicorn starts (stale files of dead processes would be summed).
prometheus_dir() {
    [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ] || return 0
    [ "$DRY_RUN" = 1 ] && return 0
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    if [ "${1:-}" = reset ]; then
        find "$PROMETHEUS_MULTIPROC_DIR" -maxdepth 1 -type f -name '*.db' -exec rm -f {} +
    fi
}

role=${1:-web}
if [ $# -gt 0 ]; then
    shift
fi

cd "$APP_DIR"

case $role in
    web)
        python=$(find_tool python python3)
        case ${WEB_SERVER:-granian} in
            granian) server=$(find_tool granian) ;;
            gunicorn) server=$(find_tool gunicorn) ;;
            *)
                echo "entrypoint: WEB_SERVER must be granian or gunicorn, not '$WEB_SERVER'" >&2
                exit 64
                ;;
        esac
        if is_true "${RUN_MIGRATIONS:-0}"; then
            run "$python" "$APP_DIR/manage.py" migrate --noinput
        fi
        prometheus_dir reset
        if [ "${WEB_SERVER:-granian}" = gunicorn ]; then
            run_exec "$server" -c "$APP_DIR/docker/gunicorn.conf.py" "$@" idp.wsgi
        fi
        # granian: HTTP in Rust, Django in WEB_THREADS threads per worker process. Keep its
        # default backpressure: it bounds *connections* per worker, idle keep-alive included.
        # One worker per core: measured faster and with a shorter tail than two per core on a
        # machine that also runs PostgreSQL (docs/performance.md, "Serving stack").
        workers=${WEB_CONCURRENCY:-$(nproc 2>/dev/null || echo 1)}
        run_exec "$server" --interface wsgi --host "${HOST:-0.0.0.0}" --port "${PORT:-8000}" \
            --workers "$workers" --blocking-threads "${WEB_THREADS:-1}" --no-ws \
            --respawn-failed-workers --workers-kill-timeout 20 "$@" idp.wsgi:application
        ;;
    worker)
        celery=$(find_tool celery)
        prometheus_dir
        run_exec "$celery" -A idp worker --loglevel "$LOG_LEVEL" "$@"
        ;;
    beat)
        celery=$(find_tool celery)
        schedule=${BEAT_SCHEDULE_FILE:-${IDP_DATA_DIR:-$APP_DIR/var}/celerybeat-schedule}
        if [ "$DRY_RUN" = 0 ]; then
            mkdir -p "$(dirname "$schedule")"
        fi
        prometheus_dir
        run_exec "$celery" -A idp beat --loglevel "$LOG_LEVEL" --schedule "$schedule" "$@"
        ;;
    migrate)
        python=$(find_tool python python3)
        run_exec "$python" "$APP_DIR/manage.py" migrate --noinput "$@"
        ;;
    bootstrap)
        python=$(find_tool python python3)
        run_exec "$python" "$APP_DIR/manage.py" bootstrap --no-migrate "$@"
        ;;
    check)
        python=$(find_tool python python3)
        run_exec "$python" "$APP_DIR/manage.py" check --deploy "$@"
        ;;
    manage)
        python=$(find_tool python python3)
        run_exec "$python" "$APP_DIR/manage.py" "$@"
        ;;
    healthcheck)
        # Liveness only (no database): /readyz is for load balancers. The Host header is the
        # issuer's host, which is always in ALLOWED_HOSTS (127.0.0.1 may not be).
        python=$(find_tool python python3)
        run_exec "$python" -c '
import os, sys, urllib.parse, urllib.request
host = urllib.parse.urlsplit(os.environ.get("IDP_ISSUER") or "http://127.0.0.1").hostname
host = host or "127.0.0.1"
if ":" in host:
    host = "[" + host + "]"
url = os.environ.get("HEALTHCHECK_URL") or (
    "http://127.0.0.1:" + os.environ.get("PORT", "8000") + "/healthz")
try:
    request = urllib.request.Request(url, headers={"Host": host})
    with urllib.request.urlopen(request, timeout=5) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:
    print("healthcheck: " + url + ": " + str(exc), file=sys.stderr)
    sys.exit(1)
'
        ;;
    help | -h | --help)
        usage
        ;;
    *)
        run_exec "$role" "$@"
        ;;
esac
