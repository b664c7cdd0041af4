#!/usr/bin/env bash
# Runs every Kairos test on a fresh machine, installing what it needs:
#   - the Python tools (moto, cfn-lint, SAM CLI, cargo-lambda, jsonschema) into .venv;
#   - a local AWS-compatible emulator (moto) on a free loopback port, stopped when this exits;
#   - unit, property, contract and integration tests (benchmarks run once, as tests);
#   - the SAM template through cfn-lint and `sam validate --lint`;
#   - the ingest function invoked through cargo-lambda's runtime emulator;
#   - a small run of the README's main job (`kairos simulate`), its rules checked from its own
#     files, and its report opened in a real headless browser (Debian's chromium, installed if
#     missing).
set -euo pipefail
cd "$(dirname "$0")/.."
export SAM_CLI_TELEMETRY=0
started=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

step "Python tools in .venv"
# The CDNOW validation data ship in the `lifetimes` package; its code is not needed to read them.
wanted="$(cat scripts/requirements-test.txt) lifetimes==0.11.3 (data only)"
if [ "$(cat .venv/.installed 2>/dev/null)" != "$wanted" ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps lifetimes==0.11.3
  printf '%s' "$wanted" > .venv/.installed
fi
export PATH="$PWD/.venv/bin:$PATH"

step "emulator"
# The emulator exits when its stdin (held by this shell) closes, so it cannot outlive the run.
coproc EMULATOR { exec .venv/bin/python scripts/emulator.py; }
emulator_pid=$EMULATOR_PID
stop_emulator() { exec {EMULATOR[1]}>&- 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true; }
trap stop_emulator EXIT
read -r -t 60 -u "${EMULATOR[0]}" KAIROS_TEST_ENDPOINT || { echo "the emulator did not start" >&2; exit 1; }
export KAIROS_TEST_ENDPOINT
echo "emulator at $KAIROS_TEST_ENDPOINT"

step "cargo test (unit, property, contract, integration; benchmarks once)"
cargo test --workspace --all-targets --locked

step "SAM template"
cfn-lint infra/template.yaml
python scripts/check_template.py infra/template.yaml
sam validate --lint

step "cargo lambda"
scripts/lambda-smoke.sh

step "main job (README), small: kairos simulate"
# The same code as the README's command, on a smaller shop: it exits non-zero if its checks
# (consent, quiet hours, caps, suppressions, events applied once, ledgers) find a violation.
sim=target/sim
rm -rf "$sim"
out=$(cargo run --quiet --locked -p kairos-cli -- simulate --customers 200 --days 7 --history-days 60 --out "$sim" --quiet)
printf '%s\n' "$out"
printf '%s\n' "$out" | grep -q "; 0 violation(s)" || { echo "the simulation's checks did not pass" >&2; exit 1; }
for f in events.jsonl outbox.jsonl decisions.jsonl summary.json report.html; do
  [ -s "$sim/$f" ] || { echo "the simulation wrote no $f" >&2; exit 1; }
done

step "the report in a real browser"
if ! command -v chromium >/dev/null 2>&1; then
  apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
fi
python scripts/report-browser.py "$sim/report.html" "$sim/report.png"

step "ingest demo"
out=$(cargo run --quiet --locked -p kairos-cli -- ingest)
printf '%s\n' "$out" | head -5
[ "$(printf '%s\n' "$out" | grep -c '^cust-')" -eq 4 ] || { echo "expected 4 profiles from events/" >&2; exit 1; }

step "campaign files (README)"
cargo run --quiet --locked -p kairos-cli -- campaigns validate campaigns/
broken=$(mktemp -d)
sed 's/after_minutes: 60/after_minutes: 2/' campaigns/cart-abandoned.yaml > "$broken/cart.yaml"
if out=$(cargo run --quiet --locked -p kairos-cli -- campaigns validate "$broken" 2>&1); then
  echo "a campaign with a 2-minute cart reminder passed validation" >&2; exit 1
fi
printf '%s\n' "$out" | grep -q "cart.yaml:8: error: trigger.cart_abandoned.after_minutes: is 2" \
  || { printf 'expected the file, line and field of the mistake, got:\n%s\n' "$out" >&2; exit 1; }
rm -r "$broken"
# The audience of the German winter sale over the sample shop: one of its four customers.
state=$(mktemp -u)
cargo run --quiet --locked -p kairos-cli -- ingest --state "$state" >/dev/null
out=$(cargo run --quiet --locked -p kairos-cli -- campaigns audience campaigns/winter-sale.yaml --state "$state")
printf '%s\n' "$out"
printf '%s\n' "$out" | grep -q "winter-sale: 1 of 4 customers in the audience" || { echo "expected 1 of 4 in the audience" >&2; exit 1; }
rm -f "$state"

step "loyalty program (README)"
cargo run --quiet --locked -p kairos-cli -- loyalty validate loyalty/program.yaml
broken=$(mktemp)
sed 's/points_per_unit: 1 /points_per_unit: 0 /' loyalty/program.yaml > "$broken"
if out=$(cargo run --quiet --locked -p kairos-cli -- loyalty validate "$broken" 2>&1); then
  echo "a program earning 0 points per unit passed validation" >&2; exit 1
fi
printf '%s\n' "$out" | grep -q ":6: error: points_per_unit: is 0" \
  || { printf 'expected the line and field of the mistake, got:\n%s\n' "$out" >&2; exit 1; }
rm -f "$broken"

step "all tests passed"
