//! Sustained load on the free tier: 500 shoppers chatting at once over
//! server-sent events while search is offered at 2,000 requests/s, for
//! `SHOPKEEP_LOAD_SECONDS` (60 unless set). Every request must succeed, every
//! stream must end with `done`, and the server's resident memory must stop
//! growing: the last third of the run may not rise above the middle third's
//! peak by more than a small margin. The figures (rates, latencies, memory
//! over time) are printed for docs/RELIABILITY.md; speed itself is never
//! asserted here.

mod common;

use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::TestServer;

const CHAT_STREAMS: usize = 500;
const SEARCH_RATE: u64 = 2_000;
const SEARCH_WORKERS: u64 = 64;

/// What shoppers type into the search box, typos included.
const QUERIES: &[&str] = &[
    "bread",
    "sourdough",
    "choclate",
    "coffee beans",
    "gluten free",
    "vegan cookies",
    "oat milk",
    "tea",
    "honey",
    "pasta",
    "olive oil",
    "cheese",
    "breakfast",
    "snack under 5",
    "organic",
    "croissant",
];

/// What shoppers say to the assistant; every line is a whole free-tier turn.
const MESSAGES: &[&str] = &[
    "hello",
    "do you have sourdough bread?",
    "something for breakfast under $10",
    "add one to my cart",
    "what is in my cart?",
    "what is your return policy?",
    "show me vegan snacks",
    "remove it from my cart",
];

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
    first_failures: Mutex<Vec<String>>,
}

impl Tally {
    fn record(&self, started: Instant, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                let micros = started.elapsed().as_micros() as u64;
                self.latencies_us.lock().unwrap().push(micros);
            }
            Err(reason) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut failures = self.first_failures.lock().unwrap();
                if failures.len() < 10 {
                    failures.push(reason);
                }
            }
        }
    }

    fn percentile_ms(&self, fraction: f64) -> f64 {
        let mut all = self.latencies_us.lock().unwrap().clone();
        if all.is_empty() {
            return 0.0;
        }
        all.sort_unstable();
        let index = ((all.len() - 1) as f64 * fraction).round() as usize;
        all[index] as f64 / 1000.0
    }

    fn summary(&self, name: &str, seconds: f64) -> String {
        let ok = self.ok.load(Ordering::Relaxed);
        format!(
            "{name}: {ok} ok, {} failed, {:.0}/s, p50 {:.1} ms, p99 {:.1} ms",
            self.failed.load(Ordering::Relaxed),
            ok as f64 / seconds,
            self.percentile_ms(0.5),
            self.percentile_ms(0.99),
        )
    }
}

/// A guest session token, so load does not mint a session per request.
fn new_session(server: &TestServer) -> String {
    let response = server.get("/api/v1/cart");
    assert_eq!(response.status(), 200);
    response.headers()["x-session-id"]
        .to_str()
        .unwrap()
        .to_string()
}

/// One chat turn as a stream, in the shopper's conversation (started by the
/// first turn): succeeds when the stream ends with `done`.
fn chat_turn(
    client: &reqwest::blocking::Client,
    url: &str,
    session: &str,
    conversation: &mut Option<String>,
    message: &str,
) -> Result<(), String> {
    let response = client
        .post(url)
        .header("x-session-id", session)
        .header("accept", "text/event-stream")
        .json(&serde_json::json!({
            "message": message,
            "stream": true,
            "conversation_id": conversation,
        }))
        .send()
        .map_err(|e| format!("chat: {e}"))?;
    let status = response.status();
    if status != 200 {
        return Err(format!(
            "chat: HTTP {status}: {}",
            response.text().unwrap_or_default()
        ));
    }
    let mut events = Vec::new();
    for line in BufReader::new(response).lines() {
        let line = line.map_err(|e| format!("chat stream: {e}"))?;
        if let Some(name) = line.strip_prefix("event: ") {
            events.push(name.to_string());
        } else if let Some(data) = line.strip_prefix("data: ")
            && events.last().is_some_and(|e| e == "conversation")
        {
            let started: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
            *conversation = started["conversation_id"].as_str().map(str::to_string);
        }
    }
    match events.last().map(String::as_str) {
        Some("done") if !events.iter().any(|e| e == "error") => Ok(()),
        _ => Err(format!("chat stream ended with {events:?}")),
    }
}

fn search_once(client: &reqwest::blocking::Client, url: &str, session: &str) -> Result<(), String> {
    let response = client
        .get(url)
        .header("x-session-id", session)
        .send()
        .map_err(|e| format!("search: {e}"))?;
    let status = response.status();
    let body: serde_json::Value = response.json().map_err(|e| format!("search body: {e}"))?;
    if status != 200 || !body["hits"].is_array() {
        return Err(format!("search: HTTP {status}: {body}"));
    }
    Ok(())
}

