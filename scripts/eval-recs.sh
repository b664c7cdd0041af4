#!/usr/bin/env bash
# Recommendation quality, leave-last-out with full ranking, on two data sets:
# - MovieLens 100K as shipped inside the RecBole wheel on PyPI (recbole 1.2.1,
#   recbole/dataset_example/ml-100k): 943 users, 1,682 films, 100,000 timestamped ratings, each
#   rating taken as one interaction; genres as the item category. The data stays in a temporary
#   folder (GroupLens's terms do not allow redistributing it).
# - the synthetic shop of `kairos recs synth` (20,000 customers, 5,000 products by default).
# Prints Kairos, plain item-kNN and popularity side by side.
#   scripts/eval-recs.sh [extra `kairos recs eval` options, e.g. --long-tail-boost 0.5]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release -p kairos-cli
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --disable-pip-version-check --no-deps recbole==1.2.1 -d "$work"
python3 - "$work" <<'PY'
import csv, glob, sys, zipfile
work = sys.argv[1]
wheel = zipfile.ZipFile(glob.glob(f"{work}/recbole-*.whl")[0])
root = "recbole/dataset_example/ml-100k/"
with wheel.open(root + "ml-100k.inter") as f, open(f"{work}/ml100k.csv", "w", newline="") as out:
    rows = csv.reader((line.decode() for line in f), delimiter="\t")
    next(rows)
    w = csv.writer(out)
    w.writerow(["user_id", "item_id", "timestamp"])
    for user, item, _rating, ts in rows:
        w.writerow([user, item, ts.split(".")[0]])
with wheel.open(root + "ml-100k.item") as f, open(f"{work}/ml100k-items.csv", "w", newline="") as out:
    rows = csv.reader((line.decode("latin-1") for line in f), delimiter="\t")
    next(rows)
    w = csv.writer(out)
    w.writerow(["item_id", "category", "year"])
    for row in rows:
        genres = row[3].split(" ") if len(row) > 3 else []
        w.writerow([row[0], genres[0] if genres else "", row[2] if len(row) > 2 else ""])
PY
target/release/kairos recs synth --out "$work/shop" 2>/dev/null
summary() {
  python3 -c '
import json, sys
r = json.load(sys.stdin)
for name in ("kairos", "item_knn", "popularity"):
    f = r[name]
    print("  %-11s HR@10 %.4f  NDCG@10 %.4f  coverage %.3f  long tail %.3f" % (name, f["hr_at_10"], f["ndcg_at_10"], f["coverage"], f["long_tail_share"]))
print("  Kairos / item-kNN %.2fx, Kairos / popularity %.2fx" % (r["hr_ratio_to_item_knn"], r["hr_ratio_to_popularity"]))
'
}
echo "MovieLens 100K (RecBole 1.2.1 wheel)"
target/release/kairos recs eval --interactions "$work/ml100k.csv" --items "$work/ml100k-items.csv" "$@" 2>/dev/null | summary
echo "Synthetic shop (kairos recs synth, seed 2026)"
target/release/kairos recs eval --interactions "$work/shop/interactions.csv" --items "$work/shop/items.csv" "$@" 2>/dev/null | summary
python3 -c '
import json, sys
f = json.load(open(sys.argv[1]))
print("  %-11s HR@10 %.4f  NDCG@10 %.4f  (the generator ranking with its own hidden state)" % ("ceiling", f["hr_at_10"], f["ndcg_at_10"]))
' "$work/shop/ceiling.json"
