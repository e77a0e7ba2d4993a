//! A small client for S3-compatible storage (AWS S3, Backblaze B2,
//! Cloudflare R2, MinIO, moto): put an object streamed from a file, list the
//! objects under a prefix, get one into a file, delete one, create a bucket.
//! Requests are signed with [`super::sigv4`].
//!
//! Owns the HTTP exchange with the storage and the reading of its XML
//! answers; what to upload or prune is `super::remote`'s. It must not log or
//! show the secret key: errors carry the status and S3's `<Code>` and
//! `<Message>`, never a request header.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use ureq::http::Response;

use super::sigv4::{self, Credentials, EMPTY_SHA256};
use crate::config::S3Settings;

/// Tries per request: the first and two retries, after a 5xx, a 429 or no answer.
const ATTEMPTS: u32 = 3;
/// Wait before the first retry; doubled for each next one.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a single read or write on the connection may stall: a large
/// upload may take hours, a silent peer must not hold it forever.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest part of an answer's body kept in an error.
const MAX_MESSAGE_CHARS: usize = 300;

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("{what}: the storage answered {status} {code}: {message}")]
    Rejected {
        what: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("{what}: no answer from {endpoint} within {seconds}s")]
    Timeout {
        what: String,
        endpoint: String,
        seconds: u64,
    },
    #[error("{what}: cannot reach {endpoint}: {reason}")]
    Transport {
        what: String,
        endpoint: String,
        reason: String,
    },
    #[error("{what}: the storage's answer is not the XML expected: {reason}")]
    Malformed { what: String, reason: String },
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("{0:?} is not a usable endpoint URL")]
    BadEndpoint(String),
}

impl S3Error {
    /// Whether trying again may help: the storage failed, not the request.
    fn is_transient(&self) -> bool {
        match self {
            S3Error::Rejected { status, .. } => *status >= 500 || *status == 429,
            S3Error::Timeout { .. } | S3Error::Transport { .. } => true,
            _ => false,
        }
    }
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub key: String,
    /// As S3 writes it (ISO 8601 UTC), which sorts by time.
    pub last_modified: String,
    pub size: u64,
}

/// What a request sends as its body.
enum Payload<'a> {
    Empty,
    /// A file, with the hex SHA-256 of its content.
    File(&'a Path, &'a str),
}

impl Payload<'_> {
    fn sha256(&self) -> &str {
        match self {
            Payload::Empty => EMPTY_SHA256,
            Payload::File(_, sha256) => sha256,
        }
    }
}

/// A client for one bucket.
pub struct Client {
    agent: ureq::Agent,
    settings: S3Settings,
    scheme: String,
    /// host[:port] of the endpoint.
    authority: String,
    /// The endpoint's own path, without a trailing slash ("" mostly).
    base_path: String,
    backoff: Duration,
}

