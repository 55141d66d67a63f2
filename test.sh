#!/usr/bin/env bash
# Runs the whole test suite. On a fresh Debian machine it first installs what the tests use
# (redis-server, redis-tools, redis-sentinel, openssl, nginx, chromium, python3-venv, postgresql,
# mariadb-server and their clients, prometheus (for promtool), PHP and its framework packages from apt; playwright-core and
# typescript from npm into ./node_modules; the Python packages of requirements-test.txt into
# ./.venv: the aiosmtpd SMTP server the email tests run, schemathesis for the API fuzzing, and
# matplotlib for the benchmark charts).
set -euo pipefail
cd "$(dirname "$0")"

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
command -v redis-sentinel >/dev/null 2>&1 || need+=(redis-sentinel)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# The notification log's SQL tests start their own PostgreSQL and MariaDB servers.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v mariadb >/dev/null 2>&1 || need+=(mariadb-client)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# Debian's python3 makes venvs only with python3-venv (it carries ensurepip).
if [ ! -x .venv/bin/python ] && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    need+=(python3-venv)
fi
if [ -f package.json ]; then
    command -v node >/dev/null 2>&1 || need+=(nodejs)
    command -v npm >/dev/null 2>&1 || need+=(npm)
fi
# PHP SDK tests (clients/php): PHP with curl and phpredis, PHPUnit, Composer (to install the SDK
# from its path repository, as documented), and the Laravel and Symfony components from Debian's
# packages (Composer packages cannot be downloaded where this runs).
command -v php >/dev/null 2>&1 || need+=(php-cli)
command -v phpunit >/dev/null 2>&1 || need+=(phpunit)
command -v composer >/dev/null 2>&1 || need+=(composer)
for ext in curl redis; do
    php -m 2>/dev/null | grep -qix "$ext" || need+=("php-$ext")
done
for pkg in php-illuminate-broadcasting:Illuminate/Broadcasting php-illuminate-notifications:Illuminate/Notifications \
    php-illuminate-events:Illuminate/Events php-illuminate-config:Illuminate/Config \
    php-illuminate-http:Illuminate/Http php-illuminate-routing:Illuminate/Routing \
    php-symfony-notifier:Symfony/Component/Notifier; do
    [ -f "/usr/share/php/${pkg#*:}/autoload.php" ] || need+=("${pkg%%:*}")
done
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
# The `lab-sse` comparison build (docs/ARCHITECTURE.md, "The SSE body"): its stream through
# actix-web-lab's Sse still opens, delivers, keeps alive and ends as the relay's body does.
cargo test --features lab-sse --lib events::lab
cargo test --features lab-sse --test api lab_sse
# The HTTP API against its OpenAPI description: no 5xx, every answer as described.
tests/schemathesis.sh
# The benchmark charts still match the committed results they are drawn from.
tests/charts.sh

# The PHP SDK and its Laravel and Symfony integrations against the relay binary, and the browser
# client's package: its ES module entry, its types (tsc against the example) and docs.
phpunit -c clients/php/phpunit.xml.dist
[ -x node_modules/.bin/tsc ] || npm ci --no-audit --no-fund
node_modules/.bin/tsc --noEmit -p clients/js
node --test clients/js/test/
# The Prometheus alert rules and their unit tests.
deploy/prometheus/check.sh

if compgen -G "tests/browser/*.test.mjs" >/dev/null; then
    # A test that hangs (a server left listening, a browser that never answers) fails after 5
    # minutes instead of holding the run.
    node --test --test-concurrency=1 --test-timeout=300000 tests/browser/
fi
