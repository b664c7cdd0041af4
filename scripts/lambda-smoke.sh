#!/usr/bin/env bash
# Proves the shipped binary answers invocations through cargo-lambda's runtime emulator, against
# the AWS emulator at $KAIROS_TEST_ENDPOINT: serving ingest, the checked-in SQS payloads go in,
# partial batch failures and profiles come out; serving the recommendations API, a function-URL
# event gets its JSON answer; serving triggers, a stream record of a real profile part is read;
# scheduled and dispatch ticks start their work; serving redeem, a redemption is answered.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${KAIROS_TEST_ENDPOINT:?start the emulator first (scripts/test.sh does)}"

export AWS_ENDPOINT_URL="$KAIROS_TEST_ENDPOINT" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
table="kairos-smoke-$$"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
kairos=target/debug/kairos

cargo build -q -p kairos-cli -p kairos-functions
"$kairos" table create --table "$table"

watch_pid=
# Serves the binary as function $1 (KAIROS_FUNCTION) through cargo-lambda's runtime emulator,
# with any further arguments as NAME=VALUE environment variables.
serve() {
  local function=$1 extra=()
  shift
  for e in "$@"; do extra+=(--env-var "$e"); done
  if [ -n "$watch_pid" ]; then kill -- "-$watch_pid" 2>/dev/null || true; wait "$watch_pid" 2>/dev/null || true; fi
  : >"$log"
  setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" \
    --env-var "AWS_ENDPOINT_URL=$KAIROS_TEST_ENDPOINT" --env-var "KAIROS_TABLE=$table" --env-var "KAIROS_FUNCTION=$function" "${extra[@]}" >"$log" 2>&1 &
  watch_pid=$!
  for _ in $(seq 1 300); do
    grep -q "starting Runtime server" "$log" && break
    kill -0 "$watch_pid" 2>/dev/null || { cat "$log"; echo "cargo lambda watch exited" >&2; exit 1; }
    sleep 1
  done
  grep -q "starting Runtime server" "$log" || { cat "$log"; echo "cargo lambda watch did not start" >&2; exit 1; }
}
stop() {
  status=$?
  [ -z "$watch_pid" ] || kill -- "-$watch_pid" 2>/dev/null || true
  [ -z "$watch_pid" ] || wait "$watch_pid" 2>/dev/null || true
  [ "$status" -eq 0 ] || { echo "--- cargo lambda watch log:" >&2; tail -40 "$log" >&2; }
  rm -f "$log"
}
trap stop EXIT

invoke() { cargo lambda invoke kairos-lambda --data-file "$1" --invoke-address 127.0.0.1 --invoke-port "$port" --output-format json; }

serve ingest

out=$(invoke events/ingest-malformed.sqs.json)
echo "ingest-malformed.sqs.json -> $out"
failures=$(printf '%s' "$out" | python3 -c 'import json,sys; print(",".join(f["itemIdentifier"] for f in json.load(sys.stdin)["batchItemFailures"]))')
[ -z "$failures" ] || { echo "a malformed record is parked, not retried; got failures: $failures" >&2; exit 1; }
parked=$("$kairos" rejected --dynamodb-table "$table" --json)
printf '%s' "$parked" | python3 -c '
import json, sys
parked = json.load(sys.stdin)
ids = [r["record_id"] for r in parked]
assert ids == ["ingest-malformed-0002"], f"parked: {ids}"
assert parked[0]["errors"][0]["field"] == "detail.data.lines[0].quantity", parked[0]["errors"]
print("ingest-malformed-0002 parked with its field error")' 

for round in 1 2; do
  out=$(invoke events/ingest-batch.sqs.json)
  echo "ingest-batch.sqs.json (delivery $round) -> $out"
  printf '%s' "$out" | python3 -c 'import json,sys; assert json.load(sys.stdin)["batchItemFailures"] == [], "unexpected failures"'
done

profile=$("$kairos" profile cust-1001 --dynamodb-table "$table" --json)
printf '%s' "$profile" | python3 -c '
import json, sys
p = json.load(sys.stdin)["profile"]
applied = p["events_applied"]
assert applied == 5, f"events_applied is {applied} after two deliveries of 5 events"
assert len(p["orders"]) == 1, "one order"
print("cust-1001: 5 events applied once across two deliveries")'
# The same binary as the recommendations API, given a function-URL event. No nightly run has
# published a model in this table: the answer is 200, empty, and says why.
serve recommendations
out=$(invoke requests/recommendations.url.json)
echo "recommendations.url.json -> $out"
printf '%s' "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["statusCode"] == 200, r
assert r["headers"]["content-type"] == "application/json", r["headers"]
body = json.loads(r["body"])
assert body["source"] == "none" and body["products"] == [] and "has not published" in body["notices"][0], body
print("recommendations: answered through the function URL event, no model yet")'

