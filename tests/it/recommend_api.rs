//! The recommendations API against DynamoDB on the emulator, through the Lambda handler and its
//! function-URL event: known customers get their own picks with catalogue data, never what they
//! have and never out of stock; anonymous sessions and unknown customers fall back and say so;
//! malformed, oversized and wrong-method requests get clear answers.

use aws_lambda_events::event::lambda_function_urls::{LambdaFunctionUrlRequest, LambdaFunctionUrlResponse};
use chrono::Utc;
use kairos::recommend::api::Recommender;
use kairos::recommend::job::all_touches;
use kairos_tests::lambda_context as context;
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};

fn event(method: &str, body: &str) -> LambdaEvent<LambdaFunctionUrlRequest> {
    let payload = json!({
        "version": "2.0", "rawPath": "/", "rawQueryString": "", "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": method, "path": "/"}, "timeEpoch": 0},
        "body": body, "isBase64Encoded": false,
    });
    LambdaEvent::new(serde_json::from_value(payload).unwrap(), context())
}

fn body(response: &LambdaFunctionUrlResponse) -> Value {
    serde_json::from_str(response.body.as_deref().unwrap_or("")).unwrap()
}

#[tokio::test]
async fn the_api_answers_customers_sessions_and_mistakes() {
    let now = Utc::now();
    let (store, customers, out_of_stock) = kairos_tests::recommending_shop(40, now).await;
    let recommender = Recommender::new(store);
    let ask = |b: Value| {
        let recommender = &recommender;
        async move { kairos_recommendations::handle(recommender, event("POST", &b.to_string())).await.unwrap() }
    };

    let mut personal = 0;
    for customer in &customers {
        let response = ask(json!({"customer_id": customer.as_str(), "k": 5})).await;
        assert_eq!(response.status_code, 200);
        let answer = body(&response);
        assert_eq!(answer["model"]["run"], "night-1");
        let products = answer["products"].as_array().unwrap();
        assert_eq!(products.len(), 5, "{answer}");
        let profile = kairos::customers::load(recommender.store(), customer).await.unwrap().unwrap();
        let own: Vec<String> = all_touches(&profile).iter().map(|t| t.0.to_string()).collect();
        for p in products {
            let id = p["product_id"].as_str().unwrap();
            assert!(!out_of_stock.iter().any(|o| o == id), "{customer}: {id} is out of stock");
            assert!(p["reason"]["kind"] == "replenish" || !own.iter().any(|o| o == id), "{customer} has {id}");
            assert_eq!(p["title"], format!("Product {id}"));
            assert_eq!(p["image_url"], format!("https://cdn.shop.example/{id}.jpg"));
            assert!(!p["reason"]["text"].as_str().unwrap().is_empty());
        }
        personal += usize::from(answer["source"] == "customer");
    }
    assert!(personal * 10 >= customers.len() * 8, "most answers are personal: {personal} of {}", customers.len());

    // An anonymous visitor: the session alone.
    let model =
        kairos::jobs::runner::run_model::<_, kairos::recommend::job::RecommendJob>(recommender.store(), "night-1")
            .await
            .unwrap()
            .unwrap();
    let viewed: Vec<&str> = model.items.iter().rev().take(2).map(String::as_str).collect();
    let session = body(&ask(json!({"session": viewed})).await);
    assert_eq!(session["source"], "session", "{session}");
    assert_eq!(session["products"].as_array().unwrap().len(), 10);
    assert!(session.get("notices").is_none(), "{session}");

    let stranger = body(&ask(json!({"customer_id": "nobody-we-know", "session": viewed})).await);
    assert_eq!(stranger["products"], session["products"]);
    assert!(stranger["notices"][0].as_str().unwrap().contains("not known"), "{stranger}");

    let alone = body(&ask(json!({"customer_id": "nobody-we-know"})).await);
    assert_eq!(alone["source"], "popular");
    assert!(alone["notices"][0].as_str().unwrap().contains("from popularity"), "{alone}");

    // Mistakes.
    let bad = ask(json!({"customer_id": customers[0].as_str(), "k": 500})).await;
    assert_eq!((bad.status_code, body(&bad)["error"]["field"].as_str()), (400, Some("k")));
    let many: Vec<String> = (0..51).map(|i| format!("p{i}")).collect();
    let bad = ask(json!({ "session": many })).await;
    assert_eq!((bad.status_code, body(&bad)["error"]["field"].as_str()), (400, Some("session")));
    let huge = format!(r#"{{"session": ["{}"]}}"#, "x".repeat(20_000));
    let too_big = kairos_recommendations::handle(&recommender, event("POST", &huge)).await.unwrap();
    assert_eq!(too_big.status_code, 413);
    let get = kairos_recommendations::handle(&recommender, event("GET", "")).await.unwrap();
    assert_eq!(get.status_code, 405);
}
