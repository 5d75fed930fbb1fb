{{/*
Object names are fixed, not derived from the release name: the manager looks for the
Secret tollgate-webhook-server-cert, the Service tollgate-webhook-service and the
MutatingWebhookConfiguration tollgate-mutating-webhook-configuration by name. So one
release per cluster, as with config/default.
*/}}

{{/* Labels of every object. */}}
{{- define "tollgate.labels" -}}
app.kubernetes.io/name: tollgate
app.kubernetes.io/part-of: tollgate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The manager's pods, as config/default selects them (a selector is immutable). */}}
{{- define "tollgate.selectorLabels" -}}
app.kubernetes.io/name: tollgate
app.kubernetes.io/component: manager
{{- end }}

{{/* The image: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "tollgate.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/* Where the webhook's serving certificate is mounted. */}}
{{- define "tollgate.webhookCertDir" -}}
/tmp/k8s-webhook-server/serving-certs
{{- end }}

{{/* Where the metrics server's certificate (metrics.certSecret) is mounted. */}}
{{- define "tollgate.metricsCertDir" -}}
/tmp/k8s-metrics-server/metrics-certs
{{- end }}

{{/* The Secret the manager serves metrics with: metrics.certSecret when metrics are on and secure, else empty. */}}
{{- define "tollgate.metricsCertSecret" -}}
{{- if and .Values.metrics.enabled .Values.metrics.secure -}}
{{ .Values.metrics.certSecret }}
{{- end -}}
{{- end }}
