#!/usr/bin/env bash
# Builds the test control plane from the published Go modules with this
# machine's Go, into a cache outside the checkout. Builds only what is missing.
# Prints progress; a cold build on 2 cores takes a long while (see README).
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
KWOK_VERSION="${KWOK_VERSION:-v0.7.0}"
CACHE="${KUBE_RECYCLER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-recycler}"
BIN="$CACHE/bin/k8s-$K8S_VERSION-kwok-$KWOK_VERSION"
WORK="$CACHE/build/k8s-$K8S_VERSION"
mkdir -p "$BIN" "$WORK"

say() { echo "[cluster:build $(date +%H:%M:%S)] $*" >&2; }

want=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)
missing=()
for b in "${want[@]}"; do [[ -x "$BIN/$b" ]] || missing+=("$b"); done
if [[ ${#missing[@]} -eq 0 ]]; then
  say "all binaries cached in $BIN"
  echo "$BIN"
  exit 0
fi
say "missing: ${missing[*]} -> building into $BIN"
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0

needs_k8s=0
for b in "${missing[@]}"; do [[ "$b" != kwok ]] && needs_k8s=1; done

if [[ $needs_k8s == 1 ]]; then
  # k8s.io/kubernetes requires its staging modules at v0.0.0 with replace
  # directives to local folders, which `go install pkg@version` refuses. A
  # small module requires it and points each staging module at its published
  # v0.X.Y instead.
  minor="${K8S_VERSION#v1.}"; staging_version="v0.${minor}"
  cd "$WORK"
  if [[ ! -f go.mod ]]; then
    say "preparing build module (k8s.io/kubernetes $K8S_VERSION, staging $staging_version)"
    gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    {
      echo "module kube-recycler.local/cluster"
      echo
      echo "go 1.24.0"
      echo
      echo "require k8s.io/kubernetes $K8S_VERSION"
      echo
      grep -E '^\s*k8s.io/[a-z0-9-]+ => \./staging/' "$gomod" \
        | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
    } > go.mod.tmp
    mkdir -p cmd/etcd
    # go.etcd.io/etcd/server/v3/etcdmain is etcd's whole main; this is an etcd.
    cat > cmd/etcd/main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
    mv go.mod.tmp go.mod
    say "resolving modules (go mod tidy)"
    go mod tidy >&2
  fi
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor%%.*} -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  for b in "${missing[@]}"; do
    case "$b" in
      kwok) continue ;;
      etcd) pkg=./cmd/etcd ;;
      *) pkg="k8s.io/kubernetes/cmd/$b" ;;
    esac
    start=$(date +%s)
    say "building $b ..."
    go build -trimpath -ldflags "$ldflags" -o "$BIN/$b.tmp" "$pkg" >&2
    mv "$BIN/$b.tmp" "$BIN/$b"
    say "built $b in $(( $(date +%s) - start ))s"
  done
fi

if [[ ! -x "$BIN/kwok" ]]; then
  start=$(date +%s)
  say "building kwok $KWOK_VERSION ..."
  GOBIN="$WORK/kwok-bin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" >&2
  mv "$WORK/kwok-bin/kwok" "$BIN/kwok"
  say "built kwok in $(( $(date +%s) - start ))s"
fi
say "done: $BIN"
echo "$BIN"
