#!/usr/bin/env bash
# Runs the GPU benchmark from the pack (bench/gpu/pack.sh) on a machine without Node/npm/browser:
# unpacks Node and Dawn, points Vulkan at the NVIDIA driver (or SwiftShader where there is no GPU),
# runs tfjs on webgpu (and wasm), the PyTorch CUDA reference (tools/reference/gpu_bench.py), and
# prints one table.   bench/gpu/run.sh [--quick] [--backends webgpu,wasm] [--no-torch] [--steps N] [--json FILE]
# Env: BACKLIT_GPU_PACK (pack folder, default bench/gpu/pack), PYTHON (interpreter with torch),
#      VK_DRIVER_FILES / VK_ICD_FILENAMES (kept when set), BACKLIT_GPU_WORK (unpack folder).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PACK="${BACKLIT_GPU_PACK:-$HERE/pack}"
WORK="${BACKLIT_GPU_WORK:-${TMPDIR:-/tmp}/backlit-gpu-bench}"
[ -f "$PACK/manifest.txt" ] || { echo "run.sh: no pack at $PACK; build it with bench/gpu/pack.sh on a machine with Node and npm ci" >&2; exit 2; }
mkdir -p "$WORK/lib"

unxz_to() { # unxz_to SRC DEST: xz if present, else Python's lzma (Python is there wherever PyTorch is)
  if [ -s "$2" ] && [ "$2" -nt "$1" ]; then return; fi
  if command -v xz >/dev/null; then xz -dc "$1" >"$2.tmp"
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2.tmp"; fi
  mv "$2.tmp" "$2"
}
unxz_to "$PACK/node.xz" "$WORK/node"
unxz_to "$PACK/dawn.node.xz" "$WORK/dawn.node"
chmod +x "$WORK/node"

# Carried libraries only where the system has none (a foreign copy must not shadow the driver's).
# (awk reads all of ldconfig's output: an early exit would SIGPIPE ldconfig and fail under pipefail)
sys_lib() { ldconfig -p 2>/dev/null | awk -v n="$1" '$1 == n && /x86-64/ && !f { print $NF; f = 1 }' || true; }
for so in libvulkan.so.1 libGLdispatch.so.0 libstdc++.so.6; do
  rm -f "$WORK/lib/$so"
  found="$(sys_lib "$so")"
  [ -z "$found" ] && for d in /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu /usr/lib64; do [ -e "$d/$so" ] && found="$d/$so" && break; done
  use=""
  if [ -z "$found" ]; then use="not on this system"
  elif [ "$so" = libstdc++.so.6 ] && ! grep -qa GLIBCXX_3.4.30 "$found"; then use="$found lacks GLIBCXX_3.4.30 (dawn.node needs it)"; fi
  if [ -n "$use" ] && [ -e "$PACK/lib/$so" ]; then cp -L "$PACK/lib/$so" "$WORK/lib/$so"; echo "run.sh: using the packed $so ($use)" >&2; fi
done
LIBS="$WORK/lib"
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do [ -d "$d" ] && LIBS="$LIBS:$d"; done
export LD_LIBRARY_PATH="$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# Vulkan driver: NVIDIA's ICD from the driver install; SwiftShader (Debian chromium) where there is no GPU.
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
  for f in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json \
           /usr/share/vulkan/icd.d/nvidia_icd.x86_64.json /etc/vulkan/icd.d/nvidia_icd.x86_64.json; do
    if [ -f "$f" ]; then export VK_DRIVER_FILES="$f" VK_ICD_FILENAMES="$f"; break; fi
  done
  if [ -z "${VK_DRIVER_FILES:-}" ]; then # driver library without its manifest (containers): write one
    for d in $(ldconfig -p 2>/dev/null | awk '$1 == "libGLX_nvidia.so.0" { print $NF }' || true) /usr/local/nvidia/lib64/libGLX_nvidia.so.0; do
      if [ -e "$d" ]; then
        printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$d" >"$WORK/nvidia_icd.json"
        export VK_DRIVER_FILES="$WORK/nvidia_icd.json" VK_ICD_FILENAMES="$WORK/nvidia_icd.json"
        echo "run.sh: no nvidia_icd.json found; wrote one for $d" >&2
        break
      fi
    done
  fi
  if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f /usr/lib/chromium/vk_swiftshader_icd.json ]; then
    export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json VK_DRIVER_FILES=/usr/lib/chromium/vk_swiftshader_icd.json
    echo "run.sh: no NVIDIA Vulkan driver found; using SwiftShader (software): webgpu numbers are not GPU numbers" >&2
  fi
fi
echo "run.sh: Vulkan driver ${VK_DRIVER_FILES:-${VK_ICD_FILENAMES:-(loader default)}}" >&2
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
if [ -e /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ]; then
  export __EGL_VENDOR_LIBRARY_FILENAMES="${__EGL_VENDOR_LIBRARY_FILENAMES:-/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json}"
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >&2 || true

# A Python that imports torch (else gpu_bench.py says "skipped").
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for c in python3 /usr/bin/python3 python; do
    if command -v "$c" >/dev/null && "$c" -c 'import torch' 2>/dev/null; then PY="$c"; break; fi
  done
  PY="${PY:-python3}"
fi

export BACKLIT_DAWN_NODE="$WORK/dawn.node" BACKLIT_WASM_DIR="$PACK/wasm/"
exec "$WORK/node" "$PACK/bench.mjs" --torch "$ROOT/tools/reference/gpu_bench.py" --python "$PY" "$@"
