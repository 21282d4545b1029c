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