impl Client {
    pub fn new(settings: &S3Settings) -> Result<Client, S3Error> {
        let bad = || S3Error::BadEndpoint(settings.endpoint.clone());
        let uri: ureq::http::Uri = settings.endpoint.parse().map_err(|_| bad())?;
        let scheme = uri.scheme_str().ok_or_else(bad)?.to_ascii_lowercase();
        let authority = uri.authority().ok_or_else(bad)?.as_str().to_string();
        let base_path = uri.path().trim_end_matches('/').to_string();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(format!("shopkeep/{}", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_per_read(Some(STALL_TIMEOUT))
            .timeout_per_write(Some(STALL_TIMEOUT))
            .build()
            .into();
        Ok(Client {
            agent,
            settings: settings.clone(),
            scheme,
            authority,
            base_path,
            backoff: FIRST_BACKOFF,
        })
    }

    pub fn settings(&self) -> &S3Settings {
        &self.settings
    }

    /// `s3://bucket/key`, for messages.
    pub fn describe(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.settings.bucket)
    }

    /// Creates the bucket (for tests and first-time setup); one that is
    /// already ours counts as created.
    pub fn create_bucket(&self) -> Result<(), S3Error> {
        let what = format!("creating bucket {}", self.settings.bucket);
        match self.exchange(&what, "PUT", "", &[], &Payload::Empty, read_text) {
            Ok(_) => Ok(()),
            Err(S3Error::Rejected { code, .. }) if code == "BucketAlreadyOwnedByYou" => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Uploads the file at `path` as `key`, streamed from disk, with its SHA-256
    /// signed so the storage refuses a body damaged on the way.
    pub fn put_file(&self, key: &str, path: &Path) -> Result<(), S3Error> {
        let what = format!("uploading {} to {}", path.display(), self.describe(key));
        let sha256 = file_sha256(path).map_err(|source| S3Error::Io {
            what: what.clone(),
            source,
        })?;
        self.exchange(
            &what,
            "PUT",
            key,
            &[],
            &Payload::File(path, &sha256),
            read_text,
        )
        .map(|_| ())
    }

    /// Every object whose key starts with `prefix`, page by page.
    pub fn list(&self, prefix: &str) -> Result<Vec<Object>, S3Error> {
        let what = format!("listing {}", self.describe(prefix));
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("list-type", "2"), ("prefix", prefix)];
            if let Some(token) = &token {
                query.push(("continuation-token", token));
            }
            let xml = self.exchange(&what, "GET", "", &query, &Payload::Empty, read_text)?;
            let page = parse_listing(&xml).map_err(|reason| S3Error::Malformed {
                what: what.clone(),
                reason,
            })?;
            objects.extend(page.objects);
            match page.next_token {
                Some(next) if page.truncated => token = Some(next),
                _ => return Ok(objects),
            }
        }
    }

    /// Downloads `key` into a new file at `dest`; returns its size.
    pub fn get_to_file(&self, key: &str, dest: &Path) -> Result<u64, S3Error> {
        let what = format!("downloading {} to {}", self.describe(key), dest.display());
        let dest: PathBuf = dest.to_path_buf();
        self.exchange(&what, "GET", key, &[], &Payload::Empty, move |response| {
            let mut file = File::create(&dest)?;
            io::copy(&mut response.into_body().into_reader(), &mut file)
        })
    }

    pub fn delete(&self, key: &str) -> Result<(), S3Error> {
        let what = format!("deleting {}", self.describe(key));
        self.exchange(&what, "DELETE", key, &[], &Payload::Empty, read_text)
            .map(|_| ())
    }

    /// Sends one request (retrying transient failures with back-off) and
    /// hands a 2xx answer to `read`.
    fn exchange<T>(
        &self,
        what: &str,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        payload: &Payload,
        read: impl Fn(Response<ureq::Body>) -> io::Result<T>,
    ) -> Result<T, S3Error> {
        let mut wait = self.backoff;
        let mut attempt = 1;
        loop {
            let result = self
                .attempt(what, method, key, query, payload)
                .and_then(|response| read(response).map_err(|source| self.io_error(what, source)));
            match result {
                Err(error) if error.is_transient() && attempt < ATTEMPTS => {
                    tracing::warn!(%error, attempt, "S3 request failed; trying again");
                    std::thread::sleep(wait);
                    wait *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// One signed request; a non-2xx answer becomes `Rejected`.
    fn attempt(
        &self,
        what: &str,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        payload: &Payload,
    ) -> Result<Response<ureq::Body>, S3Error> {
        let (host, path) = self.address(key);
        let query_string = sigv4::canonical_query(query);
        let url = if query_string.is_empty() {
            format!("{}://{host}{path}", self.scheme)
        } else {
            format!("{}://{host}{path}?{query_string}", self.scheme)
        };
        let now = OffsetDateTime::now_utc();
        let date = sigv4::amz_date(now);
        let headers = [
            ("host", host.as_str()),
            ("x-amz-content-sha256", payload.sha256()),
            ("x-amz-date", date.as_str()),
        ];
        let authorization = sigv4::Request {
            method,
            path: &path,
            query,
            headers: &headers,
            payload_sha256: payload.sha256(),
        }
        .authorization(
            &Credentials {
                access_key_id: &self.settings.access_key_id,
                secret_access_key: &self.settings.secret_access_key,
                region: &self.settings.region,
            },
            now,
        );
        // Opened for each attempt: a retry sends the body from its start.
        let body = match payload {
            Payload::File(path, _) => {
                Some(File::open(path).map_err(|source| self.io_error(what, source))?)
            }
            Payload::Empty => None,
        };
        let sent = self
            .send(method, &url, &headers, &authorization, body)
            .map_err(|error| self.transport_error(what, error))?;
        let status = sent.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(sent);
        }
        let mut response = sent;
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .unwrap_or_default();
        Err(rejection(what, status, &body))
    }

    fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        authorization: &str,
        body: Option<File>,
    ) -> Result<Response<ureq::Body>, ureq::Error> {
        fn with_headers<B>(
            mut request: ureq::RequestBuilder<B>,
            headers: &[(&str, &str)],
            authorization: &str,
        ) -> ureq::RequestBuilder<B> {
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            request.header("authorization", authorization)
        }
        match (method, body) {
            ("PUT", Some(file)) => {
                with_headers(self.agent.put(url), headers, authorization).send(file)
            }
            ("PUT", None) => with_headers(self.agent.put(url), headers, authorization).send_empty(),
            ("DELETE", _) => with_headers(self.agent.delete(url), headers, authorization).call(),
            _ => with_headers(self.agent.get(url), headers, authorization).call(),
        }
    }

    /// The Host header and the encoded path of `key` (or of the bucket when
    /// `key` is empty), path-style or virtual-hosted.
    fn address(&self, key: &str) -> (String, String) {
        let bucket = &self.settings.bucket;
        if self.settings.path_style {
            let path = if key.is_empty() {
                format!("{}/{bucket}", self.base_path)
            } else {
                format!("{}/{bucket}/{key}", self.base_path)
            };
            (self.authority.clone(), sigv4::encode_path(&path))
        } else {
            let path = format!("{}/{key}", self.base_path);
            (
                format!("{bucket}.{}", self.authority),
                sigv4::encode_path(&path),
            )
        }
    }

    fn transport_error(&self, what: &str, error: ureq::Error) -> S3Error {
        let timed_out = match &error {
            ureq::Error::Timeout(_) => true,
            ureq::Error::Io(e) => matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            _ => false,
        };
        if timed_out {
            return S3Error::Timeout {
                what: what.to_string(),
                endpoint: self.settings.endpoint.clone(),
                seconds: STALL_TIMEOUT.as_secs(),
            };
        }
        S3Error::Transport {
            what: what.to_string(),
            endpoint: self.settings.endpoint.clone(),
            reason: error.to_string(),
        }
    }

    fn io_error(&self, what: &str, source: io::Error) -> S3Error {
        S3Error::Io {
            what: what.to_string(),
            source,
        }
    }
}

#[cfg(test)]
impl Client {
    fn without_backoff(mut self) -> Client {
        self.backoff = Duration::from_millis(1);
        self
    }
}

fn read_text(mut response: Response<ureq::Body>) -> io::Result<String> {
    response
        .body_mut()
        .read_to_string()
        .map_err(|e| io::Error::other(e.to_string()))
}

/// Hex SHA-256 of a file, read in chunks.
pub fn file_sha256(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..read]);
    }
}

