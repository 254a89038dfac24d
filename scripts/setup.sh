#!/usr/bin/env bash
# Installs the Debian libraries swift-llava links (OpenBLAS, libjpeg-turbo, libpng, oneDNN) when missing.
# `--tests` adds what the tests use besides: headless Chromium for the web chat's browser test.
set -euo pipefail
packages=(libopenblas-dev libjpeg62-turbo-dev libpng-dev libdnnl-dev pkg-config)
[ "${1:-}" = "--tests" ] && packages+=(chromium)
need=()
for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
