# Shared settings for the project's scripts; sourced, not run.
# The target directory lives outside the clone so that every clone on a machine (CI included)
# reuses one build of RocksDB's C++.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/portunus/target}"
mkdir -p "$CARGO_TARGET_DIR" 2>/dev/null || export CARGO_TARGET_DIR="$HOME/.cache/portunus/target"
export PORTUNUS_BIN="$CARGO_TARGET_DIR/release/portunus"

# Install Debian packages only when something is missing.
need_debs() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# Node packages the tests run (an OpenID provider), kept outside the clone like the target dir.
export PORTUNUS_NPM="${PORTUNUS_NPM:-/var/cache/portunus/npm}"
NPM_PACKAGES=(oidc-provider@9.13.3)
# The machine's own Node.js and npm are used where it has them (a Node.js built elsewhere bundles
# npm, and Debian's npm package would conflict with it); Debian's are installed only where neither is.
need_npm() {
  command -v node >/dev/null && command -v npm >/dev/null || need_debs nodejs npm
  if [ ! -f "$PORTUNUS_NPM/node_modules/oidc-provider/package.json" ] ||
     ! grep -q '"version": "9.13.3"' "$PORTUNUS_NPM/node_modules/oidc-provider/package.json"; then
    echo "installing node packages: ${NPM_PACKAGES[*]}"
    mkdir -p "$PORTUNUS_NPM"
    npm install --silent --no-audit --no-fund --prefix "$PORTUNUS_NPM" "${NPM_PACKAGES[@]}"
  fi
}

BUILD_DEBS=(libclang-dev clang pkg-config)
TEST_DEBS=(openssh-server openssh-client iperf3 haproxy iproute2 socat openssl rsyslog rsyslog-gnutls slapd ldap-utils mariadb-server mariadb-client postgresql-15 postgresql-client-15 openjdk-17-jdk-headless libmariadb-java libpostgresql-jdbc-java chromium chromium-driver microsocks tinyproxy util-linux e2fsprogs xdg-utils xvfb tmux)
# What `scripts/bench.sh` needs beyond the build: the peers and load generators the benchmarks
# run beside Portunus (not installed by the test command).
BENCH_DEBS=(openssh-server openssh-client iperf3 haproxy mariadb-server mariadb-client postgresql-15 postgresql-client-15 sysbench etcd-server)
