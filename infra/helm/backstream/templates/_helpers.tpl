{{/*
Names and labels.
*/}}
{{- define "backstream.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "backstream.fullname" -}}
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

{{/* The name of one part: dict "root" $ "component" "chunk-worker". */}}
{{- define "backstream.componentName" -}}
{{- printf "%s-%s" (include "backstream.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "backstream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "backstream.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "backstream.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "backstream.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: backstream
{{- end }}

{{/* Labels of one part: dict "root" $ "component" "chunk-worker". */}}
{{- define "backstream.componentLabels" -}}
{{ include "backstream.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "backstream.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{- define "backstream.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "backstream.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The consumer services: what `backstream run` calls them, the topic they consume (relative to
kafka.topicPrefix; the producer's are changes.topics) and the variable of their consumer group.
Mirrors consumerGroupId and topicName in libs/events/topics.ts.
*/}}
{{- define "backstream.serviceTable" -}}
chunkWorker: {name: chunk-worker, topic: chunks, groupVar: BACKSTREAM_CHUNK_WORKER_GROUP_ID}
verifier: {name: verifier, topic: stored, groupVar: BACKSTREAM_VERIFIER_GROUP_ID}
archiver: {name: archiver, topic: progress, groupVar: BACKSTREAM_ARCHIVER_GROUP_ID}
producer: {name: producer, topic: '', groupVar: BACKSTREAM_CHANGES_GROUP_ID}
{{- end }}

{{/* Secret settings: never in the ConfigMap. */}}
{{- define "backstream.secretKeys" -}}
- BACKSTREAM_KAFKA_SASL_USERNAME
- BACKSTREAM_KAFKA_SASL_PASSWORD
- BACKSTREAM_S3_ACCESS_KEY_ID
- BACKSTREAM_S3_SECRET_ACCESS_KEY
- BACKSTREAM_S3_SESSION_TOKEN
- BACKSTREAM_ENCRYPTION_MASTER_KEY
- BACKSTREAM_LEDGER_SIGNING_KEY
{{- end }}

{{/*
A value as an environment variable's text. YAML numbers reach templates as float64, which
toString would print as 2.16e+07; lists become comma-separated.
*/}}
{{- define "backstream.str" -}}
{{- if kindIs "invalid" . }}
{{- else if kindIs "float64" . }}
{{- if eq . (floor .) }}{{ printf "%.0f" . }}{{ else }}{{ toString . }}{{ end }}
{{- else if kindIs "slice" . }}
{{- join "," . }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}

{{/*
The non-secret settings as YAML (variable name: text): the typed values, then `config` over
them. Everything else (probes, scalers, grace periods) reads the settings from here, so a
`config` entry is never contradicted by the manifests.
*/}}
{{- define "backstream.config" -}}
{{- $v := .Values }}
{{- $c := dict }}
{{- $typed := dict
  "BACKSTREAM_KAFKA_BROKERS" $v.kafka.brokers
  "BACKSTREAM_KAFKA_TOPIC_PREFIX" $v.kafka.topicPrefix
  "BACKSTREAM_KAFKA_SSL" $v.kafka.ssl
  "BACKSTREAM_KAFKA_SASL_MECHANISM" $v.kafka.saslMechanism
  "BACKSTREAM_S3_ENDPOINT" $v.s3.endpoint
  "BACKSTREAM_S3_REGION" $v.s3.region
  "BACKSTREAM_S3_BUCKET" $v.s3.bucket
  "BACKSTREAM_S3_PREFIX" $v.s3.prefix
  "BACKSTREAM_S3_FORCE_PATH_STYLE" $v.s3.forcePathStyle
  "BACKSTREAM_TOPICS_PARTITIONS" $v.topics.partitions
  "BACKSTREAM_HEALTH_PORT" $v.health.port
  "BACKSTREAM_TELEMETRY_OTLP_ENDPOINT" $v.telemetry.otlpEndpoint
  "BACKSTREAM_TELEMETRY_PROMETHEUS" $v.telemetry.prometheus
  "BACKSTREAM_LOG_LEVEL" $v.log.level
  "BACKSTREAM_LEDGER_PUBLIC_KEY" $v.ledger.publicKey
  "BACKSTREAM_CHANGES_TOPICS" $v.changes.topics
  "BACKSTREAM_CHANGES_SOURCE" $v.changes.source
  "BACKSTREAM_SHUTDOWN_GRACE_PERIOD_MS" $v.shutdown.gracePeriodMs
}}
{{- range $k, $x := $typed }}
{{- $s := include "backstream.str" $x }}
{{- if ne $s "" }}{{ $_ := set $c $k $s }}{{ end }}
{{- end }}
{{- $secret := include "backstream.secretKeys" . | fromYamlArray }}
{{- range $k, $x := $v.config }}
{{- if not (regexMatch "^BACKSTREAM_[A-Z0-9_]+$" $k) }}
{{- fail (printf "config.%s: keys of config are BACKSTREAM_* variable names (see `backstream config --describe`)" $k) }}
{{- end }}
{{- if has $k $secret }}
{{- fail (printf "config.%s is a secret: set it in secrets.values or in secrets.existingSecret" $k) }}
{{- end }}
{{- $_ := set $c $k (include "backstream.str" $x) }}
{{- end }}
{{- toYaml $c }}
{{- end }}

{{/* The chart's Secret data: the non-empty secrets.values. */}}
{{- define "backstream.secretData" -}}
{{- $d := dict }}
{{- range $k, $x := .Values.secrets.values }}
{{- if $x }}{{ $_ := set $d $k (toString $x) }}{{ end }}
{{- end }}
{{- toYaml $d }}
{{- end }}

{{/* A setting that must be a positive integer: dict "cfg" $cfg "key" "BACKSTREAM_…". */}}
{{- define "backstream.positiveInt" -}}
{{- $s := get .cfg .key }}
{{- if not (regexMatch "^[1-9][0-9]*$" $s) }}
{{- fail (printf "%s must be a positive integer, was %q" .key $s) }}
{{- end }}
{{- $s }}
{{- end }}

{{/*
How long the kubelet waits after deciding to stop a pod: preStop sleep, then SIGTERM and the
service's grace period, then a margin before SIGKILL.
*/}}
{{- define "backstream.terminationGracePeriodSeconds" -}}
{{- $cfg := include "backstream.config" . | fromYaml }}
{{- $graceMs := include "backstream.positiveInt" (dict "cfg" $cfg "key" "BACKSTREAM_SHUTDOWN_GRACE_PERIOD_MS") | int }}
{{- $graceS := div (add $graceMs 999) 1000 }}
{{- $preStop := int .Values.shutdown.preStopSleepSeconds }}
{{- $explicit := int .Values.shutdown.terminationGracePeriodSeconds }}
{{- if gt $explicit 0 }}
{{- if le $explicit (add $preStop $graceS) }}
{{- fail (printf "shutdown.terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds (%d) + the grace period (%d ms, %d s): the kubelet would kill services before they commit" $explicit $preStop $graceMs $graceS) }}
{{- end }}
{{- $explicit }}
{{- else }}
{{- add $preStop $graceS (int .Values.shutdown.terminationMarginSeconds) }}
{{- end }}
{{- end }}

{{/*
A consumer service's group, topic and replica bounds, as JSON: dict "root" $ "key" "chunkWorker".
maxReplicas is capped at the partitions of what it consumes (a consumer beyond them gets no
partition and sits idle); minReplicas above that cap is an error.
*/}}
{{- define "backstream.consumer" -}}
{{- $root := .root }}
{{- $cfg := include "backstream.config" $root | fromYaml }}
{{- $meta := index (include "backstream.serviceTable" $root | fromYaml) .key }}
{{- $svc := index $root.Values.services .key }}
{{- $prefix := ternary (get $cfg "BACKSTREAM_KAFKA_TOPIC_PREFIX") "backstream." (hasKey $cfg "BACKSTREAM_KAFKA_TOPIC_PREFIX") }}
{{- $group := get $cfg $meta.groupVar | default (printf "%s%s" $prefix $meta.name) }}
{{- $topic := "" }}
{{- $partitions := 0 }}
{{- $what := "" }}
{{- if eq .key "producer" }}
{{- $topics := splitList "," (get $cfg "BACKSTREAM_CHANGES_TOPICS") | compact }}
{{- if eq (len $topics) 1 }}{{ $topic = first $topics }}{{ end }}
{{- $partitions = int $svc.partitions }}
{{- $what = "services.producer.partitions (the change topics' partitions together)" }}
{{- else }}
{{- $topic = printf "%s%s" $prefix $meta.topic }}
{{- $partitions = include "backstream.positiveInt" (dict "cfg" $cfg "key" "BACKSTREAM_TOPICS_PARTITIONS") | int }}
{{- $what = printf "the partitions of %s (topics.partitions)" $topic }}
{{- end }}
{{- $min := int $svc.autoscaling.minReplicas }}
{{- $max := int $svc.autoscaling.maxReplicas }}
{{- if lt $partitions 1 }}
{{- fail (printf "services.%s: autoscaling needs %s, a positive number: it caps the replicas" .key $what) }}
{{- end }}
{{- if lt $max 1 }}
{{- fail (printf "services.%s.autoscaling.maxReplicas must be at least 1, was %d" .key $max) }}
{{- end }}
{{- $capped := min $max $partitions }}
{{- if gt $min $capped }}
{{- fail (printf "services.%s.autoscaling.minReplicas (%d) is above the most replicas that can get work: min(maxReplicas %d, %s = %d)" .key $min $max $what $partitions) }}
{{- end }}
{{- dict "name" $meta.name "group" $group "topic" $topic "partitions" $partitions "min" $min "max" $capped "requestedMax" $max | toJson }}
{{- end }}

{{/*
The environment of a container from secrets: dict "root" $ "signingKey" bool "hook" bool.
Only the archiver gets the ledger signing key; a key mounted as a file is not also passed inline.
*/}}
{{- define "backstream.secretEnv" -}}
{{- $v := .root.Values }}
{{- $data := include "backstream.secretData" .root | fromYaml }}
{{- $name := $v.secrets.existingSecret }}
{{- if not $name }}
{{- $name = include "backstream.fullname" .root }}
{{- if .hook }}{{ $name = printf "%s-init" $name }}{{ end }}
{{- end }}
{{- range $key := include "backstream.secretKeys" .root | fromYamlArray }}
{{- $use := or $v.secrets.existingSecret (hasKey $data $key) }}
{{- if and (eq $key "BACKSTREAM_LEDGER_SIGNING_KEY") (or (not $.signingKey) $v.keyFiles.ledgerSigningKey.secretName) }}{{ $use = false }}{{ end }}
{{- if and (eq $key "BACKSTREAM_ENCRYPTION_MASTER_KEY") $v.keyFiles.masterKey.secretName }}{{ $use = false }}{{ end }}
{{- if $use }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ $key }}
      {{- if $v.secrets.existingSecret }}
      optional: true
      {{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The pod template of every workload. dict with:
  root, component, args, svc (resources, nodeSelector, tolerations, affinity, extraEnv),
  health (ports, probes, preStop, termination grace), signingKey, hook (settings inline rather
  than from the ConfigMap, which a pre-install hook cannot use yet), restartPolicy,
  serviceAccountName, podSecurityContext, securityContext, volumes, volumeMounts.
*/}}
{{- define "backstream.podTemplate" -}}
{{- $p := merge (dict) . (dict "svc" (dict) "health" false "signingKey" false "hook" false "restartPolicy" "Always" "podSecurityContext" (dict) "securityContext" (dict) "volumes" (list) "volumeMounts" (list)) }}
{{- $svc := merge (dict) $p.svc (dict "resources" (dict) "extraEnv" (list) "nodeSelector" (dict) "tolerations" (list) "affinity" (dict)) }}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $cfg := include "backstream.config" $root | fromYaml }}
{{- $keyDir := "/var/run/secrets/backstream" }}
{{- $signingFile := and $p.signingKey $v.keyFiles.ledgerSigningKey.secretName }}
{{- $masterFile := $v.keyFiles.masterKey.secretName -}}
metadata:
  labels:
    {{- include "backstream.selectorLabels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ $p.component }}
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include "backstream.config" $root | sha256sum }}
    {{- if not $v.secrets.existingSecret }}
    checksum/secret: {{ include "backstream.secretData" $root | sha256sum }}
    {{- end }}
    {{- if and $p.health (eq (get $cfg "BACKSTREAM_TELEMETRY_PROMETHEUS") "true") }}
    prometheus.io/scrape: 'true'
    prometheus.io/port: {{ get $cfg "BACKSTREAM_HEALTH_PORT" | quote }}
    prometheus.io/path: /metrics
    {{- end }}
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ $p.serviceAccountName }}
  automountServiceAccountToken: {{ $v.serviceAccount.automountToken }}
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  restartPolicy: {{ $p.restartPolicy }}
  {{- if $p.health }}
  terminationGracePeriodSeconds: {{ include "backstream.terminationGracePeriodSeconds" $root }}
  {{- end }}
  securityContext:
    {{- toYaml ($p.podSecurityContext | default $v.podSecurityContext) | nindent 4 }}
  containers:
    - name: {{ $p.component }}
      image: {{ include "backstream.image" $root }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      args:
        {{- toYaml $p.args | nindent 8 }}
      {{- if $p.health }}
      ports:
        - name: health
          containerPort: {{ include "backstream.positiveInt" (dict "cfg" $cfg "key" "BACKSTREAM_HEALTH_PORT") }}
          protocol: TCP
      startupProbe:
        httpGet:
          path: /healthz
          port: health
        {{- toYaml $v.probes.startup | nindent 8 }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: health
        {{- toYaml $v.probes.liveness | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: health
        {{- toYaml $v.probes.readiness | nindent 8 }}
      {{- if gt (int $v.shutdown.preStopSleepSeconds) 0 }}
      lifecycle:
        preStop:
          sleep:
            seconds: {{ int $v.shutdown.preStopSleepSeconds }}
      {{- end }}
      {{- end }}
      {{- if not $p.hook }}
      envFrom:
        - configMapRef:
            name: {{ include "backstream.fullname" $root }}
        {{- with $v.extraEnvFrom }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      {{- $env := include "backstream.secretEnv" (dict "root" $root "signingKey" $p.signingKey "hook" $p.hook) | trim }}
      {{- if or $p.hook $env $signingFile $masterFile $v.extraEnv $svc.extraEnv }}
      env:
        {{- if $p.hook }}
        {{- range $k, $x := $cfg }}
        - name: {{ $k }}
          value: {{ $x | quote }}
        {{- end }}
        {{- end }}
        {{- with $env }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- if $signingFile }}
        - name: BACKSTREAM_LEDGER_SIGNING_KEY_FILE
          value: {{ $keyDir }}/ledger/signing-key
        {{- end }}
        {{- if $masterFile }}
        - name: BACKSTREAM_ENCRYPTION_MASTER_KEY_FILE
          value: {{ $keyDir }}/encryption/master-key
        {{- end }}
        {{- with $v.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with $svc.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      {{- with $svc.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml ($p.securityContext | default $v.securityContext) | nindent 8 }}
      volumeMounts:
        # The root filesystem is read-only; node and the AWS SDK may still want a scratch dir.
        - name: tmp
          mountPath: /tmp
        {{- if $signingFile }}
        - name: ledger-signing-key
          mountPath: {{ $keyDir }}/ledger
          readOnly: true
        {{- end }}
        {{- if $masterFile }}
        - name: master-key
          mountPath: {{ $keyDir }}/encryption
          readOnly: true
        {{- end }}
        {{- with $p.volumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with $v.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- if $signingFile }}
    - name: ledger-signing-key
      secret:
        secretName: {{ $v.keyFiles.ledgerSigningKey.secretName }}
        items:
          - key: {{ $v.keyFiles.ledgerSigningKey.key }}
            path: signing-key
        # 0440: readable by the pod's group (fsGroup) only.
        defaultMode: 288
    {{- end }}
    {{- if $masterFile }}
    - name: master-key
      secret:
        secretName: {{ $v.keyFiles.masterKey.secretName }}
        items:
          - key: {{ $v.keyFiles.masterKey.key }}
            path: master-key
        defaultMode: 288
    {{- end }}
    {{- with $p.volumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- with $v.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with ($svc.nodeSelector | default $v.nodeSelector) }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with ($svc.tolerations | default $v.tolerations) }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with ($svc.affinity | default $v.affinity) }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
