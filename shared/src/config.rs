//! Settings read from the environment by the functions and the command line.
//!
//! AWS settings (region, credentials, endpoint overrides such as `AWS_ENDPOINT_URL` for a local
//! emulator) are the SDK's standard environment variables; only Kairos's own are read here.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {name} is required: {why}")]
    Missing { name: &'static str, why: &'static str },
    #[error("environment variable {name} is invalid: {problem}")]
    Invalid { name: &'static str, problem: String },
}

/// The table every function reads and writes.
pub fn table_name() -> Result<String, ConfigError> {
    let name = std::env::var("KAIROS_TABLE")
        .map_err(|_| ConfigError::Missing { name: "KAIROS_TABLE", why: "the name of the Kairos DynamoDB table" })?;
    let valid =
        (3..=255).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !valid {
        return Err(ConfigError::Invalid {
            name: "KAIROS_TABLE",
            problem: "not a DynamoDB table name (3-255 of a-z A-Z 0-9 _ . -)".into(),
        });
    }
    Ok(name)
}

/// The SDK configuration from the standard AWS environment, loaded once per process.
pub async fn aws() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http_client()).load().await
}

/// The HTTP client of every AWS client: HTTPS through rustls on ring (plain HTTP for a loopback
/// endpoint), with the SDK's connection pooling and timeouts. The SDK's own default would link
/// aws-lc, which doubles the cryptography in the binary for no gain here.
pub fn http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// A DynamoDB store for the configured table.
pub async fn dynamo_store() -> Result<crate::store::dynamo::DynamoStore, ConfigError> {
    let table = table_name()?;
    let sdk = aws().await;
    tracing::info!(table, endpoint = sdk.endpoint_url().unwrap_or("default"), "using DynamoDB");
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    Ok(crate::store::dynamo::DynamoStore::new(client, table))
}
