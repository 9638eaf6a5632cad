{{/* Names and labels. */}}
{{- define "gatehouse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gatehouse.fullname" -}}
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

{{- define "gatehouse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gatehouse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: proxy
{{- end -}}

{{- define "gatehouse.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "gatehouse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "gatehouse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "gatehouse.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "gatehouse.redisName" -}}
{{- printf "%s-redis" (include "gatehouse.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gatehouse.servicePort" -}}
{{- if .Values.tls.secretName -}}443{{- else -}}{{ .Values.service.port }}{{- end -}}
{{- end -}}

{{- define "gatehouse.scheme" -}}
{{- if .Values.tls.secretName -}}https{{- else -}}http{{- end -}}
{{- end -}}

{{/* The route hosts (from each route's `from`, without the port), or the explicit list. */}}
{{- define "gatehouse.routeHosts" -}}
{{- $hosts := list -}}
{{- range .explicit -}}{{- $hosts = append $hosts . -}}{{- end -}}
{{- if not $hosts -}}
{{- range .routes -}}
{{- $host := (urlParse .from).host | splitList ":" | first -}}
{{- if and $host (not (has $host $hosts)) -}}{{- $hosts = append $hosts $host -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $hosts -}}
{{- end -}}

{{/*
  Checks that stop a broken install early, with the value to change.
*/}}
{{- define "gatehouse.validate" -}}
{{- if not (has .Values.mode (list "ingress" "forwardAuth")) -}}
{{- fail (printf "mode: %q is not a shape this chart knows; use ingress or forwardAuth" .Values.mode) -}}
{{- end -}}
{{- if not .Values.existingSecret -}}
{{- fail "existingSecret: name the Secret that holds cookie_secret and idp_client_secret (see values.yaml for the kubectl command)" -}}
{{- end -}}
{{- range $key := list "cookie_secret" "cookie_secret_file" "idp_client_secret" "idp_client_secret_file" "signing_key" "databroker_storage_connection_string" "databroker_storage_type" "address" "insecure_server" "certificate_file" "certificate_key_file" "metrics_address" "trusted_proxies" "workers" "routes" -}}
{{- if hasKey $.Values.config $key -}}
{{- fail (printf "config.%s: the chart sets this key; use the chart's value for it instead (secrets go in existingSecret, see values.yaml)" $key) -}}
{{- end -}}
{{- end -}}
{{- if not (has .Values.sessionStore.type (list "memory" "redis" "postgres")) -}}
{{- fail (printf "sessionStore.type: %q; use memory, redis or postgres" .Values.sessionStore.type) -}}
{{- end -}}
{{- $store := include "gatehouse.storeType" . -}}
{{- if and (eq $store "memory") (or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1)) -}}
{{- fail "sessionStore.type: memory keeps sessions per pod, so with more than one replica a user would be signed in on one pod and not the next; set redis.enabled=true, or sessionStore.type redis/postgres with a connection string" -}}
{{- end -}}
{{- if and (ne $store "memory") (not .Values.redis.enabled) (not .Values.sessionStore.connectionString) (not .Values.secretKeys.storageConnectionString) -}}
{{- fail (printf "sessionStore.type %s needs sessionStore.connectionString or secretKeys.storageConnectionString (or redis.enabled=true)" $store) -}}
{{- end -}}
{{- if and (eq .Values.mode "forwardAuth") (not .Values.trustedProxies) -}}
{{- fail "trustedProxies: in forwardAuth mode gatehouse answers forward-auth checks only from trusted peers; set it to the pod CIDR of your ingress controller (or Envoy) pods" -}}
{{- end -}}
{{- if and .Values.forwardAuth.envoyGateway.enabled (not .Values.forwardAuth.envoyGateway.targetRoutes) -}}
{{- fail "forwardAuth.envoyGateway.targetRoutes: name the HTTPRoutes of the apps the SecurityPolicy protects" -}}
{{- end -}}
{{- if and (eq .Values.mode "ingress") (or .Values.forwardAuth.ingressNginx.enabled .Values.forwardAuth.envoyGateway.enabled) -}}
{{- fail "forwardAuth.ingressNginx / forwardAuth.envoyGateway belong to mode: forwardAuth" -}}
{{- end -}}
{{- if not .Values.routes -}}
{{- fail "routes: add at least one route (from, to or forward-auth only, policy)" -}}
{{- end -}}
{{- end -}}

{{- define "gatehouse.storeType" -}}
{{- if .Values.redis.enabled -}}redis{{- else -}}{{ .Values.sessionStore.type }}{{- end -}}
{{- end -}}

{{/* config.yaml: the user's keys, then the keys the chart owns. */}}
{{- define "gatehouse.config" -}}
{{- $c := deepCopy .Values.config -}}
{{- $_ := set $c "address" (printf ":%d" (int .Values.containerPort)) -}}
{{- if .Values.tls.secretName -}}
{{- $_ := set $c "certificate_file" "/etc/gatehouse/tls/tls.crt" -}}
{{- $_ := set $c "certificate_key_file" "/etc/gatehouse/tls/tls.key" -}}
{{- else -}}
{{- $_ := set $c "insecure_server" true -}}
{{- end -}}
{{- if .Values.metrics.enabled -}}
{{- $_ := set $c "metrics_address" (printf ":%d" (int .Values.metrics.port)) -}}
{{- end -}}
{{- if .Values.trustedProxies -}}
{{- $_ := set $c "trusted_proxies" .Values.trustedProxies -}}
{{- end -}}
{{- $store := include "gatehouse.storeType" . -}}
{{- $_ := set $c "databroker_storage_type" $store -}}
{{- if .Values.redis.enabled -}}
{{- $_ := set $c "databroker_storage_connection_string" (printf "redis://%s:6379" (include "gatehouse.redisName" .)) -}}
{{- else if and (ne $store "memory") .Values.sessionStore.connectionString (not .Values.secretKeys.storageConnectionString) -}}
{{- $_ := set $c "databroker_storage_connection_string" .Values.sessionStore.connectionString -}}
{{- end -}}
{{- if ne (toString .Values.workers) "" -}}
{{- if eq (toString .Values.workers) "auto" -}}
{{- $_ := set $c "workers" "auto" -}}
{{- else -}}
{{- $_ := set $c "workers" (int .Values.workers) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $c "routes" .Values.routes -}}
{{- toYaml $c -}}
{{- end -}}

{{/*
  The settings gatehouse cannot change on a live reload (it keeps the old values and logs which ones changed):
  the IdP, the session store, the listen address, and where the secrets come from. A change to any of them rolls
  the pods; a change to routes, policies or anything else is picked up from the ConfigMap without a restart.
*/}}
{{- define "gatehouse.restartChecksum" -}}
{{- $c := fromYaml (include "gatehouse.config" .) -}}
{{- $r := dict "secret" .Values.existingSecret "secretKeys" .Values.secretKeys "tls" .Values.tls.secretName -}}
{{- range $k, $v := $c -}}
{{- if or (hasPrefix "idp_" $k) (hasPrefix "databroker_storage_" $k) (has $k (list "address" "insecure_server" "certificate_file" "certificate_key_file" "metrics_address" "workers")) -}}
{{- $_ := set $r $k $v -}}
{{- end -}}
{{- end -}}
{{- toJson $r | sha256sum -}}
{{- end -}}
