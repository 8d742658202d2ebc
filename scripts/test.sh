#!/usr/bin/env bash
# Runs Berth's whole test suite on a fresh Debian machine with Go installed:
# installs what the tests need (pinned), then vet, staticcheck, every Go test
# (unit, backend conformance suites, the OCI conformance program and real
# clients against a real `berth serve`, crash tests) and a short run of every
# fuzz target. Tools are cached in .tools/bin between runs.
#
#   scripts/test.sh            everything
#   scripts/test.sh -short     skip the slow end-to-end tests (still installs nothing)
set -euo pipefail
cd "$(dirname "$0")/.."

export GOTOOLCHAIN=local
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
TOOLS="$PWD/.tools/bin"
mkdir -p "$TOOLS"
export PATH="$TOOLS:$PATH"

step() { printf '\n==> %s\n' "$*"; }

if [[ "${1:-}" == "-short" ]]; then
  step "go test -short"
  exec go test -short -count=1 ./...
fi

go_tool() { # name module@version
  local name=$1 pkg=$2 stamp="$TOOLS/.$1.version"
  if [[ -x "$TOOLS/$name" && "$(cat "$stamp" 2>/dev/null)" == "$pkg" ]]; then return; fi
  step "install $pkg"
  GOBIN="$TOOLS" go install "$pkg"
  echo "$pkg" >"$stamp"
}

# Pinned test tools. The OCI conformance program has no usable tag on the
# module proxy (@main and @v1.1.0 are refused), so it is pinned to a pseudo-version.
go_tool conformance github.com/opencontainers/distribution-spec/conformance@v0.0.0-20260831232431-97274622c111
go_tool crane github.com/google/go-containerregistry/cmd/crane@v0.22.1
go_tool oras oras.land/oras/cmd/oras@v1.3.6
go_tool regctl github.com/regclient/regclient/cmd/regctl@v0.11.7
go_tool staticcheck honnef.co/go/tools/cmd/staticcheck@v0.8.2

# --- S3-compatible server for the S3 blob driver's tests (internal/s3test) ---
# versitygw (Apache-2.0) with its posix backend: internal/s3test starts it on
# 127.0.0.1 once per test binary. The first build takes about three minutes;
# the binary is cached in .tools/bin afterwards.
go_tool versitygw github.com/versity/versitygw/cmd/versitygw@v1.8.0
# --- end S3 ---

apt_pkgs=()
command -v skopeo >/dev/null || apt_pkgs+=(skopeo)
# --- PostgreSQL for the scale-out metadata backend and job queue (internal/pgtest) ---
# Debian's server binaries (initdb, postgres in /usr/lib/postgresql/<ver>/bin);
# internal/pgtest starts its own cluster on 127.0.0.1 once per test binary, as
# the postgres user when run as root. Set BERTHTEST_POSTGRES_URL to use an
# existing server instead.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || apt_pkgs+=(postgresql)
# --- end PostgreSQL ---
if ((${#apt_pkgs[@]})); then
  step "apt-get install ${apt_pkgs[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}"
fi

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*'))
if [[ -n "$unformatted" ]]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi

step "go vet"
go vet ./...

step "staticcheck"
staticcheck ./...

step "go test (BERTHTEST_REQUIRE_TOOLS=1: a missing tool fails, never skips)"
BERTHTEST_REQUIRE_TOOLS=1 go test -count=1 -timeout 20m ./...

step "fuzz (seconds per target: ${FUZZTIME:=10s})"
# The Go fuzzer can end a clean time-bounded run with a bare "context
# deadline exceeded" (a worker still busy when -fuzztime runs out, with no
# failing input written): such a run is repeated once. A real finding names
# its input under testdata/fuzz and fails at once.
fuzz() {
  local out
  if out=$(go test -run='^$' -fuzz="^$2\$" -fuzztime="$FUZZTIME" "$1" 2>&1); then
    printf '%s\n' "$out" | tail -n 2
    return 0
  fi
  printf '%s\n' "$out"
  if grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written' <<<"$out"; then
    echo "(fuzzer stopped at its deadline without a failing input: running $2 once more)"
    go test -run='^$' -fuzz="^$2\$" -fuzztime="$FUZZTIME" "$1"
    return
  fi
  return 1
}
while read -r pkg target; do
  fuzz "$pkg" "$target"
done < <(grep -rl --include='*_test.go' '^func Fuzz' internal | while read -r f; do
  for t in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do echo "./$(dirname "$f") $t"; done
done)

step "all tests passed"
