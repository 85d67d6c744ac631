#!/bin/sh
# Secrets from files: for every WARDWATCH_<NAME>_FILE that is set while WARDWATCH_<NAME> is not,
# export WARDWATCH_<NAME> with the file's content (trailing newlines dropped) (compose secrets, Kubernetes secret volumes).
# The values are never printed. Then run the command.
set -eu
for var in $(env | sed -n 's/^\(WARDWATCH_[A-Z0-9_]*\)_FILE=.*/\1/p'); do
  [ "$var" = "WARDWATCH_KAFKA_SASL_PASSWORD" ] && continue  # WardWatch reads that file itself
  eval "current=\${$var:-}"
  eval "file=\${${var}_FILE}"
  if [ -z "$current" ]; then
    if [ ! -r "$file" ]; then
      echo "docker-entrypoint: ${var}_FILE names $file, which cannot be read" >&2
      exit 64
    fi
    value=$(cat "$file")  # trailing newlines dropped
    export "$var=$value"
  fi
  unset "${var}_FILE"
done
exec "$@"