/// A non-2xx answer, with S3's `<Code>` and `<Message>` when the body has them.
fn rejection(what: &str, status: u16, body: &str) -> S3Error {
    let code = element(body, "Code").unwrap_or_else(|| default_code(status).to_string());
    let message = element(body, "Message").unwrap_or_else(|| {
        let text: String = body.trim().chars().take(MAX_MESSAGE_CHARS).collect();
        if text.is_empty() {
            "(no message)".to_string()
        } else {
            text
        }
    });
    S3Error::Rejected {
        what: what.to_string(),
        status,
        code,
        message,
    }
}

fn default_code(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        403 => "AccessDenied",
        404 => "NotFound",
        409 => "Conflict",
        429 => "SlowDown",
        500..=599 => "ServerError",
        _ => "Unexpected",
    }
}

/// One page of a ListObjectsV2 answer.
#[derive(Debug, PartialEq)]
struct Listing {
    objects: Vec<Object>,
    truncated: bool,
    next_token: Option<String>,
}

fn parse_listing(xml: &str) -> Result<Listing, String> {
    if !xml.contains("<ListBucketResult") {
        return Err("no <ListBucketResult> element".into());
    }
    let objects = blocks(xml, "Contents")?
        .into_iter()
        .map(|block| {
            let key = element(block, "Key").ok_or("a <Contents> without <Key>")?;
            let last_modified =
                element(block, "LastModified").ok_or("a <Contents> without <LastModified>")?;
            let size = element(block, "Size")
                .and_then(|s| s.trim().parse().ok())
                .ok_or("a <Contents> without a numeric <Size>")?;
            Ok(Object {
                key,
                last_modified,
                size,
            })
        })
        .collect::<Result<Vec<_>, &str>>()?;
    Ok(Listing {
        objects,
        truncated: element(xml, "IsTruncated").is_some_and(|t| t.trim() == "true"),
        next_token: element(xml, "NextContinuationToken"),
    })
}

/// The raw inner text of every `<tag>…</tag>` in `xml`, in order (S3's
/// elements of one name never nest).
fn blocks<'a>(xml: &'a str, tag: &str) -> Result<Vec<&'a str>, String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let inner = &rest[start + open.len()..];
        let end = inner
            .find(&close)
            .ok_or_else(|| format!("<{tag}> is not closed"))?;
        found.push(&inner[..end]);
        rest = &inner[end + close.len()..];
    }
    Ok(found)
}

