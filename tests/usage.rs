//! Model usage over HTTP against the real server: calls recorded through
//! `assistant::budget::record` into the data directory's SQLite file, then
//! the usage report checked group by group, to the token and micro-unit,
//! for every `group_by`; bad parameters are 400s naming the field; spend-cap
//! alerts are listed, this month's as open.

mod common;

use std::collections::BTreeMap;

use common::{TestServer, assert_problem};
use reqwest::Method;
use serde_json::Value;
use shopkeep::assistant::budget::{self, Budgets, CallRecord, ShopperClass};
use shopkeep::config::{BudgetSettings, TokenBudget};
use shopkeep::store::{Store, StoreOptions};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const ROUTE: &str = "/api/v1/admin/usage";
const ALERTS: &str = "/api/v1/admin/usage/alerts";
/// The range the report is asked for; seeded calls fall inside and outside it.
const FROM: &str = "2025-03-01";
const TO: &str = "2025-03-05";

/// (model, tier, backend) of the models calls are spread over.
const MODELS: [(&str, &str, &str); 4] = [
    ("qwen2.5-0.5b-instruct", "starter", "local"),
    ("llama-3.2-3b-instruct", "professional", "local"),
    ("gpt-4o-mini", "enterprise", "openai"),
    ("gemini-2.0-flash", "enterprise", "gemini"),
];
const CLASSES: [ShopperClass; 3] = [
    ShopperClass::Guest,
    ShopperClass::Registered,
    ShopperClass::Premium,
];

/// A small cap, so the seeded March spend reaches both alert thresholds.
fn budgets() -> Budgets {
    let plenty = TokenBudget {
        daily: 1_000_000,
        monthly: 10_000_000,
    };
    Budgets::new(&BudgetSettings {
        guest: plenty,
        registered: plenty,
        premium: plenty,
        premium_customers: Vec::new(),
        monthly_spend_cap_micros: 10_000,
        alert_webhook: true,
    })
}

/// A seeded call and the UTC day it was made on.
struct Seeded {
    day: String,
    call: CallRecord,
}

/// Calls over six days (28 Feb to 6 Mar, the 5th left empty), every model
/// and class, odd token counts and costs, some failed; in time order.
fn seed_calls() -> Vec<Seeded> {
    let days = [
        "2025-02-28",
        "2025-03-01",
        "2025-03-02",
        "2025-03-03",
        "2025-03-04",
        "2025-03-06",
    ];
    let mut seeded = Vec::new();
    for n in 0..60u64 {
        let (model, tier, backend) = MODELS[(n % 4) as usize];
        let class = CLASSES[(n % 3) as usize];
        let input_tokens = 100 + n * 37 % 900;
        let cost_micros = if backend == "local" { 0 } else { 17 + n * 131 };
        seeded.push(Seeded {
            day: days[(n % 6) as usize].to_string(),
            call: CallRecord {
                conversation_id: Some(format!("conv-{}", n % 5)),
                class,
                subject: format!("session:{}", n % 9),
                tier,
                backend,
                model: model.to_string(),
                purpose: ["chat", "summary", "intent"][(n % 3) as usize],
                input_tokens,
                output_tokens: 10 + n * 13 % 300,
                cached_tokens: input_tokens / (2 + n % 3),
                latency_ms: 40 + n,
                cost_micros,
                ok: n % 7 != 3,
            },
        });
    }
    // In time order, as a shop would record them.
    seeded.sort_by(|a, b| a.day.cmp(&b.day));
    seeded
}

fn at(day: &str, n: usize) -> OffsetDateTime {
    let seconds = n % 60;
    OffsetDateTime::parse(&format!("{day}T12:00:{seconds:02}Z"), &Rfc3339).unwrap()
}

/// A data directory whose database holds the seeded calls, and one remote
/// call made now, which opens this month's alerts.
fn seeded_shop(seeded: &[Seeded]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("shopkeep.db"), &StoreOptions::default()).unwrap();
    let budgets = budgets();
    for (n, entry) in seeded.iter().enumerate() {
        budget::record(&store, &budgets, &entry.call, at(&entry.day, n)).unwrap();
    }
    let today = CallRecord {
        tier: "enterprise",
        backend: "openai",
        model: "gpt-4o-mini".into(),
        cost_micros: 9_000,
        ..seeded[0].call.clone()
    };
    budget::record(&store, &budgets, &today, OffsetDateTime::now_utc()).unwrap();
    store.close().unwrap();
    dir
}

/// Calls, failed, input, output, cached tokens and cost of a group.
type Sums = [u64; 6];

fn sums_of(figures: &Value) -> Sums {
    let field = |name: &str| {
        figures[name]
            .as_u64()
            .unwrap_or_else(|| panic!("{name} in {figures}"))
    };
    [
        field("calls"),
        field("failed"),
        field("input_tokens"),
        field("output_tokens"),
        field("cached_tokens"),
        field("cost_micros"),
    ]
}

fn add(sum: &mut Sums, more: &Sums) {
    for (total, value) in sum.iter_mut().zip(more) {
        *total += value;
    }
}

fn key_of<'a>(entry: &'a Seeded, group_by: &str) -> &'a str {
    match group_by {
        "day" => &entry.day,
        "model" => &entry.call.model,
        "tier" => entry.call.tier,
        "class" => entry.call.class.as_str(),
        "backend" => entry.call.backend,
        other => panic!("no dimension {other}"),
    }
}

/// What the report must say, computed from the seeded calls themselves.
fn expected_groups(seeded: &[Seeded], group_by: &str) -> BTreeMap<String, Sums> {
    let mut groups = BTreeMap::new();
    for entry in seeded
        .iter()
        .filter(|e| (FROM..=TO).contains(&e.day.as_str()))
    {
        let call = &entry.call;
        let sums: Sums = [
            1,
            u64::from(!call.ok),
            call.input_tokens,
            call.output_tokens,
            call.cached_tokens,
            call.cost_micros,
        ];
        add(
            groups
                .entry(key_of(entry, group_by).to_string())
                .or_default(),
            &sums,
        );
    }
    groups
}

