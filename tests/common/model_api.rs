//! A model API on a random port for tests: it speaks the OpenAI
//! chat-completions and Gemini generateContent wire formats as scripted,
//! including their failures (slow, 429, 500, garbage, cut off).

use std::collections::HashMap;
use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use shopkeep::config::Secret;
use shopkeep::llm::remote::{Gemini, OpenAiCompatible};

/// The API key the mock expects and tests configure.
pub const KEY: &str = "sk-test-4f9d2c81";

/// One request as the mock API saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub request_line: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: Value,
}

/// What the mock API answers to one request.
#[derive(Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    /// Wait before anything is sent.
    pub delay: Duration,
    /// Wait between the head and the body.
    pub body_delay: Duration,
    /// Send only this many body bytes (Content-Length still says all), then close.
    pub cut_at: Option<usize>,
}

impl Answer {
    pub fn json(status: u16, body: Value) -> Answer {
        Answer::raw(status, &body.to_string())
    }

    pub fn raw(status: u16, body: &str) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: body.to_string(),
            delay: Duration::ZERO,
            body_delay: Duration::ZERO,
            cut_at: None,
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Answer {
        self.headers.push((name, value.to_string()));
        self
    }
}

/// A model API on a random port; `answer(n, request)` scripts its n-th reply (0-based).
pub struct MockApi {
    pub base: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl MockApi {
    pub fn start(answer: impl Fn(usize, &Received) -> Answer + Send + Sync + 'static) -> MockApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (log, answer) = (Arc::clone(&log), Arc::clone(&answer));
                // One thread per connection: a slow answer must not hold up the next request.
                std::thread::spawn(move || serve(stream, &log, answer.as_ref()));
            }
        });
        MockApi { base, received }
    }

    /// Answers every request the same way.
    pub fn always(answer: Answer) -> MockApi {
        MockApi::start(move |_, _| answer.clone())
    }

    pub fn hits(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    pub fn request(&self, n: usize) -> Received {
        self.received.lock().unwrap()[n].clone()
    }

    pub fn openai(&self) -> OpenAiCompatible {
        OpenAiCompatible::new(&format!("{}/v1", self.base), Secret::new(KEY))
    }

    pub fn gemini(&self) -> Gemini {
        Gemini::new(&self.base, Secret::new(KEY))
    }
}

pub fn serve(
    stream: TcpStream,
    log: &Mutex<Vec<Received>>,
    answer: &(dyn Fn(usize, &Received) -> Answer + Send + Sync),
) {
    let Some(request) = read_request(&stream) else {
        return;
    };
    let n = {
        let mut log = log.lock().unwrap();
        log.push(request.clone());
        log.len() - 1
    };
    // The client may have given up already; a failed write is expected then.
    let _ = write_answer(stream, &answer(n, &request));
}

pub fn read_request(stream: &TcpStream) -> Option<Received> {
    let raw = super::http::read_request(stream)?;
    Some(Received {
        request_line: raw.request_line,
        headers: raw.headers,
        body: serde_json::from_slice(&raw.body).ok()?,
    })
}

pub fn write_answer(mut stream: TcpStream, answer: &Answer) -> std::io::Result<()> {
    std::thread::sleep(answer.delay);
    let mut head = format!(
        "HTTP/1.1 {} Scripted\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        answer.status,
        answer.body.len()
    );
    for (name, value) in &answer.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.flush()?;
    std::thread::sleep(answer.body_delay);
    let body = &answer.body.as_bytes()[..answer.cut_at.unwrap_or(answer.body.len())];
    stream.write_all(body)?;
    stream.flush()?;
    stream.shutdown(Shutdown::Both)
}

pub fn openai_text(text: &str) -> Value {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 40, "total_tokens": 1240,
                  "prompt_tokens_details": {"cached_tokens": 1024}},
    })
}

pub fn gemini_text(text: &str) -> Value {
    json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 900, "candidatesTokenCount": 25,
                          "cachedContentTokenCount": 512, "totalTokenCount": 925},
        "modelVersion": "gemini-2.5-flash",
    })
}
