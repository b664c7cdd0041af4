//! What an AWS provider's error says about a message: refused for good, not accepted now, or
//! unknown (the request may have reached it). The SDKs share one error type, so one reading
//! serves SES and SNS.

use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};

use super::channel::DeliveryError;

/// Reads `err`: service errors named in `refused` (and other client errors but throttling)
/// refuse the message for good; throttling and server errors leave it for a retry; a timeout, a
/// failed dispatch or an unreadable answer leave it unknown.
pub fn classify<E: ProvideErrorMetadata + std::fmt::Debug>(err: &SdkError<E>, refused: &[&str]) -> DeliveryError {
    match err {
        SdkError::ConstructionFailure(_) => {
            DeliveryError::Unavailable(format!("the request could not be built: {err:?}"))
        }
        SdkError::ServiceError(ctx) => {
            let code = ctx.err().code().unwrap_or("unknown").to_string();
            let text = format!("{code}: {}", ctx.err().message().unwrap_or(""));
            let status = ctx.raw().status().as_u16();
            let throttled = status == 429
                || code.contains("Throttl")
                || code.contains("TooManyRequests")
                || code.contains("LimitExceeded");
            if refused.contains(&code.as_str()) || ((400..500).contains(&status) && !throttled) {
                DeliveryError::Refused(text)
            } else {
                DeliveryError::Unavailable(text)
            }
        }
        SdkError::DispatchFailure(f) if f.is_user() => DeliveryError::Unavailable(format!("not sent: {err:?}")),
        _ => DeliveryError::Unknown(format!("{err:?}")),
    }
}
