#!/usr/bin/env bash
# Checks the alert rules with promtool (Debian package `prometheus`): they parse, and their unit
# tests (alerts.test.yml) pass. The dashboard's metric names and expressions are checked by
# tests/api/dashboards.rs against a running relay.
set -euo pipefail
cd "$(dirname "$0")"
promtool check rules alerts.yml
promtool test rules alerts.test.yml
