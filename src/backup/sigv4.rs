//! AWS Signature Version 4 for S3 requests: the canonical request, the
//! string to sign, the derived signing key and the `Authorization` header.
//!
//! Owns only the arithmetic of signing; it sends nothing and knows no
//! bucket. The caller passes every header it will send that must be signed
//! (at least `host`, `x-amz-date` and `x-amz-content-sha256`).

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::config::Secret;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SERVICE: &str = "s3";

/// SHA-256 of an empty body, the payload hash of GET, LIST and DELETE.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Who signs, and for which region.
pub struct Credentials<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a Secret,
    pub region: &'a str,
}

/// The parts of a request the signature covers.
pub struct Request<'a> {
    pub method: &'a str,
    /// The path as sent, already URI-encoded (see [`encode_path`]).
    pub path: &'a str,
    /// Query parameters, not yet encoded.
    pub query: &'a [(&'a str, &'a str)],
    /// Headers to sign: names in any case, values as sent.
    pub headers: &'a [(&'a str, &'a str)],
    /// Hex SHA-256 of the body (the `x-amz-content-sha256` value).
    pub payload_sha256: &'a str,
}

/// `20130524T000000Z`: the `x-amz-date` form of `at` (UTC).
pub fn amz_date(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Percent-encodes every byte but the unreserved ones (A-Z a-z 0-9 - _ . ~),
/// and '/' too unless `keep_slash`, as SigV4 wants.
pub fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let unreserved = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~');
        if unreserved || (keep_slash && byte == b'/') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// An object path (`/bucket/key`) encoded once, slashes kept: S3 signs the
/// path exactly as sent, without the double encoding other services use.
pub fn encode_path(path: &str) -> String {
    uri_encode(path, true)
}

/// The query string as sent and as signed: sorted by name, each part encoded.
pub fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

impl Request<'_> {
    /// Lowercase names sorted, with trimmed values; and the names joined by ';'.
    fn canonical_headers(&self) -> (String, String) {
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let folded = value.split_whitespace().collect::<Vec<_>>().join(" ");
                (name.to_ascii_lowercase(), folded)
            })
            .collect();
        headers.sort();
        let lines: String = headers
            .iter()
            .map(|(name, value)| format!("{name}:{value}\n"))
            .collect();
        let names = headers
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>()
            .join(";");
        (lines, names)
    }

    fn canonical_request(&self) -> (String, String) {
        let (headers, signed) = self.canonical_headers();
        let request = format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            self.method,
            self.path,
            canonical_query(self.query),
            headers,
            signed,
            self.payload_sha256
        );
        (request, signed)
    }

    /// The `Authorization` header value for this request signed at `at`
    /// (which must be the `x-amz-date` header's moment).
    pub fn authorization(&self, credentials: &Credentials, at: OffsetDateTime) -> String {
        let stamp = amz_date(at);
        let day = &stamp[..8];
        let scope = format!("{day}/{}/{SERVICE}/aws4_request", credentials.region);
        let (request, signed_headers) = self.canonical_request();
        let string_to_sign = format!(
            "{ALGORITHM}\n{stamp}\n{scope}\n{}",
            hex::encode(Sha256::digest(request.as_bytes()))
        );
        let key = signing_key(credentials, day);
        let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
        format!(
            "{ALGORITHM} Credential={}/{scope},SignedHeaders={signed_headers},Signature={signature}",
            credentials.access_key_id
        )
    }
}

/// HMAC chain: secret → day → region → service → "aws4_request".
fn signing_key(credentials: &Credentials, day: &str) -> Vec<u8> {
    let secret = format!("AWS4{}", credentials.secret_access_key.expose());
    let mut key = hmac(secret.as_bytes(), day.as_bytes());
    for part in [credentials.region, SERVICE, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    key
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    ring::hmac::sign(&key, data).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::format_description::well_known::Rfc3339;

    /// The credentials of AWS's published SigV4 examples for S3.
    fn example_secret() -> Secret {
        Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    }

    fn example_time() -> OffsetDateTime {
        OffsetDateTime::parse("2013-05-24T00:00:00Z", &Rfc3339).unwrap()
    }

    #[test]
    fn signs_the_get_object_example_of_the_s3_documentation() {
        let secret = example_secret();
        let credentials = Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE",
            secret_access_key: &secret,
            region: "us-east-1",
        };
        let at = example_time();
        let date = amz_date(at);
        assert_eq!(date, "20130524T000000Z");
        let request = Request {
            method: "GET",
            path: &encode_path("/test.txt"),
            query: &[],
            headers: &[
                ("Host", "examplebucket.s3.amazonaws.com"),
                ("Range", "bytes=0-9"),
                ("x-amz-content-sha256", EMPTY_SHA256),
                ("x-amz-date", &date),
            ],
            payload_sha256: EMPTY_SHA256,
        };
        let (canonical, signed) = request.canonical_request();
        assert_eq!(signed, "host;range;x-amz-content-sha256;x-amz-date");
        // The documented hash of the canonical request (its string to sign's last line).
        assert_eq!(
            hex::encode(Sha256::digest(canonical.as_bytes())),
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
        );
        assert_eq!(
            request.authorization(&credentials, at),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn a_different_secret_or_day_gives_a_different_signature() {
        let at = example_time();
        let date = amz_date(at);
        let headers = [("host", "h"), ("x-amz-date", date.as_str())];
        let request = Request {
            method: "GET",
            path: "/",
            query: &[("list-type", "2")],
            headers: &headers,
            payload_sha256: EMPTY_SHA256,
        };
        let sign = |secret: &str, at: OffsetDateTime| {
            let secret = Secret::new(secret);
            request.authorization(
                &Credentials {
                    access_key_id: "id",
                    secret_access_key: &secret,
                    region: "us-east-1",
                },
                at,
            )
        };
        assert_ne!(sign("a", at), sign("b", at));
        assert_ne!(sign("a", at), sign("a", at + time::Duration::DAY));
    }

    #[test]
    fn encodes_paths_and_queries_as_sigv4_wants() {
        assert_eq!(
            encode_path("/bucket/shop keep/a+b~c.tar.zst"),
            "/bucket/shop%20keep/a%2Bb~c.tar.zst"
        );
        assert_eq!(
            canonical_query(&[("prefix", "shopkeep/"), ("list-type", "2")]),
            "list-type=2&prefix=shopkeep%2F"
        );
        assert_eq!(canonical_query(&[]), "");
    }
}
