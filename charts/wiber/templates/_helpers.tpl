{{/*
The chart name, overridable; truncated to 63 characters (the DNS label limit of Kubernetes names).
*/}}
{{- define "wiber.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
`<release>-<chart>`, or the release name alone when it already contains the chart name.
*/}}
{{- define "wiber.fullname" -}}
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

{{- define "wiber.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels of the objects this chart renders. The operator labels the WiberCluster's own objects
(app.kubernetes.io/name=wiber, instance=<cluster name>); these carry the chart's name and release.
*/}}
{{- define "wiber.labels" -}}
helm.sh/chart: {{ include "wiber.chart" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: wiber
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
The WiberCluster's name: cluster.name or the release name, at most 40 characters (the CRD's rule).
*/}}
{{- define "wiber.clusterName" -}}
{{- default .Release.Name .Values.cluster.name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/*
The Strimzi Kafka: cluster.kafka.strimziCluster, else `<cluster name>-kafka` (the one this chart renders).
*/}}
{{- define "wiber.kafkaName" -}}
{{- default (printf "%s-kafka" (include "wiber.clusterName" .)) .Values.cluster.kafka.strimziCluster -}}
{{- end -}}

{{/* The KafkaUser (and its Secret) Wiber authenticates as when kafka.authentication.enabled. */}}
{{- define "wiber.kafkaUserName" -}}
{{- printf "%s-wiber" (include "wiber.clusterName" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "wiber.mongoName" -}}
{{- printf "%s-mongo" (include "wiber.clusterName" .) -}}
{{- end -}}

{{/*
The connection-string Secret: cluster.mongodb.connectionSecret.name, else the one the MongoDB
Community operator writes for this chart's replica set: `<resource>-<user db>-<user name>`.
*/}}
{{- define "wiber.mongoSecret" -}}
{{- default (printf "%s-%s-%s" (include "wiber.mongoName" .) .Values.mongodb.user.db .Values.mongodb.user.name) .Values.cluster.mongodb.connectionSecret.name -}}
{{- end -}}

{{/*
Where AKHQ finds Kafka: akhq.bootstrapServers, the WiberCluster's bootstrapServers, or the Strimzi
Kafka's bootstrap Service (its `plain` listener, port 9092).
*/}}
{{- define "wiber.akhqBootstrap" -}}
{{- if .Values.akhq.bootstrapServers -}}
{{- .Values.akhq.bootstrapServers -}}
{{- else if .Values.cluster.kafka.bootstrapServers -}}
{{- .Values.cluster.kafka.bootstrapServers -}}
{{- else -}}
{{- printf "%s-kafka-bootstrap.%s.svc:9092" (include "wiber.kafkaName" .) .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{- define "wiber.akhqName" -}}
{{- printf "%s-akhq" (include "wiber.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
AKHQ's application.yml: one connection, named after the WiberCluster, to its Kafka.
*/}}
{{- define "wiber.akhqConfig" -}}
micronaut:
  server:
    port: 8080
akhq:
  connections:
    {{ include "wiber.clusterName" . }}:
      properties:
        bootstrap.servers: {{ include "wiber.akhqBootstrap" . | quote }}
{{- end -}}
