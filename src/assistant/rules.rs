//! The free tier's driver: the classified intent and the extracted slots pick
//! a tool, and the reply is written from its result with fixed phrasings.
//! It needs no model and completes every shopping task.
//!
//! Owns the mapping intent → tool → words. It must not reach past the
//! `Toolbox` (no store or search calls of its own) and never places an order:
//! checkout goes through `checkout::Checkout`, which enforces the separate
//! confirmation turn.

use super::checkout::{self, CheckoutStep};
use super::intent::Intent;
use super::slots::{Reference, Slots};
use super::state::{ProductRef, WorkingMemory};
use super::tools::{ProductCard, SearchAsk, ToolError, Toolbox};
use super::{Action, Turn, TurnEvent};
use crate::commerce::cart::CartView;

/// What the driver did and said.
#[derive(Debug, Default)]
pub struct Response {
    pub reply: String,
    pub actions: Vec<Action>,
    pub products: Vec<ProductCard>,
    pub cart: Option<CartView>,
    pub order_number: Option<String>,
}

/// Answers one shopper turn.
pub fn respond(
    tools: &Toolbox,
    memory: &mut WorkingMemory,
    turn: &Turn,
    emit: &mut dyn FnMut(TurnEvent),
) -> Result<Response, ToolError> {
    let mut out = Responder {
        tools,
        memory,
        turn,
        emit,
        response: Response::default(),
    };
    out.dispatch()?;
    Ok(out.response)
}

struct Responder<'a, 'b> {
    tools: &'a Toolbox<'a>,
    memory: &'a mut WorkingMemory,
    turn: &'a Turn<'a>,
    emit: &'b mut dyn FnMut(TurnEvent),
    response: Response,
}

impl Responder<'_, '_> {
    fn slots(&self) -> &Slots {
        &self.turn.slots
    }

    fn say(&mut self, text: impl Into<String>) {
        let text = text.into();
        if !self.response.reply.is_empty() {
            self.response.reply.push('\n');
        }
        self.response.reply.push_str(&text);
    }

    /// Records a tool call and its outcome, and tells the stream.
    fn act(&mut self, tool: &str, arguments: serde_json::Value, ok: bool, summary: String) {
        (self.emit)(TurnEvent::ToolCall {
            name: tool.to_string(),
            arguments: arguments.clone(),
        });
        (self.emit)(TurnEvent::ToolResult {
            name: tool.to_string(),
            ok,
            summary: summary.clone(),
        });
        self.response.actions.push(Action {
            tool: tool.to_string(),
            arguments,
            ok,
            summary,
        });
    }

    fn dispatch(&mut self) -> Result<(), ToolError> {
        if self.memory.awaiting.is_some() && self.turn.intent != Intent::Decline {
            return self.continue_checkout();
        }
        match self.turn.intent {
            Intent::Greeting => self.greet(),
            Intent::Search => self.search(),
            Intent::ProductQuestion => self.product_question()?,
            Intent::AddToCart => self.add_to_cart()?,
            Intent::RemoveFromCart => self.remove_from_cart()?,
            Intent::UpdateCart => self.update_cart()?,
            Intent::ViewCart => self.view_cart()?,
            Intent::ApplyVoucher => self.apply_voucher()?,
            Intent::Checkout => self.start_checkout()?,
            Intent::Confirm => self.confirm()?,
            Intent::Decline => self.decline(),
            Intent::OrderStatus => self.order_status()?,
            Intent::Recommendation => self.recommend()?,
            Intent::StorePolicy => {
                self.store_policy(true)?;
            }
            Intent::Human => self.say(
                "I've asked someone from the shop to join this conversation; they will answer here. \
                 Meanwhile I can still look things up for you.",
            ),
            Intent::Other => self.other()?,
        }
        Ok(())
    }

    fn greet(&mut self) {
        let lower = self.turn.message.to_lowercase();
        if lower.contains("thank") {
            self.say("You're welcome! Anything else I can find for you?");
        } else {
            self.say(format!(
                "Hello! I'm the {} assistant. I can find products (\"gluten-free pasta under $5\"), \
                 fill your cart, place your order and tell you where it is. What are you looking for?",
                self.turn.shop_name
            ));
        }
    }

