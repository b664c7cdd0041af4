//! The models against published results on the CDNOW sample (Fader, Hardie & Lee 2005; Fader &
//! Hardie 2013): 2,357 customers, a 39-week calibration period, time in weeks. The data ship in
//! the MIT-licensed `lifetimes` package, which the test command installs into `.venv`.

use std::path::PathBuf;
use std::time::Instant;

use kairos::churn::bgnbd::{self, BgNbdData};
use kairos::churn::data::{Pooled, Summary, read_summaries};
use kairos::churn::fit::{Fit, maximize};
use kairos::churn::gamma_gamma::{self, GammaGammaData};
use kairos::churn::pareto::{self, ParetoNbdData};

fn dataset(name: &str) -> PathBuf {
    let lib = kairos_tests::repo_root().join(".venv/lib");
    let python = std::fs::read_dir(&lib)
        .expect(".venv/lib (scripts/test.sh installs lifetimes there)")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("python"));
    let path = python.expect("a python folder in .venv/lib").path().join("site-packages/lifetimes/datasets").join(name);
    assert!(path.exists(), "{} is missing: scripts/test.sh installs the lifetimes package", path.display());
    path
}

fn cdnow() -> Vec<Summary> {
    let text = std::fs::read_to_string(dataset("cdnow_customers_summary.csv")).unwrap();
    // The file names its columns ID,frequency,recency,T.
    let (rows, errors) = read_summaries(text.replacen("ID,", "customer_id,", 1).as_bytes()).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    rows
}

fn cdnow_monetary() -> Vec<(u32, f64, f64)> {
    let text = std::fs::read_to_string(dataset("cdnow_customers_summary_with_transactions.csv")).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let x: u32 = f[1].trim().parse().ok()?;
            let m: f64 = f[4].trim().parse().ok()?;
            (x > 0).then_some((x, m, 1.0))
        })
        .collect()
}

fn sig3(a: f64, b: f64) -> bool {
    // Equal to three significant figures.
    let scale = 10f64.powf(b.abs().log10().floor() - 2.0);
    (a / scale).round() == (b / scale).round()
}

fn check(fit: &Fit, published: &[(&str, f64)], ll: f64) {
    for (name, value) in published {
        let got = fit.param(name).unwrap();
        assert!(sig3(got, *value), "{} {name}: fitted {got}, published {value}", fit.model);
    }
    assert!((fit.log_likelihood - ll).abs() < 0.1, "{} LL: fitted {}, published {ll}", fit.model, fit.log_likelihood);
    let se = fit.standard_errors.as_ref().expect("standard errors");
    assert!(se.iter().all(|s| s.is_finite() && *s > 0.0), "{se:?}");
}

#[test]
fn bgnbd_reproduces_fader_hardie_lee_2005() {
    let data = cdnow();
    assert_eq!(data.len(), 2357);
    let pooled = Pooled::new(&data);
    let started = Instant::now();
    let fit = maximize(bgnbd::NAME, &BgNbdData(&pooled), pooled.customers).unwrap();
    eprintln!("BG/NBD: {fit:?} in {:?}", started.elapsed());
    check(&fit, &[("r", 0.243), ("alpha", 4.414), ("a", 0.793), ("b", 2.426)], -9582.4);
    // The paper's standard errors too: 0.0125, 0.3781, 0.1855, 0.7049.
    let se = fit.standard_errors.unwrap();
    for (got, published) in se.iter().zip([0.0125, 0.3781, 0.1855, 0.7049]) {
        assert!((got / published - 1.0).abs() < 0.02, "SE {got} vs published {published}");
    }
}

#[test]
fn pareto_nbd_reproduces_fader_hardie_lee_2005() {
    let pooled = Pooled::new(&cdnow());
    let fit = maximize(pareto::NAME, &ParetoNbdData(&pooled), pooled.customers).unwrap();
    eprintln!("Pareto/NBD: {fit:?}");
    check(&fit, &[("r", 0.553), ("alpha", 10.578), ("s", 0.606), ("beta", 11.669)], -9595.0);
}

#[test]
fn gamma_gamma_reproduces_fader_hardie_2013() {
    let rows = cdnow_monetary();
    assert_eq!(rows.len(), 946, "repeat buyers");
    let fit = maximize(gamma_gamma::NAME, &GammaGammaData { rows }, 946).unwrap();
    eprintln!("Gamma-Gamma: {fit:?}");
    check(&fit, &[("p", 6.25), ("q", 3.74), ("gamma", 15.44)], -4055.9);
}

/// `summarize` turns the raw CDNOW transactions into exactly the published summaries: repeat
/// purchases on distinct days, recency and age in weeks to the end of week 39 (1997-09-30), and
/// the mean value of repeat purchases.
#[test]
fn summarize_reproduces_the_published_cdnow_summaries() {
    use kairos::churn::data::{Transaction, Unit, summarize};
    let raw = std::fs::read_to_string(dataset("CDNOW_sample.txt")).unwrap();
    let transactions: Vec<Transaction> = raw
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Transaction {
                customer_id: f[1].trim_start_matches('0').to_string(),
                day: chrono::NaiveDate::parse_from_str(f[2], "%Y%m%d").unwrap(),
                amount: f[4].parse().unwrap(),
            }
        })
        .collect();
    let end = chrono::NaiveDate::from_ymd_opt(1997, 9, 30).unwrap();
    let ours: std::collections::BTreeMap<String, Summary> =
        summarize(&transactions, end, Unit::Week).into_iter().map(|s| (s.customer_id.clone(), s)).collect();
    let published = cdnow();
    let monetary = std::fs::read_to_string(dataset("cdnow_customers_summary_with_transactions.csv")).unwrap();
    let zbar: std::collections::BTreeMap<String, f64> = monetary
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .map(|f| (f[0].to_string(), f[4].parse().unwrap()))
        .collect();
    assert_eq!(ours.len(), published.len());
    for p in &published {
        let s = &ours[&p.customer_id];
        assert_eq!(s.frequency, p.frequency, "customer {}", p.customer_id);
        assert!(
            (s.recency - p.recency).abs() < 0.006,
            "customer {}: recency {} vs {}",
            p.customer_id,
            s.recency,
            p.recency
        );
        assert!((s.age - p.age).abs() < 0.006, "customer {}: T {} vs {}", p.customer_id, s.age, p.age);
        assert!((s.monetary_value.unwrap() - zbar[&p.customer_id]).abs() < 0.006, "customer {}: spend", p.customer_id);
    }
}
