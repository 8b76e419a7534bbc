#!/usr/bin/env bash
# Builds bench/gpu/pack/ (git-ignored, < 48 MiB): everything bench/gpu/run.sh needs on a bare Linux
# x86-64 machine with an NVIDIA driver (and PyTorch for the reference column) but no Node, npm or browser:
#   node.xz        this machine's Node binary (nodesource build: needs only glibc and libstdc++)
#   dawn.node.xz   Dawn's Node addon from the npm `webgpu` package (WebGPU on Vulkan)
#   bench.mjs      esbuild bundle of bench/gpu/bench.ts (tfjs, tfjs-backend-webgpu and -wasm inside)
#   wasm/          tfjs-backend-wasm's .wasm binaries (the wasm column)
#   lib/           Vulkan loader (libvulkan1), GL dispatch (libglvnd0) and libstdc++ (libstdc++6: dawn.node
#                  needs GLIBCXX_3.4.30) from Debian 12 packages; run.sh uses one only where the target lacks it
#   manifest.txt   versions, sizes and checksums
# Usage: bench/gpu/pack.sh [OUT_DIR]   (needs `npm ci` done; env XZ_THREADS, XZ_LEVEL)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="${1:-$HERE/pack}"
LIMIT_MIB=48
XZ=(xz "-${XZ_LEVEL:-6}" "-T${XZ_THREADS:-2}" -c)

command -v xz >/dev/null || { echo "pack.sh: xz is missing: apt-get install xz-utils" >&2; exit 1; }
DAWN="$ROOT/node_modules/webgpu/dist/linux-x64/dawn.node"
[ -f "$DAWN" ] || { echo "pack.sh: $DAWN is missing: run npm ci (the webgpu package provides it)" >&2; exit 1; }
[ -x "$ROOT/node_modules/.bin/esbuild" ] || { echo "pack.sh: esbuild is missing: run npm ci" >&2; exit 1; }
[ "$(uname -m)" = x86_64 ] || { echo "pack.sh: this packs the running Node binary, which must be x86-64 for the GPU machine (this is $(uname -m))" >&2; exit 1; }

rm -rf "$OUT"
mkdir -p "$OUT/wasm" "$OUT/lib"
NODE_BIN="$(readlink -f "$(command -v node)")"

# The bundle: ESM with require/__dirname for the CommonJS parts (tfjs-backend-wasm's emscripten glue).
"$ROOT/node_modules/.bin/esbuild" "$HERE/bench.ts" --bundle --platform=node --format=esm --target=node20 \
  --outfile="$OUT/bench.mjs" --alias:webgpu="$HERE/dawn-shim.mjs" --log-level=warning \
  "--banner:js=import { createRequire as __bcr } from 'node:module'; import { fileURLToPath as __bfu } from 'node:url'; import { dirname as __bdn } from 'node:path'; const require = __bcr(import.meta.url); const __filename = __bfu(import.meta.url); const __dirname = __bdn(__filename);"
cp "$ROOT"/node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm "$OUT/wasm/"

# Vulkan loader, libGLdispatch (NVIDIA's Vulkan ICD, libGLX_nvidia, links it) and libstdc++. Taken from the
# installed Debian package when there is one (same bytes as the .deb), else `apt-get download` + dpkg-deb -x.
for pkg in libvulkan1 libglvnd0 libstdc++6; do
  files=""
  if [ "$(dpkg-query -W -f='${Status}' "$pkg:amd64" 2>/dev/null || true)" = "install ok installed" ]; then
    files="$(dpkg -L "$pkg:amd64" | grep -E '\.so[.0-9]*$' || true)"
  else
    tmp="$(mktemp -d)"
    if (cd "$tmp" && apt-get download "$pkg:amd64" >/dev/null 2>&1); then
      dpkg-deb -x "$tmp"/*.deb "$tmp/x"
      files="$(find "$tmp/x" -name '*.so*' \( -type f -o -type l \))"
    else
      echo "pack.sh: warning: $pkg is neither installed nor downloadable; the pack relies on the target having it" >&2
    fi
  fi
  # Only the soname file (libvulkan.so.1, libGLdispatch.so.0), dereferenced: no symlinks to carry.
  for f in $files; do case "$(basename "$f")" in *.so.[0-9]|*.so.[0-9][0-9]) cp -L "$f" "$OUT/lib/" ;; esac; done
  echo "$pkg $(dpkg-query -W -f='${Version}' "$pkg:amd64" 2>/dev/null || echo downloaded)" >>"$OUT/lib/PACKAGES"
done

"${XZ[@]}" "$NODE_BIN" >"$OUT/node.xz" &
p1=$!
"${XZ[@]}" "$DAWN" >"$OUT/dawn.node.xz" &
p2=$!
wait "$p1"
wait "$p2"

{
  echo "backlit bench/gpu pack, built $(date -u +%FT%TZ) on $(uname -srm)"
  echo "node $("$NODE_BIN" --version) ($NODE_BIN)"
  echo "webgpu $(node -p "require('$ROOT/node_modules/webgpu/package.json').version") (dawn.node)"
  echo "tfjs $(node -p "require('$ROOT/node_modules/@tensorflow/tfjs/package.json').version")"
  echo "git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  (cd "$OUT" && find . -type f ! -name manifest.txt -printf '%s %p\n' | sort -k2)
  (cd "$OUT" && sha256sum node.xz dawn.node.xz bench.mjs)
} >"$OUT/manifest.txt"

total=$(du -sb "$OUT" | cut -f1)
echo "pack: $OUT $(awk -v b="$total" 'BEGIN{printf "%.1f", b/1048576}') MiB"
if [ "$total" -ge $((LIMIT_MIB * 1048576)) ]; then
  echo "pack.sh: the pack is over ${LIMIT_MIB} MiB" >&2
  exit 1
fi