    fn search(&mut self) {
        let slots = self.slots().clone();
        let ask = SearchAsk {
            text: slots.query.clone(),
            max_price_minor: slots.max_price_minor,
            min_price_minor: slots.min_price_minor,
            dietary: slots.dietary.clone(),
        };
        let arguments = serde_json::json!({
            "query": ask.text, "max_price_minor": ask.max_price_minor,
            "min_price_minor": ask.min_price_minor, "dietary": ask.dietary,
        });
        match self.tools.search_products(&ask) {
            Ok(found) if found.is_empty() => {
                self.act("search_products", arguments, true, "no products".into());
                self.say(format!(
                    "I couldn't find anything{}. Could you say it in other words, or loosen a filter?",
                    describe_ask(&ask)
                ));
            }
            Ok(found) => {
                self.act(
                    "search_products",
                    arguments,
                    true,
                    format!("{} products", found.len()),
                );
                self.say(format!("Here is what I found{}:", describe_ask(&ask)));
                self.list_products(&found);
                self.say("Say \"add the first one\" (or another) to put it in your cart.");
                self.show(found);
            }
            Err(error) => {
                self.act("search_products", arguments, false, error.to_string());
                self.say("Searching didn't work just now; please try again in a moment.");
            }
        }
    }

    fn list_products(&mut self, products: &[ProductCard]) {
        for (i, p) in products.iter().enumerate() {
            let stock = if p.in_stock { "" } else { " (out of stock)" };
            self.say(format!("{}. {} — {}{stock}", i + 1, p.name, p.price));
        }
    }

    /// Shows products as cards and remembers them for later references.
    fn show(&mut self, products: Vec<ProductCard>) {
        self.memory.showed(
            products
                .iter()
                .map(|p| ProductRef {
                    id: p.id,
                    name: p.name.clone(),
                })
                .collect(),
        );
        (self.emit)(TurnEvent::Products(products.clone()));
        self.response.products = products;
    }

    /// The product the shopper means: a reference ("the second one", "it"),
    /// else the best match for the words they used. Dietary words narrow the
    /// search when they describe what to buy, not when they are the question
    /// ("is the pesto vegan?").
    fn target(&mut self, dietary_filters: bool) -> Result<Option<ProductRef>, ToolError> {
        if let Some(reference) = &self.slots().reference
            && let Some(found) = self.memory.resolve(reference)
        {
            return Ok(Some(found));
        }
        let words = self.slots().query.trim().to_string();
        if words.is_empty() {
            return Ok(self
                .slots()
                .reference
                .is_none()
                .then(|| self.memory.focus.clone())
                .flatten());
        }
        if let Some(named) = self.named_in_memory(&words) {
            return Ok(Some(named));
        }
        let ask = SearchAsk {
            text: words,
            dietary: if dietary_filters {
                self.slots().dietary.clone()
            } else {
                Vec::new()
            },
            ..SearchAsk::default()
        };
        let found = self.tools.search_products(&ask)?;
        Ok(best_named(&found, &ask.text).map(|p| ProductRef {
            id: p.id,
            name: p.name.clone(),
        }))
    }

    /// A product shown earlier whose name contains every word the shopper used.
    fn named_in_memory(&self, words: &str) -> Option<ProductRef> {
        let wanted: Vec<String> = words
            .to_lowercase()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let matches = |name: &str| {
            let name = name.to_lowercase();
            wanted.iter().all(|w| name.contains(w.as_str()))
        };
        self.memory
            .focus
            .iter()
            .chain(self.memory.last_results.iter())
            .find(|p| matches(&p.name))
            .cloned()
    }

    fn ask_which(&mut self) {
        if self.memory.last_results.len() > 1 {
            self.say("Which one do you mean? You can say \"the first one\", \"the second one\"…");
        } else {
            self.say("Which product do you mean? Tell me its name, or search first.");
        }
    }

