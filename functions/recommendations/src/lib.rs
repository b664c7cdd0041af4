//! Lambda: the recommendations API on a function URL.
//!
//! The URL's auth type is `AWS_IAM`: the shop's backend signs its requests (SigV4) with a role
//! allowed `lambda:InvokeFunctionUrl`, so no key is stored anywhere. `POST` a JSON body
//! `{"customer_id"?, "session"?: [product ids], "k"?}`; the answer is JSON (see
//! `kairos::recommend::api`). This crate only maps the function-URL event to that call and back.

// The service's futures nest deeply (store calls inside the recommender): their layout needs
// more than the default query depth.
#![recursion_limit = "256"]

use aws_lambda_events::event::lambda_function_urls::{LambdaFunctionUrlRequest, LambdaFunctionUrlResponse};
use aws_lambda_events::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use kairos::recommend::api::{HttpAnswer, Recommender};
use kairos::store::Store;
use lambda_runtime::LambdaEvent;

/// Serves requests until the runtime stops: the table client and the model once per instance.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    let recommender = Recommender::new(kairos::config::dynamo_store().await?);
    lambda_runtime::run(lambda_runtime::service_fn(|event| handle(&recommender, event))).await
}

pub async fn handle<S: Store>(
    recommender: &Recommender<S>,
    event: LambdaEvent<LambdaFunctionUrlRequest>,
) -> Result<LambdaFunctionUrlResponse, lambda_runtime::Error> {
    let request = event.payload;
    let method = request.request_context.http.method.as_deref().unwrap_or("GET");
    let body = request.body.unwrap_or_default();
    // A function URL passes a body it does not take for text as base64.
    let answer = if request.is_base64_encoded {
        match base64::engine::general_purpose::STANDARD.decode(body.as_bytes()) {
            Ok(bytes) => recommender.respond(method, &bytes, chrono::Utc::now()).await,
            Err(_) => HttpAnswer::error(400, Some("."), "is marked base64 but is not valid base64"),
        }
    } else {
        recommender.respond(method, body.as_bytes(), chrono::Utc::now()).await
    };
    Ok(response(answer))
}

fn response(answer: HttpAnswer) -> LambdaFunctionUrlResponse {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // Personal recommendations: no shared cache may keep them.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    if answer.status == 405 {
        headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    if let Some(seconds) = answer.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    let mut response = LambdaFunctionUrlResponse::default();
    response.status_code = i64::from(answer.status);
    response.headers = headers;
    response.body = Some(answer.body);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(method: &str, body: &str, base64: bool) -> LambdaEvent<LambdaFunctionUrlRequest> {
        let payload = serde_json::json!({
            "version": "2.0", "rawPath": "/", "rawQueryString": "", "headers": {"content-type": "application/json"},
            "requestContext": {"http": {"method": method, "path": "/"}, "timeEpoch": 0},
            "body": body, "isBase64Encoded": base64,
        });
        LambdaEvent::new(serde_json::from_value(payload).unwrap(), lambda_runtime::Context::default())
    }

    #[tokio::test]
    async fn the_event_maps_to_the_api_and_back() {
        let recommender = Recommender::new(kairos::store::embedded::EmbeddedStore::new());
        let ok = handle(&recommender, event("POST", r#"{"session": ["p1"]}"#, false)).await.unwrap();
        assert_eq!(ok.status_code, 200);
        assert_eq!(ok.headers[header::CONTENT_TYPE], "application/json");
        let encoded = base64::engine::general_purpose::STANDARD.encode(r#"{"session": ["p1"], "k": 0}"#);
        let bad = handle(&recommender, event("POST", &encoded, true)).await.unwrap();
        assert_eq!(bad.status_code, 400, "a base64 body is decoded first");
        assert!(bad.body.unwrap().contains(r#""field":"k""#));
        let garbled = handle(&recommender, event("POST", "%%%", true)).await.unwrap();
        assert_eq!(garbled.status_code, 400);
        let get = handle(&recommender, event("GET", "", false)).await.unwrap();
        assert_eq!((get.status_code, &get.headers[header::ALLOW]), (405, &HeaderValue::from_static("POST")));
    }
}
