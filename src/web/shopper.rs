//! The `CurrentShopper` extractor: who is shopping, from the session cookie
//! (`shopkeep_session`) or the `X-Session-Id` header.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload};

use super::problem::Problem;
use crate::commerce::Shopper;

/// The shopper behind a request; a guest without a session gets a new one.
#[derive(Debug, Clone, Copy)]
pub struct CurrentShopper(pub Shopper);

impl FromRequest for CurrentShopper {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<CurrentShopper, Problem>>>>;

    fn from_request(_req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(async move { Err(Problem::unavailable("sessions are being written", 1)) })
    }
}