    fn product_question(&mut self) -> Result<(), ToolError> {
        let Some(target) = self.target(false)? else {
            self.ask_which();
            return Ok(());
        };
        let facts = match self.tools.product_details(target.id) {
            Ok(facts) => facts,
            Err(ToolError::Refused(reason)) => {
                self.say(format!("Sorry, {reason}."));
                return Ok(());
            }
            Err(other) => return Err(other),
        };
        self.act(
            "product_details",
            serde_json::json!({"product_id": target.id}),
            true,
            facts.card.name.clone(),
        );
        self.memory.focus = Some(target);
        let asked: Vec<String> = self.slots().dietary.clone();
        for label in &asked {
            if facts.dietary.iter().any(|d| d == label) {
                self.say(format!("Yes — {} is labelled {label}.", facts.card.name));
            } else {
                self.say(format!(
                    "{} is not labelled {label}; please check the packaging if it matters.",
                    facts.card.name
                ));
            }
        }
        let stock = match facts.stock {
            Some(0) => "out of stock".to_string(),
            Some(n) if n <= 5 => format!("only {n} left"),
            _ => "in stock".to_string(),
        };
        self.say(format!(
            "{} ({}) costs {}, {stock}.",
            facts.card.name, facts.category, facts.card.price
        ));
        if asked.is_empty() {
            self.say(first_sentences(&facts.description, 2));
            if !facts.dietary.is_empty() {
                self.say(format!("Labels: {}.", facts.dietary.join(", ")));
            }
            for (key, value) in facts.attributes.iter().take(3) {
                self.say(format!("{}: {value}.", capitalise(key)));
            }
        }
        let card = facts.card.clone();
        self.show(vec![card]);
        Ok(())
    }

    fn add_to_cart(&mut self) -> Result<(), ToolError> {
        let Some(target) = self.target(true)? else {
            self.ask_which();
            return Ok(());
        };
        let quantity = self.slots().quantity.unwrap_or(1);
        let arguments = serde_json::json!({"product_id": target.id, "quantity": quantity});
        match self.tools.add_to_cart(target.id, quantity) {
            Ok(view) => {
                self.act(
                    "add_to_cart",
                    arguments,
                    true,
                    format!("{quantity} × {}", target.name),
                );
                self.say(format!(
                    "Added {quantity} × {} to your cart. {}",
                    target.name,
                    self.cart_line(&view)
                ));
                self.memory.focus = Some(target);
                self.set_cart(view);
            }
            Err(ToolError::Refused(reason)) => {
                self.act("add_to_cart", arguments, false, reason.clone());
                self.say(format!("I couldn't add that: {reason}."));
            }
            Err(other) => return Err(other),
        }
        Ok(())
    }

    fn cart_line(&self, view: &CartView) -> String {
        format!(
            "Your cart now has {} item{} for {}.",
            view.item_count(),
            if view.item_count() == 1 { "" } else { "s" },
            self.tools.money(view.totals.total_minor)
        )
    }

    fn set_cart(&mut self, view: CartView) {
        (self.emit)(TurnEvent::Cart(view.clone()));
        self.response.cart = Some(view);
    }

