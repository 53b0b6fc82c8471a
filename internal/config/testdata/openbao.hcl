# A node file as OpenBao's documentation writes one (raft storage, retry_join, plugin
# directory), with the keys Baton has no use for left in place.
ui            = true
disable_mlock = true
cluster_name  = "prod-eu"
log_level     = "Warning"

max_lease_ttl     = "768h"
default_lease_ttl = "768h"

api_addr     = "http://10.0.0.11:8200/"
cluster_addr = "https://10.0.0.11:8201"

plugin_directory        = "/opt/baton/plugins"
plugin_file_uid         = 0
plugin_file_permissions = "0755"
plugin_start_timeout    = "15s"

listener "tcp" {
  address         = "0.0.0.0:8200"
  cluster_address = "0.0.0.0:8201"
  tls_disable     = 1
  tls_cert_file   = "/etc/baton/tls.crt"
  telemetry {
    unauthenticated_metrics_access = true
  }
}

listener "unix" {
  address = "/run/baton/baton.sock"
}

storage "raft" {
  path                         = "/var/lib/baton/node1"
  node_id                      = "node1"
  performance_multiplier       = 5
  snapshot_threshold           = 4096
  trailing_logs                = 5000
  snapshot_interval            = 30
  autopilot_reconcile_interval = "10s"

  retry_join {
    leader_api_addr     = "http://10.0.0.12:8200"
    leader_ca_cert_file = "/etc/baton/ca.pem"
  }
  retry_join {
    leader_api_addr = "http://10.0.0.13:8200/"
  }
}

nats {
  url         = "nats://10.0.0.20:4222, nats://10.0.0.21:4222"
  credentials = "/etc/baton/nats.creds"
  tls_ca      = "/etc/baton/nats-ca.pem"
}

seal "file" {
  path = "/run/baton/unseal-key"
}

rollback {
  period  = "30s"
  min_age = "2m"
}

telemetry {
  prometheus_retention_time = "30s"
  disable_hostname          = true
}

pid_file = "/run/baton.pid"
api_adr  = "http://typo:8200"
