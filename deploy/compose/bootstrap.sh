#!/usr/bin/env bash
# One-time set-up for compose.yaml: the provincial CA in the registry volume, and each county
# enrolled (key made in its own volume, CSR to the registry, certificate back).
set -euo pipefail
cd "$(dirname "$0")"
: "${MPX_POSTGRES_PASSWORD:?set MPX_POSTGRES_PASSWORD}"
db="postgres://mpx:${MPX_POSTGRES_PASSWORD}@postgres/registry"
docker compose up -d postgres
docker compose run --rm -e MPX_DATABASE_URL="$db" registry registry --data-dir /var/lib/mpx/registry ca init --province 62
docker compose up -d registry
declare -A names=([621202]=武都区 [621221]=成县 [620102]=城关区)
for county in 621202 621221 620102; do
  token=$(docker compose run --rm -T -e MPX_DATABASE_URL="$db" registry \
          registry --data-dir /var/lib/mpx/registry enroll --county "$county" --name "${names[$county]}" 2>/dev/null)
  docker compose run --rm -T -v mpx_registry:/registry:ro "node-$county" \
    exchange-node --data-dir /var/lib/mpx/node init --county "$county" --name "${names[$county]}" \
      --registry https://registry:7400 --ca-cert /registry/ca/ca.crt --token "$token" \
      --advertise "https://node-$county:7443"
done
echo "Now: docker compose up -d"
