#!/usr/bin/env bash
# Fits BG/NBD to CDNOW with lifetimes' BetaGeoFitter and with Kairos, in the same run on the same
# machine, and prints both fits and the speed-up. Installs lifetimes (and its numpy/scipy/pandas
# stack) into .venv-bench, apart from the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-bench/bin/python ] || ! .venv-bench/bin/python -c 'import lifetimes' 2>/dev/null; then
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install --quiet --disable-pip-version-check lifetimes==0.11.3
fi
data=$(.venv-bench/bin/python -c 'import lifetimes.datasets, os; print(os.path.join(os.path.dirname(lifetimes.datasets.__file__), "cdnow_customers_summary.csv"))')

lifetimes=$(.venv-bench/bin/python - "$data" <<'PY' 2>/dev/null
import statistics, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from lifetimes import BetaGeoFitter
d = pd.read_csv(sys.argv[1])
BetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])  # warm up
times = []
for _ in range(20):
    started = time.perf_counter()
    fitted = BetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])
    times.append(time.perf_counter() - started)
print(f"{statistics.median(times) * 1000:.3f}")
print("lifetimes BetaGeoFitter on CDNOW:", {k: round(v, 4) for k, v in fitted.params_.items()})
PY
)
lifetimes_ms=$(printf '%s\n' "$lifetimes" | head -1)
printf '%s\n' "$lifetimes" | tail -1
echo "lifetimes BetaGeoFitter on CDNOW: ${lifetimes_ms} ms (median of 20)"

out=$(KAIROS_CDNOW="$data" cargo bench --quiet -p kairos --bench churn -- churn_fit 2>&1)
printf '%s\n' "$out" | grep -E "kairos BG/NBD|time:" | head -2
kairos_ms=$(printf '%s\n' "$out" | grep -A1 "^churn_fit" | grep "time:" | head -1 | python3 -c '
import re, sys
low, mid, high = re.findall(r"([0-9.]+) (ns|µs|ms|s)\b", sys.stdin.read())[:3]
scale = {"ns": 1e-6, "µs": 1e-3, "ms": 1.0, "s": 1e3}
print(f"{float(mid[0]) * scale[mid[1]]:.3f}")')
python3 -c "print(f'Kairos BG/NBD on CDNOW: {$kairos_ms} ms (criterion median), {$lifetimes_ms / $kairos_ms:.0f}x faster than lifetimes')"
