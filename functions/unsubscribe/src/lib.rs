//! Lambda: the unsubscribe endpoint on a public function URL (the links are in every marketing
//! email; their HMAC tokens are the authentication). Maps the function-URL event to
//! [`kairos::delivery::unsubscribe::answer`] and back; keys come from the deployment's secret
//! (`KAIROS_UNSUBSCRIBE_KEYS`).

use aws_lambda_events::event::lambda_function_urls::{LambdaFunctionUrlRequest, LambdaFunctionUrlResponse};
use aws_lambda_events::http::{HeaderMap, HeaderValue, header};
use kairos::delivery::token::Keys;
use kairos::delivery::unsubscribe::{Reply, answer};
use kairos::store::Store;
use lambda_runtime::LambdaEvent;

pub async fn serve() -> Result<(), lambda_runtime::Error> {
    let keys = Keys::parse(&std::env::var("KAIROS_UNSUBSCRIBE_KEYS").unwrap_or_default())
        .map_err(|e| format!("KAIROS_UNSUBSCRIBE_KEYS: {e}"))?;
    let store = kairos::config::dynamo_store().await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| handle(&store, &keys, event))).await
}

pub async fn handle<S: Store>(
    store: &S,
    keys: &Keys,
    event: LambdaEvent<LambdaFunctionUrlRequest>,
) -> Result<LambdaFunctionUrlResponse, lambda_runtime::Error> {
    let request = event.payload;
    let method = request.request_context.http.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
    let path = request.raw_path.as_deref().unwrap_or("/");
    let reply = match answer(store, keys, &method, path, chrono::Utc::now()).await {
        Ok(r) => r,
        Err(e) => {
            // The click is not lost: the mail client or the customer tries again.
            tracing::error!(error = %kairos::redact::scrub(&e.to_string()), "an unsubscribe could not be recorded");
            Reply { status: 503, body: "Please try again in a minute.".into() }
        }
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    headers.insert("x-robots-tag", HeaderValue::from_static("noindex"));
    let mut response = LambdaFunctionUrlResponse::default();
    response.status_code = i64::from(reply.status);
    response.headers = headers;
    response.body = Some(reply.body);
    Ok(response)
}
