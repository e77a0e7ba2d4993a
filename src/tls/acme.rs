//! A small ACME (RFC 8555) client: account, order, HTTP-01 challenge,
//! finalize, download.
//!
//! Owns the conversation with the certificate authority over HTTPS (ureq with
//! rustls and ring) and the request signing (JWS with ES256, by ring). It
//! keeps no files and serves nothing: the caller stores the account key and
//! the certificate, and the HTTP listener answers challenges from
//! [`Challenges`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// How long one request to the certificate authority may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Polls of an authorization or an order before giving up (a second apart).
const POLL_ATTEMPTS: u32 = 60;
const POLL_PAUSE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("cannot reach the ACME server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the ACME server refused {what} (HTTP {status}): {detail}")]
    Refused {
        what: &'static str,
        status: u16,
        detail: String,
    },
    #[error("unexpected answer from the ACME server to {what}: {reason}")]
    Protocol { what: &'static str, reason: String },
    #[error("the ACME server could not validate {domain}: {detail}")]
    Invalid { domain: String, detail: String },
    #[error("the ACME server was still working on {what} after {POLL_ATTEMPTS} checks")]
    Timeout { what: &'static str },
    #[error("account key: {0}")]
    Key(String),
    #[error("cannot use acme.ca_file: {0}")]
    Roots(String),
}

/// Answers to HTTP-01 challenges in progress (token → key authorization),
/// shared with the plain HTTP listener.
#[derive(Clone, Default)]
pub struct Challenges(Arc<Mutex<HashMap<String, String>>>);

impl Challenges {
    /// The key authorization for `token`, while its challenge is open.
    pub fn answer(&self, token: &str) -> Option<String> {
        self.0.lock().ok()?.get(token).cloned()
    }

    /// Publishes an answer until the returned guard is dropped.
    fn publish(&self, token: &str, key_authorization: String) -> Published {
        if let Ok(mut open) = self.0.lock() {
            open.insert(token.to_string(), key_authorization);
        }
        Published {
            challenges: self.clone(),
            token: token.to_string(),
        }
    }
}

/// Withdraws a published answer when the challenge is over, however it ended.
struct Published {
    challenges: Challenges,
    token: String,
}

impl Drop for Published {
    fn drop(&mut self) {
        if let Ok(mut open) = self.challenges.0.lock() {
            open.remove(&self.token);
        }
    }
}

/// The account's P-256 key, which signs every request.
pub struct AccountKey {
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
}

impl AccountKey {
    pub fn generate() -> Result<AccountKey, AcmeError> {
        let document =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| AcmeError::Key("cannot generate a P-256 key".into()))?;
        AccountKey::from_pkcs8(document.as_ref())
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<AccountKey, AcmeError> {
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
                .map_err(|e| AcmeError::Key(format!("not a PKCS#8 P-256 key: {e}")))?;
        Ok(AccountKey {
            pair,
            pkcs8: der.to_vec(),
        })
    }

    /// The key as PKCS#8 DER, for storing.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key's affine coordinates, base64url (RFC 7518 §6.2.1).
    fn coordinates(&self) -> (String, String) {
        // An uncompressed point: 0x04, then x and y, 32 bytes each.
        let point = self.pair.public_key().as_ref();
        (
            BASE64URL.encode(&point[1..33]),
            BASE64URL.encode(&point[33..65]),
        )
    }

    fn jwk(&self) -> Value {
        let (x, y) = self.coordinates();
        json!({"crv": "P-256", "kty": "EC", "x": x, "y": y})
    }

    /// RFC 7638 thumbprint: the required members in lexicographic order, no spaces.
    fn thumbprint(&self) -> String {
        let (x, y) = self.coordinates();
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        BASE64URL.encode(ring::digest::digest(
            &ring::digest::SHA256,
            canonical.as_bytes(),
        ))
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AcmeError> {
        self.pair
            .sign(&SystemRandom::new(), message)
            .map(|signature| signature.as_ref().to_vec())
            .map_err(|_| AcmeError::Key("signing failed".into()))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Directory {
    new_nonce: String,
    new_account: String,
    new_order: String,
}

#[derive(Deserialize)]
struct Order {
    status: String,
    #[serde(default)]
    authorizations: Vec<String>,
    finalize: String,
    certificate: Option<String>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Authorization {
    status: String,
    #[serde(default)]
    challenges: Vec<Challenge>,
}

#[derive(Deserialize)]
struct Challenge {
    #[serde(rename = "type")]
    kind: String,
    url: String,
    #[serde(default)]
    token: String,
    error: Option<Value>,
}

struct Reply {
    location: Option<String>,
    body: String,
}

/// One session with a certificate authority, signed by one account key.
pub struct Client<'k> {
    agent: ureq::Agent,
    directory: Directory,
    key: &'k AccountKey,
    nonce: Option<String>,
    /// The account URL, once registered; requests are then signed with it.
    account: Option<String>,
}

impl<'k> Client<'k> {
    /// Reads the directory at `url`; `roots_pem` replaces the public roots.
    pub fn connect(
        url: &str,
        roots_pem: Option<&[u8]>,
        key: &'k AccountKey,
    ) -> Result<Client<'k>, AcmeError> {
        let agent = http_agent(roots_pem)?;
        let mut response = agent.get(url).call().map_err(|e| unreachable(url, &e))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| unreachable(url, &e))?;
        if status != 200 {
            return Err(refused("the directory request", status, &body));
        }
        let directory = parse(&body, "the directory request")?;
        Ok(Client {
            agent,
            directory,
            key,
            nonce: None,
            account: None,
        })
    }

    /// Creates the account for this key, or finds the one it already has.
    pub fn register(&mut self, email: Option<&str>) -> Result<(), AcmeError> {
        let mut payload = json!({"termsOfServiceAgreed": true});
        if let Some(email) = email {
            payload["contact"] = json!([format!("mailto:{email}")]);
        }
        let url = self.directory.new_account.clone();
        let reply = self.post(&url, Some(&payload), "the account registration")?;
        self.account = Some(reply.location.ok_or(AcmeError::Protocol {
            what: "the account registration",
            reason: "no account URL (Location header)".into(),
        })?);
        Ok(())
    }

    /// Orders a certificate for `domain` with the CSR given (DER), proving
    /// control over HTTP-01; returns the PEM chain.
    pub fn order_certificate(
        &mut self,
        domain: &str,
        csr_der: &[u8],
        challenges: &Challenges,
    ) -> Result<String, AcmeError> {
        let url = self.directory.new_order.clone();
        let payload = json!({"identifiers": [{"type": "dns", "value": domain}]});
        let reply = self.post(&url, Some(&payload), "the new order")?;
        let order_url = reply.location.ok_or(AcmeError::Protocol {
            what: "the new order",
            reason: "no order URL (Location header)".into(),
        })?;
        let order: Order = parse(&reply.body, "the new order")?;
        for authorization in &order.authorizations {
            self.authorize(authorization, domain, challenges)?;
        }
        let csr = json!({"csr": BASE64URL.encode(csr_der)});
        self.post(&order.finalize, Some(&csr), "the finalization")?;
        let order: Order = self.poll(&order_url, "the order", |o: &Order| {
            o.status != "pending" && o.status != "ready" && o.status != "processing"
        })?;
        match (order.status.as_str(), order.certificate) {
            ("valid", Some(certificate)) => self.download(&certificate),
            (status, _) => Err(AcmeError::Invalid {
                domain: domain.to_string(),
                detail: format!("order {status}: {}", problem_detail(order.error.as_ref())),
            }),
        }
    }

    /// Answers the HTTP-01 challenge of one authorization and waits for its verdict.
    fn authorize(
        &mut self,
        url: &str,
        domain: &str,
        challenges: &Challenges,
    ) -> Result<(), AcmeError> {
        let authorization: Authorization = parse(
            &self.post(url, None, "the authorization")?.body,
            "the authorization",
        )?;
        if authorization.status == "valid" {
            return Ok(());
        }
        let challenge = authorization
            .challenges
            .iter()
            .find(|c| c.kind == "http-01")
            .ok_or(AcmeError::Protocol {
                what: "the authorization",
                reason: "no http-01 challenge offered".into(),
            })?;
        let key_authorization = format!("{}.{}", challenge.token, self.key.thumbprint());
        let _published = challenges.publish(&challenge.token, key_authorization);
        self.post(&challenge.url, Some(&json!({})), "the challenge answer")?;
        let verdict: Authorization = self.poll(url, "the validation", |a: &Authorization| {
            a.status != "pending"
        })?;
        if verdict.status == "valid" {
            return Ok(());
        }
        let error = verdict
            .challenges
            .iter()
            .find(|c| c.kind == "http-01")
            .and_then(|c| c.error.as_ref());
        Err(AcmeError::Invalid {
            domain: domain.to_string(),
            detail: problem_detail(error),
        })
    }

    fn download(&mut self, url: &str) -> Result<String, AcmeError> {
        let chain = self.post(url, None, "the certificate download")?.body;
        if !chain.contains("-----BEGIN CERTIFICATE-----") {
            return Err(AcmeError::Protocol {
                what: "the certificate download",
                reason: "no PEM certificate in the answer".into(),
            });
        }
        Ok(chain)
    }

    /// POST-as-GET `url` until `done` says the object is settled.
    fn poll<T: DeserializeOwned>(
        &mut self,
        url: &str,
        what: &'static str,
        done: impl Fn(&T) -> bool,
    ) -> Result<T, AcmeError> {
        for _ in 0..POLL_ATTEMPTS {
            let object: T = parse(&self.post(url, None, what)?.body, what)?;
            if done(&object) {
                return Ok(object);
            }
            std::thread::sleep(POLL_PAUSE);
        }
        Err(AcmeError::Timeout { what })
    }

    /// A signed POST (`payload` `None` is a POST-as-GET); a rejected nonce is
    /// retried once with the fresh one the refusal carries.
    fn post(
        &mut self,
        url: &str,
        payload: Option<&Value>,
        what: &'static str,
    ) -> Result<Reply, AcmeError> {
        let mut retried = false;
        loop {
            let nonce = self.take_nonce()?;
            let body = self.signed(url, &nonce, payload)?;
            let mut response = self
                .agent
                .post(url)
                .header("Content-Type", "application/jose+json")
                .send(body)
                .map_err(|e| unreachable(url, &e))?;
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            self.nonce = header("Replay-Nonce");
            let location = header("Location");
            let status = response.status().as_u16();
            let text = response
                .body_mut()
                .read_to_string()
                .map_err(|e| unreachable(url, &e))?;
            if status < 400 {
                return Ok(Reply {
                    location,
                    body: text,
                });
            }
            if !retried && text.contains("urn:ietf:params:acme:error:badNonce") {
                retried = true;
                continue;
            }
            return Err(refused(what, status, &text));
        }
    }

    fn take_nonce(&mut self) -> Result<String, AcmeError> {
        if let Some(nonce) = self.nonce.take() {
            return Ok(nonce);
        }
        let url = &self.directory.new_nonce;
        let response = self
            .agent
            .head(url)
            .call()
            .map_err(|e| unreachable(url, &e))?;
        response
            .headers()
            .get("Replay-Nonce")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or(AcmeError::Protocol {
                what: "the nonce request",
                reason: "no Replay-Nonce header".into(),
            })
    }

    /// The flattened JWS (RFC 8555 §6.2): the account URL once there is
    /// one, the public key before.
    fn signed(&self, url: &str, nonce: &str, payload: Option<&Value>) -> Result<String, AcmeError> {
        let mut protected = json!({"alg": "ES256", "nonce": nonce, "url": url});
        match &self.account {
            Some(account) => protected["kid"] = json!(account),
            None => protected["jwk"] = self.key.jwk(),
        }
        let protected = BASE64URL.encode(protected.to_string());
        let payload = payload.map_or(String::new(), |p| BASE64URL.encode(p.to_string()));
        let signature = self.key.sign(format!("{protected}.{payload}").as_bytes())?;
        Ok(json!({
            "protected": protected,
            "payload": payload,
            "signature": BASE64URL.encode(signature),
        })
        .to_string())
    }
}

/// An agent that reads error answers (ACME problem documents) instead of
/// failing on them, trusting `roots_pem` when given.
fn http_agent(roots_pem: Option<&[u8]>) -> Result<ureq::Agent, AcmeError> {
    let mut tls = ureq::tls::TlsConfig::builder().provider(ureq::tls::TlsProvider::Rustls);
    if let Some(pem) = roots_pem {
        let roots = ureq::tls::parse_pem(pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(cert)) => Some(Ok(cert)),
                Ok(_) => None,
                Err(e) => Some(Err(AcmeError::Roots(e.to_string()))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if roots.is_empty() {
            return Err(AcmeError::Roots("no PEM certificate in the file".into()));
        }
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&roots));
    }
    Ok(ureq::Agent::config_builder()
        .timeout_global(Some(REQUEST_TIMEOUT))
        .http_status_as_error(false)
        .user_agent(concat!("shopkeep/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls.build())
        .build()
        .into())
}

fn parse<T: DeserializeOwned>(body: &str, what: &'static str) -> Result<T, AcmeError> {
    serde_json::from_str(body).map_err(|e| AcmeError::Protocol {
        what,
        reason: e.to_string(),
    })
}

fn unreachable(url: &str, error: &ureq::Error) -> AcmeError {
    AcmeError::Unreachable {
        url: url.to_string(),
        reason: error.to_string(),
    }
}

/// A refusal with the problem document's detail (RFC 7807) when there is one.
fn refused(what: &'static str, status: u16, body: &str) -> AcmeError {
    let problem = serde_json::from_str::<Value>(body).ok();
    let detail = match problem.as_ref() {
        Some(problem) => problem_detail(Some(problem)),
        None => body.chars().take(200).collect(),
    };
    AcmeError::Refused {
        what,
        status,
        detail,
    }
}

fn problem_detail(problem: Option<&Value>) -> String {
    let Some(problem) = problem else {
        return "no reason given".into();
    };
    let kind = problem["type"].as_str().unwrap_or_default();
    let detail = problem["detail"].as_str().unwrap_or_default();
    match (kind.rsplit(':').next(), detail) {
        (Some(kind), "") if !kind.is_empty() => kind.to_string(),
        (Some(kind), detail) if !kind.is_empty() => format!("{kind}: {detail}"),
        _ => detail.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_signed_so_the_public_key_verifies_them() {
        let key = AccountKey::generate().unwrap();
        let reloaded = AccountKey::from_pkcs8(key.pkcs8()).unwrap();
        assert_eq!(
            key.thumbprint(),
            reloaded.thumbprint(),
            "the stored key is the same account"
        );
        let signature = key.sign(b"protected.payload").unwrap();
        assert_eq!(signature.len(), 64, "ES256 in JWS is r||s, 32 bytes each");
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            key.pair.public_key().as_ref(),
        );
        assert!(public.verify(b"protected.payload", &signature).is_ok());
        assert!(public.verify(b"protected.tampered", &signature).is_err());
    }

    #[test]
    fn the_thumbprint_is_the_sha256_of_the_canonical_jwk() {
        let key = AccountKey::generate().unwrap();
        let jwk = key.jwk();
        // serde_json orders object members, which is RFC 7638's canonical form.
        let digest = ring::digest::digest(&ring::digest::SHA256, jwk.to_string().as_bytes());
        assert_eq!(key.thumbprint(), BASE64URL.encode(digest));
        assert_eq!(key.thumbprint().len(), 43);
    }

    #[test]
    fn a_challenge_answer_lives_as_long_as_its_guard() {
        let challenges = Challenges::default();
        let guard = challenges.publish("tok", "tok.thumb".into());
        assert_eq!(challenges.answer("tok").as_deref(), Some("tok.thumb"));
        assert_eq!(challenges.answer("other"), None);
        drop(guard);
        assert_eq!(challenges.answer("tok"), None);
    }

    #[test]
    fn problems_read_as_their_kind_and_detail() {
        let body = r#"{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"no IPs"}"#;
        let error = refused("the new order", 400, body).to_string();
        assert!(error.contains("rejectedIdentifier: no IPs"), "{error}");
        assert!(error.contains("HTTP 400"), "{error}");
    }
}
