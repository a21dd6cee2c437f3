#!/usr/bin/env bash
# Builds the full project (infmem-server, infmem-bench, model-bench, model_test) against the
# CUDA LibTorch of a Python PyTorch install, on a machine with no apt, no network and none of
# our Debian C++ dependencies: it unpacks the Debian 12 packages that scripts/gpu-bundle.sh put
# in .gpu-debs/ into a prefix (never into /), points their CMake and pkg-config files at it,
# checks that their libraries load, then configures and builds. Run from anywhere:
#   scripts/gpu-build.sh [build-dir]     (default build/gpu-full; relative to the repository)
# Then `source <build-dir>/env.sh` puts the prefix on PATH and LD_LIBRARY_PATH (the binaries
# also find its libraries without it, through their RPATH).
# Environment: DEBROOT (the prefix, default /opt/debroot), PYTHON (default python3), JOBS
# (default nproc), TARGETS (default the four above), INFMEM_WERROR (default OFF: another
# compiler than Debian's gcc 12 may warn more), EXTRA_CXXFLAGS (default "-include cstdint",
# for Debian 12 headers under gcc >= 13), UNPACK (dpkg, ar or python; default the first that
# works), TORCH_DIR (a LibTorch's Torch_DIR instead of Python's, for a check elsewhere).
set -euo pipefail
set -o errtrace
cd "$(dirname "$0")/.."

build=${1:-build/gpu-full}
prefix=${DEBROOT:-/opt/debroot}
python=${PYTHON:-python3}
jobs=${JOBS:-$(nproc)}
read -ra targets <<<"${TARGETS:-infmem-server infmem-bench model-bench model_test}"
debs=.gpu-debs
arch=x86_64-linux-gnu
libdir=$prefix/usr/lib/$arch

stage="start"
step() { stage=$*; echo "== gpu-build: $*"; }
die() { echo "gpu-build: FAILED ($stage): $*" >&2; exit 1; }
# shellcheck disable=SC2154  # rc is set in the trap itself
trap 'rc=$?; [ "$BASHPID" != $$ ] ||
  echo "gpu-build: FAILED ($stage): \`$BASH_COMMAND\` exited $rc" >&2; exit $rc' ERR

step "toolchain"
cxx=${CXX:-g++}
command -v "$cxx" >/dev/null ||
  die "no C++ compiler: '$cxx' is not on PATH (nvcc needs one too; set CXX to another)"
"$cxx" --version | head -1
# pip's cmake and ninja live next to the Python that has them.
pybin=$(dirname "$("$python" -c 'import sys; print(sys.executable)')")
path_extra=()
if { ! command -v cmake || ! command -v ninja; } >/dev/null && [ -x "$pybin/cmake" ]; then
  path_extra+=("$pybin")
fi
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  path_extra+=(/usr/local/cuda/bin)
fi
for d in "${path_extra[@]}"; do PATH=$PATH:$d; done
command -v cmake >/dev/null || die "cmake not found (pip install cmake, or put it on PATH)"
cmake_version=$(cmake --version | head -1 | awk '{print $3}')
echo "cmake $cmake_version"
printf '%s\n' "3.25" "$cmake_version" | sort -V -C || die "cmake $cmake_version < 3.25"
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); echo "ninja $(ninja --version)"; fi
if command -v nvcc >/dev/null; then nvcc --version | tail -1; else echo "nvcc: not on PATH"; fi

if [ -n "${TORCH_DIR:-}" ]; then
  step "LibTorch from TORCH_DIR=$TORCH_DIR"
  torch_args=(-DCMAKE_PREFIX_PATH="$prefix/usr" -DTorch_DIR="$TORCH_DIR")