# The same binary as the triggers consumer, given a stream record of a real profile part (the
# browse part ingest wrote for cust-1001) with the sample campaigns deployed.
"$kairos" campaigns deploy campaigns/ --dynamodb-table "$table" | tail -3
stream=$(mktemp)
.venv/bin/python - "$table" "$stream" <<'PY'
import json, os, sys
import boto3
table, out = sys.argv[1], sys.argv[2]
client = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
item = client.get_item(TableName=table, Key={"pk": {"S": "C#cust-1001"}, "sk": {"S": "P#B"}}, ConsistentRead=True)["Item"]
record = {"awsRegion": "us-east-1", "eventID": "1", "eventName": "INSERT", "eventSource": "aws:dynamodb", "eventVersion": "1.1",
          "eventSourceARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/x",
          "dynamodb": {"Keys": {"pk": item["pk"], "sk": item["sk"]}, "NewImage": item, "SequenceNumber": "100", "SizeBytes": 200,
                       "StreamViewType": "NEW_AND_OLD_IMAGES"}}
json.dump({"Records": [record]}, open(out, "w"))
PY
serve triggers
out=$(invoke "$stream")
rm -f "$stream"
echo "a stream record of cust-1001's browse part -> $out"
printf '%s' "$out" | python3 -c 'import json,sys; assert json.load(sys.stdin)["batchItemFailures"] == [], "unexpected failures"'
grep -q "stream batch handled" "$log" || { echo "the triggers function did not report its batch" >&2; exit 1; }
echo "triggers: a real profile part decoded through the stream event"

# The same binary as the scheduled campaigns, ticked by its schedule: with the samples deployed
# (the birthday campaign is active), the day's run starts and its tasks reach the task queue.
queue=$(.venv/bin/python -c 'import boto3, os, uuid
sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
print(sqs.create_queue(QueueName="smoke-scheduled-" + uuid.uuid4().hex[:8])["QueueUrl"])')
serve scheduled "KAIROS_TASK_QUEUE_URL=$queue" "KAIROS_SEGMENTS=2"
tick=$(mktemp)
echo '{"tick": "2026-12-02T00:00:00Z"}' >"$tick"
out=$(invoke "$tick")
rm -f "$tick"
echo "a schedule tick -> $out"
printf '%s' "$out" | QUEUE="$queue" .venv/bin/python -c 'import boto3, json, os, sys
body = json.load(sys.stdin)
runs = [r["run"] for r in body["runs"]]
assert any(r.startswith("daily-") for r in runs), runs
sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
waiting = sqs.get_queue_attributes(QueueUrl=os.environ["QUEUE"], AttributeNames=["ApproximateNumberOfMessages"])
assert int(waiting["Attributes"]["ApproximateNumberOfMessages"]) == 2, waiting
print("scheduled: the daily run started, one task per segment queued")'
# The same binary as dispatch, ticked by its schedule: it reads its settings (the caps, the
# unsubscribe keys, the shop) and hands the due minutes out to its queue.
queue=$(.venv/bin/python -c 'import boto3, os, uuid
sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
print(sqs.create_queue(QueueName="smoke-dispatch-" + uuid.uuid4().hex[:8])["QueueUrl"])')
serve dispatch "KAIROS_DISPATCH_QUEUE_URL=$queue" "KAIROS_UNSUBSCRIBE_URL=https://u.shop.example" \
  "KAIROS_UNSUBSCRIBE_KEYS=smoke:0123456789abcdef0123456789abcdef" "KAIROS_OFFER_SECRET=smoke-offer-secret" \
  "KAIROS_SHOP_NAME=Fleet" "KAIROS_SHOP_ADDRESS=1 Quay Lyon" "KAIROS_SHOP_URL=https://shop.example" \
  "KAIROS_LIST_DOMAIN=lists.shop.example" "KAIROS_EMAIL_FROM=Fleet <news@shop.example>" "KAIROS_CAPS=email:1/day"
tick=$(mktemp)
echo '{"tick": "2026-12-02T00:00:00Z"}' >"$tick"
out=$(invoke "$tick")
rm -f "$tick"
echo "a dispatch tick -> $out"
printf '%s' "$out" | python3 -c 'import json,sys; t = json.load(sys.stdin)["tick"]; assert t["minutes"] > 0 and t["unreadable"] == 0, t; print("dispatch: the due minutes handed out")'
# The same binary as the redemption API, given a function-URL event, with the sample program in
# force: cust-1001's order was ingested before the program existed, so there are no points to
# spend, and the answer says so (409) without touching the ledger.
"$kairos" loyalty deploy loyalty/program.yaml --dynamodb-table "$table"
serve redeem "KAIROS_OFFER_SECRET=smoke-offer-secret"
out=$(invoke requests/redeem.url.json)
echo "redeem.url.json -> $out"
printf '%s' "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["statusCode"] == 409, r
body = json.loads(r["body"])
assert body["error"]["code"] == "insufficient_points" and body["error"]["cost"] == 300, body
print("redeem: answered through the function URL event, 409 without points")'
echo "cargo lambda: ok"
