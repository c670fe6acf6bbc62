#!/usr/bin/env bash
# Installs what the demo and the tests need on Debian (run as root).
set -euo pipefail
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v nft >/dev/null || need+=(nftables)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v ping >/dev/null || need+=(iputils-ping)
command -v pgrep >/dev/null || need+=(procps)
command -v ethtool >/dev/null || need+=(ethtool)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v python3 >/dev/null || need+=(python3 python3-pip)
# A C compiler: the linker Rust calls, and the build of AWS-LC (the data
# path's AEAD and ML-KEM, through aws-lc-rs; no CMake needed).
command -v cc >/dev/null || need+=(gcc)
# Chromium, headless: the lab's web view is tested in a real browser.
command -v chromium >/dev/null || need+=(chromium)
# BIRD 2: the backbone's routing daemon in the multi-RSU tests and demo.
command -v bird >/dev/null || [ -x /usr/sbin/bird ] || need+=(bird2)
# The Debian package (scripts/package.sh) and its test: dpkg-shlibdeps
# finds the package's library dependencies, strip shrinks the binaries,
# man reads the installed pages.
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v strip >/dev/null || need+=(binutils)
command -v man >/dev/null || need+=(man-db)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${need[*]} (run as root to install them)" >&2
  else
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
    # The package's own service is not wanted: the tests run BIRD per
    # namespace with their own configs.
    if [[ " ${need[*]} " == *" bird2 "* ]] && command -v systemctl >/dev/null; then
      systemctl disable --now bird >/dev/null 2>&1 || true
    fi
  fi
fi
# The reference Prometheus text parser, used by the metrics test.
if ! python3 -c 'import prometheus_client' 2>/dev/null; then
  python3 -m pip install -q prometheus-client==0.26.0 2>/dev/null \
    || python3 -m pip install -q --break-system-packages prometheus-client==0.26.0 \
    || echo "could not install prometheus-client for python3; the metrics test will be skipped" >&2
fi
# cargo-deb (version pinned in scripts/package.sh), for the package test.
"$(dirname "$0")/package.sh" --tool-only \
  || echo "could not install cargo-deb; the package test will fail (V2XD_SKIP_PACKAGE_TEST=1 skips it)" >&2