else
  step "PyTorch ($python)"
  torch_prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
  "$python" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "GPU visible:", torch.cuda.is_available())'
  # Debian's Abseil, gRPC and Protobuf use the C++11 std::string ABI; so must this LibTorch.
  "$python" -c 'import torch, sys; sys.exit(0 if torch._C._GLIBCXX_USE_CXX11_ABI else "this PyTorch uses the pre-C++11 string ABI; install one built with _GLIBCXX_USE_CXX11_ABI=1")'
  torch_args=(-DCMAKE_PREFIX_PATH="$prefix/usr;$torch_prefix")
  # Wheels link their own Protobuf with hidden symbols; exported ones could interpose on
  # Debian's libprotobuf at run time.
  torch_lib=$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
  if command -v nm >/dev/null && [ -f "$torch_lib/libtorch_cpu.so" ]; then
    n=$(nm -D --defined-only "$torch_lib/libtorch_cpu.so" | grep -c ' _ZN6google8protobuf' || true)
    echo "libtorch_cpu.so exports $n google::protobuf symbols"
    [ "$n" -eq 0 ] || echo "gpu-build: warning: they may clash with Debian's libprotobuf at run time" >&2
  fi
fi

step "unpacking $debs/ into $prefix"
shopt -s nullglob
deb_files=("$debs"/*.deb)
[ ${#deb_files[@]} -gt 0 ] ||
  die "no .deb files in $debs/: run scripts/gpu-bundle.sh on Debian 12 and bring $debs/ along"
if [ -f "$debs/SHA256SUMS" ] && command -v sha256sum >/dev/null; then
  (cd "$debs" && sha256sum --quiet -c SHA256SUMS) || die "$debs/ does not match its SHA256SUMS"
fi
case $prefix in
  /*) ;;
  *) die "DEBROOT must be an absolute path, not '$prefix'" ;;
esac
case ${prefix%/} in
  "" | /usr | /usr/* | /opt | /lib* | /etc | /bin | /sbin | /var | /home | /root)
    die "refusing to unpack into '$prefix'; set DEBROOT to a folder of its own" ;;
esac
stamp=$prefix/.infmem-gpu-debs
if [ -e "$prefix" ] && [ ! -e "$stamp" ]; then
  die "$prefix exists and was not made by this script; remove it or set DEBROOT"
fi
rm -rf "$prefix"
mkdir -p "$prefix"
touch "$stamp"
unpack=${UNPACK:-}
if [ -z "$unpack" ]; then
  if command -v dpkg-deb >/dev/null; then unpack=dpkg
  elif command -v ar >/dev/null && command -v tar >/dev/null && command -v xz >/dev/null; then unpack="ar"
  else unpack=python
  fi
fi
echo "${#deb_files[@]} packages, with $unpack"
for deb in "${deb_files[@]}"; do
  case $unpack in
    dpkg) dpkg-deb -x "$deb" "$prefix" ;;
    ar)
      member=$(ar t "$deb" | grep '^data\.tar') || die "no data.tar in $deb"
      case $member in
        *.xz) decompress=(-J) ;; *.gz) decompress=(-z) ;; *.zst) decompress=(--zstd) ;;
        *) decompress=() ;;
      esac
      ar p "$deb" "$member" | tar -x "${decompress[@]}" -C "$prefix" ;;
    python)
      "$python" - "$deb" "$prefix" <<'EOF'
import io, sys, tarfile
deb, dest = sys.argv[1], sys.argv[2]
with open(deb, "rb") as f:
    if f.read(8) != b"!<arch>\n":
        sys.exit(deb + ": not a .deb")
    while True:
        header = f.read(60)
        if len(header) < 60:
            sys.exit(deb + ": no data.tar member")
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
        data = f.read(size)
        f.read(size % 2)
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
                trusted = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
                tar.extractall(dest, **trusted)
            break
EOF
      ;;
    *) die "UNPACK must be dpkg, ar or python, not '$unpack'" ;;
  esac
done
{ [ -d "$libdir/cmake/grpc" ] && [ -x "$prefix/usr/bin/protoc" ]; } ||
  die "the unpacked packages lack gRPC's CMake files or protoc: is $debs/ complete?"

step "pointing the packages' files at $prefix"
# pkg-config files: prefix=/usr, libdir=/usr/lib/..., -I/usr/include.
find "$prefix/usr" -name '*.pc' -path '*pkgconfig*' -exec sed -i -E \
  -e "s#^([A-Za-z_]+)=/usr(/|\$)#\\1=$prefix/usr\\2#" \
  -e "s#(-[IL])/usr/#\\1$prefix/usr/#g" {} +
! grep -rlE '(=|-[IL])/usr' --include='*.pc' "$prefix/usr" || die "pkg-config files above still name /usr"
# glog's CMake config adds its find modules (FindUnwind) from an absolute /usr path.
glog_modules=$libdir/cmake/glog/glog-modules.cmake
sed -i "s#\"/usr/share/glog/cmake\"#\"$prefix/usr/share/glog/cmake\"#" "$glog_modules"
grep -q "\"$prefix/usr/share/glog/cmake\"" "$glog_modules" || die "could not fix $glog_modules"
# prometheus-cpp's config requires CURL for its push library, which we never link: skip it.
prom_config=$libdir/cmake/prometheus-cpp/prometheus-cpp-config.cmake
sed -i 's/^set(PROMETHEUS_CPP_ENABLE_PUSH ON)$/set(PROMETHEUS_CPP_ENABLE_PUSH OFF)/' "$prom_config"
grep -q '^set(PROMETHEUS_CPP_ENABLE_PUSH OFF)$' "$prom_config" || die "could not fix $prom_config"
# Other absolute /usr paths in CMake files, besides the "/usr move" guards that never match here.
if grep -rn '"/usr' --include='*.cmake' "$prefix/usr" |
    grep -vE ':[0-9]+: *#|_realOrig "/usr|set\(_IMPORT_PREFIX "/usr|set\(PACKAGE_PREFIX_DIR "/usr"\)'; then
  die "CMake files above name /usr: fix them like glog-modules.cmake"
fi
# .so links to libraries that are not bundled (libz.so -> /lib/.../libz.so.1.2.13, libssl.so ->
# libssl.so.3, libcrypto.so -> libcrypto.so.3): point them at this machine's library.
while IFS= read -r -d '' link; do
  target=$(readlink "$link")
  if [[ $target != /* ]] && [ -e "$link" ]; then continue; fi
  if [[ $target == /* ]] && [ -e "$prefix$target" ]; then ln -sfn "$prefix$target" "$link"; continue; fi
  soname=$(basename "$target" | sed -E 's/^(.*\.so\.[0-9]+).*$/\1/')
  found=""
  for d in /lib/$arch /usr/lib/$arch /lib64 /usr/lib64 /lib /usr/lib; do
    if [ -e "$d/$soname" ]; then found=$d/$soname; break; fi
  done
  [ -n "$found" ] || die "$link -> $target: this machine has no $soname (not bundled: install it)"
  ln -sfn "$found" "$link"
  echo "$(basename "$link") -> $found"
done < <(find "$prefix" -type l -name 'lib*.so*' -print0)

step "checking that the unpacked programs and libraries load"
export PATH="$prefix/usr/bin:$PATH"
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PKG_CONFIG_LIBDIR="$libdir/pkgconfig:$prefix/usr/share/pkgconfig"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
if command -v ldd >/dev/null; then
  missing=$(for f in "$prefix"/usr/bin/* "$libdir"/lib*.so.*; do
      [ -f "$f" ] && [ ! -L "$f" ] || continue
      ldd "$f" 2>&1 | grep 'not found' | sed "s#^#$(basename "$f"): #"
    done | grep -v '^libprometheus-cpp-push[^:]*: *libcurl' || true)
  [ -z "$missing" ] || die "libraries missing on this machine (not bundled):"$'\n'"$missing"
else
  echo "gpu-build: warning: no ldd; not checking the libraries' dependencies" >&2
fi
protoc --version
[ -x "$prefix/usr/bin/grpc_cpp_plugin" ] || die "no grpc_cpp_plugin in $prefix/usr/bin"
pkgconf --modversion sentencepiece re2 | paste -sd' ' | sed 's/^/sentencepiece, re2: /'

mkdir -p "$build"
build=$(cd "$build" && pwd)
{
  echo "# Written by scripts/gpu-build.sh: source it to use the Debian packages in $prefix."
  for d in "${path_extra[@]}"; do echo "export PATH=\"\$PATH:$d\""; done
  echo "export PATH=\"$prefix/usr/bin:\$PATH\""
  echo "export LD_LIBRARY_PATH=\"$libdir\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""
  echo "export PKG_CONFIG_LIBDIR=\"$PKG_CONFIG_LIBDIR\""
} >"$build/env.sh"
echo "wrote $build/env.sh"

step "configuring $build"
link_flags="-Wl,--disable-new-dtags -Wl,-rpath-link,$libdir"
# DT_RPATH (not RUNPATH) so that the prefix also serves the libraries' own dependencies.
cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DINFMEM_CORE_ONLY=OFF \
  "${torch_args[@]}" \
  -DCMAKE_CXX_COMPILER="$(command -v "$cxx")" \
  -DCMAKE_CXX_FLAGS="${EXTRA_CXXFLAGS--include cstdint}" \
  -DCMAKE_EXE_LINKER_FLAGS="$link_flags" -DCMAKE_SHARED_LINKER_FLAGS="$link_flags" \
  -DCMAKE_MODULE_LINKER_FLAGS="$link_flags" \
  -DINFMEM_WERROR="${INFMEM_WERROR:-OFF}" \
  -DINFMEM_GOOGLETEST_SOURCE_DIR="$prefix/usr/src/googletest" \
  -DPKG_CONFIG_EXECUTABLE="$prefix/usr/bin/pkgconf" \
  -DProtobuf_PROTOC_EXECUTABLE="$prefix/usr/bin/protoc"

step "checking that every dependency comes from $prefix"
cache=$build/CMakeCache.txt
for var in absl_DIR gRPC_DIR glog_DIR gflags_DIR nlohmann_json_DIR prometheus-cpp_DIR civetweb_DIR \
    Protobuf_INCLUDE_DIR Protobuf_LIBRARY_RELEASE Protobuf_PROTOC_LIBRARY_RELEASE \
    Protobuf_PROTOC_EXECUTABLE c-ares_INCLUDE_DIR c-ares_LIBRARY ZLIB_INCLUDE_DIR \
    OPENSSL_INCLUDE_DIR OPENSSL_SSL_LIBRARY Unwind_INCLUDE_DIR Unwind_LIBRARY \
    pkgcfg_lib_SENTENCEPIECE_sentencepiece pkgcfg_lib_RE2_re2; do
  value=$(sed -n "s/^$var:[A-Z]*=//p" "$cache")
  if [ -z "$value" ]; then echo "note: $var is not in the CMake cache"; continue; fi
  [[ $value == "$prefix"/* ]] || die "$var is '$value', not under $prefix"
done
# Compile and link lines: no include folder or library of ours from /usr.
mapfile -t generated < <(find "$build" -maxdepth 1 -name build.ninja
                          find "$build" \( -name flags.make -o -name link.txt \))
libs='absl|grpc|gpr|upb|address_sorting|protobuf|protoc|re2|cares|glog|gflags|unwind|prometheus|civetweb|sentencepiece|gtest|gmock'
if grep -hoE "(-I|-isystem )/usr/include([ \"]|\$)|(^|[^A-Za-z0-9_.-])/usr/lib/$arch/lib($libs)[^ ]*" \
    "${generated[@]}" | sort -u | grep .; then
  die "the build lines above use /usr instead of $prefix"
fi
# A PyTorch wheel's config can stand in an empty target for protobuf::libprotobuf.
grep -q "$libdir/libprotobuf.so" "${generated[@]}" ||
  die "nothing links $libdir/libprotobuf.so: is protobuf::libprotobuf LibTorch's empty stand-in?"

step "building ${targets[*]} with $jobs jobs"
cmake --build "$build" -j "$jobs" --target "${targets[@]}"

step "done"
if [ -f "$build/server/infmem-server" ] && command -v ldd >/dev/null; then
  if env -u LD_LIBRARY_PATH ldd "$build/server/infmem-server" | grep 'not found'; then
    echo "gpu-build: warning: without LD_LIBRARY_PATH, infmem-server lacks the libraries above" >&2
  fi
fi
for t in server/infmem-server bench/infmem-bench bench/model-bench tests/model_test; do
  if [ -f "$build/$t" ]; then echo "built $build/$t"; fi
done
echo "to use the prefix in another shell: source $build/env.sh"