fn report(server: &TestServer, query: &str) -> Value {
    let response = server
        .admin(Method::GET, &format!("{ROUTE}{query}"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200, "GET {ROUTE}{query}");
    response.json().unwrap()
}

fn decimal(micros: u64) -> String {
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

#[test]
fn usage_adds_up_exactly_for_every_grouping() {
    let seeded = seed_calls();
    let server = TestServer::start_in(seeded_shop(&seeded), &["--no-demo"], &[]);
    let mut seeded_totals = Sums::default();
    for sums in expected_groups(&seeded, "day").values() {
        add(&mut seeded_totals, sums);
    }
    assert!(seeded_totals[0] > 30 && seeded_totals[1] > 0 && seeded_totals[5] > 0);

    for group_by in ["day", "model", "tier", "class", "backend"] {
        let body = report(
            &server,
            &format!("?from={FROM}&to={TO}&group_by={group_by}"),
        );
        assert_eq!(
            (body["from"].as_str(), body["to"].as_str()),
            (Some(FROM), Some(TO))
        );
        assert_eq!(body["group_by"], group_by);
        assert_eq!(body["currency"], "USD");
        let mut listed = BTreeMap::new();
        let mut sum_of_groups = Sums::default();
        for group in body["groups"].as_array().unwrap() {
            let sums = sums_of(group);
            add(&mut sum_of_groups, &sums);
            assert_eq!(group["cost"], decimal(sums[5]).as_str(), "{group}");
            let key = group["key"].as_str().unwrap().to_string();
            if sums[0] > 0 {
                listed.insert(key, sums);
            } else {
                assert_eq!(group_by, "day", "only days are listed without calls");
                assert_eq!(key, "2025-03-05");
            }
        }
        assert_eq!(listed, expected_groups(&seeded, group_by), "by {group_by}");
        let totals = sums_of(&body["totals"]);
        assert_eq!(
            totals, sum_of_groups,
            "totals are the sum of the groups by {group_by}"
        );
        assert_eq!(totals, seeded_totals, "and what was recorded");
        assert_eq!(body["totals"]["cost"], decimal(totals[5]).as_str());
    }

    let by_day = report(&server, &format!("?from={FROM}&to={TO}"));
    let days: Vec<&str> = by_day["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        days,
        [
            "2025-03-01",
            "2025-03-02",
            "2025-03-03",
            "2025-03-04",
            "2025-03-05"
        ],
        "group_by defaults to day and lists every day"
    );
    let today = report(&server, "?group_by=backend");
    assert_eq!(today["groups"][0]["key"], "openai", "{today}");
    assert_eq!(
        today["totals"]["cost_micros"], 9_000,
        "the last 30 days hold only today's call"
    );
}

#[test]
fn bad_parameters_are_400s_that_name_the_field() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    let cases = [
        ("?from=2025-02-30", "from"),
        ("?to=yesterday", "to"),
        ("?from=2025-03-02&to=2025-03-01", "from"),
        ("?from=2024-01-01&to=2025-01-01", "from"),
        ("?group_by=week", "group_by"),
        ("?group_by=MODEL", "group_by"),
        ("?from=2025-01-01&model=gpt", "model"),
    ];
    for (query, field) in cases {
        let response = server
            .admin(Method::GET, &format!("{ROUTE}{query}"))
            .send()
            .unwrap();
        let problem = assert_problem(response, 400);
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
        assert!(
            problem["errors"][0]["reason"]
                .as_str()
                .is_some_and(|r| !r.is_empty()),
            "{problem}"
        );
    }
    let empty = report(&server, "?group_by=model");
    assert_eq!(empty["groups"], serde_json::json!([]));
    assert_eq!(sums_of(&empty["totals"]), Sums::default());
    assert_eq!(empty["totals"]["cost"], "0.000000");
}

#[test]
fn usage_routes_need_the_admin_key() {
    let server = TestServer::start_with(&["--no-demo"], &[]);
    for route in [ROUTE, ALERTS] {
        assert_problem(server.get(route), 401);
        let wrong = server
            .client
            .get(server.url(route))
            .bearer_auth("shk_not-a-key")
            .send()
            .unwrap();
        assert_problem(wrong, 401);
    }
}

#[test]
fn spend_alerts_are_listed_and_this_months_are_open() {
    let seeded = seed_calls();
    let server = TestServer::start_in(seeded_shop(&seeded), &["--no-demo"], &[]);
    let response = server.admin(Method::GET, ALERTS).send().unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    let this_month = {
        let now = OffsetDateTime::now_utc();
        format!("{:04}-{:02}", now.year(), u8::from(now.month()))
    };
    let open = body["open"].as_array().unwrap();
    assert_eq!(open.len(), 1, "today's 9000 of 10000 is 90%: {body}");
    assert_eq!(open[0]["scope"], "spend_cap");
    assert_eq!(open[0]["period"], this_month.as_str());
    assert_eq!(
        (open[0]["threshold"].as_u64(), open[0]["used"].as_u64()),
        (Some(80), Some(9_000))
    );
    assert_eq!(open[0]["limit"], 10_000);

    let recent: Vec<(&str, u64)> = body["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["period"].as_str().unwrap(),
                a["threshold"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        recent,
        [
            (this_month.as_str(), 80),
            ("2025-03", 100),
            ("2025-03", 80),
            ("2025-02", 100),
            ("2025-02", 80)
        ],
        "each threshold once per month, newest first"
    );
}