    /// The cart line the shopper means: by reference, by name, or the only one.
    fn cart_target(&mut self, view: &CartView) -> Option<ProductRef> {
        let lines: Vec<ProductRef> = view
            .lines
            .iter()
            .map(|l| ProductRef {
                id: l.offer.product_id,
                name: l.offer.name.clone(),
            })
            .collect();
        if let Some(Reference::Ordinal(n)) = self.slots().reference
            && self.slots().query.trim().is_empty()
            && let Some(line) = n.checked_sub(1).and_then(|i| lines.get(i))
        {
            return Some(line.clone());
        }
        let words: Vec<String> = self
            .slots()
            .query
            .to_lowercase()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if !words.is_empty()
            && let Some(line) = lines.iter().find(|l| {
                let name = l.name.to_lowercase();
                words
                    .iter()
                    .any(|w| w.len() > 2 && name.contains(w.as_str()))
            })
        {
            return Some(line.clone());
        }
        if let Some(reference) = &self.slots().reference
            && let Some(found) = self.memory.resolve(reference)
            && lines.iter().any(|l| l.id == found.id)
        {
            return Some(found);
        }
        match lines.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        }
    }

    fn remove_from_cart(&mut self) -> Result<(), ToolError> {
        let view = self.tools.view_cart()?;
        let Some(target) = self.cart_target(&view) else {
            self.say("Which item should I take out? Tell me its name.");
            return Ok(());
        };
        let arguments = serde_json::json!({"product_id": target.id});
        match self.tools.remove_from_cart(target.id) {
            Ok(view) => {
                self.act("remove_from_cart", arguments, true, target.name.clone());
                self.say(format!(
                    "Removed {} from your cart. {}",
                    target.name,
                    self.cart_line(&view)
                ));
                self.set_cart(view);
            }
            Err(ToolError::Refused(reason)) => {
                self.act("remove_from_cart", arguments, false, reason.clone());
                self.say(format!("I couldn't remove that: {reason}."));
            }
            Err(other) => return Err(other),
        }
        Ok(())
    }

    fn update_cart(&mut self) -> Result<(), ToolError> {
        let view = self.tools.view_cart()?;
        let (Some(target), Some(quantity)) = (self.cart_target(&view), self.slots().quantity)
        else {
            self.say("Which item, and how many? For example: \"make the coffee 2\".");
            return Ok(());
        };
        let arguments = serde_json::json!({"product_id": target.id, "quantity": quantity});
        match self.tools.update_cart(target.id, quantity) {
            Ok(view) => {
                self.act(
                    "update_cart",
                    arguments,
                    true,
                    format!("{quantity} × {}", target.name),
                );
                self.say(format!(
                    "Done: {quantity} × {}. {}",
                    target.name,
                    self.cart_line(&view)
                ));
                self.set_cart(view);
            }
            Err(ToolError::Refused(reason)) => {
                self.act("update_cart", arguments, false, reason.clone());
                self.say(format!("I couldn't change that: {reason}."));
            }
            Err(other) => return Err(other),
        }
        Ok(())
    }

    fn view_cart(&mut self) -> Result<(), ToolError> {
        let view = self.tools.view_cart()?;
        self.act(
            "view_cart",
            serde_json::json!({}),
            true,
            format!("{} items", view.item_count()),
        );
        if view.lines.is_empty() {
            self.say("Your cart is empty.");
        } else {
            self.describe_cart(&view);
        }
        self.set_cart(view);
        Ok(())
    }

    fn describe_cart(&mut self, view: &CartView) {
        self.say("In your cart:");
        for line in &view.lines {
            let problem = line
                .problem
                .as_deref()
                .map(|p| format!(" — {p}"))
                .unwrap_or_default();
            self.say(format!(
                "• {} × {} — {}{problem}",
                line.quantity,
                line.offer.name,
                self.tools.money(line.line_total_minor)
            ));
        }
        if view.totals.discount_minor > 0 {
            self.say(format!(
                "Discount: −{}",
                self.tools.money(view.totals.discount_minor)
            ));
        }
        if view.totals.tax_minor > 0 && !view.totals.tax_inclusive {
            self.say(format!("Tax: {}", self.tools.money(view.totals.tax_minor)));
        }
        self.say(format!(
            "Total: {}",
            self.tools.money(view.totals.total_minor)
        ));
        for notice in &view.notices {
            self.say(notice.clone());
        }
    }

    fn apply_voucher(&mut self) -> Result<(), ToolError> {
        let Some(code) = self.slots().voucher_code.clone() else {
            self.say("What is the voucher code?");
            return Ok(());
        };
        let arguments = serde_json::json!({"code": code});
        match self.tools.apply_voucher(&code) {
            Ok(view) => {
                self.act("apply_voucher", arguments, true, code.clone());
                self.say(format!(
                    "Voucher {code} applied: −{}. Your total is now {}.",
                    self.tools.money(view.totals.discount_minor),
                    self.tools.money(view.totals.total_minor)
                ));
                self.set_cart(view);
            }
            Err(ToolError::Refused(reason)) => {
                self.act("apply_voucher", arguments, false, reason.clone());
                self.say(format!("That voucher doesn't apply: {reason}."));
            }
            Err(other) => return Err(other),
        }
        Ok(())
    }

    fn start_checkout(&mut self) -> Result<(), ToolError> {
        let step = checkout::start(self.tools, self.memory, self.turn)?;
        self.checkout_step(step);
        Ok(())
    }

    fn continue_checkout(&mut self) -> Result<(), ToolError> {
        let step = checkout::give_contact(self.tools, self.memory, self.turn)?;
        self.checkout_step(step);
        Ok(())
    }

    fn confirm(&mut self) -> Result<(), ToolError> {
        let step = checkout::confirm(self.tools, self.memory, self.turn)?;
        self.checkout_step(step);
        Ok(())
    }

    fn decline(&mut self) {
        if checkout::cancel(self.memory) {
            self.say("No problem — I haven't placed anything. Your cart is still there.");
        } else {
            self.say("All right. What else can I do for you?");
        }
    }

    fn checkout_step(&mut self, step: CheckoutStep) {
        match step {
            CheckoutStep::EmptyCart => self.say("Your cart is empty — add something first."),
            CheckoutStep::CartProblems(view) => {
                self.say("Some items can't be bought as they are:");
                self.describe_cart(&view);
                self.set_cart(view);
            }
            CheckoutStep::NeedContact { invalid } => {
                if let Some(reason) = invalid {
                    self.say(format!("That didn't work: {reason}."));
                }
                self.say(
                    "What name and email should I put the order under? \
                     (For example: \"Sam Lee, sam@example.com\")",
                );
            }
            CheckoutStep::Summary { view, contact } => {
                self.act(
                    "checkout",
                    serde_json::json!({"stage": "summary"}),
                    true,
                    "awaiting confirmation".into(),
                );
                self.say("Here is your order:");
                self.describe_cart(&view);
                self.say(format!(
                    "For {} <{}>, pickup at the shop, paid on collection.",
                    contact.name, contact.email
                ));
                self.say("Shall I place it? Please answer \"yes\" to confirm or \"no\" to wait.");
                (self.emit)(TurnEvent::ConfirmationNeeded);
                self.set_cart(view);
            }
            CheckoutStep::NothingToConfirm => {
                self.say("There is nothing waiting for confirmation. Say \"checkout\" when you're ready.");
            }
            CheckoutStep::CartChanged(view) => {
                self.say("Your cart changed since the summary, so here it is again:");
                self.describe_cart(&view);
                self.say("Shall I place it? Please answer \"yes\" to confirm.");
                (self.emit)(TurnEvent::ConfirmationNeeded);
                self.set_cart(view);
            }
            CheckoutStep::Placed { number, total } => {
                self.act(
                    "checkout",
                    serde_json::json!({"stage": "placed"}),
                    true,
                    number.clone(),
                );
                self.say(format!(
                    "Your order {number} is placed ({total}). You can ask me \"where is my order?\" any time."
                ));
                self.response.order_number = Some(number);
            }
            CheckoutStep::Failed(reason) => {
                self.act(
                    "checkout",
                    serde_json::json!({"stage": "placed"}),
                    false,
                    reason.clone(),
                );
                self.say(format!("I couldn't place the order: {reason}."));
            }
        }
    }

    fn order_status(&mut self) -> Result<(), ToolError> {
        let number = self.slots().order_number.clone();
        let found = self.tools.order_status(number.as_deref())?;
        self.act(
            "order_status",
            serde_json::json!({"order_number": number}),
            found.is_some(),
            found
                .as_ref()
                .map_or("no order".into(), |o| o.number.clone()),
        );
        match found {
            Some(order) => self.say(format!(
                "Order {} ({} item{}, {}) is {}{}. Last update: {}.",
                order.number,
                order.items,
                if order.items == 1 { "" } else { "s" },
                order.total,
                order.status,
                status_hint(&order.status),
                order.last_change
            )),
            None if number.is_some() => self.say(
                "I can't find that order among yours. Check the number (it looks like SK-1001), \
                 or sign in with the account you ordered with.",
            ),
            None => self.say("I can't find any orders for you yet."),
        }
        Ok(())
    }

    fn recommend(&mut self) -> Result<(), ToolError> {
        let seed = match &self.slots().reference {
            Some(reference) => self.memory.resolve(reference),
            None => self.memory.focus.clone(),
        };
        let found = self.tools.recommend(seed.as_ref().map(|p| p.id))?;
        self.act(
            "recommend",
            serde_json::json!({"product_id": seed.as_ref().map(|p| p.id)}),
            true,
            format!("{} products", found.len()),
        );
        if found.is_empty() {
            self.say("I have no suggestions yet — tell me what you're looking for?");
            return Ok(());
        }
        match &seed {
            Some(p) => self.say(format!("Shoppers who bought {} also liked:", p.name)),
            None => self.say("You might like:"),
        }
        self.list_products(&found);
        self.show(found);
        Ok(())
    }

    /// Answers from the FAQ; `insist` when the shopper clearly asked about the shop.
    fn store_policy(&mut self, insist: bool) -> Result<bool, ToolError> {
        let found = self.tools.store_info(self.turn.message)?;
        self.act(
            "store_info",
            serde_json::json!({"question": self.turn.message}),
            found.is_some(),
            found
                .as_ref()
                .map_or("no answer".into(), |a| a.question.clone()),
        );
        match found {
            Some(answer) => {
                self.say(answer.answer);
                Ok(true)
            }
            None if insist => {
                self.say(
                    "I don't have an answer to that in the shop's information. \
                     Say \"talk to a person\" and someone from the shop will reply.",
                );
                Ok(false)
            }
            None => Ok(false),
        }
    }

    /// A message no pattern recognised: the FAQ if it answers it, else a
    /// search if its words find products, else help.
    fn other(&mut self) -> Result<(), ToolError> {
        if self.tools.store_info(self.turn.message)?.is_some() {
            self.store_policy(true)?;
            return Ok(());
        }
        if !self.slots().query.trim().is_empty() {
            let ask = SearchAsk {
                text: self.slots().query.clone(),
                ..SearchAsk::default()
            };
            let found = self.tools.search_products(&ask)?;
            if best_named(&found, &ask.text).is_some_and(|p| name_overlap(&p.name, &ask.text) > 0.0)
            {
                self.search();
                return Ok(());
            }
        }
        self.say(
            "I'm not sure I understood. I can search products, answer questions about them, \
             manage your cart, place your order and tell you where it is.",
        );
        Ok(())
    }
}

