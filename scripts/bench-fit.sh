#!/usr/bin/env bash
# BG/NBD on a large, day-granular base: `kairos models fit` as a whole process (reading the CSV
# included) beside lifetimes' BetaGeoFitter.fit call alone, on the same data, same machine.
# The base is simulated from known parameters (200,000 customers by default, whole days, ages of
# one month to two years). Installs lifetimes into .venv-bench, apart from the test tools.
#   scripts/bench-fit.sh [customers]
set -euo pipefail
cd "$(dirname "$0")/.."
customers=${1:-200000}
if [ ! -x .venv-bench/bin/python ] || ! .venv-bench/bin/python -c 'import lifetimes' 2>/dev/null; then
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install --quiet --disable-pip-version-check lifetimes==0.11.3
fi
cargo build --quiet --release -p kairos-cli
data=$(mktemp --suffix=.csv)
trap 'rm -f "$data"' EXIT

.venv-bench/bin/python - "$customers" "$data" <<'PY'
import sys
import numpy as np
n, path = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(2026)
# Per day: purchase rate ~ Gamma(r, 1/alpha), dropout probability ~ Beta(a, b).
r, alpha, a, b = 0.6, 25.0, 0.8, 2.6
rate = rng.gamma(r, 1.0 / alpha, n)
drop = rng.beta(a, b, n)
age = rng.integers(30, 731, n)
with open(path, "w") as f:
    f.write("customer_id,frequency,recency,T\n")
    for i in range(n):
        t, x, last = 0.0, 0, 0.0
        while True:
            t += rng.exponential(1.0 / rate[i])
            if t > age[i]:
                break
            x, last = x + 1, t
            if rng.random() < drop[i]:
                break
        # Whole days, as a shop's calendar gives them.
        f.write(f"c{i},{x},{int(last) if x else 0},{age[i]}\n")
PY

.venv-bench/bin/python - "$data" <<'PY'
import statistics, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from lifetimes import BetaGeoFitter
d = pd.read_csv(sys.argv[1])
times = []
for _ in range(3):
    started = time.perf_counter()
    fitted = BetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])
    times.append(time.perf_counter() - started)
print(f"lifetimes BetaGeoFitter.fit: {statistics.median(times) * 1000:.0f} ms (median of 3), "
      f"{ {k: round(v, 4) for k, v in fitted.params_.items()} }")
with open(sys.argv[1] + ".lifetimes", "w") as f:
    f.write(f"{statistics.median(times) * 1000:.3f}")
PY

.venv-bench/bin/python - "$data" <<'PY'
import json, statistics, subprocess, sys, time
path = sys.argv[1]
lifetimes_ms = float(open(path + ".lifetimes").read())
times, out = [], None
for _ in range(7):
    started = time.perf_counter()
    out = subprocess.run(["target/release/kairos", "models", "fit", "--input", path],
                         check=True, capture_output=True, text=True).stdout
    times.append(time.perf_counter() - started)
fit = json.loads(out)
kairos_ms = statistics.median(times) * 1000
print(f"kairos models fit (whole process): {kairos_ms:.0f} ms (median of 7), "
      f"{ {k: round(v, 4) for k, v in fit['params'].items()} }")
print(f"{lifetimes_ms / kairos_ms:.1f}x faster than lifetimes' fit call")
PY
rm -f "$data.lifetimes"
