{{/*
The chart name, overridable; truncated to 63 characters (the DNS label limit of Kubernetes names).
*/}}
{{- define "wiber-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The full name of the release's objects: `<release>-<chart>`, or the release name alone when it
already contains the chart name. Cluster-scoped objects use it too, so it always holds the release name
(unless fullnameOverride says otherwise).
*/}}
{{- define "wiber-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
`<fullname>-<suffix>`, truncated so the whole stays within 63 characters.
*/}}
{{- define "wiber-operator.suffixed" -}}
{{- $suffix := index . 1 -}}
{{- printf "%s-%s" (include "wiber-operator.fullname" (index . 0) | trunc (int (sub 62 (len $suffix))) | trimSuffix "-") $suffix -}}
{{- end -}}

{{- define "wiber-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels of every object.
*/}}
{{- define "wiber-operator.labels" -}}
helm.sh/chart: {{ include "wiber-operator.chart" . }}
{{ include "wiber-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: wiber
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
Selector labels: never change after the first install (Deployment selectors are immutable).
*/}}
{{- define "wiber-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wiber-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "wiber-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "wiber-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "wiber-operator.leaseName" -}}
{{- default (include "wiber-operator.fullname" .) .Values.leaderElection.leaseName -}}
{{- end -}}

{{/*
The image reference: repository:tag (tag defaults to the appVersion), or repository@digest.
*/}}
{{- define "wiber-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
The rules of operator/rbac.yaml's ClusterRole. Keep them identical to that file: the e2e test
`operator_chart_rbac_rules_equal_operator_rbac_yaml` compares them.
*/}}
{{- define "wiber-operator.clusterRules" -}}
- apiGroups: ["wiber.io"]
  resources: ["wiberclusters"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["wiber.io"]
  resources: ["wiberclusters/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: [""]
  resources: ["services", "configmaps", "serviceaccounts"]
  verbs: ["get", "create", "patch", "update", "delete"]
# Only the Secrets a WiberCluster names: the MongoDB one is checked, the Kafka credentials are read
# for the operator's own lag measurement. Never listed or watched.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "create", "patch", "update", "delete"]
- apiGroups: ["kafka.strimzi.io"]
  resources: ["kafkas"]
  verbs: ["get"]
- apiGroups: ["kafka.strimzi.io"]
  resources: ["kafkatopics"]
  verbs: ["get", "create", "patch", "update", "delete"]
- apiGroups: ["monitoring.coreos.com"]
  resources: ["podmonitors"]
  verbs: ["get", "create", "patch", "update", "delete"]
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses"]
  verbs: ["get", "create", "patch", "update", "delete"]
# To see whether the Strimzi and Prometheus Operator CRDs are installed.
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["get"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}

{{/*
The rules of operator/rbac.yaml's leader-election Role (same check).
*/}}
{{- define "wiber-operator.leaderElectionRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "update"]
{{- end -}}

{{/*
The one threshold of each alert that has one, as it stands in files/alerts.yaml: the comparison and
its default. prometheusRule.alerts.<alert>.threshold replaces the default; the template fails when
the file no longer holds "<comparison> <default>".
*/}}
{{- define "wiber-operator.alertThresholds" -}}
WiberConsumerLagGrowing: {comparison: "wiber_operator_consumer_lag >", default: 1000}
WiberConsumersAtMaxAndLagRising: {comparison: "wiber_operator_consumer_lag >", default: 1000}
WiberConsumerStalled: {comparison: "(wiber_consumer_last_progress_timestamp_seconds) >", default: 300}
WiberApiErrorRatioHigh: {comparison: ">", default: 0.05}
WiberApiSlow: {comparison: ">", default: 1}
WiberPushFeedBehind: {comparison: ") >", default: 2}
WiberPushSlowReadersCut: {comparison: ">", default: 0.05}
WiberPushStreamsNearCap: {comparison: ">", default: 0.9}
{{- end -}}

{{/*
WATCH_NAMESPACE: watchNamespaces joined by commas, or the deprecated single watchNamespace.
*/}}
{{- define "wiber-operator.watchNamespaces" -}}
{{- if and .Values.watchNamespace .Values.watchNamespaces }}
{{- fail "watchNamespace and watchNamespaces: set watchNamespaces only (watchNamespace is deprecated)" }}
{{- end }}
{{- if .Values.watchNamespaces }}
{{- join "," .Values.watchNamespaces }}
{{- else }}
{{- .Values.watchNamespace }}
{{- end }}
{{- end -}}
