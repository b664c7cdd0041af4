//! Maximum likelihood: BFGS over the logarithms of the parameters (which keeps them positive),
//! with the models' own gradients where they have them, and standard errors from the observed
//! information (the Hessian at the optimum).

use std::cell::RefCell;

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::neldermead::NelderMead;
use argmin::solver::quasinewton::BFGS;
use serde::Serialize;

/// A model's log-likelihood over a data set.
pub trait Likelihood {
    fn names(&self) -> &'static [&'static str];
    /// The log-likelihood at `params` (natural scale, all positive).
    fn ll(&self, params: &[f64]) -> f64;
    /// The log-likelihood and its gradient with respect to `params`, when known in closed form.
    fn ll_gradient(&self, _params: &[f64]) -> Option<(f64, Vec<f64>)> {
        None
    }
    /// A starting point.
    fn start(&self) -> Vec<f64>;
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("{customers} customers are too few to fit {model} (at least {min} needed)")]
    TooFewCustomers { model: &'static str, customers: u64, min: u64 },
    #[error("no customer made a repeat purchase: {model} cannot separate purchasing from dropping out")]
    NoRepeatBuyers { model: &'static str },
    #[error("{model} needs {what}")]
    MissingData { model: &'static str, what: &'static str },
    #[error("{model} did not converge: {reason}")]
    NotConverged { model: &'static str, reason: String },
    #[error(
        "the data do not identify {model}: {param} ran off to {value:e} (too few customers, or too little variation)"
    )]
    NotIdentified { model: &'static str, param: &'static str, value: f64 },
}

/// A fitted model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fit {
    pub model: &'static str,
    /// Parameter names and values.
    pub params: Vec<(&'static str, f64)>,
    pub log_likelihood: f64,
    /// Asymptotic standard errors, in the order of `params`; absent when the information matrix
    /// at the optimum is not positive definite (the data do not identify every parameter).
    pub standard_errors: Option<Vec<f64>>,
    pub customers: u64,
    pub iterations: u64,
    /// The parameters' covariance (the inverse of the information matrix), when it exists.
    #[serde(skip)]
    pub covariance: Option<Vec<Vec<f64>>>,
}

impl Fit {
    pub fn values(&self) -> Vec<f64> {
        self.params.iter().map(|(_, v)| *v).collect()
    }

    pub fn param(&self, name: &str) -> Option<f64> {
        self.params.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// The last point evaluated: θ, cost, gradient.
type Evaluated = (Vec<f64>, f64, Vec<f64>);

/// −LL over θ = ln(params), caching the last point so cost and gradient share one evaluation.
struct Problem<'a, L: Likelihood> {
    model: &'a L,
    cache: RefCell<Option<Evaluated>>,
}

impl<L: Likelihood> Problem<'_, L> {
    fn evaluate(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        if let Some((at, cost, grad)) = self.cache.borrow().as_ref() {
            if at.as_slice() == theta {
                return (*cost, grad.clone());
            }
        }
        let params: Vec<f64> = theta.iter().map(|t| t.exp()).collect();
        let (cost, grad) = match self.model.ll_gradient(&params) {
            Some((ll, g)) => (-ll, g.iter().zip(&params).map(|(g, p)| -g * p).collect()),
            None => {
                let ll = self.model.ll(&params);
                // Central differences in θ.
                let grad: Vec<f64> = (0..theta.len())
                    .map(|i| {
                        let h = 1e-6;
                        let mut up = params.clone();
                        let mut down = params.clone();
                        up[i] = (theta[i] + h).exp();
                        down[i] = (theta[i] - h).exp();
                        -(self.model.ll(&up) - self.model.ll(&down)) / (2.0 * h)
                    })
                    .collect();
                (-ll, grad)
            }
        };
        // Far out in parameter space the likelihood can overflow: report a very poor but finite
        // point, so the line search steps back instead of failing.
        let (cost, grad) = if cost.is_finite() && grad.iter().all(|g: &f64| g.is_finite()) {
            (cost, grad)
        } else {
            (1e20, vec![0.0; theta.len()])
        };
        *self.cache.borrow_mut() = Some((theta.to_vec(), cost, grad.clone()));
        (cost, grad)
    }
}

impl<L: Likelihood> CostFunction for Problem<'_, L> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, theta: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        Ok(self.evaluate(theta).0)
    }
}

impl<L: Likelihood> Gradient for Problem<'_, L> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, theta: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        Ok(self.evaluate(theta).1)
    }
}

/// Where a fit starts: parameters (natural scale) and, when known, their covariance at this
/// data's size (a fit to a sample of the same data, its covariance scaled down by the ratio of
/// the sizes).
#[derive(Clone, Debug, PartialEq)]
pub struct Start {
    pub params: Vec<f64>,
    pub covariance: Option<Vec<Vec<f64>>>,
}

impl Start {
    /// A start from a fit to `sampled` of this data's `customers`.
    pub fn from_sample(fit: &Fit, sampled: u64, customers: u64) -> Start {
        let ratio = sampled as f64 / customers.max(1) as f64;
        Start {
            params: fit.values(),
            covariance: fit
                .covariance
                .as_ref()
                .map(|c| c.iter().map(|row| row.iter().map(|v| v * ratio).collect()).collect()),
        }
    }
}

