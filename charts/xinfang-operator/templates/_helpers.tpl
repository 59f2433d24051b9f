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
