#!/usr/bin/env bash
# Builds (or fetches) the chart and monitoring tools the tests use, into the
# same cache as the control plane, outside the checkout. Does only what is
# missing; prints the directory of each tool on stdout as NAME=DIR lines.
#   helm      helm.sh/helm/v3 from the Go module proxy (cold build ~see README)
#   promtool  Prometheus' promtool from the Go module proxy
#   crds      the prometheus-operator CRDs and the Gateway API's (standard
#             channel), from their Go modules
#   alertmanager  Prometheus' Alertmanager from the Go module proxy (the
#             Alertmanager webhook tests run a real one on loopback)
# Both build with this machine's Go (1.26). Run with `nice` on a shared box.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
# Prometheus 3.x publishes its Go module as v0.3XX.Y (v3.16.0 = v0.316.0).
PROMETHEUS_MODULE_VERSION="${PROMETHEUS_MODULE_VERSION:-v0.316.0}"
CACHE="${KUBE_RECYCLER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-recycler}"
# The prometheus-operator's CRDs (ServiceMonitor, PodMonitor, PrometheusRule),
# so the chart's monitoring objects are checked by a real API server. They
# ship inside the operator's Go module (example/prometheus-operator-crd/).
PROMETHEUS_OPERATOR_VERSION="${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
# The Gateway API's CRDs (HTTPRoute for the chart's httpRoute), from
# sigs.k8s.io/gateway-api's Go module (config/crd/standard/).
GATEWAY_API_VERSION="${GATEWAY_API_VERSION:-v1.3.0}"
GATEWAY_CRDS="$CACHE/crds/gateway-api-$GATEWAY_API_VERSION"
HELM_BIN="$CACHE/bin/helm-$HELM_VERSION"
CRDS="$CACHE/crds/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION"
PROMTOOL_BIN="$CACHE/bin/promtool-$PROMETHEUS_MODULE_VERSION"
ALERTMANAGER_VERSION="${ALERTMANAGER_VERSION:-v0.35.0}"
ALERTMANAGER_BIN="$CACHE/bin/alertmanager-$ALERTMANAGER_VERSION"
WORK="$CACHE/build/tools"
mkdir -p "$HELM_BIN" "$PROMTOOL_BIN" "$ALERTMANAGER_BIN" "$WORK" "$(dirname "$CRDS")"

say() { echo "[tools:build $(date +%H:%M:%S)] $*" >&2; }
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0
if [[ ${1:-all} != paths ]]; then
  command -v go >/dev/null || { say "Go is needed to build helm, promtool and alertmanager"; exit 1; }
fi

# all (default) | helm | promtool | crds | alertmanager: build what is missing; paths: only print.
only="${1:-all}"

if [[ ( $only == all || $only == helm ) && ! -x "$HELM_BIN/helm" ]]; then
  start=$(date +%s)
  say "building helm $HELM_VERSION (helm.sh/helm/v3/cmd/helm) ..."
  # The same -X flags as helm's Makefile: internal/version is what `helm
  # version` prints; chartutil/lint's k8sVersion is the Kubernetes version
  # `helm template` and `helm lint` assume (without it v1.20, and every
  # chart with a newer kubeVersion fails to render). Helm's Makefile takes it
  # from its client-go: v0.X.Y -> 1.X.
  gomod="$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  k8s_minor="$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$gomod" | head -1)"
  [[ -n $k8s_minor ]] || { say "cannot read helm's client-go version from $gomod"; exit 1; }
  pkg=helm.sh/helm/v3
  GOBIN="$WORK/helm-$HELM_VERSION" go install -trimpath \
    -ldflags "-s -w -X $pkg/internal/version.version=$HELM_VERSION -X $pkg/internal/version.gitTreeState=clean -X $pkg/pkg/lint/rules.k8sVersionMajor=1 -X $pkg/pkg/lint/rules.k8sVersionMinor=$k8s_minor -X $pkg/pkg/chartutil.k8sVersionMajor=1 -X $pkg/pkg/chartutil.k8sVersionMinor=$k8s_minor" \
    "$pkg/cmd/helm@$HELM_VERSION" >&2
  mv "$WORK/helm-$HELM_VERSION/helm" "$HELM_BIN/helm"
  say "built helm in $(( $(date +%s) - start ))s"
fi