/// Maximises the likelihood. `name` names the model in errors.
pub fn maximize<L: Likelihood>(name: &'static str, model: &L, customers: u64) -> Result<Fit, FitError> {
    maximize_from(name, model, customers, None)
}

/// Maximises the likelihood from `from` (else the model's own start).
pub fn maximize_from<L: Likelihood>(
    name: &'static str,
    model: &L,
    customers: u64,
    from: Option<&Start>,
) -> Result<Fit, FitError> {
    let not_converged = |reason: String| FitError::NotConverged { model: name, reason };
    let from =
        from.filter(|f| f.params.len() == model.names().len() && f.params.iter().all(|p| p.is_finite() && *p > 0.0));
    let start: Vec<f64> = from.map_or_else(|| model.start(), |f| f.params.clone()).iter().map(|p| p.ln()).collect();
    let n = start.len();
    let problem = Problem { model, cache: RefCell::new(None) };
    // A known covariance is the inverse Hessian of −LL in log-parameters (dθ = dp/p): BFGS then
    // starts with the curvature it would otherwise spend most of its iterations learning.
    let known = from.and_then(|f| f.covariance.as_ref()).filter(|c| c.len() == n).map(|c| {
        let p: Vec<f64> = start.iter().map(|t| t.exp()).collect();
        (0..n).map(|i| (0..n).map(|j| c[i][j] / (p[i] * p[j])).collect::<Vec<f64>>()).collect::<Vec<_>>()
    });
    let identity = match known.filter(|h| h.iter().flatten().all(|v| v.is_finite())) {
        Some(h) => h,
        None => {
            // The first step is −H₀·∇: with H₀ = I it would be as large as the gradient of a
            // total log-likelihood (thousands), flinging the parameters to e^1000. Scale it to a
            // step of about 0.5 in log-parameters; BFGS learns the curvature from there.
            let g0 = problem.evaluate(&start).1;
            let norm = g0.iter().map(|g| g * g).sum::<f64>().sqrt();
            let scale = if norm.is_finite() && norm > 0.0 { 0.5 / norm } else { 1.0 };
            (0..n).map(|i| (0..n).map(|j| if i == j { scale } else { 0.0 }).collect()).collect()
        }
    };
    // The gradient of a total log-likelihood grows with the data: stop when it is small per
    // customer (far below what would move any estimate within its standard error).
    let solver = BFGS::new(MoreThuenteLineSearch::new())
        .with_tolerance_grad(1e-7 * (customers.max(1) as f64))
        // Likewise the cost: a total over many customers is only exact to about 1e-16 of itself,
        // and below that the line search chases rounding noise for hundreds of evaluations.
        .and_then(|s| s.with_tolerance_cost(1e-11 * (customers.max(1) as f64)))
        .map_err(|e| not_converged(e.to_string()))?;
    let bfgs = Executor::new(problem, solver)
        .configure(|state| state.param(start.clone()).inv_hessian(identity).max_iters(500))
        .run();
    let (theta, iterations) = match bfgs {
        Ok(result) => {
            let state = result.state();
            (state.get_best_param().cloned().unwrap_or(start.clone()), state.get_iter())
        }
        // The line search can fail on a hostile surface: fall back to the derivative-free simplex.
        Err(e) => {
            tracing::debug!(model = name, error = %e, "BFGS failed; falling back to Nelder-Mead");
            let problem = Problem { model, cache: RefCell::new(None) };
            let simplex: Vec<Vec<f64>> = std::iter::once(start.clone())
                .chain((0..n).map(|i| {
                    let mut v = start.clone();
                    v[i] += 0.5;
                    v
                }))
                .collect();
            let solver = NelderMead::new(simplex).with_sd_tolerance(1e-12).map_err(|e| not_converged(e.to_string()))?;
            let result = Executor::new(problem, solver)
                .configure(|s| s.max_iters(20_000))
                .run()
                .map_err(|e| not_converged(e.to_string()))?;
            let state = result.state();
            (state.get_best_param().cloned().unwrap_or(start.clone()), state.get_iter())
        }
    };
    let params: Vec<f64> = theta.iter().map(|t| t.exp()).collect();
    // The gradient at the optimum is also the base point of the information matrix's differences.
    let at_optimum = model.ll_gradient(&params);
    let log_likelihood = at_optimum.as_ref().map_or_else(|| model.ll(&params), |(ll, _)| *ll);
    if !log_likelihood.is_finite() || params.iter().any(|p| !p.is_finite()) {
        return Err(not_converged(format!("the log-likelihood is not finite at {params:?}")));
    }
    // A parameter running off to zero or infinity means the likelihood is flat in that direction:
    // whatever the optimiser stopped at, the data say nothing about it.
    if let Some((param, value)) = model.names().iter().zip(&params).find(|(_, v)| !(1e-6..=1e6).contains(*v)) {
        return Err(FitError::NotIdentified { model: name, param, value: *value });
    }
    let covariance =
        observed_information(model, &params, at_optimum.map(|(_, g)| g)).and_then(|info| invert_spd(&info));
    let standard_errors = covariance.as_ref().map(|cov| (0..params.len()).map(|i| cov[i][i].sqrt()).collect());
    Ok(Fit {
        model: name,
        params: model.names().iter().copied().zip(params).collect(),
        log_likelihood,
        standard_errors,
        customers,
        iterations,
        covariance,
    })
}

