#!/bin/bash
# Start the compose file's Kafka: write the inter-broker SCRAM login and a client config for the
# health check from the mounted secrets, format the storage with the SCRAM users on first start
# (kafka-storage format --add-scram), grant the WardWatch user its ACLs, then run the broker.
set -euo pipefail
admin_password=$(head -n1 /run/secrets/kafka_admin_password)
wardwatch_password=$(head -n1 /run/secrets/kafka_wardwatch_password)
config=/tmp/server.properties
cp /opt/wardwatch/server.properties "$config"
echo "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"${admin_password}\";" >> "$config"
cat > /tmp/admin.properties <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${admin_password}";
ssl.truststore.type=PEM
ssl.truststore.location=/run/secrets/kafka_ca_crt
PROPS
chmod 600 "$config" /tmp/admin.properties
if [ ! -f /var/lib/kafka/data/meta.properties ]; then
  cluster_id=$(/opt/kafka/bin/kafka-storage.sh random-uuid)
  /opt/kafka/bin/kafka-storage.sh format -t "$cluster_id" -c "$config" \
    --add-scram "SCRAM-SHA-512=[name=admin,password=${admin_password}]" \
    --add-scram "SCRAM-SHA-512=[name=wardwatch,password=${wardwatch_password}]"
fi
(
  # once the broker answers: WardWatch may use the wardwatch* topics (its own and Faust's changelogs) and its consumer groups
  until /opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server kafka:9092 --command-config /tmp/admin.properties >/dev/null 2>&1; do sleep 2; done
  for resource in "--topic wardwatch --resource-pattern-type prefixed" "--group wardwatch --resource-pattern-type prefixed" "--transactional-id wardwatch --resource-pattern-type prefixed"; do
    # shellcheck disable=SC2086
    /opt/kafka/bin/kafka-acls.sh --bootstrap-server kafka:9092 --command-config /tmp/admin.properties \
      --add --allow-principal User:wardwatch --operation All $resource >/dev/null
  done
  /opt/kafka/bin/kafka-acls.sh --bootstrap-server kafka:9092 --command-config /tmp/admin.properties \
    --add --allow-principal User:wardwatch --operation IdempotentWrite --operation Describe --cluster >/dev/null
) &
exec /opt/kafka/bin/kafka-server-start.sh "$config"
