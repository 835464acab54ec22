{{/* Standard helpers, as `helm create` generates them. */}}
{{- define "prognos.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "prognos.fullname" -}}
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

{{- define "prognos.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "prognos.labels" -}}
helm.sh/chart: {{ include "prognos.chart" . }}
{{ include "prognos.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: prognos
{{- end }}

{{- define "prognos.selectorLabels" -}}
app.kubernetes.io/name: {{ include "prognos.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "prognos.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "prognos.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "prognos.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Namespaces where Secrets may be read: the listed ones, else the release namespace. */}}
{{- define "prognos.secretNamespaces" -}}
{{- if .Values.rbac.secretNamespaces }}
{{- join "," .Values.rbac.secretNamespaces }}
{{- else }}
{{- .Release.Namespace }}
{{- end }}
{{- end }}

{{/* RBAC rules for everything Prognos does inside a watched namespace. */}}
{{- define "prognos.namespacedRules" }}
# Prognos' own resources: watched, annotated by Kopf, status written by Prognos.
- apiGroups: [prognos.io]
  resources: [predictivescalers, remediationpolicies, notificationchannels]
  verbs: [get, list, watch, patch]
- apiGroups: [prognos.io]
  resources: [predictivescalers/status, remediationpolicies/status, notificationchannels/status, incidents/status]
  verbs: [get, patch]
# Incidents are the operator's write-ahead log; bounded retention deletes old ones.
- apiGroups: [prognos.io]
  resources: [incidents]
  verbs: [get, list, watch, create, patch, delete]
# Scaling through /scale; the targets themselves are read (get) for annotations (pause) and,
# for remediation, their selector and pod template. Nothing lists or watches them.
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets]
  verbs: [get]
# A Deployment's ReplicaSets carry the revisions a rollback goes back to.
- apiGroups: [apps]
  resources: [replicasets]
  verbs: [get, list]
- apiGroups: [apps]
  resources: [deployments/scale, statefulsets/scale, replicasets/scale]
  verbs: [get, patch]
# Remediation: rollout restart and rollback patch the workload's pod template.
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets]
  verbs: [patch]
# Pods are watched for crash-loop signals; deletePod deletes one (uid precondition).
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, delete]
# evictPod goes through the Eviction API; the API server itself checks PodDisruptionBudgets.
- apiGroups: [""]
  resources: [pods/eviction]
  verbs: [create]
# The job action creates its Job once; an existing one is read, never listed.
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, create]
# core/v1 Events on targets and on Prognos' objects, by Prognos and by Kopf: created only.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- range .Values.rbac.extraScaleTargets }}
- apiGroups: [{{ .apiGroup | quote }}]
  resources: {{ toYaml .resources | nindent 4 }}
  verbs: [get]
- apiGroups: [{{ .apiGroup | quote }}]
  resources:
  {{- range .resources }}
    - {{ printf "%s/scale" . | quote }}
  {{- end }}
  verbs: [get, patch]
{{- end }}
{{- if .Values.peering }}
# Kopf peering (active/standby replicas).
- apiGroups: [kopf.dev]
  resources: [kopfpeerings]
  verbs: [get, list, watch, patch, create]
{{- end }}
{{- end }}

{{/*
Sharding: the hash shard count, and a check of the values that cannot be combined. Included
by every template that renders per shard, so a bad combination fails whatever is rendered.
A release installed before `sharding` existed and upgraded with --reuse-values has no
`sharding` block at all: that is one unsharded operator.
*/}}
{{- define "prognos.shards" -}}
{{- $shards := int ((.Values.sharding | default dict).shards | default 1) }}
{{- if and (gt $shards 1) (include "prognos.shardSelector" .) }}
{{- fail "sharding: set either sharding.shards > 1 (hash shards, one release) or sharding.selector (one release per selector), not both" }}
{{- end }}
{{- $shards }}
{{- end }}

{{/* The label selector of a label-selector shard; empty for none. */}}
{{- define "prognos.shardSelector" -}}
{{- (.Values.sharding | default dict).selector | default "" }}
{{- end }}
