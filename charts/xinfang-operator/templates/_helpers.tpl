{{- define "xinfang-operator.name" -}}xinfang-operator{{- end -}}

{{- define "xinfang-operator.labels" -}}
app.kubernetes.io/name: xinfang-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "xinfang-operator.selector" -}}
app.kubernetes.io/name: xinfang-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "xinfang-operator.tag" -}}{{ .Values.image.tag | default .Chart.AppVersion }}{{- end -}}

{{- /*
GOMEMLIMIT: goMemLimit when set, else 80% of resources.limits.memory (Mi or
Gi), so the Go runtime collects harder before the container's limit rather
than being OOM-killed at it; empty when there is no limit it can read.
*/ -}}
{{- define "xinfang-operator.goMemLimit" -}}
{{- if .Values.goMemLimit -}}
{{ .Values.goMemLimit }}
{{- else -}}
{{- $m := toString (dig "limits" "memory" "" .Values.resources) -}}
{{- if hasSuffix "Mi" $m -}}
{{ div (mul (trimSuffix "Mi" $m | atoi) 4) 5 }}MiB
{{- else if hasSuffix "Gi" $m -}}
{{ div (mul (trimSuffix "Gi" $m | atoi) 4096) 5 }}MiB
{{- end -}}
{{- end -}}
{{- end -}}
