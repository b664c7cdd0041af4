//! Lambda: the loyalty redemption API on a function URL.
//!
//! The URL's auth type is `AWS_IAM`: the shop's backend signs its requests (SigV4). `POST` a JSON
//! body `{"customer_id", "reward_id", "idempotency_key"}`; the answer is 200 with the new
//! balances and the reward's code, 409 when the active balance does not cover the reward, 404
//! for an unknown customer or reward, 400 (with the field) for a malformed request, and the same
//! answer again for a repeated idempotency key (`kairos::loyalty::accounts::redeem`). This crate
//! only maps the function-URL event to that call and back.

use aws_lambda_events::event::lambda_function_urls::{LambdaFunctionUrlRequest, LambdaFunctionUrlResponse};
use aws_lambda_events::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use chrono::{DateTime, Utc};
use kairos::loyalty::ProgramCache;
use kairos::loyalty::redeem::{Answer, parse};
use kairos::store::Store;
use lambda_runtime::LambdaEvent;

/// What the handler needs, built once per instance.
pub struct Deps<S> {
    pub store: S,
    pub program: ProgramCache,
    /// Reward codes are derived from it (`KAIROS_OFFER_SECRET`, from the deployment's secret).
    pub secret: Vec<u8>,
}

pub async fn serve() -> Result<(), lambda_runtime::Error> {
    let secret = std::env::var("KAIROS_OFFER_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or("KAIROS_OFFER_SECRET is required: reward codes are derived from it")?;
    let deps = Deps {
        store: kairos::config::dynamo_store().await?,
        program: ProgramCache::default(),
        secret: secret.into_bytes(),
    };
    lambda_runtime::run(lambda_runtime::service_fn(|event| handle(&deps, event, Utc::now()))).await
}

pub async fn handle<S: Store>(
    deps: &Deps<S>,
    event: LambdaEvent<LambdaFunctionUrlRequest>,
    now: DateTime<Utc>,
) -> Result<LambdaFunctionUrlResponse, lambda_runtime::Error> {
    let request = event.payload;
    let method = request.request_context.http.method.as_deref().unwrap_or("GET");
    let body = request.body.unwrap_or_default();
    let answer = if method != "POST" {
        Answer::error(405, ".", "only POST redeems")
    } else {
        let bytes = if request.is_base64_encoded {
            base64::engine::general_purpose::STANDARD.decode(body.as_bytes()).ok()
        } else {
            Some(body.into_bytes())
        };
        match bytes {
            None => Answer::error(400, ".", "is marked base64 but is not valid base64"),
            Some(bytes) => respond(deps, &bytes, now).await,
        }
    };
    Ok(response(answer))
}

async fn respond<S: Store>(deps: &Deps<S>, body: &[u8], now: DateTime<Utc>) -> Answer {
    let request = match parse(body) {
        Ok(r) => r,
        Err(answer) => return answer,
    };
    let program = match deps.program.get(&deps.store, now).await {
        Ok(p) => p,
        Err(e) => return unavailable(&e),
    };
    match kairos::loyalty::accounts::redeem(&deps.store, program.as_deref(), &request, &deps.secret, now).await {
        Ok(answer) => {
            tracing::info!(status = answer.status, reward = request.reward_id.as_str(), "redemption answered");
            answer
        }
        Err(e) => unavailable(&e),
    }
}

/// A store failure: nothing was redeemed, and the same request may be sent again.
fn unavailable(e: &kairos::store::StoreError) -> Answer {
    tracing::error!(error = %kairos::redact::scrub(&e.to_string()), "redemption not done");
    Answer::error(503, ".", "the ledger could not be reached; nothing was redeemed: send the same request again")
}

fn response(answer: Answer) -> LambdaFunctionUrlResponse {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    if answer.status == 405 {
        headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    if answer.status == 503 {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(1));
    }
    let mut response = LambdaFunctionUrlResponse::default();
    response.status_code = i64::from(answer.status);
    response.headers = headers;
    response.body = Some(answer.body.to_string());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(method: &str, body: &str) -> LambdaEvent<LambdaFunctionUrlRequest> {
        let payload = serde_json::json!({
            "version": "2.0", "rawPath": "/", "rawQueryString": "", "headers": {"content-type": "application/json"},
            "requestContext": {"http": {"method": method, "path": "/"}, "timeEpoch": 0},
            "body": body, "isBase64Encoded": false,
        });
        LambdaEvent::new(serde_json::from_value(payload).unwrap(), lambda_runtime::Context::default())
    }

    #[tokio::test]
    async fn the_event_maps_to_the_api_and_back() {
        let deps = Deps {
            store: kairos::store::embedded::EmbeddedStore::new(),
            program: ProgramCache::default(),
            secret: b"s".to_vec(),
        };
        let get = handle(&deps, event("GET", ""), Utc::now()).await.unwrap();
        assert_eq!(get.status_code, 405);
        assert_eq!(get.headers[header::ALLOW], "POST");
        let bad = handle(&deps, event("POST", "{}"), Utc::now()).await.unwrap();
        assert_eq!(bad.status_code, 400);
        let body = r#"{"customer_id": "c1", "reward_id": "five-off", "idempotency_key": "k1"}"#;
        let none = handle(&deps, event("POST", body), Utc::now()).await.unwrap();
        assert_eq!(none.status_code, 404, "no program deployed: no such reward");
        assert_eq!(none.headers[header::CONTENT_TYPE], "application/json");
    }
}
