{{/* The objects' names: deploy/base's unless fullnameOverride says otherwise. */}}
{{- define "smtp-relay-operator.name" -}}
{{- .Values.fullnameOverride | default "smtp-relay-operator" | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: the same as deploy/base, so the two installs select the same pods. */}}
{{- define "smtp-relay-operator.selectorLabels" -}}
app.kubernetes.io/name: smtp-relay-operator
app.kubernetes.io/component: operator
{{- end -}}

{{/* Labels on every object: deploy/base's, plus Helm's own. */}}
{{- define "smtp-relay-operator.commonLabels" -}}
app.kubernetes.io/part-of: smtp-relay-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "smtp-relay-operator.labels" -}}
{{ include "smtp-relay-operator.selectorLabels" . }}
{{ include "smtp-relay-operator.commonLabels" . }}
{{- end -}}

{{/* REPOSITORY:TAG[@DIGEST]; the tag defaults to the chart's appVersion. */}}
{{- define "smtp-relay-operator.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}
