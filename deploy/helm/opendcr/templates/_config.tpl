{{/*
opendcr.toml, rendered from the values. Secrets and URLs are not here: they come from the
environment (OPENDCR_ADMIN_PASSWORD, OPENDCR_DATABASE_URL, OPENDCR_REDIS_URL,
OPENDCR_METRICS_TOKEN), set from the Secret named in secrets.name.
*/}}
{{- define "opendcr.config" -}}
# Rendered by the opendcr Helm chart; every key: docs/configuration.md.
[server]
mode = "production"
hostname = {{ required "server.hostname is required (the public host name)" .Values.server.hostname | quote }}
bind_address = "0.0.0.0"
port = {{ .Values.server.port }}
{{- if .Values.server.baseUrl }}
base_url = {{ .Values.server.baseUrl | quote }}
{{- end }}
workers = {{ .Values.server.workers }}
data_dir = "/var/lib/opendcr"

[keystore.tls]
cert_file = "/etc/opendcr/tls/tls.crt"
key_file = "/etc/opendcr/tls/tls.key"
{{- if .Values.mutualSsl.clientCertificateHeader }}
{{- if not .Values.mutualSsl.trustedProxies }}
{{- fail "mutualSsl.trustedProxies must list the TLS-terminating proxy's addresses when mutualSsl.clientCertificateHeader is set" }}
{{- end }}

[apimgt.mutual_ssl]
client_certificate_header = {{ .Values.mutualSsl.clientCertificateHeader | quote }}
client_certificate_encode = {{ .Values.mutualSsl.clientCertificateEncode }}
trusted_proxies = {{ .Values.mutualSsl.trustedProxies | toJson }}
{{- end }}

[metrics]
port = {{ .Values.metrics.port }}
bind_address = "0.0.0.0"
{{- if .Values.config.extra }}

{{ .Values.config.extra }}
{{- end }}
{{- end -}}
