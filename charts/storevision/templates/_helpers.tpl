{{/* Chart name, truncated to a DNS label. */}}
{{- define "storevision.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified app name; leaves room for "-orchestrator" / "-edge-<pool>" suffixes. */}}
{{- define "storevision.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 30 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 30 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 30 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "storevision.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "storevision.labels" -}}
helm.sh/chart: {{ include "storevision.chart" . }}
app.kubernetes.io/name: {{ include "storevision.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: storevision
{{- end -}}

{{/* Selector labels of one component: include "storevision.selectorLabels" (list . "hub") */}}
{{- define "storevision.selectorLabels" -}}
{{- $ctx := index . 0 -}}
app.kubernetes.io/name: {{ include "storevision.name" $ctx }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "storevision.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "storevision.hubUrl" -}}
{{- if .Values.edge.hubUrl -}}
{{- .Values.edge.hubUrl -}}
{{- else -}}
{{- printf "http://%s-hub.%s.svc:%d" (include "storevision.fullname" .) .Release.Namespace (int .Values.hub.service.port) -}}
{{- end -}}
{{- end -}}

{{- define "storevision.orchestratorUrl" -}}
{{- if .Values.edge.orchestratorUrl -}}
{{- .Values.edge.orchestratorUrl -}}
{{- else -}}
{{- printf "http://%s-orchestrator.%s.svc:%d" (include "storevision.fullname" .) .Release.Namespace (int .Values.orchestrator.service.port) -}}
{{- end -}}
{{- end -}}

{{- define "storevision.orchestratorServiceAccount" -}}
{{- if .Values.orchestrator.serviceAccount.create -}}
{{- default (printf "%s-orchestrator" (include "storevision.fullname" .)) .Values.orchestrator.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.orchestrator.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The hub's database Secret name and key, or nothing for SQLite. */}}
{{- define "storevision.hubDatabaseSecret" -}}
{{- if .Values.hub.database.existingSecret -}}
{{- .Values.hub.database.existingSecret -}}
{{- else if .Values.hub.database.url -}}
{{- printf "%s-hub-database" (include "storevision.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* HTTP probes shared by every service: liveness on /healthz, readiness on /readyz. */}}
{{- define "storevision.probes" -}}
livenessProbe:
  httpGet: { path: /healthz, port: http }
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: { path: /readyz, port: http }
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 3
startupProbe:
  httpGet: { path: /healthz, port: http }
  periodSeconds: 2
  failureThreshold: 60
{{- end -}}

{{- define "storevision.containerSecurityContext" -}}
allowPrivilegeEscalation: false
capabilities: { drop: [ALL] }
seccompProfile: { type: RuntimeDefault }
{{- end -}}
