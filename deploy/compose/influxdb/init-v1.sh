#!/bin/bash
# InfluxDB 2 initialisation (run once by the influxdb image after its setup): WardWatch speaks the v1
# API, so map database "wardwatch" and its retention policies to buckets (DBRP) and create the v1
# user WardWatch and Grafana log in with. Buckets: wardwatch (autogen, 365 days: vitals, features,
# alarms, notes), wardwatch-waveforms (rp "waveforms", 24 h), wardwatch-operations (rp "operations", 14 days).
set -euo pipefail
org="${DOCKER_INFLUXDB_INIT_ORG}"
db="${WARDWATCH_INFLUX_DATABASE:-wardwatch}"
bucket_id() { influx bucket list --org "$org" --name "$1" --hide-headers | awk '{print $1}'; }
influx bucket create --org "$org" --name "${db}-waveforms" --retention 24h >/dev/null
influx bucket create --org "$org" --name "${db}-operations" --retention 14d >/dev/null
main=$(bucket_id "$db"); waves=$(bucket_id "${db}-waveforms"); ops=$(bucket_id "${db}-operations")
influx v1 dbrp create --org "$org" --db "$db" --rp autogen --bucket-id "$main" --default
influx v1 dbrp create --org "$org" --db "$db" --rp waveforms --bucket-id "$waves"
influx v1 dbrp create --org "$org" --db "$db" --rp operations --bucket-id "$ops"
influx v1 auth create --org "$org" --username "${WARDWATCH_INFLUX_USERNAME:-wardwatch}" \
  --password "$(head -n1 /run/secrets/influx_v1_password)" \
  --read-bucket "$main" --write-bucket "$main" --read-bucket "$waves" --write-bucket "$waves" \
  --read-bucket "$ops" --write-bucket "$ops"