if [[ ( $only == all || $only == promtool ) && ! -x "$PROMTOOL_BIN/promtool" ]]; then
  start=$(date +%s)
  say "building promtool $PROMETHEUS_MODULE_VERSION (github.com/prometheus/prometheus/cmd/promtool) ..."
  # remove_all_sd drops every service-discovery plugin (AWS, Azure, GCE,
  # ...): promtool's check/test commands do not need them (its own
  # Kubernetes SD import stays).
  # The module's VERSION file is the release (3.16.0); `promtool --version` shows it.
  dir="$(go mod download -json "github.com/prometheus/prometheus@$PROMETHEUS_MODULE_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  GOBIN="$WORK/promtool-$PROMETHEUS_MODULE_VERSION" go install -trimpath -tags remove_all_sd,netgo \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=$(cat "$dir/VERSION") -X github.com/prometheus/common/version.Branch=release" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION" >&2
  mv "$WORK/promtool-$PROMETHEUS_MODULE_VERSION/promtool" "$PROMTOOL_BIN/promtool"
  say "built promtool in $(( $(date +%s) - start ))s"
fi

if [[ ( $only == all || $only == alertmanager ) && ! -x "$ALERTMANAGER_BIN/alertmanager" ]]; then
  start=$(date +%s)
  say "building alertmanager $ALERTMANAGER_VERSION (github.com/prometheus/alertmanager/cmd/alertmanager) ..."
  # `go install ...@version` fails: ui/web.go embeds ui/app/dist, which is
  # built from the UI's npm project and not shipped in the Go module. The
  # tests use only the API, so a copy of the module source with a stub page
  # for each embedded UI builds it.
  dir="$(go mod download -json "github.com/prometheus/alertmanager@$ALERTMANAGER_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  src="$WORK/alertmanager-$ALERTMANAGER_VERSION-src"
  rm -rf "$src" && cp -r "$dir" "$src" && chmod -R u+w "$src"
  for ui in elm mantine; do
    mkdir -p "$src/ui/app/dist/$ui"
    echo '<!doctype html><title>Alertmanager</title><p>UI not built (kube-recycler test build)' > "$src/ui/app/dist/$ui/index.html"
  done
  (cd "$src" && go build -trimpath -tags netgo -o "$WORK/alertmanager" \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=${ALERTMANAGER_VERSION#v} -X github.com/prometheus/common/version.Branch=release" \
    ./cmd/alertmanager >&2)
  mv "$WORK/alertmanager" "$ALERTMANAGER_BIN/alertmanager"
  rm -rf "$src"
  say "built alertmanager in $(( $(date +%s) - start ))s"
fi

if [[ ( $only == all || $only == crds ) && ! -f "$CRDS/monitoring.coreos.com_alertmanagerconfigs.yaml" ]]; then
  say "fetching the prometheus-operator $PROMETHEUS_OPERATOR_VERSION CRDs (Go module github.com/prometheus-operator/prometheus-operator)"
  dir="$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  mkdir -p "$CRDS.tmp"
  for c in servicemonitors podmonitors prometheusrules alertmanagerconfigs; do
    cp "$dir/example/prometheus-operator-crd/monitoring.coreos.com_$c.yaml" "$CRDS.tmp/"
  done
  rm -rf "$CRDS" && mv "$CRDS.tmp" "$CRDS"
fi

if [[ ( $only == all || $only == crds ) && ! -f "$GATEWAY_CRDS/gateway.networking.k8s.io_httproutes.yaml" ]]; then
  say "fetching the Gateway API $GATEWAY_API_VERSION CRDs (Go module sigs.k8s.io/gateway-api)"
  dir="$(go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  mkdir -p "$GATEWAY_CRDS.tmp"
  for c in gatewayclasses gateways httproutes; do
    cp "$dir/config/crd/standard/gateway.networking.k8s.io_$c.yaml" "$GATEWAY_CRDS.tmp/"
  done
  chmod u+w "$GATEWAY_CRDS.tmp"/*
  rm -rf "$GATEWAY_CRDS" && mv "$GATEWAY_CRDS.tmp" "$GATEWAY_CRDS"
fi

echo "HELM=$HELM_BIN/helm"
echo "PROMTOOL=$PROMTOOL_BIN/promtool"
echo "CRDS=$CRDS"
echo "ALERTMANAGER=$ALERTMANAGER_BIN/alertmanager"
echo "GATEWAYCRDS=$GATEWAY_CRDS"
