//! Rendering personalised messages, in process, on one core.
//!
//! `cargo bench -p kairos --bench render` renders the win-back sample's email (subject,
//! preheader, HTML, text) for distinct customers, each with 5 recommendations and an offer,
//! building the context from the profile and catalogue as delivery does; it reports emails per
//! second with and without the context build, and an SMS (birthday) and a push (back in stock) for comparison. Without
//! `--bench` (as `cargo test` runs it), a few hundred messages.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use kairos::campaign::load::read;
use kairos::campaign::render::Templates;
use kairos::catalogue::Product;
use kairos::contact::Channel;
use kairos::content::ShopView;
use kairos::content::build::{Facts, Links, context, style_of};
use kairos::ids::{EventId, ProductId};
use kairos::money::{Amount, Currency};
use kairos::profile::Profile;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let messages = if full { 200_000 } else { 500 };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../campaigns");
    let text = std::fs::read_to_string(root.join("win-back.yaml")).expect("the sample");
    let (campaign, _) = read("win-back.yaml", &text);
    let campaign = campaign.expect("the sample reads");
    let templates = Templates::compile(&campaign).expect("compiles");
    let sms = read("birthday.yaml", &std::fs::read_to_string(root.join("birthday.yaml")).unwrap()).0.unwrap();
    let sms_templates = Templates::compile(&sms).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();

    // Distinct customers from the synthetic shop (carts, names, locales), and a catalogue.
    let (events, _) = kairos::synth::shop_events(7, 2_000, 40_000, now);
    let mut profiles: HashMap<String, Profile> = HashMap::new();
    for e in &events {
        let p = profiles.entry(e.customer_id.to_string()).or_insert_with(|| Profile::new(e.customer_id.clone()));
        let _ = p.apply(e);
    }
    let mut profiles: Vec<Profile> = profiles.into_values().collect();
    profiles.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
    let eur = Currency::new("EUR").unwrap();
    let ids: Vec<ProductId> = (0..500).map(|i| ProductId::new(format!("sku-{i}")).unwrap()).collect();
    let catalogue: HashMap<ProductId, Product> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let product = Product {
                product_id: id.clone(),
                title: format!("Merino trail sock, pack of {}", i % 5 + 1),
                url: Some(format!("https://shop.example/p/{id}")),
                image_url: Some(format!("https://cdn.shop.example/{id}.jpg")),
                price: Some(Amount::from_micros(19_900_000 + i as i128 * 10_000)),
                currency: Some(eur),
                category_path: vec!["Socks".into()],
                brand: Some("Fleet".into()),
                in_stock: true,
                attributes: Default::default(),
                updated_at: now,
                event_id: EventId::new("e").unwrap(),
            };
            (id.clone(), product)
        })
        .collect();
    let shop = ShopView {
        name: "Fleet Outdoor".into(),
        postal_address: "Torstraße 1, 10119 Berlin".into(),
        url: "https://shop.example".into(),
    };
    let offer = campaign.offer.clone().unwrap();
    let facts_for = |i: usize| {
        let profile = &profiles[i % profiles.len()];
        let picks: Vec<(ProductId, Option<String>)> =
            (0..5).map(|k| (ids[(i * 7 + k * 13) % ids.len()].clone(), Some("popular lately".into()))).collect();
        let code = kairos::campaign::offer::code(&offer, b"secret", &format!("cart/{}/{i}", profile.customer_id));
        let offer = kairos::campaign::offer::view(&offer, code, now, chrono_tz::Europe::Berlin, &style_of(profile));
        (profile, picks, offer)
    };
    let build = |i: usize| {
        let (profile, picks, offer) = facts_for(i);
        let facts = Facts {
            profile,
            catalogue: &catalogue,
            product: None,
            recommendations: &picks,
            offer: Some(offer),
            loyalty: Default::default(),
            shop: &shop,
            links: Links {
                unsubscribe_url: format!("https://kairos.shop.example/u/{i}"),
                preferences_url: format!("https://kairos.shop.example/p/{i}"),
            },
        };
        context(&facts)
    };
    let variant = &campaign.variants[0].id;
    let contexts: Vec<_> = (0..2_000).map(build).collect();

    let started = Instant::now();
    let mut bytes = 0usize;
    for i in 0..messages {
        let m = templates.render(variant, Channel::Email, &contexts[i % contexts.len()]).expect("renders");
        if let kairos::campaign::render::Message::Email { html, text, .. } = &m {
            bytes += html.len() + text.len();
        }
        black_box(m);
    }
    let render_only = messages as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    for i in 0..messages {
        let ctx = build(i);
        black_box(templates.render(variant, Channel::Email, &ctx).expect("renders"));
    }
    let with_context = messages as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    for i in 0..messages {
        black_box(sms_templates.render(&sms.variants[0].id, Channel::Sms, &contexts[i % contexts.len()]).ok());
    }
    let sms_rate = messages as f64 / started.elapsed().as_secs_f64();
    let push =
        read("back-in-stock.yaml", &std::fs::read_to_string(root.join("back-in-stock.yaml")).unwrap()).0.unwrap();
    let push_templates = Templates::compile(&push).unwrap();
    let with_product: Vec<_> = contexts
        .iter()
        .map(|c| kairos::content::Context {
            product: kairos::content::sample::full(&kairos::content::sample::Markers::fixed()).product,
            ..c.clone()
        })
        .collect();
    let started = Instant::now();
    for i in 0..messages {
        let ctx = &with_product[i % with_product.len()];
        black_box(push_templates.render(&push.variants[0].id, Channel::Push, ctx).expect("renders"));
    }
    let push_rate = messages as f64 / started.elapsed().as_secs_f64();

    println!("render: {messages} emails (win-back: 5 recommendations and an offer), one core");
    println!("  emails/s, context given:      {render_only:>10.0}");
    println!("  emails/s, context built too:  {with_context:>10.0}");
    println!("  average email (html + text):  {:>10.0} bytes", bytes as f64 / messages as f64);
    println!("  SMS/s:                        {sms_rate:>10.0}");
    println!("  push/s:                       {push_rate:>10.0}");
}