/// The result whose name holds most of the shopper's words (search order
/// breaks ties): naming "organic eggs" means the organic eggs, even when
/// another product's description mentions both words more often.
fn best_named<'p>(found: &'p [ProductCard], words: &str) -> Option<&'p ProductCard> {
    let mut best: Option<(&ProductCard, f32)> = None;
    for card in found {
        let overlap = name_overlap(&card.name, words);
        if best.is_none_or(|(_, score)| overlap > score) {
            best = Some((card, overlap));
        }
    }
    best.map(|(card, _)| card)
}

/// The share of `words` (3+ letters, a plural `s` ignored) found in `name`.
fn name_overlap(name: &str, words: &str) -> f32 {
    let name = name.to_lowercase();
    let words: Vec<String> = words
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .map(|w| {
            w.strip_suffix('s')
                .filter(|s| s.len() >= 3)
                .unwrap_or(w)
                .to_string()
        })
        .collect();
    if words.is_empty() {
        return 0.0;
    }
    let found = words.iter().filter(|w| name.contains(w.as_str())).count();
    found as f32 / words.len() as f32
}

fn describe_ask(ask: &SearchAsk) -> String {
    let mut parts = Vec::new();
    if !ask.text.trim().is_empty() {
        parts.push(format!(" for \"{}\"", ask.text.trim()));
    }
    let mut filters = ask.dietary.clone();
    if let Some(max) = ask.max_price_minor {
        filters.push(format!("at most {}", minor_words(max)));
    }
    if let Some(min) = ask.min_price_minor {
        filters.push(format!("at least {}", minor_words(min)));
    }
    if !filters.is_empty() {
        parts.push(format!(" ({})", filters.join(", ")));
    }
    parts.concat()
}

/// A price filter in plain digits (the currency's symbol is the shop's).
fn minor_words(minor: u64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

fn status_hint(status: &str) -> &'static str {
    match status {
        "pending" => " — we have it and will prepare it shortly",
        "paid" => " — paid and being prepared",
        "fulfilled" => " — it has been handed over or sent",
        "cancelled" => " — it was cancelled",
        "refunded" => " — it was refunded",
        _ => "",
    }
}

fn first_sentences(text: &str, count: usize) -> String {
    let mut out = String::new();
    for (taken, sentence) in text.split_inclusive(['.', '!', '?']).enumerate() {
        if taken == count {
            break;
        }
        out.push_str(sentence);
    }
    out.trim().to_string()
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
