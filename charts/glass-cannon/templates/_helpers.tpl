{{/* Chart name, overridable. */}}
{{- define "glass-cannon.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name prefix of every object; the release name alone when it already holds the chart name. */}}
{{- define "glass-cannon.fullname" -}}
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

{{- define "glass-cannon.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "glass-cannon.labels" -}}
helm.sh/chart: {{ include "glass-cannon.chart" . }}
app.kubernetes.io/name: {{ include "glass-cannon.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: glass-cannon
{{- end }}

{{/* Selector labels of one component; call with (dict "ctx" $ "component" "operator"). */}}
{{- define "glass-cannon.selectorLabels" -}}
app.kubernetes.io/name: {{ include "glass-cannon.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "glass-cannon.operatorServiceAccount" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "glass-cannon.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}


{{/* Image reference: digest wins over tag; tag defaults to appVersion. */}}
{{- define "glass-cannon.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}


{{/* A helper image: repository:tag, with @digest when one is set (then pulled by digest). */}}
{{- define "glass-cannon.imageRef" -}}
{{- printf "%s:%s" .repository .tag }}{{ with .digest }}@{{ . }}{{ end }}
{{- end }}


{{/* Seccomp mode runner pods get: explicit, else Localhost when the installer runs, else RuntimeDefault. */}}
{{- define "glass-cannon.seccompMode" -}}
{{- if .Values.seccomp.mode }}
{{- .Values.seccomp.mode }}
{{- else if .Values.seccomp.installer.enabled }}
{{- "Localhost" }}
{{- else }}
{{- "RuntimeDefault" }}
{{- end }}
{{- end }}

{{- define "glass-cannon.leaderElection" -}}
{{- if gt (int .Values.operator.replicas) 1 }}true{{ end }}
{{- end }}

{{/* Container securityContext shared by the non-root containers. */}}
{{- define "glass-cannon.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* A CEL test that `.var` matches one of the glob patterns `.patterns` (`*`: any
run of characters; a trailing dot of a host name is ignored), or `false` for none. */}}
{{- define "glass-cannon.globCel" -}}
{{- if .patterns }}
{{- $parts := list }}
{{- range .patterns }}{{ $parts = append $parts (regexQuoteMeta . | replace "\\*" ".*") }}{{ end }}
{{- printf "%s.matches(r'^(?:%s)%s$')" .var (join "|" $parts) (ternary "\\.?" "" (default false .dot)) }}
{{- else }}false{{ end }}
{{- end }}
