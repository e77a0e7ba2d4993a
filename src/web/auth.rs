//! The `Admin` extractor: a handler that takes it runs only with a valid admin key.
//!
//! Reads `Authorization: Bearer <key>` and checks it with `crate::access` off the
//! async executor (argon2id is deliberately slow). Missing or wrong → 401 problem.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::AppState;
use super::problem::Problem;
use crate::access::AccessError;

/// Proof that the request carried a live admin key; holds the key's id.
#[derive(Debug, Clone, Copy)]
pub struct Admin {
    pub key_id: i64,
}

impl FromRequest for Admin {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Admin, Problem>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| Problem::unavailable("server state missing", 1))?;
            let token = token.ok_or_else(|| {
                unauthorized("this route needs an admin key: send `Authorization: Bearer <key>`")
            })?;
            let verified = web::block(move || state.access.verify(&state.store, &token)).await?;
            match verified {
                Ok(key_id) => Ok(Admin { key_id }),
                Err(AccessError::Denied) => Err(unauthorized(
                    "the admin key is not valid (unknown, revoked or mistyped)",
                )),
                Err(other) => {
                    tracing::error!(error = %other, "admin key check failed");
                    Err(Problem::unavailable(
                        "could not check the admin key right now",
                        1,
                    ))
                }
            }
        })
    }
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(actix_web::http::StatusCode::UNAUTHORIZED, detail)
}