/// −∇²LL at `p`: by forward differences of the analytic gradient from `gradient` (its value at
/// `p`), else by central differences of the log-likelihood.
///
/// Forward, not central: on a large base each gradient is a pass over every row, and half the
/// passes give standard errors within 1e-5 of the central ones (the gradient is exact to far
/// better than the step, so the step can be small enough for the first-order error not to show).
#[allow(clippy::needless_range_loop)] // matrix code reads best with indices
fn observed_information<L: Likelihood>(model: &L, p: &[f64], gradient: Option<Vec<f64>>) -> Option<Vec<Vec<f64>>> {
    let n = p.len();
    let mut h = vec![vec![0.0; n]; n];
    if let Some(g0) = gradient {
        for i in 0..n {
            let mut up = p.to_vec();
            let hi = 1e-6 * p[i].abs().max(1e-8);
            up[i] += hi;
            let (_, gu) = model.ll_gradient(&up)?;
            for j in 0..n {
                h[i][j] = -(gu[j] - g0[j]) / hi;
            }
        }
        for i in 0..n {
            for j in 0..i {
                let avg = (h[i][j] + h[j][i]) / 2.0;
                h[i][j] = avg;
                h[j][i] = avg;
            }
        }
    } else {
        let step = |i: usize| 1e-4 * p[i].abs().max(1e-8);
        let f = |q: &[f64]| model.ll(q);
        let f0 = f(p);
        for i in 0..n {
            for j in 0..=i {
                let (hi, hj) = (step(i), step(j));
                let at = |di: f64, dj: f64| {
                    let mut q = p.to_vec();
                    q[i] += di;
                    q[j] += dj;
                    f(&q)
                };
                let value = if i == j {
                    -(at(hi, 0.0) - 2.0 * f0 + at(-hi, 0.0)) / (hi * hi)
                } else {
                    -(at(hi, hj) - at(hi, -hj) - at(-hi, hj) + at(-hi, -hj)) / (4.0 * hi * hj)
                };
                h[i][j] = value;
                h[j][i] = value;
            }
        }
    }
    h.iter().flatten().all(|v| v.is_finite()).then_some(h)
}

/// The inverse of a symmetric positive-definite matrix, by Cholesky; `None` if it is not one.
#[allow(clippy::needless_range_loop)] // matrix code reads best with indices
pub fn invert_spd(a: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let d = a[i][i] - sum;
                if d <= 0.0 || !d.is_finite() {
                    return None;
                }
                l[i][j] = d.sqrt();
            } else {
                l[i][j] = (a[i][j] - sum) / l[j][j];
            }
        }
    }
    // Solve L Lᵀ X = I column by column.
    let mut inv = vec![vec![0.0; n]; n];
    for col in 0..n {
        let mut y = vec![0.0; n];
        for i in 0..n {
            let e = if i == col { 1.0 } else { 0.0 };
            y[i] = (e - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
        }
        for i in (0..n).rev() {
            inv[i][col] = (y[i] - (i + 1..n).map(|k| l[k][i] * inv[k][col]).sum::<f64>()) / l[i][i];
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exponential waiting times: the MLE of the rate is n / Σt, its SE rate/√n.
    struct Exponential(Vec<f64>);

    impl Likelihood for Exponential {
        fn names(&self) -> &'static [&'static str] {
            &["rate"]
        }
        fn ll(&self, p: &[f64]) -> f64 {
            self.0.iter().map(|t| p[0].ln() - p[0] * t).sum()
        }
        fn start(&self) -> Vec<f64> {
            vec![1.0]
        }
    }

    #[test]
    fn a_textbook_mle_and_its_standard_error() {
        let data: Vec<f64> = (1..=400).map(|i| (i as f64 * 0.37).fract() * 4.0 + 0.01).collect();
        let fit = maximize("exponential", &Exponential(data.clone()), 400).unwrap();
        let rate = data.len() as f64 / data.iter().sum::<f64>();
        assert!((fit.params[0].1 - rate).abs() < 1e-6 * rate, "{} vs {rate}", fit.params[0].1);
        let se = fit.standard_errors.unwrap()[0];
        assert!((se - rate / 20.0).abs() < 1e-3 * rate, "{se}");
    }

    #[test]
    fn inverses_of_small_matrices() {
        let a = vec![vec![4.0, 2.0], vec![2.0, 3.0]];
        let inv = invert_spd(&a).unwrap();
        assert!(
            (inv[0][0] - 0.375).abs() < 1e-12 && (inv[0][1] + 0.25).abs() < 1e-12 && (inv[1][1] - 0.5).abs() < 1e-12
        );
        assert!(invert_spd(&[vec![1.0, 2.0], vec![2.0, 1.0]]).is_none());
    }
}
