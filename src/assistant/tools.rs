//! The assistant's tools: what it can do in the shop on the shopper's behalf.
//!
//! Every tool acts for exactly one shopper (the one the `Toolbox` was made
//! for): their cart, their orders, never anyone else's. Results are compact —
//! id, name, price, in stock — because they may be fed to a model. Both
//! drivers use them: the rules driver calls the typed methods, model drivers
//! go through [`Toolbox::call`] with JSON arguments checked here.
//!
//! Owns no state of its own: the cart and orders are `commerce`'s, products
//! and search `store`'s and `search`'s. Checkout is not here: it needs a
//! confirmation turn, which only the engine can see (see `checkout`).

use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::faq;
use crate::catalog::{Currency, dietary};
use crate::commerce::cart::{self, CartError, CartView, NewLine};
use crate::commerce::order::{self, OrderView};
use crate::commerce::payment::Payments;
use crate::commerce::recommend;
use crate::commerce::{Shopper, profile};
use crate::config::CommerceSettings;
use crate::llm::template::{FunctionSpec, ToolSpec};
use crate::search::{SearchRequest, SearchService};
use crate::store::products::{self, Product};
use crate::store::{Store, StoreError};

/// Most products one search shows the shopper.
pub const RESULTS_SHOWN: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// Something the shopper should be told in plain words (out of stock,
    /// no such product, a voucher that does not apply).
    #[error("{0}")]
    Refused(String),
    /// A model asked for a tool or argument that does not exist.
    #[error("bad tool call: {0}")]
    BadCall(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("search failed: {0}")]
    Search(String),
}

/// A product as the assistant shows it: compact, safe to hand to a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductCard {
    pub id: i64,
    pub handle: String,
    pub name: String,
    pub brand: Option<String>,
    /// Decimal in major units.
    pub price: String,
    pub price_minor: i64,
    pub in_stock: bool,
}

/// What `product_details` tells: the card plus what a shopper asks about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductFacts {
    #[serde(flatten)]
    pub card: ProductCard,
    pub category: String,
    pub dietary: Vec<String>,
    pub description: String,
    pub attributes: Vec<(String, String)>,
    pub stock: Option<i64>,
}

/// What the shopper asked a search for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchAsk {
    pub text: String,
    pub max_price_minor: Option<u64>,
    pub min_price_minor: Option<u64>,
    pub dietary: Vec<String>,
}

/// An order as the assistant reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderFacts {
    pub number: String,
    pub status: String,
    pub total: String,
    pub items: i64,
    pub placed_at: String,
    pub last_change: String,
}

/// The shop context every tool call runs in.
#[derive(Clone, Copy)]
pub struct Shop<'a> {
    pub store: &'a Store,
    pub search: &'a SearchService,
    pub settings: &'a CommerceSettings,
    pub currency: &'a Currency,
    pub payments: &'a Payments,
}

/// The tools, bound to one shopper.
pub struct Toolbox<'a> {
    pub shop: Shop<'a>,
    pub shopper: Shopper,
}

