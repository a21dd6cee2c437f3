#!/usr/bin/env bash
# Downloads into .gpu-debs/ the Debian 12 packages that the full build needs and that a GPU
# machine without apt or network lacks: headers, CMake and pkg-config files, libraries, protoc
# and grpc_cpp_plugin, pkg-config itself and the GoogleTest sources. scripts/gpu-build.sh
# unpacks them there into a prefix and builds against them and a Python PyTorch's LibTorch.
#   scripts/gpu-bundle.sh        (on Debian 12, with apt-get reaching deb.debian.org)
# Not bundled, expected on the GPU machine: glibc, libstdc++, libgcc, libssl.so.3,
# libcrypto.so.3, libz.so.1, liblzma.so.5 (Ubuntu 24.04 has them all), LibTorch and CUDA.
# .gpu-debs/ is listed in .git/info/exclude: it stays out of git, so copy it to the GPU
# machine along with the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=.gpu-debs
limit_mib=45

packages=(
  # Abseil, nlohmann-json, SentencePiece
  libabsl-dev libabsl20220623 nlohmann-json3-dev libsentencepiece-dev libsentencepiece0
  # glog (server logging) and what its CMake config finds: gflags, libunwind
  libgoogle-glog-dev libgoogle-glog0v6 libgflags-dev libgflags2.2 libunwind-dev libunwind8
  # Protobuf: headers, libprotobuf, libprotoc (api_docs_test), protoc
  libprotobuf-dev libprotobuf32 libprotobuf-lite32 libprotoc-dev libprotoc32 protobuf-compiler
  # gRPC, grpc_cpp_plugin, and the libraries gRPC's CMake config links: RE2, c-ares
  libgrpc++-dev libgrpc-dev libgrpc29 libgrpc++1.51 protobuf-compiler-grpc
  libre2-dev libre2-9 libc-ares-dev libc-ares2
  # prometheus-cpp with civetweb (its CMake targets check that every library and the civetweb
  # binary exist; push is never linked, so its libcurl is not bundled)
  prometheus-cpp-dev libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libprometheus-cpp-push1.0
  libcivetweb-dev libcivetweb1 civetweb
  # GoogleTest sources (built by our CMakeLists.txt)
  googletest
  # zlib and OpenSSL headers and .so links only, for the ZLIB and OpenSSL targets that gRPC
  # links; the libraries themselves come from the GPU machine (gpu-build.sh relinks them)
  zlib1g-dev libssl-dev
  # pkg-config (pkgconf), for SentencePiece and RE2
  pkgconf pkgconf-bin libpkgconf3
)
# Dependencies of the packages above that are deliberately not bundled.
not_bundled=(
  libc6 libc6-dev libc-dev libgcc-s1 libstdc++6 zlib1g libssl3 liblzma5
  liblzma-dev             # libunwind-dev's; glog needs only libunwind's headers and library
  libcurl4 libcurl4-openssl-dev  # prometheus-cpp push only, never linked
)

command -v apt-get >/dev/null || { echo "gpu-bundle: needs apt-get (Debian 12)" >&2; exit 1; }
grep -qs '^12' /etc/debian_version ||
  echo "gpu-bundle: warning: this is not Debian 12 ($(cat /etc/debian_version 2>/dev/null))" >&2

# Keep .gpu-debs/ out of git without touching .gitignore.
if exclude=$(git rev-parse --git-path info/exclude 2>/dev/null); then
  mkdir -p "$(dirname "$exclude")"
  grep -qxF "/$dir/" "$exclude" 2>/dev/null || echo "/$dir/" >>"$exclude"
fi

# Download into a fresh folder, then replace the old one: never a mix of versions.
tmp=$dir.tmp
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
apt_opts=()
# As root, apt drops to user _apt, who cannot write here; download as root instead.
[ "$(id -u)" -eq 0 ] && apt_opts=(-o APT::Sandbox::User=root)
echo "gpu-bundle: downloading ${#packages[@]} packages"
if ! (cd "$tmp" && apt-get download -q "${apt_opts[@]}" "${packages[@]}" >/dev/null); then
  echo "gpu-bundle: apt-get download failed (try apt-get update first)" >&2
  exit 1
fi

# Every dependency must be bundled or deliberately left to the GPU machine.
declare -A have=()
for p in "${packages[@]}" "${not_bundled[@]}"; do have[$p]=1; done
unmet=()
for deb in "$tmp"/*.deb; do
  name=$(dpkg-deb -f "$deb" Package)
  deps=$(dpkg-deb -f "$deb" Depends Pre-Depends | sed 's/^[A-Za-z-]*: //' | tr '\n' ',')
  IFS=',' read -ra groups <<<"$deps"
  for group in "${groups[@]}"; do
    [ -n "${group// /}" ] || continue
    ok=""
    IFS='|' read -ra alternatives <<<"$group"
    for alt in "${alternatives[@]}"; do
      dep=$(echo "$alt" | sed -E 's/\(.*\)//; s/:any//; s/ //g')
      [ -n "${have[$dep]:-}" ] && ok=1
    done
    [ -n "$ok" ] || unmet+=("$name -> ${group# }")
  done
done
if [ ${#unmet[@]} -ne 0 ]; then
  echo "gpu-bundle: dependencies neither bundled nor expected on the GPU machine:" >&2
  printf '  %s\n' "${unmet[@]}" >&2
  echo "gpu-bundle: add them to packages or not_bundled in $0" >&2
  exit 1
fi

(cd "$tmp" && sha256sum -- *.deb >SHA256SUMS)
for deb in "$tmp"/*.deb; do
  dpkg-deb -f "$deb" Package Version | paste -sd' '
done | sed 's/^Package: //; s/ Version: / /' >"$tmp/PACKAGES"
rm -rf "$dir"
mv "$tmp" "$dir"

total=$(cat "$dir"/*.deb | wc -c)
total_mib=$(awk -v b="$total" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "gpu-bundle: $(ls "$dir"/*.deb | wc -l) packages in $dir/, $total_mib MiB"
if [ "$total" -gt $((limit_mib * 1048576)) ]; then
  echo "gpu-bundle: over the $limit_mib MiB budget; sizes:" >&2
  ls -lS "$dir"/*.deb | awk '{ printf "  %8.1f KiB  %s\n", $5 / 1024, $9 }' >&2
  exit 1
fi
