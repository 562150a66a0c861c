#!/usr/bin/env bash
# System packages the project uses (Debian): bubblewrap for the sandbox; Mesa's EGL for
# MuJoCo's offscreen rendering (asset previews, rollout videos); Chromium to check that the
# HTML reports load in a real browser (headless).
# Installs only what is missing; needs root (or passwordless sudo) to install.
set -euo pipefail
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need+=(chromium)
for pkg in libegl1 libegl-mesa0 libgl1-mesa-dri; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "rlscope: missing system packages: ${need[*]} (install them with apt-get as root)" >&2; exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
