//! Payment: the `PaymentProvider` trait and the built-in manual provider
//! ("pay on delivery / by arrangement").
//!
//! A provider is asked to start payment for an order the checkout is placing.
//! It answers whether the order is already paid or waits for payment. The manual
//! provider takes no money: the order waits until the shop marks it paid. A card
//! provider would answer "awaiting payment" with its own reference and confirm
//! later through the admin status API (or its own webhook handler), so no
//! network call has to happen while the checkout holds the database.

/// What the checkout tells a provider about the order being placed.
#[derive(Debug, Clone)]
pub struct PaymentRequest<'a> {
    pub total_minor: i64,
    pub currency: &'a str,
    pub email: &'a str,
}

/// What the provider did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// Nothing charged yet: the order starts as pending.
    Awaiting { reference: Option<String> },
    /// Charged: the order starts as paid.
    Paid { reference: String },
}

#[derive(Debug, thiserror::Error)]
#[error("the payment could not be started: {0}")]
pub struct PaymentError(pub String);

/// A way to pay that the shop offers.
pub trait PaymentProvider: Send + Sync {
    /// The `payment_method` a checkout names to choose this provider.
    fn id(&self) -> &'static str;
    /// What a shopper is told about it.
    fn description(&self) -> &'static str;
    fn start(&self, request: &PaymentRequest) -> Result<PaymentOutcome, PaymentError>;
}

/// Pay on delivery, at pick-up or by bank transfer: the shop records the payment.
#[derive(Debug, Default)]
pub struct ManualPayment;

impl PaymentProvider for ManualPayment {
    fn id(&self) -> &'static str {
        "manual"
    }

    fn description(&self) -> &'static str {
        "Pay on delivery or pick-up; the shop confirms the payment"
    }

    fn start(&self, _request: &PaymentRequest) -> Result<PaymentOutcome, PaymentError> {
        Ok(PaymentOutcome::Awaiting { reference: None })
    }
}

/// The providers this shop offers, found by id.
pub struct Payments {
    providers: Vec<Box<dyn PaymentProvider>>,
}

impl Default for Payments {
    fn default() -> Self {
        Payments {
            providers: vec![Box::new(ManualPayment)],
        }
    }
}

impl Payments {
    pub fn get(&self, id: &str) -> Option<&dyn PaymentProvider> {
        self.providers
            .iter()
            .find(|p| p.id() == id)
            .map(|p| p.as_ref())
    }

    pub fn ids(&self) -> Vec<&'static str> {
        self.providers.iter().map(|p| p.id()).collect()
    }
}