/// The text of the first `<tag>` in `xml`, entities decoded.
fn element(xml: &str, tag: &str) -> Option<String> {
    blocks(xml, tag)
        .ok()?
        .first()
        .map(|text| unescape(text.trim()))
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    fn settings(endpoint: &str, path_style: bool) -> S3Settings {
        S3Settings {
            endpoint: endpoint.into(),
            bucket: "shop-backups".into(),
            region: "us-east-1".into(),
            prefix: "shopkeep/".into(),
            access_key_id: "id".into(),
            secret_access_key: Secret::new("secret"),
            path_style,
            keep: 3,
        }
    }

    #[test]
    fn reads_a_listing_page_and_refuses_what_is_not_one() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>
<Prefix>shopkeep/</Prefix><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>
<NextContinuationToken>tok&amp;1</NextContinuationToken>
<Contents><Key>shopkeep/a&amp;b.tar.zst</Key><LastModified>2026-11-23T02:30:01.000Z</LastModified><Size>120</Size></Contents>
<Contents><Key>shopkeep/c.tar.zst</Key><LastModified>2026-11-24T02:30:01.000Z</LastModified><Size>7</Size></Contents>
</ListBucketResult>"#;
        let page = parse_listing(xml).unwrap();
        assert_eq!(page.objects.len(), 2);
        assert_eq!(page.objects[0].key, "shopkeep/a&b.tar.zst");
        assert_eq!(page.objects[1].size, 7);
        assert!(page.truncated);
        assert_eq!(page.next_token.as_deref(), Some("tok&1"));
        assert!(parse_listing("<html>proxy error</html>").is_err());
        assert!(parse_listing("<ListBucketResult><Contents><Key>x</Key>").is_err());
        assert!(
            parse_listing("<ListBucketResult><Contents><Key>x</Key></Contents></ListBucketResult>")
                .is_err(),
            "an object without a date or size"
        );
    }

    #[test]
    fn an_error_answer_says_the_status_code_and_message() {
        let body = "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>";
        let error = rejection("uploading x", 403, body);
        let text = error.to_string();
        assert!(text.contains("403 SignatureDoesNotMatch"), "{text}");
        assert!(text.contains("does not match"), "{text}");
        assert!(!error.is_transient());
        let error = rejection("listing", 503, "");
        assert!(error.to_string().contains("503 ServerError: (no message)"));
        assert!(error.is_transient());
    }

    #[test]
    fn addresses_path_style_and_virtual_hosted() {
        let path = Client::new(&settings("http://127.0.0.1:9000", true)).unwrap();
        assert_eq!(
            path.address("shopkeep/a b.tar.zst"),
            (
                "127.0.0.1:9000".to_string(),
                "/shop-backups/shopkeep/a%20b.tar.zst".to_string()
            )
        );
        assert_eq!(path.address("").1, "/shop-backups");
        let hosted = Client::new(&settings("https://s3.example.com", false)).unwrap();
        assert_eq!(
            hosted.address("k"),
            ("shop-backups.s3.example.com".to_string(), "/k".to_string())
        );
        assert!(Client::new(&settings("not a url", true)).is_err());
    }

    /// A server that answers each connection with the next canned response
    /// and counts the requests.
    fn canned(responses: Vec<&'static str>) -> (String, std::thread::JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut served = 0;
            for response in responses {
                let (mut stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                    line.clear();
                }
                stream.write_all(response.as_bytes()).unwrap();
                served += 1;
            }
            served
        });
        (url, handle)
    }

    #[test]
    fn retries_a_server_error_then_reports_the_last_answer() {
        let unavailable =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let (url, server) = canned(vec![unavailable; ATTEMPTS as usize]);
        let client = Client::new(&settings(&url, true))
            .unwrap()
            .without_backoff();
        let error = client.delete("shopkeep/x.tar.zst").unwrap_err();
        assert!(
            matches!(error, S3Error::Rejected { status: 503, .. }),
            "{error}"
        );
        assert_eq!(server.join().unwrap(), ATTEMPTS as usize);
    }

    #[test]
    fn a_malformed_listing_is_a_clear_error_not_a_panic() {
        let html =
            "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\n<html></html>";
        let (url, server) = canned(vec![html]);
        let client = Client::new(&settings(&url, true)).unwrap();
        let error = client.list("shopkeep/").unwrap_err();
        assert!(matches!(error, S3Error::Malformed { .. }), "{error}");
        assert_eq!(
            server.join().unwrap(),
            1,
            "a malformed answer is not retried"
        );
    }
}
