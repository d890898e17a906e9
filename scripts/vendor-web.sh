#!/usr/bin/env bash
# Vendors the web pages' third-party browser libraries into ops/web/vendor/: each package's
# pinned tarball from the npm registry, checked against its integrity hash (the registry's
# sha512, as in a package-lock.json), with only the files the pages load and the package's
# LICENSE kept. The result is committed: building the binary needs neither Node.js nor the
# network. Run it again after changing a pin below, and commit what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=ops/web/vendor
registry=https://registry.npmjs.org

# name version integrity files-to-keep (paths inside the tarball's package/ directory)
packages=(
  "@xterm/xterm 6.0.0 sha512-TQwDdQGtwwDt+2cgKDLn0IRaSxYu1tSUjgKarSDkUM0ZNiSRXFpjxEsvc/Zgc5kq5omJ+V0a8/kIM2WD3sMOYg== lib/xterm.js css/xterm.css"
  "@xterm/addon-fit 0.11.0 sha512-jYcgT6xtVYhnhgxh3QgYDnnNMYTcf8ElbxxFzX0IZo+vabQqSPAjC3c1wJrKB5E19VwQei89QCiZZP86DCPF7g== lib/addon-fit.js"
  "asciinema-player 3.17.0 sha512-JbjNJmA2TLIeYNaOEja+kVSzXadKoqpIzVVmfBGNj2DmdtE/vExBCnkE8NYEcpaQcDvUYg8Ltt0urT80frACmw== dist/bundle/asciinema-player.min.js dist/bundle/asciinema-player.css"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$dest"
mkdir -p "$dest"
{
  echo "# Vendored browser libraries (written by scripts/vendor-web.sh; do not edit by hand)"
  echo "# name version integrity"
} >"$dest/PINS"
for entry in "${packages[@]}"; do
  read -r name version integrity files <<<"$entry"
  base=${name##*/}
  tarball="$work/$base-$version.tgz"
  curl -fsSL "$registry/$name/-/$base-$version.tgz" -o "$tarball"
  got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [ "$got" != "$integrity" ]; then
    echo "integrity mismatch for $name@$version: expected $integrity, got $got" >&2
    exit 1
  fi
  unpacked="$work/$base"
  mkdir -p "$unpacked"
  tar -xzf "$tarball" -C "$unpacked"
  out="$dest/$base"
  mkdir -p "$out"
  for f in $files; do
    cp "$unpacked/package/$f" "$out/$(basename "$f")"
  done
  license=$(find "$unpacked/package" -maxdepth 1 -iname 'LICENSE*' | head -n1)
  [ -n "$license" ] || { echo "$name@$version ships no LICENSE file" >&2; exit 1; }
  cp "$license" "$out/LICENSE"
  echo "$name $version $integrity" >>"$dest/PINS"
  echo "vendored $name@$version"
done
