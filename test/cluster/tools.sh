#!/usr/bin/env bash
# Builds (or fetches) the chart and monitoring tools the tests use, into the
# same cache as the control plane, outside the checkout. Does only what is
# missing; prints the directory of each tool on stdout as NAME=DIR lines.
#   helm      helm.sh/helm/v3 from the Go module proxy (cold build ~see README)
#   promtool  Prometheus' promtool from the Go module proxy
# Both build with this machine's Go (1.26). Run with `nice` on a shared box.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
# Prometheus 3.x publishes its Go module as v0.3XX.Y (v3.16.0 = v0.316.0).
PROMETHEUS_MODULE_VERSION="${PROMETHEUS_MODULE_VERSION:-v0.316.0}"
CACHE="${KUBE_RECYCLER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-recycler}"
HELM_BIN="$CACHE/bin/helm-$HELM_VERSION"
PROMTOOL_BIN="$CACHE/bin/promtool-$PROMETHEUS_MODULE_VERSION"
WORK="$CACHE/build/tools"
mkdir -p "$HELM_BIN" "$PROMTOOL_BIN" "$WORK"

say() { echo "[tools:build $(date +%H:%M:%S)] $*" >&2; }
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0
command -v go >/dev/null || { say "Go is needed to build helm and promtool"; exit 1; }

only="${1:-all}"

if [[ ( $only == all || $only == helm ) && ! -x "$HELM_BIN/helm" ]]; then
  start=$(date +%s)
  say "building helm $HELM_VERSION (helm.sh/helm/v3/cmd/helm) ..."
  # internal/version.version is what `helm version` prints; without it helm
  # says v3.x-dev and chart kubeVersion checks misfire.
  GOBIN="$WORK/helm-$HELM_VERSION" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
  mv "$WORK/helm-$HELM_VERSION/helm" "$HELM_BIN/helm"
  say "built helm in $(( $(date +%s) - start ))s"
fi

if [[ ( $only == all || $only == promtool ) && ! -x "$PROMTOOL_BIN/promtool" ]]; then
  start=$(date +%s)
  say "building promtool $PROMETHEUS_MODULE_VERSION (github.com/prometheus/prometheus/cmd/promtool) ..."
  # remove_all_sd drops every service-discovery plugin (AWS, Azure, GCE,
  # Kubernetes, ...): promtool's check/test commands do not need them and the
  # build is several times smaller.
  GOBIN="$WORK/promtool-$PROMETHEUS_MODULE_VERSION" go install -trimpath -tags remove_all_sd,netgo \
    -ldflags "-s -w" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION" >&2
  mv "$WORK/promtool-$PROMETHEUS_MODULE_VERSION/promtool" "$PROMTOOL_BIN/promtool"
  say "built promtool in $(( $(date +%s) - start ))s"
fi

echo "HELM=$HELM_BIN/helm"
echo "PROMTOOL=$PROMTOOL_BIN/promtool"
