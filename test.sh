#!/usr/bin/env bash
# Runs the whole test suite. On a fresh Debian machine it first installs what the tests use
# (redis-server, nginx, chromium, python3-venv, and prometheus for its promtool, from apt;
# playwright-core from npm into ./node_modules; the Python packages of requirements-test.txt into
# ./.venv: the aiosmtpd SMTP server the email tests run, and schemathesis for the API fuzzing).
set -euo pipefail
cd "$(dirname "$0")"

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# Debian's python3 makes venvs only with python3-venv (it carries ensurepip).
if [ ! -x .venv/bin/python ] && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    need+=(python3-venv)
fi
if [ -f package.json ]; then
    command -v node >/dev/null 2>&1 || need+=(nodejs)
    command -v npm >/dev/null 2>&1 || need+=(npm)
fi
if [ ${#need[@]} -gt 0 ]; then
    echo "test.sh: installing ${need[*]}"
    sudo_cmd=()
    [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
export PATH="$PATH:/usr/sbin"

if [ -f package-lock.json ] && [ ! -d node_modules/playwright-core ]; then
    npm ci --no-audit --no-fund
fi

# Python test dependencies (requirements-test.txt) go into ./.venv, created when missing or
# when the requirements changed since it was filled.
if [ ! -x .venv/bin/python ] || [ requirements-test.txt -nt .venv/.installed ]; then
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-test.txt
    touch .venv/.installed
fi

# The browser tests run the relay binary, so build it first.
cargo build --bins
cargo test --all-targets
# The HTTP API against its OpenAPI description: no 5xx, every answer as described.
tests/schemathesis.sh
# The Prometheus alert rules and their unit tests.
deploy/prometheus/check.sh

if compgen -G "tests/browser/*.test.mjs" >/dev/null; then
    node --test --test-concurrency=1 tests/browser/
fi
