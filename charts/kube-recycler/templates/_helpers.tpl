{{/* Name of the chart, or nameOverride. */}}
{{- define "kube-recycler.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: "kube-recycler" for a release of that name. */}}
{{- define "kube-recycler.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kube-recycler.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "kube-recycler.labels" -}}
helm.sh/chart: {{ include "kube-recycler.chart" . }}
{{ include "kube-recycler.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kube-recycler
{{- end }}

{{/* Labels that select the pods: never change them in an upgrade. */}}
{{- define "kube-recycler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kube-recycler.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kube-recycler.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kube-recycler.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kube-recycler.secretName" -}}
{{- if .Values.secret.create }}
{{- include "kube-recycler.fullname" . }}
{{- else }}
{{- default (include "kube-recycler.fullname" .) .Values.secret.existingSecret }}
{{- end }}
{{- end }}

{{- define "kube-recycler.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The service config as the service reads it: service.namespace defaults to the release namespace. */}}
{{- define "kube-recycler.configYaml" -}}
{{- $config := deepCopy .Values.config }}
{{- $service := default (dict) $config.service }}
{{- if not $service.namespace }}
{{- $_ := set $service "namespace" .Release.Namespace }}
{{- end }}
{{- $_ := set $config "service" $service }}
{{- toYaml $config }}
{{- end }}

{{/* Site namespaces: every config.sites[].target.namespace, then rbac.siteNamespaces; sorted, unique. As a YAML list. */}}
{{- define "kube-recycler.siteNamespaces" -}}
{{- $ns := list }}
{{- range .Values.config.sites }}
{{- $ns = append $ns .target.namespace }}
{{- end }}
{{- range .Values.rbac.siteNamespaces }}
{{- $ns = append $ns . }}
{{- end }}
{{- toYaml (uniq $ns | sortAlpha) }}
{{- end }}

{{/* The state ConfigMaps' names (src/state/store.ts objectName), sorted, unique, as a JSON list. */}}
{{- define "kube-recycler.stateConfigMaps" -}}
{{- $names := list "kube-recycler-heartbeat" }}
{{- range .Values.config.sites }}
{{- $names = append $names (printf "kube-recycler-site-%s" .name) }}
{{- end }}
{{- toJson (uniq $names | sortAlpha) }}
{{- end }}

{{/*
The config ConfigMap's name: the content's hash in it, so a new config is a
new (immutable) ConfigMap and the pods roll onto it.
*/}}
{{- define "kube-recycler.configMapName" -}}
{{- printf "%s-config-%s" (include "kube-recycler.fullname" .) (include "kube-recycler.configYaml" . | sha256sum | trunc 10) }}
{{- end }}

{{/*
The pods' annotations, as YAML (empty: none). No config checksum: a new
config is a ConfigMap of another name, which rolls the pods by itself.
*/}}
{{- define "kube-recycler.podAnnotations" -}}
{{- if .Values.secret.create }}
checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- if .Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: "8080"
prometheus.io/path: /metrics
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Behind an Ingress or a Gateway every connection comes from the proxy: without
config.service.trustProxy the failed-auth limit, the request limits and the
connection cap (all per client address) would treat every client as one.
Called with (dict "root" $ "what" "ingress").
*/}}
{{- define "kube-recycler.requireTrustProxy" -}}
{{- $service := .root.Values.config.service | default dict }}
{{- if not $service.trustProxy }}
{{- fail (printf "%s.enabled: set config.service.trustProxy to the addresses or CIDRs of the proxy's pods (e.g. [\"10.244.0.0/16\"]): behind it every client has the proxy's address, and the failed-auth and request limits, which key on the client address, would lock out Jenkins for everyone's mistakes" .what) }}
{{- end }}
{{- end }}
