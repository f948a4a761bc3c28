{{/*
Names, labels and the values that several templates derive.
*/}}

{{/* The chart's name, or nameOverride. */}}
{{- define "headroom.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's full name: fullnameOverride, or RELEASE-headroom (just RELEASE
when it already holds the chart's name), at most 63 characters (DNS names).
*/}}
{{- define "headroom.fullname" -}}
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

{{- define "headroom.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "headroom.selectorLabels" -}}
app.kubernetes.io/name: {{ include "headroom.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "headroom.labels" -}}
helm.sh/chart: {{ include "headroom.chart" . }}
{{ include "headroom.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "headroom.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "headroom.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* cuda when the pod has GPUs, else cpu: the config's device. */}}
{{- define "headroom.device" -}}
{{- if gt (int .Values.gpus) 0 }}cuda{{ else }}cpu{{ end }}
{{- end }}

{{/* image.tag, or appVersion-cuda / appVersion-cpu (the Dockerfile's targets). */}}
{{- define "headroom.image" -}}
{{- $tag := .Values.image.tag | default (printf "%s-%s" .Chart.AppVersion (include "headroom.device" .)) }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}

{{/* resources, with nvidia.com/gpu in limits when gpus > 0. */}}
{{- define "headroom.resources" -}}
{{- $resources := deepCopy (.Values.resources | default dict) }}
{{- if gt (int .Values.gpus) 0 }}
{{- $limits := deepCopy (get $resources "limits" | default dict) }}
{{- $_ := set $limits "nvidia.com/gpu" (int .Values.gpus) }}
{{- $_ := set $resources "limits" $limits }}
{{- end }}
{{- toYaml $resources }}
{{- end }}

{{/* The Secret with the tenants' keys: existingSecret or the chart's. */}}
{{- define "headroom.tenantKeysSecret" -}}
{{- .Values.tenantKeys.existingSecret | default (printf "%s-tenant-keys" (include "headroom.fullname" .)) }}
{{- end }}

{{/* "true" when a tenant-key Secret is mounted. */}}
{{- define "headroom.hasTenantKeys" -}}
{{- if or .Values.tenantKeys.existingSecret .Values.tenantKeys.keys }}true{{ end }}
{{- end }}

{{/* Where the tenant-key Secret is mounted; api_key_file points into it. */}}
{{- define "headroom.tenantKeysDir" -}}
/var/run/secrets/headroom/tenant-keys
{{- end }}