/// Resident memory of a process in KiB, from /proc.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn five_hundred_chat_streams_and_search_at_two_thousand_per_second_without_errors_or_growth() {
    let server = TestServer::start_with(
        &["--tier", "free"],
        &[
            // One line per request would be 100k lines: keep warnings only.
            ("SHOPKEEP_LOG_LEVEL", "info,shopkeep::web::observe=warn"),
            // Every shopper here shares one address; the limit is per address.
            ("SHOPKEEP_LIMITS_CHAT_PER_MINUTE", "0"),
        ],
    );
    server.wait_for_search();
    let seconds = env_or("SHOPKEEP_LOAD_SECONDS", 60);
    let run_for = Duration::from_secs(seconds);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(CHAT_STREAMS + SEARCH_WORKERS as usize)
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let chats = Arc::new(Tally::default());
    let searches = Arc::new(Tally::default());
    let streams = env_or("SHOPKEEP_LOAD_STREAMS", CHAT_STREAMS as u64) as usize;
    let sessions: Vec<String> = (0..streams + SEARCH_WORKERS as usize)
        .map(|_| new_session(&server))
        .collect();
    let (chat_sessions, search_sessions) = sessions.split_at(streams);
    let started = Instant::now();
    let mut workers = Vec::new();

    for (n, session) in chat_sessions.iter().cloned().enumerate() {
        let (client, url, stop, chats) = (
            client.clone(),
            server.url("/api/v1/chat"),
            stop.clone(),
            chats.clone(),
        );
        workers.push(
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut turn = n;
                    let mut conversation = None;
                    while !stop.load(Ordering::Relaxed) {
                        let message = MESSAGES[turn % MESSAGES.len()];
                        let begun = Instant::now();
                        let outcome =
                            chat_turn(&client, &url, &session, &mut conversation, message);
                        chats.record(begun, outcome);
                        turn += 1;
                    }
                })
                .unwrap(),
        );
    }

    // Open loop: each worker owns every SEARCH_WORKERS-th slot of the
    // schedule, so a slow answer delays its own next request only.
    let rate = env_or("SHOPKEEP_LOAD_SEARCH_RATE", SEARCH_RATE);
    let interval = Duration::from_secs(1) * SEARCH_WORKERS as u32 / rate as u32;
    for (w, session) in search_sessions.iter().cloned().enumerate() {
        let w = w as u64;
        let (client, base, stop, searches) = (
            client.clone(),
            server.url("/api/v1/search?q="),
            stop.clone(),
            searches.clone(),
        );
        workers.push(thread::spawn(move || {
            let offset = interval * w as u32 / SEARCH_WORKERS as u32;
            let mut due = Instant::now() + offset;
            let mut n = w as usize;
            while !stop.load(Ordering::Relaxed) {
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    thread::sleep(wait);
                }
                let url = format!("{base}{}", QUERIES[n % QUERIES.len()]);
                let begun = Instant::now();
                searches.record(begun, search_once(&client, &url, &session));
                due += interval;
                n += 1;
            }
        }));
    }

    let mut memory = Vec::new();
    while started.elapsed() < run_for {
        thread::sleep(Duration::from_secs(1));
        memory.push(resident_kib(server.pid()));
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();

    println!("load for {seconds} s on the free tier:");
    println!("  {}", chats.summary("chat turns (streams)", elapsed));
    println!("  {}", searches.summary("searches", elapsed));
    let thirds = memory.len() / 3;
    let peak = |part: &[u64]| part.iter().copied().max().unwrap_or(0);
    let (early, middle, late) = (
        peak(&memory[..thirds]),
        peak(&memory[thirds..2 * thirds]),
        peak(&memory[2 * thirds..]),
    );
    println!(
        "  resident memory peak by third: {} / {} / {} MiB (samples each second: {:?})",
        early / 1024,
        middle / 1024,
        late / 1024,
        memory.iter().map(|k| k / 1024).collect::<Vec<_>>()
    );

    for (name, tally) in [("chat", &chats), ("search", &searches)] {
        assert_eq!(
            tally.failed.load(Ordering::Relaxed),
            0,
            "{name} failures: {:?}",
            tally.first_failures.lock().unwrap()
        );
        assert!(
            tally.ok.load(Ordering::Relaxed) > 0,
            "no {name} request finished"
        );
    }
    assert!(memory.len() >= 6, "too few memory samples: {memory:?}");
    // A plateau: once warm, the last third does not climb past the middle
    // third's peak by more than 10% (plus 16 MiB for allocator slack).
    assert!(
        late <= middle + middle / 10 + 16 * 1024,
        "memory kept growing: {early} → {middle} → {late} KiB"
    );
    let ready: serde_json::Value = server.get_json("/readyz");
    assert_eq!(ready["ready"], true, "not ready after the load: {ready}");
}