impl Toolbox<'_> {
    pub fn money(&self, minor: i64) -> String {
        cart::show(self.shop.currency, minor)
    }

    fn card(&self, product: &Product) -> ProductCard {
        let draft = &product.draft;
        ProductCard {
            id: product.id,
            handle: draft.handle().to_string(),
            name: draft.name().to_string(),
            brand: draft.brand().map(str::to_string),
            price: self.money(draft.price().minor()),
            price_minor: draft.price().minor(),
            in_stock: draft.in_stock(),
        }
    }

    /// Hybrid search with the shopper's learned preferences as boosts.
    pub fn search_products(&self, ask: &SearchAsk) -> Result<Vec<ProductCard>, ToolError> {
        let mut request = SearchRequest::new(&ask.text);
        request.limit = RESULTS_SHOWN;
        request.facets = false;
        request.filters.max_price = ask.max_price_minor;
        request.filters.min_price = ask.min_price_minor;
        request.filters.dietary = ask.dietary.clone();
        if let Some(customer_id) = self.shopper.customer_id {
            request.affinities =
                profile::search_affinities(self.shop.store, customer_id, OffsetDateTime::now_utc());
        }
        let results = self
            .shop
            .search
            .search(&request)
            .map_err(|e| ToolError::Search(e.to_string()))?;
        Ok(results
            .hits
            .into_iter()
            .map(|hit| ProductCard {
                id: hit.id,
                handle: hit.handle,
                name: hit.name,
                brand: hit.brand,
                price: self.money(hit.price_minor as i64),
                price_minor: hit.price_minor as i64,
                in_stock: hit.in_stock,
            })
            .collect())
    }

    fn product(&self, product_id: i64) -> Result<Product, ToolError> {
        self.shop
            .store
            .read(|c| products::get(c, product_id))?
            .filter(|p| p.draft.active())
            .ok_or_else(|| ToolError::Refused(format!("there is no product {product_id}")))
    }

    pub fn product_details(&self, product_id: i64) -> Result<ProductFacts, ToolError> {
        let product = self.product(product_id)?;
        let draft = &product.draft;
        Ok(ProductFacts {
            card: self.card(&product),
            category: draft.category().to_string(),
            dietary: draft.dietary().to_vec(),
            description: draft.description().to_string(),
            attributes: draft
                .attributes()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            stock: draft.stock(),
        })
    }

    pub fn view_cart(&self) -> Result<CartView, ToolError> {
        self.cart_result(cart::view(
            self.shop.store,
            self.shopper,
            self.shop.settings,
            self.shop.currency,
        ))
    }

    fn cart_result(&self, result: Result<CartView, CartError>) -> Result<CartView, ToolError> {
        result.map_err(|error| match error {
            CartError::Store(e) => ToolError::Store(e),
            CartError::Invalid(errors) => ToolError::Refused(
                errors
                    .iter()
                    .map(|e| e.reason.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            other => ToolError::Refused(other.to_string()),
        })
    }

    pub fn add_to_cart(&self, product_id: i64, quantity: i64) -> Result<CartView, ToolError> {
        let line = NewLine {
            product_id,
            variant_id: self.default_variant(product_id)?,
            quantity,
        };
        self.cart_result(cart::add(
            self.shop.store,
            self.shopper,
            line,
            self.shop.settings,
            self.shop.currency,
        ))
    }

    /// A product with several variants gets its first in stock: the assistant
    /// names it, and the shopper can change it on the product page.
    fn default_variant(&self, product_id: i64) -> Result<Option<i64>, ToolError> {
        let product = self.product(product_id)?;
        let variants = product.draft.variants();
        if variants.len() < 2 {
            return Ok(None);
        }
        let index = variants.iter().position(|v| v.in_stock()).unwrap_or(0);
        Ok(product.variant_ids.get(index).copied())
    }

    /// The cart line of a product, by product id.
    fn line_of(&self, view: &CartView, product_id: i64) -> Result<i64, ToolError> {
        view.lines
            .iter()
            .find(|l| l.offer.product_id == product_id)
            .map(|l| l.item_id)
            .ok_or_else(|| ToolError::Refused("that product is not in your cart".into()))
    }

    pub fn update_cart(&self, product_id: i64, quantity: i64) -> Result<CartView, ToolError> {
        if quantity == 0 {
            return self.remove_from_cart(product_id);
        }
        let item = self.line_of(&self.view_cart()?, product_id)?;
        self.cart_result(cart::set_quantity(
            self.shop.store,
            self.shopper,
            item,
            quantity,
            self.shop.settings,
            self.shop.currency,
        ))
    }

    pub fn remove_from_cart(&self, product_id: i64) -> Result<CartView, ToolError> {
        let item = self.line_of(&self.view_cart()?, product_id)?;
        self.cart_result(cart::remove(
            self.shop.store,
            self.shopper,
            item,
            self.shop.settings,
            self.shop.currency,
        ))
    }

    pub fn apply_voucher(&self, code: &str) -> Result<CartView, ToolError> {
        self.cart_result(cart::apply_voucher(
            self.shop.store,
            self.shopper,
            code,
            self.shop.settings,
            self.shop.currency,
        ))
    }

    /// The shopper's order with this number, or their latest.
    pub fn order_status(&self, number: Option<&str>) -> Result<Option<OrderFacts>, ToolError> {
        let found = match number {
            Some(key) => order::find_for_shopper(self.shop.store, self.shopper, key)?,
            None => order::list_for_shopper(self.shop.store, self.shopper, 1)?
                .into_iter()
                .next(),
        };
        Ok(found.map(|view| self.order_facts(&view)))
    }

    fn order_facts(&self, view: &OrderView) -> OrderFacts {
        let o = &view.order;
        OrderFacts {
            number: o.number.clone(),
            status: o.status.as_str().to_string(),
            total: self.money(o.total_minor),
            items: view.lines.iter().map(|l| l.quantity).sum(),
            placed_at: o.created_at.clone(),
            last_change: o.updated_at.clone(),
        }
    }

    /// "Frequently bought together" for a product, or for the shopper's cart
    /// and history when no product is named.
    pub fn recommend(&self, product_id: Option<i64>) -> Result<Vec<ProductCard>, ToolError> {
        let found = self.shop.store.read(|conn| match product_id {
            Some(id) => Ok(recommend::for_product(conn, id, RESULTS_SHOWN)?.unwrap_or_default()),
            None => recommend::for_shopper(conn, self.shopper, RESULTS_SHOWN),
        })?;
        Ok(found.iter().map(|r| self.card(&r.product)).collect())
    }

    /// The FAQ entry that answers the question, if one does.
    pub fn store_info(&self, question: &str) -> Result<Option<faq::Answer>, ToolError> {
        Ok(faq::answer(self.shop.store, question)?)
    }

    /// Runs a tool a model asked for. Unknown tools and arguments of the wrong
    /// shape are `BadCall`s the model can be told about; `checkout` is never
    /// run from here.
    pub fn call(&self, name: &str, arguments: &Value) -> Result<ToolOutput, ToolError> {
        let id = |key: &str| {
            arguments[key]
                .as_i64()
                .ok_or_else(|| ToolError::BadCall(format!("{name} needs an integer \"{key}\"")))
        };
        let quantity = || arguments["quantity"].as_i64().unwrap_or(1);
        match name {
            "search_products" => {
                Ok(self.products_output(self.search_products(&self.search_ask(arguments))?))
            }
            "product_details" => Ok(ToolOutput::value(json!(
                self.product_details(id("product_id")?)?
            ))),
            "add_to_cart" => Ok(self.cart_output(self.add_to_cart(id("product_id")?, quantity())?)),
            "update_cart" => {
                let quantity = arguments["quantity"]
                    .as_i64()
                    .ok_or_else(|| ToolError::BadCall("update_cart needs \"quantity\"".into()))?;
                Ok(self.cart_output(self.update_cart(id("product_id")?, quantity)?))
            }
            "remove_from_cart" => Ok(self.cart_output(self.remove_from_cart(id("product_id")?)?)),
            "view_cart" => Ok(self.cart_output(self.view_cart()?)),
            "apply_voucher" => {
                let code = arguments["code"]
                    .as_str()
                    .ok_or_else(|| ToolError::BadCall("apply_voucher needs \"code\"".into()))?;
                Ok(self.cart_output(self.apply_voucher(code)?))
            }
            "order_status" => Ok(ToolOutput::value(json!(
                self.order_status(arguments["order_number"].as_str())?
            ))),
            "recommend" => {
                Ok(self.products_output(self.recommend(arguments["product_id"].as_i64())?))
            }
            "store_info" => {
                let question = arguments["question"].as_str().unwrap_or_default();
                Ok(ToolOutput::value(json!(
                    self.store_info(question)?.map(|a| a.answer)
                )))
            }
            other => Err(ToolError::BadCall(format!("there is no tool {other:?}"))),
        }
    }

    fn search_ask(&self, arguments: &Value) -> SearchAsk {
        SearchAsk {
            text: arguments["query"].as_str().unwrap_or_default().to_string(),
            max_price_minor: self.price_argument(&arguments["max_price"]),
            min_price_minor: self.price_argument(&arguments["min_price"]),
            dietary: arguments["dietary"]
                .as_array()
                .map(|labels| {
                    labels
                        .iter()
                        .filter_map(Value::as_str)
                        .filter_map(dietary::canonical)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Products as a model reads them: id, name, price and stock, nothing else.
    fn products_output(&self, products: Vec<ProductCard>) -> ToolOutput {
        let compact: Vec<Value> = products
            .iter()
            .map(|p| json!({"id": p.id, "name": p.name, "price": p.price, "in_stock": p.in_stock}))
            .collect();
        ToolOutput {
            value: Value::Array(compact),
            products,
            cart: None,
        }
    }

    fn cart_output(&self, view: CartView) -> ToolOutput {
        ToolOutput {
            value: self.cart_json(&view),
            products: Vec::new(),
            cart: Some(view),
        }
    }

    fn price_argument(&self, value: &Value) -> Option<u64> {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let money = self.shop.currency.parse_amount(&text).ok()?;
        u64::try_from(money.minor()).ok()
    }

    /// A cart as a model sees it: lines and the total, nothing else.
    pub fn cart_json(&self, view: &CartView) -> Value {
        json!({
            "items": view.lines.iter().map(|l| json!({
                "product_id": l.offer.product_id,
                "name": l.offer.name,
                "quantity": l.quantity,
                "line_total": self.money(l.line_total_minor),
            })).collect::<Vec<_>>(),
            "total": self.money(view.totals.total_minor),
            "notices": view.notices,
        })
    }
}

/// What a tool a model called returned: the compact JSON the model reads,
/// and the products or cart the shopper's screen shows.
#[derive(Debug, Clone)]
pub struct ToolOutput {
    pub value: Value,
    pub products: Vec<ProductCard>,
    pub cart: Option<CartView>,
}

impl ToolOutput {
    fn value(value: Value) -> ToolOutput {
        ToolOutput {
            value,
            products: Vec::new(),
            cart: None,
        }
    }
}

/// The tools as a model is told about them (OpenAI function shapes). The
/// checkout tool only asks for a summary: placing the order takes the
/// shopper's confirmation in a later turn.
pub fn specs() -> Vec<ToolSpec> {
    let id = json!({"type": "integer", "description": "product id from a search result"});
    let tool = |name: &str, description: &str, parameters: Value| ToolSpec {
        kind: "function",
        function: FunctionSpec {
            name: name.to_string(),
            description: description.to_string(),
            parameters,
        },
    };
    let object = |properties: Value, required: &[&str]| json!({"type": "object", "properties": properties, "required": required});
    vec![
        tool(
            "search_products",
            "Find products in the shop.",
            object(
                json!({"query": {"type": "string"}, "max_price": {"type": "number"},
                       "min_price": {"type": "number"},
                       "dietary": {"type": "array", "items": {"type": "string"}}}),
                &["query"],
            ),
        ),
        tool(
            "product_details",
            "Details of one product.",
            object(json!({"product_id": id}), &["product_id"]),
        ),
        tool(
            "add_to_cart",
            "Add a product to the shopper's cart.",
            object(
                json!({"product_id": id, "quantity": {"type": "integer", "minimum": 1}}),
                &["product_id"],
            ),
        ),
        tool(
            "update_cart",
            "Set the quantity of a product in the cart.",
            object(
                json!({"product_id": id, "quantity": {"type": "integer", "minimum": 0}}),
                &["product_id", "quantity"],
            ),
        ),
        tool(
            "remove_from_cart",
            "Remove a product from the cart.",
            object(json!({"product_id": id}), &["product_id"]),
        ),
        tool("view_cart", "Show the cart.", object(json!({}), &[])),
        tool(
            "apply_voucher",
            "Apply a voucher code to the cart.",
            object(json!({"code": {"type": "string"}}), &["code"]),
        ),
        tool(
            "checkout",
            "Show the order summary and ask the shopper to confirm; never places the order itself.",
            object(json!({}), &[]),
        ),
        tool(
            "order_status",
            "Status of the shopper's order (their latest when no number is given).",
            object(json!({"order_number": {"type": "string"}}), &[]),
        ),
        tool(
            "recommend",
            "Products that go with a product, or with the shopper's cart.",
            object(json!({"product_id": id}), &[]),
        ),
        tool(
            "store_info",
            "Answer about delivery, returns, payment, opening hours from the shop's FAQ.",
            object(json!({"question": {"type": "string"}}), &["question"]),
        ),
    ]
}
