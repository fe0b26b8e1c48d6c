#!/usr/bin/env bash
# make demo: everything local. Starts the Coralogix-compatible sink and the
# relay (embedded NATS) from configs/demo.yaml, publishes one sample event of
# each of the seven types, prints the invocations, then stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/hookrelay}
CONFIG=configs/demo.yaml
export CORALOGIX_API_KEY=${CORALOGIX_API_KEY:-local-dev-key}
export HOOKRELAY_ADMIN_TOKEN=${HOOKRELAY_ADMIN_TOKEN:-demo-admin-token}
rm -rf data/demo && mkdir -p data/demo

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

"$BIN" sink --listen 127.0.0.1:18443 --api-key "$CORALOGIX_API_KEY" --tally 0 >data/demo/sink.log 2>&1 &
pids+=($!)
"$BIN" run --config "$CONFIG" >data/demo/relay.log 2>&1 &
pids+=($!)

for _ in $(seq 1 100); do
  if curl -fsS http://127.0.0.1:18080/readyz >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS http://127.0.0.1:18080/readyz >/dev/null || { echo "relay did not become ready; see data/demo/relay.log"; exit 1; }

echo "== publishing one sample event of each type"
"$BIN" publish --config "$CONFIG" --sample all

echo
echo "== Test button: a mock event to coralogix-access-requests now"
"$BIN" test --config "$CONFIG" coralogix-access-requests | head -12

for _ in $(seq 1 50); do
  # 10 generic requests (two webhooks) and 7 native log entries.
  n=$(curl -fsS http://127.0.0.1:18443/received | sed -n 's/.*"entries": *\([0-9]*\).*/\1/p' | head -1)
  [ "${n:-0}" -ge 17 ] && break
  sleep 0.1
done

echo
echo "== invocations (newest first)"
"$BIN" invocations --config "$CONFIG" --limit 20
echo
echo "== what the sink received"
# The counts, without the entries kept under "last" (the last line before it
# loses its comma, and the object is closed again).
curl -fsS http://127.0.0.1:18443/received | sed -n '1,/"last"/p' | sed '$d' | sed '$s/,$//'
echo "}"
echo
echo "logs: data/demo/relay.log, data/demo/sink.log"
