#!/usr/bin/env bash
# Builds the Debian package `v2xd` with cargo-deb and prints its path (the
# last line of the output; everything else goes to stderr). The package
# holds both daemons, their systemd units (installed, not enabled), the
# example configurations as conffiles in /etc/v2xd, man pages generated
# from the command-line definitions, the route-protocol name for iproute2
# and the BIRD examples. Its definition: [package.metadata.deb] in
# packaging/Cargo.toml.
#
#   scripts/package.sh                 release build: target/debian/v2xd_<version>-1_<arch>.deb
#   scripts/package.sh --profile dev  debug binaries (quick, for tests): target/debian/dev/
#   scripts/package.sh --no-build      package what is already built for the profile
#   scripts/package.sh --tool-only     only install cargo-deb (scripts/deps.sh)
#
# Installs cargo-deb (pinned below) when it is missing or another version.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_DEB_VERSION=3.8.0

profile=release
build=1
tool_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile=${2:?--profile needs a name}; shift 2 ;;
    --profile=*) profile=${1#*=}; shift ;;
    --no-build) build=0; shift ;;
    --tool-only) tool_only=1; shift ;;
    -h | --help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
  echo "installing cargo-deb $CARGO_DEB_VERSION" >&2
  cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked >&2
fi
[ "$tool_only" -eq 1 ] && exit 0

target=$(cargo metadata --format-version 1 --no-deps \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[ -n "$target" ] || { echo "cannot find the cargo target directory" >&2; exit 1; }
case "$profile" in
  dev | debug) profile=dev; dir="$target/debug" ;;
  *) dir="$target/$profile" ;;
esac
if [ "$profile" = release ]; then
  out="$target/debian"
else
  out="$target/debian/$profile"
fi

if [ "$build" -eq 1 ]; then
  cargo build --profile "$profile" -p obu -p rsu -p packaging --bins >&2
fi
for bin in obu rsu v2xd-man; do
  [ -x "$dir/$bin" ] || {
    echo "$dir/$bin not found: build it (cargo build --profile $profile --bins) or drop --no-build" >&2
    exit 1
  }
done

# Man pages: target/<profile>/man/*.8.gz, where packaging/Cargo.toml's
# assets (target/release/man/...) point for this profile.
rm -rf "$dir/man"
"$dir/v2xd-man" "$dir/man" "$(git log -1 --format=%cs 2>/dev/null || date -u +%F)" >&2
gzip -9nf "$dir"/man/*.8

# cargo-deb calls the dev profile unsupported (a warning) but packages it
# as any other; --strip drops the debug information either way.
extra=()
if [ "$profile" != release ]; then
  extra+=(--fast)
  rm -f "$out"/v2xd_*.deb
  # cargo-deb deletes target/debian/v2xd_*.deb (older release packages)
  # whatever its output directory: keep them from a packaging for tests.
  restore() {
    for f in "$target"/debian/v2xd_*.deb.keep; do
      [ ! -e "$f" ] || mv "$f" "${f%.keep}"
    done
  }
  trap restore EXIT
  for f in "$target"/debian/v2xd_*.deb; do
    [ ! -e "$f" ] || mv "$f" "$f.keep"
  done
fi
mkdir -p "$out"
deb=$(cargo deb -p packaging --no-build --profile "$profile" --strip "${extra[@]}" -o "$out/" | tail -n 1)
[ -f "$deb" ] || { echo "cargo-deb did not report a package ($deb)" >&2; exit 1; }
echo "$deb"
