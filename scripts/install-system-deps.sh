#!/usr/bin/env bash
# System packages the project uses (Debian): bubblewrap for the sandbox; Mesa's EGL for
# MuJoCo's offscreen rendering (asset previews, rollout videos); Chromium to check that the
# HTML reports load in a real browser (headless).
# Installs only what is missing; needs root (or passwordless sudo) to install.
set -euo pipefail
need=()
optional=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || optional+=(chromium)
for pkg in libegl1 libegl-mesa0 libgl1-mesa-dri; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "rlscope: missing system packages: ${need[*]} ${optional[*]} (install them with apt-get as root)" >&2; exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
[ ${#need[@]} -eq 0 ] || $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# the browser only checks reports (its tests skip without it): a failed install is a warning, not an error
[ ${#optional[@]} -eq 0 ] || $SUDO apt-get install -y -qq --no-install-recommends "${optional[@]}" >/dev/null \
  || echo "rlscope: could not install ${optional[*]}; report pages will not be checked in a browser" >&2
