#!/usr/bin/env bash
# Debian packages the tests use: redis-server (real Redis), espeak-ng (the espeak engine),
# ffmpeg (test checks of joined MP3s, and the baseline's concat), chromium (browser test),
# curl (the streaming clients of the Redis fault tests), npm (axe-core for the accessibility test).
# Installs only what is missing; needs root (or sudo).
set -euo pipefail
want=()
command -v redis-server >/dev/null || want+=(redis-server)
command -v espeak-ng >/dev/null || want+=(espeak-ng)
command -v ffmpeg >/dev/null || want+=(ffmpeg)
command -v chromium >/dev/null || want+=(chromium)
command -v curl >/dev/null || want+=(curl)
command -v npm >/dev/null || want+=(npm)
[ ${#want[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
