//! Intent classification: a fast, model-free reading of what a shopper message asks for.
//!
//! Owns the phrase tables, the scoring that turns them into an intent with a
//! confidence, and the normalised message text that keys the intent cache. It
//! must not touch the store, the search index or any model: refining
//! low-confidence guesses with a model happens elsewhere, from this module's
//! confidence.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::slots;

/// What a shopper message asks the assistant to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    Search,
    ProductQuestion,
    AddToCart,
    RemoveFromCart,
    UpdateCart,
    ViewCart,
    ApplyVoucher,
    Checkout,
    Confirm,
    Decline,
    OrderStatus,
    Recommendation,
    StorePolicy,
    Greeting,
    Human,
    Other,
}

impl Intent {
    pub const ALL: [Intent; 16] = [
        Intent::Search,
        Intent::ProductQuestion,
        Intent::AddToCart,
        Intent::RemoveFromCart,
        Intent::UpdateCart,
        Intent::ViewCart,
        Intent::ApplyVoucher,
        Intent::Checkout,
        Intent::Confirm,
        Intent::Decline,
        Intent::OrderStatus,
        Intent::Recommendation,
        Intent::StorePolicy,
        Intent::Greeting,
        Intent::Human,
        Intent::Other,
    ];

    /// The snake_case name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Search => "search",
            Intent::ProductQuestion => "product_question",
            Intent::AddToCart => "add_to_cart",
            Intent::RemoveFromCart => "remove_from_cart",
            Intent::UpdateCart => "update_cart",
            Intent::ViewCart => "view_cart",
            Intent::ApplyVoucher => "apply_voucher",
            Intent::Checkout => "checkout",
            Intent::Confirm => "confirm",
            Intent::Decline => "decline",
            Intent::OrderStatus => "order_status",
            Intent::Recommendation => "recommendation",
            Intent::StorePolicy => "store_policy",
            Intent::Greeting => "greeting",
            Intent::Human => "human",
            Intent::Other => "other",
        }
    }

    /// The intent named `s` (as `as_str` writes it, any case, surrounding space ignored).
    pub fn parse(s: &str) -> Option<Intent> {
        let s = s.trim();
        Intent::ALL
            .into_iter()
            .find(|intent| intent.as_str().eq_ignore_ascii_case(s))
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// An intent and how sure the classifier is of it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Classified {
    pub intent: Intent,
    /// 0..=1: at least 0.8 for a clear message, below 0.5 when two readings compete.
    pub confidence: f32,
}

/// The normalised form used as the intent-cache key (lowercase, punctuation stripped, whitespace collapsed, digits kept).
///
/// Apostrophes vanish rather than split words, so "what's" and "whats" share a
/// key; a '.' between digits stays so "9.99" is not "9 99".
pub fn normalize(message: &str) -> String {
    let chars: Vec<char> = message.chars().collect();
    let mut out = String::with_capacity(message.len());
    let mut gap = false;
    for (i, &c) in chars.iter().enumerate() {
        let between_digits = |k: usize| {
            k > 0
                && chars[k - 1].is_ascii_digit()
                && chars.get(k + 1).is_some_and(|n| n.is_ascii_digit())
        };
        if c.is_alphanumeric() || (c == '.' && between_digits(i)) {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.extend(c.to_lowercase());
        } else if !APOSTROPHES.contains(&c) {
            gap = true;
        }
    }
    out
}

/// Reads the intent of one shopper message.
pub fn classify(message: &str) -> Classified {
    let words = corrected_words(&normalize(message));
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let mut scores = cue_scores(&words);
    add_signals(&mut scores, message, &words);
    decide(&scores)
}

const APOSTROPHES: &[char] = &['\'', '’', '‘', '`'];

/// A phrase decides the intent on its own.
const STRONG: f32 = 3.0;
/// A phrase that usually means the intent.
const MEDIUM: f32 = 2.0;
/// A phrase that leans towards the intent.
const WEAK: f32 = 1.0;
/// A word that only tips a close call.
const HINT: f32 = 0.5;

/// Below this best score nothing was really said: the message is `Other`.
const MIN_SCORE: f32 = 1.0;
/// Confidence of `Other` when no cue matched at all: a guess a model should revisit.
const UNKNOWN_CONFIDENCE: f32 = 0.4;
/// Confidence of `Other` when only hints matched: weaker still, something was meant.
const HINTED_CONFIDENCE: f32 = 0.3;
/// Product words, dietary words and prices together never outweigh one clear verb.
const MAX_PRODUCT_EVIDENCE: f32 = 2.0;

/// Where a cue's phrase must sit in the message to count.
#[derive(Debug, Clone, Copy)]
enum At {
    Anywhere,
    Start,
    Whole,
}

/// A phrase (normalised words) that points at an intent with some weight.
struct Cue {
    phrase: &'static str,
    weight: f32,
    at: At,
}

const fn any(phrase: &'static str, weight: f32) -> Cue {
    Cue {
        phrase,
        weight,
        at: At::Anywhere,
    }
}

const fn start(phrase: &'static str, weight: f32) -> Cue {
    Cue {
        phrase,
        weight,
        at: At::Start,
    }
}

const fn whole(phrase: &'static str, weight: f32) -> Cue {
    Cue {
        phrase,
        weight,
        at: At::Whole,
    }
}

const SEARCH: &[Cue] = &[
    any("do you have", STRONG),
    any("do you sell", STRONG),
    any("do you stock", STRONG),
    any("do you carry", STRONG),
    any("have you got", STRONG),
    any("got any", MEDIUM),
    any("looking for", STRONG),
    any("look for", MEDIUM),
    any("searching for", STRONG),
    any("search for", STRONG),
    start("search", MEDIUM),
    start("find", MEDIUM),
    any("find me", STRONG),
    any("show me", MEDIUM),
    any("i need", MEDIUM),
    any("im after", MEDIUM),
    // "I'd like some tea" asks what there is; "I'd like the sourdough" adds it.
    any("id like some", STRONG),
    any("i would like some", STRONG),
    any("i want", WEAK),
    any("something for", WEAK),
    any("is there any", MEDIUM),
    any("are there any", MEDIUM),
    any("any", HINT),
    any("cheap", WEAK),
    any("cheapest", WEAK),
];

const PRODUCT_QUESTION: &[Cue] = &[
    start("is the", STRONG),
    start("is it", STRONG),
    start("is this", STRONG),
    start("is that", STRONG),
    start("are the", STRONG),
    start("are they", STRONG),
    start("are these", STRONG),
    start("does the", STRONG),
    start("does it", STRONG),
    start("does this", STRONG),
    start("do they", STRONG),
    start("do these", MEDIUM),
    any("whats in the", STRONG),
    any("whats in it", STRONG),
    any("whats in this", STRONG),
    any("whats in that", STRONG),
    any("what is in the", STRONG),
    any("what is in it", STRONG),
    any("ingredients", STRONG),
    any("ingredient", STRONG),
    any("allergen", STRONG),
    any("contain", MEDIUM),
    any("contains", MEDIUM),
    any("calories", MEDIUM),
    any("nutrition", MEDIUM),
    any("how big", STRONG),
    any("how large", STRONG),
    any("how heavy", STRONG),
    any("how many", MEDIUM),
    any("how much does", MEDIUM),
    any("how much is the", MEDIUM),
    any("how much", WEAK),
    any("how long does", MEDIUM),
    any("what size", STRONG),
    any("size", WEAK),
    any("weight", WEAK),
    any("tell me more", STRONG),
    any("tell me about", STRONG),
    any("more about", MEDIUM),
    any("more info", STRONG),
    any("more details", STRONG),
    any("details", MEDIUM),
    any("describe", MEDIUM),
    any("made of", MEDIUM),
    any("made with", MEDIUM),
    any("made from", MEDIUM),
    any("in stock", MEDIUM),
    any("expiry", MEDIUM),
    any("shelf life", MEDIUM),
    any("taste like", MEDIUM),
    any("where is it from", STRONG),
    any("where does it come from", STRONG),
    any("price of", MEDIUM),
    any("what brand", MEDIUM),
    any("which brand", MEDIUM),
];

const ADD_TO_CART: &[Cue] = &[
    start("add", STRONG),
    any("add", MEDIUM),
    any("to my cart", MEDIUM),
    any("to the cart", MEDIUM),
    any("to cart", MEDIUM),
    any("to my basket", MEDIUM),
    any("to the basket", MEDIUM),
    any("to basket", MEDIUM),
    any("in my cart", WEAK),
    any("in my basket", WEAK),
    start("put", MEDIUM),
    any("ill take", STRONG),
    any("i will take", STRONG),
    any("ill have", STRONG),
    any("i will have", STRONG),
    any("id like", MEDIUM),
    any("i would like", MEDIUM),
    any("give me", MEDIUM),
    any("can i get", MEDIUM),
    any("can i have", MEDIUM),
    any("could i get", MEDIUM),
    any("could i have", MEDIUM),
    any("get me", WEAK),
    any("throw in", STRONG),
    start("buy", MEDIUM),
    any("purchase", MEDIUM),
    any("grab", MEDIUM),
    any("one more", MEDIUM),
    any("another one", MEDIUM),
    any("i want", WEAK),
];

const REMOVE_FROM_CART: &[Cue] = &[
    any("remove", STRONG),
    any("delete", STRONG),
    any("take out", STRONG),
    any("take off", STRONG),
    any("out of my cart", STRONG),
    any("out of the cart", STRONG),
    any("out of my basket", STRONG),
    any("out of the basket", STRONG),
    any("from my cart", MEDIUM),
    any("from the cart", MEDIUM),
    any("from my basket", MEDIUM),
    any("from the basket", MEDIUM),
    start("drop", STRONG),
    any("get rid of", STRONG),
    any("dont want", MEDIUM),
    any("do not want", MEDIUM),
    any("no longer want", STRONG),
    any("dont need", MEDIUM),
    any("anymore", MEDIUM),
    any("empty my cart", STRONG),
    // "cancel the coffee" may drop an item as well as decline a proposal.
    any("cancel the", STRONG),
    any("clear my cart", STRONG),
];

const UPDATE_CART: &[Cue] = &[
    any("change", STRONG),
    any("update", STRONG),
    any("make it", STRONG),
    any("make that", STRONG),
    any("instead", MEDIUM),
    any("quantity", STRONG),
    start("set", MEDIUM),
    any("increase", STRONG),
    any("decrease", STRONG),
    any("reduce", STRONG),
    any("only want", MEDIUM),
    any("actually", HINT),
];

const VIEW_CART: &[Cue] = &[
    any("whats in my cart", STRONG),
    any("what is in my cart", STRONG),
    any("whats in my basket", STRONG),
    any("what is in my basket", STRONG),
    any("show my cart", STRONG),
    any("show me my cart", STRONG),
    any("show my basket", STRONG),
    any("show me my basket", STRONG),
    any("show cart", STRONG),
    any("show basket", STRONG),
    any("view basket", STRONG),
    any("open cart", STRONG),
    any("open my cart", STRONG),
    any("check my cart", STRONG),
    any("view cart", STRONG),
    any("view my cart", STRONG),
    any("see my cart", STRONG),
    any("see my basket", STRONG),
    any("what have i got", STRONG),
    any("how much is my cart", STRONG),
    any("cart total", STRONG),
    any("basket total", STRONG),
    any("my total", MEDIUM),
    any("total", WEAK),
    any("my cart", WEAK),
    any("my basket", WEAK),
    any("cart", HINT),
    any("basket", HINT),
    whole("cart", STRONG),
    whole("basket", STRONG),
    whole("my cart", STRONG),
    whole("my basket", STRONG),
];

const APPLY_VOUCHER: &[Cue] = &[
    any("voucher", STRONG),
    any("coupon", STRONG),
    any("promo", STRONG),
    any("promo code", STRONG),
    any("discount code", STRONG),
    any("use code", STRONG),
    any("redeem", STRONG),
    any("code", MEDIUM),
    any("discount", MEDIUM),
    any("apply", MEDIUM),
    any("gift card", MEDIUM),
];

const CHECKOUT: &[Cue] = &[
    any("checkout", STRONG),
    any("check out", STRONG),
    any("to pay", STRONG),
    any("pay now", STRONG),
    any("lets pay", STRONG),
    any("pay", WEAK),
    any("place my order", STRONG),
    any("place the order", STRONG),
    any("place an order", STRONG),
    any("place order", STRONG),
    any("buy it now", STRONG),
    any("buy now", STRONG),
    any("complete my order", STRONG),
    any("complete the order", STRONG),
    any("complete my purchase", STRONG),
    any("finish my order", STRONG),
    any("done shopping", STRONG),
    any("proceed", MEDIUM),
    any("thats all", MEDIUM),
    any("thats everything", MEDIUM),
    any("im done", MEDIUM),
    any("order now", MEDIUM),
    any("ready to", WEAK),
];

const CONFIRM: &[Cue] = &[
    whole("yes", STRONG),
    start("yes", MEDIUM),
    start("yep", STRONG),
    start("yeah", STRONG),
    start("yup", STRONG),
    whole("y", STRONG),
    whole("sure", STRONG),
    start("sure", MEDIUM),
    whole("ok", STRONG),
    whole("okay", STRONG),
    start("ok", WEAK),
    start("okay", WEAK),
    whole("correct", STRONG),
    whole("absolutely", STRONG),
    whole("perfect", MEDIUM),
    any("confirm", STRONG),
    any("confirmed", STRONG),
    any("go ahead", STRONG),
    any("go for it", STRONG),
    any("sounds good", STRONG),
    any("lets do it", STRONG),
    any("looks good", MEDIUM),
    any("do it", MEDIUM),
    any("place it", MEDIUM),
    any("please do", MEDIUM),
    any("thats right", MEDIUM),
    any("thats correct", MEDIUM),
];

const DECLINE: &[Cue] = &[
    whole("no", STRONG),
    start("no", WEAK),
    whole("nope", STRONG),
    start("nope", STRONG),
    start("nah", STRONG),
    whole("n", STRONG),
    any("cancel", STRONG),
    any("not yet", STRONG),
    any("not now", STRONG),
    whole("wait", STRONG),
    start("wait", MEDIUM),
    any("hold on", STRONG),
    any("hang on", STRONG),
    whole("dont", STRONG),
    whole("stop", STRONG),
    any("dont do it", STRONG),
    any("never mind", STRONG),
    any("nevermind", STRONG),
    any("no thanks", STRONG),
    any("no thank you", STRONG),
    any("changed my mind", STRONG),
    any("forget it", STRONG),
    any("maybe later", STRONG),
    whole("later", MEDIUM),
    any("not really", MEDIUM),
];

const ORDER_STATUS: &[Cue] = &[
    any("where is my order", STRONG),
    any("wheres my order", STRONG),
    any("where is my", MEDIUM),
    any("wheres my", MEDIUM),
    any("when is my", MEDIUM),
    any("is my order", MEDIUM),
    any("my order", WEAK),
    any("order", HINT),
    any("order status", STRONG),
    any("status", MEDIUM),
    any("track", STRONG),
    any("tracking", STRONG),
    any("shipped", STRONG),
    any("dispatched", STRONG),
    any("on its way", STRONG),
    any("delivered", MEDIUM),
    any("arrive", MEDIUM),
    any("arrived", MEDIUM),
    any("when will", MEDIUM),
    any("package", MEDIUM),
    any("parcel", MEDIUM),
    any("my delivery", MEDIUM),
    any("order number", MEDIUM),
];

const RECOMMENDATION: &[Cue] = &[
    any("recommend", STRONG),
    any("recommendation", STRONG),
    any("recommendations", STRONG),
    any("suggest", STRONG),
    any("suggestion", STRONG),
    any("suggestions", STRONG),
    any("goes with", STRONG),
    any("goes well with", STRONG),
    any("go with", MEDIUM),
    any("pair with", STRONG),
    any("pairs with", STRONG),
    any("what else", MEDIUM),
    any("people buy", STRONG),
    any("also buy", STRONG),
    any("also bought", STRONG),
    any("popular", STRONG),
    any("best seller", STRONG),
    any("best sellers", STRONG),
    any("bestseller", STRONG),
    any("bestsellers", STRONG),
    any("best selling", STRONG),
    any("top rated", STRONG),
    any("trending", STRONG),
    any("favourite", MEDIUM),
    any("favorite", MEDIUM),
    any("what should i", MEDIUM),
    any("ideas", MEDIUM),
    any("inspiration", MEDIUM),
    any("similar", MEDIUM),
    any("alternative", MEDIUM),
    any("whats good", MEDIUM),
    any("your pick", MEDIUM),
];

const STORE_POLICY: &[Cue] = &[
    any("policy", STRONG),
    any("do you list", STRONG),
    any("do you label", STRONG),
    any("allergen", MEDIUM),
    any("return policy", STRONG),
    any("returns", STRONG),
    any("return", MEDIUM),
    any("refund", STRONG),
    any("refunds", STRONG),
    any("exchange", MEDIUM),
    any("deliver", STRONG),
    any("delivery", STRONG),
    any("free delivery", STRONG),
    any("shipping", STRONG),
    any("free shipping", STRONG),
    any("do you ship", STRONG),
    any("ship to", MEDIUM),
    any("postage", STRONG),
    any("opening hours", STRONG),
    any("open", MEDIUM),
    any("opening", MEDIUM),
    any("hours", MEDIUM),
    any("closing", MEDIUM),
    any("cash", STRONG),
    any("paypal", STRONG),
    any("payment methods", STRONG),
    any("credit card", MEDIUM),
    any("pay by", MEDIUM),
    any("pay with", MEDIUM),
    any("contact", MEDIUM),
    any("phone number", STRONG),
    any("located", STRONG),
    any("location", MEDIUM),
    any("address", MEDIUM),
    any("pickup", STRONG),
    any("pick up", MEDIUM),
    any("click and collect", STRONG),
    any("collect", MEDIUM),
    any("warranty", STRONG),
    any("guarantee", MEDIUM),
    any("privacy", STRONG),
    any("minimum order", STRONG),
    any("international", MEDIUM),
    any("terms", MEDIUM),
    any("sunday", WEAK),
    any("sundays", WEAK),
    any("weekend", WEAK),
];

const GREETING: &[Cue] = &[
    whole("hi", STRONG),
    whole("hello", STRONG),
    whole("hey", STRONG),
    whole("hiya", STRONG),
    whole("howdy", STRONG),
    whole("yo", STRONG),
    start("hi", MEDIUM),
    start("hello", MEDIUM),
    start("hey", MEDIUM),
    start("hiya", MEDIUM),
    start("greetings", MEDIUM),
    start("good morning", STRONG),
    start("good afternoon", STRONG),
    start("good evening", STRONG),
    whole("thanks", STRONG),
    whole("thank you", STRONG),
    whole("cheers", STRONG),
    start("thanks", MEDIUM),
    start("thank you", MEDIUM),
    any("thanks", WEAK),
    any("thank you", WEAK),
    any("how are you", MEDIUM),
    whole("bye", STRONG),
    whole("goodbye", STRONG),
    start("bye", MEDIUM),
    any("see you", MEDIUM),
    any("have a nice day", STRONG),
];

const HUMAN: &[Cue] = &[
    any("human", STRONG),
    any("a person", STRONG),
    any("real person", STRONG),
    any("person", MEDIUM),
    any("agent", STRONG),
    any("representative", STRONG),
    any("operator", STRONG),
    any("manager", STRONG),
    any("customer service", STRONG),
    any("customer support", STRONG),
    any("live chat", STRONG),
    any("not a bot", STRONG),
    any("anyone there", STRONG),
    any("anybody there", STRONG),
    any("someone", MEDIUM),
    any("somebody", MEDIUM),
    any("staff", MEDIUM),
    any("support", MEDIUM),
    any("speak to", MEDIUM),
    any("talk to", MEDIUM),
    any("speak with", MEDIUM),
    any("talk with", MEDIUM),
    any("connect me", MEDIUM),
    any("get me someone", MEDIUM),
    any("useless", WEAK),
];

/// Every intent's table; `Other` has none: it is what is left when nothing scores.
const CUE_TABLES: [(Intent, &[Cue]); 15] = [
    (Intent::Search, SEARCH),
    (Intent::ProductQuestion, PRODUCT_QUESTION),
    (Intent::AddToCart, ADD_TO_CART),
    (Intent::RemoveFromCart, REMOVE_FROM_CART),
    (Intent::UpdateCart, UPDATE_CART),
    (Intent::ViewCart, VIEW_CART),
    (Intent::ApplyVoucher, APPLY_VOUCHER),
    (Intent::Checkout, CHECKOUT),
    (Intent::Confirm, CONFIRM),
    (Intent::Decline, DECLINE),
    (Intent::OrderStatus, ORDER_STATUS),
    (Intent::Recommendation, RECOMMENDATION),
    (Intent::StorePolicy, STORE_POLICY),
    (Intent::Greeting, GREETING),
    (Intent::Human, HUMAN),
];

/// Grocery and general-shop nouns (singular): a message naming one is probably a search.
#[rustfmt::skip]
const PRODUCT_WORDS: &[&str] = &[
    "almond", "apple", "avocado", "bacon", "bagel", "baguette", "baking", "banana", "bar", "bean",
    "beef", "berry", "biscotti", "biscuit", "blueberry", "bread", "breakfast", "brie", "brioche",
    "broccoli", "brownie", "bun", "burger", "butter", "cake", "camembert", "candle", "carrot",
    "cashew", "cereal", "chai", "cheddar", "cheese", "cherry", "chicken", "chickpea", "chip",
    "chocolate", "chorizo", "cider", "cocoa", "cod", "coffee", "cola", "cookie", "couscous",
    "cracker", "cream", "crisp", "croissant", "crumpet", "cucumber", "curry", "dessert", "dinner",
    "dip", "doughnut", "drink", "duck", "dumpling", "egg", "espresso", "feta", "fig", "fish",
    "flapjack", "flour", "focaccia", "fruit", "garlic", "gift", "gnocchi", "gouda", "granola",
    "grape", "halloumi", "ham", "hamper", "herb", "honey", "hummus", "ice", "jam", "jerky", "juice",
    "kefir", "ketchup", "kombucha", "lamb", "lasagne", "latte", "lemon", "lemonade", "lentil",
    "lettuce", "loaf", "lunch", "manchego", "mango", "marshmallow", "matcha", "mayonnaise", "meat",
    "melon", "milk", "mince", "mozzarella", "muesli", "muffin", "mushroom", "mussel", "mustard",
    "noodle", "nut", "oat", "oil", "olive", "onion", "orange", "pancake", "parmesan", "pasta",
    "pastry", "peach", "pear", "pepper", "pesto", "picnic", "pie", "pistachio", "pizza", "plum",
    "popcorn", "pork", "porridge", "potato", "prawn", "pretzel", "quinoa", "raisin", "raspberry",
    "rice", "ricotta", "risotto", "roll", "salad", "salami", "salmon", "salt", "sandwich", "sauce",
    "sausage", "scone", "seed", "shortbread", "smoothie", "snack", "soda", "soup", "sourdough",
    "spice", "spinach", "spread", "steak", "strawberry", "sugar", "sushi", "sweet", "taco", "tea",
    "toast", "tofu", "tomato", "tortilla", "tuna", "turkey", "veg", "vegetable", "venison",
    "vinegar", "waffle", "walnut", "water", "wine", "wrap", "yoghurt", "yogurt",
];

/// Shorthand and misspellings too short for the one-edit rule, with what they mean.
const TYPOS: &[(&str, &str)] = &[
    ("oder", "order"),
    ("ordr", "order"),
    ("odrer", "order"),
    ("wher", "where"),
    ("whr", "where"),
    ("wat", "what"),
    ("wot", "what"),
    ("wht", "what"),
    ("crat", "cart"),
    ("kart", "cart"),
    ("pls", "please"),
    ("plz", "please"),
    ("u", "you"),
    ("ur", "your"),
    ("thx", "thanks"),
    ("thnx", "thanks"),
    ("thnks", "thanks"),
    ("ty", "thanks"),
    ("helo", "hello"),
    ("hii", "hi"),
    ("heya", "hey"),
    ("yea", "yeah"),
    ("ya", "yeah"),
    ("k", "ok"),
    ("kk", "ok"),
    ("nvm", "never mind"),
    ("wanna", "want to"),
    ("gimme", "give me"),
    ("coupen", "coupon"),
    ("remvoe", "remove"),
    ("remov", "remove"),
    ("delet", "delete"),
    ("staus", "status"),
    ("polcy", "policy"),
    ("reccomend", "recommend"),
    ("reccommend", "recommend"),
    ("recomend", "recommend"),
];

/// Words at least this long may be one edit away from a cue word and still count.
const MIN_FUZZY_LEN: usize = 6;
/// Cue words shorter than this are too close to everyday words to fuzz towards.
const MIN_FUZZY_TARGET_LEN: usize = 7;

/// Every cue split into words once, and which cues each word can start.
struct CueIndex {
    cues: Vec<(Intent, &'static Cue, Vec<&'static str>)>,
    by_first_word: HashMap<&'static str, Vec<usize>>,
    /// Every word of every cue, sorted: such a word is never "corrected" into another.
    words: Vec<&'static str>,
}

static CUE_INDEX: LazyLock<CueIndex> = LazyLock::new(|| {
    let cues: Vec<(Intent, &'static Cue, Vec<&'static str>)> = CUE_TABLES
        .iter()
        .flat_map(|(intent, cues)| cues.iter().map(move |cue| (*intent, cue)))
        .map(|(intent, cue)| (intent, cue, cue.phrase.split(' ').collect()))
        .collect();
    let mut by_first_word: HashMap<&'static str, Vec<usize>> = HashMap::new();
    for (id, (_, _, phrase)) in cues.iter().enumerate() {
        if let Some(first) = phrase.first() {
            by_first_word.entry(first).or_default().push(id);
        }
    }
    let mut words: Vec<&'static str> = cues
        .iter()
        .flat_map(|(_, _, phrase)| phrase.iter().copied())
        .collect();
    words.sort_unstable();
    words.dedup();
    CueIndex {
        cues,
        by_first_word,
        words,
    }
});

/// Each intent's summed weight of the cues found in `words`, each cue counted once.
fn cue_scores(words: &[&str]) -> [f32; Intent::ALL.len()] {
    let index = &*CUE_INDEX;
    let mut matched = vec![false; index.cues.len()];
    for (at, word) in words.iter().enumerate() {
        let Some(ids) = index.by_first_word.get(word) else {
            continue;
        };
        for &id in ids {
            let (_, cue, phrase) = &index.cues[id];
            matched[id] |= cue.fits(phrase, words, at);
        }
    }
    let mut scores = [0.0f32; Intent::ALL.len()];
    for ((intent, cue, _), _) in index.cues.iter().zip(&matched).filter(|(_, hit)| **hit) {
        scores[intent.index()] += cue.weight;
    }
    scores
}

impl Cue {
    /// Whether `phrase`, this cue's words, sits at word `at` of `words` where the cue allows.
    fn fits(&self, phrase: &[&str], words: &[&str], at: usize) -> bool {
        let placed = match self.at {
            At::Anywhere => true,
            At::Start => at == 0,
            At::Whole => at == 0 && words.len() == phrase.len(),
        };
        placed && words.get(at..at + phrase.len()) == Some(phrase)
    }
}

/// The message's words with shorthand expanded and near-misses of cue words fixed.
fn corrected_words(normalized: &str) -> Vec<String> {
    normalized
        .split(' ')
        .filter(|word| !word.is_empty())
        .flat_map(|word| {
            corrected(word)
                .split(' ')
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn corrected(word: &str) -> &str {
    if let Some((_, fixed)) = TYPOS.iter().find(|(typo, _)| *typo == word) {
        return fixed;
    }
    let known = CUE_INDEX.words.binary_search(&word).is_ok() || is_product_word(word);
    if word.len() < MIN_FUZZY_LEN || known {
        return word;
    }
    // Typos rarely hit the first letter; requiring it keeps "whipping" from becoming "shipping".
    CUE_INDEX
        .words
        .iter()
        .filter(|target| target.len() >= MIN_FUZZY_TARGET_LEN)
        .find(|target| target.as_bytes()[0] == word.as_bytes()[0] && one_edit_apart(word, target))
        .copied()
        .unwrap_or(word)
}

/// Whether one substitution, insertion, deletion or swap of neighbours turns `a` into `b`.
fn one_edit_apart(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if long.len() - short.len() > 1 {
        return false;
    }
    let prefix = short.iter().zip(long).take_while(|(x, y)| x == y).count();
    if short.len() == long.len() {
        let rest = prefix + 1;
        let substituted = short.get(rest..) == long.get(rest..);
        let swapped = rest < short.len()
            && short[prefix] == long[rest]
            && short[rest] == long[prefix]
            && short.get(rest + 1..) == long.get(rest + 1..);
        prefix < short.len() && (substituted || swapped)
    } else {
        short[prefix..] == long[prefix + 1..]
    }
}

/// Evidence that is not a phrase: product words, slots the message carries.
fn add_signals(scores: &mut [f32; Intent::ALL.len()], message: &str, words: &[&str]) {
    // Only whether a price is there matters here, not its minor units.
    let slots = slots::extract(message, 2);
    let names_product = words.iter().any(|word| is_product_word(word));
    let product_evidence = [
        (names_product, WEAK),
        (!slots.dietary.is_empty(), WEAK),
        (
            slots.max_price_minor.is_some() || slots.min_price_minor.is_some(),
            MEDIUM,
        ),
    ]
    .iter()
    .filter(|(present, _)| *present)
    .map(|(_, weight)| weight)
    .sum::<f32>()
    .min(MAX_PRODUCT_EVIDENCE);
    scores[Intent::Search.index()] += product_evidence;
    if slots.order_number.is_some() {
        scores[Intent::OrderStatus.index()] += MEDIUM;
    }
    if slots.voucher_code.is_some() {
        scores[Intent::ApplyVoucher.index()] += MEDIUM;
    }
    if sets_a_number(words) {
        scores[Intent::UpdateCart.index()] += WEAK;
    }
}

/// "bread", "tomatoes", "berries": a product word, singular or plural.
fn is_product_word(word: &str) -> bool {
    let known = |singular: &str| PRODUCT_WORDS.contains(&singular);
    let berries = |stem: &str| {
        PRODUCT_WORDS
            .iter()
            .any(|p| p.strip_suffix('y') == Some(stem))
    };
    known(word)
        || word.strip_suffix("ies").is_some_and(berries)
        || word.strip_suffix("es").is_some_and(known)
        || word.strip_suffix('s').is_some_and(known)
}

/// "to 3", "to two": the shape of a quantity change.
fn sets_a_number(words: &[&str]) -> bool {
    words
        .windows(2)
        .any(|pair| pair[0] == "to" && slots::count_word(pair[1]).is_some())
}

/// The best-scoring intent. Its confidence is a softmax of the scores against one another
/// and against a baseline of "none of these": a lone strong cue nears 1, a tie stays under 0.5.
fn decide(scores: &[f32; Intent::ALL.len()]) -> Classified {
    let (best, best_score) = CUE_TABLES
        .iter()
        .map(|(intent, _)| (*intent, scores[intent.index()]))
        .fold((Intent::Other, 0.0f32), |top, candidate| {
            if candidate.1 > top.1 { candidate } else { top }
        });
    if best_score < MIN_SCORE {
        let confidence = if best_score > 0.0 {
            HINTED_CONFIDENCE
        } else {
            UNKNOWN_CONFIDENCE
        };
        return unknown(confidence);
    }
    // exp(score - best) keeps the sum finite however many cues a long message hits.
    let rivals: f32 = scores
        .iter()
        .filter(|score| **score > 0.0)
        .map(|score| (score - best_score).exp())
        .sum();
    let none_of_these = (-best_score).exp();
    Classified {
        intent: best,
        confidence: (1.0 / (rivals + none_of_these)).clamp(0.0, 1.0),
    }
}

fn unknown(confidence: f32) -> Classified {
    Classified {
        intent: Intent::Other,
        confidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Intent::*;

    /// Labelled shopper messages: every one must be read right.
    const LABELLED: &[(&str, Intent)] = &[
        (
            "I need something for breakfast, no dairy, under $15",
            Search,
        ),
        ("do you have gluten free pasta", Search),
        ("show me vegan snacks", Search),
        ("looking for coffee", Search),
        ("bread?", Search),
        ("halloumi", Search),
        ("gluten free bread under 5 dollars", Search),
        ("any organic eggs?", Search),
        ("cheap coffee beans", Search),
        ("I'm after some oat milk", Search),
        ("got any halal chicken", Search),
        ("find me a birthday cake", Search),
        ("vegan cheese", Search),
        ("snacks for a road trip", Search),
        ("searching for tortilla chips", Search),
        ("is the sourdough vegan?", ProductQuestion),
        ("what's in the granola", ProductQuestion),
        ("how big is the second one", ProductQuestion),
        ("tell me more about it", ProductQuestion),
        ("does the granola contain nuts", ProductQuestion),
        ("how many eggs are in the box", ProductQuestion),
        ("is it in stock?", ProductQuestion),
        ("what are the ingredients of the hummus", ProductQuestion),
        ("how much is the olive oil", ProductQuestion),
        ("how long does the sourdough keep", ProductQuestion),
        ("add two of those to my cart", AddToCart),
        ("I'll take the first one", AddToCart),
        ("put 3 in my basket", AddToCart),
        ("add the oat milk", AddToCart),
        ("I'd like 2 of the rye bread", AddToCart),
        ("can I get 3 of the second one", AddToCart),
        ("give me a dozen eggs", AddToCart),
        ("throw in a bag of coffee", AddToCart),
        ("can you add the second one", AddToCart),
        ("remove the bread", RemoveFromCart),
        ("take the coffee out of my cart", RemoveFromCart),
        ("delete the second item", RemoveFromCart),
        ("I don't want the milk anymore", RemoveFromCart),
        ("get rid of the chocolate", RemoveFromCart),
        ("change the milk to 3", UpdateCart),
        ("make it 2 instead", UpdateCart),
        ("set quantity of coffee to 4", UpdateCart),
        ("increase the eggs to 12", UpdateCart),
        ("actually make that 3", UpdateCart),
        ("what's in my cart", ViewCart),
        ("show my basket", ViewCart),
        ("cart total?", ViewCart),
        ("view cart", ViewCart),
        ("show cart", ViewCart),
        ("how much is my cart", ViewCart),
        ("apply code SAVE10", ApplyVoucher),
        ("I have a voucher WELCOME5", ApplyVoucher),
        ("use coupon X", ApplyVoucher),
        ("promo code SUMMER24", ApplyVoucher),
        ("WELCOME5", ApplyVoucher),
        ("checkout", Checkout),
        ("I want to pay", Checkout),
        ("place my order", Checkout),
        ("buy it now", Checkout),
        ("ready to check out", Checkout),
        ("proceed to checkout", Checkout),
        ("that's all, let's pay", Checkout),
        ("yes", Confirm),
        ("yes please", Confirm),
        ("confirm", Confirm),
        ("go ahead", Confirm),
        ("yep, place it", Confirm),
        ("sounds good", Confirm),
        ("ok", Confirm),
        ("yes, that's right", Confirm),
        ("no", Decline),
        ("cancel", Decline),
        ("not yet", Decline),
        ("wait", Decline),
        ("don't", Decline),
        ("no thanks", Decline),
        ("never mind", Decline),
        ("where is my order?", OrderStatus),
        ("status of order SK-1042", OrderStatus),
        ("has my order shipped", OrderStatus),
        ("track my package", OrderStatus),
        ("when will my order arrive", OrderStatus),
        ("when is my delivery coming", OrderStatus),
        ("SK-2001?", OrderStatus),
        ("what do you recommend", Recommendation),
        ("anything that goes with this?", Recommendation),
        ("suggest something", Recommendation),
        ("what else do people buy with this", Recommendation),
        ("what's popular", Recommendation),
        ("what goes well with brie", Recommendation),
        ("what's your return policy", StorePolicy),
        ("do you deliver on Sundays", StorePolicy),
        ("how much is shipping", StorePolicy),
        ("opening hours", StorePolicy),
        ("can I pay cash", StorePolicy),
        ("do you offer free delivery", StorePolicy),
        ("where are you located", StorePolicy),
        ("do you take paypal", StorePolicy),
        ("hi", Greeting),
        ("hello there", Greeting),
        ("good morning", Greeting),
        ("thanks!", Greeting),
        ("thank you so much", Greeting),
        ("bye", Greeting),
        ("talk to a person", Human),
        ("I want a human", Human),
        ("real agent please", Human),
        ("this is useless, get me someone", Human),
        ("can I speak to someone", Human),
        ("customer service please", Human),
        ("is anyone there", Human),
        ("asdf", Other),
        ("what is the meaning of life", Other),
        ("qwerty", Other),
        ("the weather is nice today", Other),
        ("", Other),
    ];

    #[test]
    fn every_labelled_message_is_read_right() {
        let wrong: Vec<String> = LABELLED
            .iter()
            .filter_map(|(message, expected)| {
                let got = classify(message);
                (got.intent != *expected)
                    .then(|| format!("{message:?}: expected {expected:?}, got {got:?}"))
            })
            .collect();
        assert!(LABELLED.len() >= 80, "only {} examples", LABELLED.len());
        assert!(wrong.is_empty(), "misread:\n{}", wrong.join("\n"));
    }

    #[test]
    fn clear_messages_are_confident() {
        let clear = [
            "add two of those to my cart",
            "where is my order?",
            "what's your return policy",
            "checkout",
            "hi",
            "do you have gluten free pasta",
            "talk to a person",
            "apply code SAVE10",
            "remove the bread",
            "what do you recommend",
            "yes",
            "cancel",
            "make it 2 instead",
            "what's in my cart",
        ];
        for message in clear {
            let got = classify(message);
            assert!(got.confidence >= 0.8, "{message:?}: {got:?}");
        }
    }

    #[test]
    fn a_bare_product_word_is_a_search_of_middling_confidence() {
        let got = classify("bread?");
        assert_eq!(got.intent, Search);
        assert!((0.5..0.8).contains(&got.confidence), "{got:?}");
    }

    #[test]
    fn ambiguous_messages_are_not_confident() {
        let ambiguous = [
            "cancel the coffee",
            "I want to return the bread",
            "remove my voucher",
            "order",
            "help",
            "asdf",
        ];
        for message in ambiguous {
            let got = classify(message);
            assert!(got.confidence < 0.5, "{message:?}: {got:?}");
        }
    }

    #[test]
    fn confidence_is_always_a_probability() {
        let long = "add remove where is my order checkout yes no ".repeat(200);
        for message in LABELLED
            .iter()
            .map(|(m, _)| *m)
            .chain([long.as_str(), "🍞", "$"])
        {
            let got = classify(message);
            assert!(
                (0.0..=1.0).contains(&got.confidence),
                "{message:?}: {got:?}"
            );
        }
    }

    #[test]
    fn case_punctuation_and_common_typos_do_not_matter() {
        let same = [
            ("WHERE IS MY ORDER???", OrderStatus),
            ("wher is my oder", OrderStatus),
            ("chekout pls", Checkout),
            ("what do u reccomend", Recommendation),
            ("whats the shiping cost", StorePolicy),
            ("thx", Greeting),
            ("Add   the   Oat-Milk!!", AddToCart),
        ];
        for (message, intent) in same {
            assert_eq!(classify(message).intent, intent, "{message:?}");
        }
        assert_eq!(classify("whipping cream").intent, Search);
    }

    #[test]
    fn normalize_lowercases_strips_punctuation_and_keeps_digits() {
        assert_eq!(normalize("  What's in   my CART?! "), "whats in my cart");
        assert_eq!(normalize("under $15.50, please"), "under 15.50 please");
        assert_eq!(normalize("SK-1042"), "sk 1042");
        assert_eq!(normalize("end."), "end");
        assert_eq!(normalize("Crème brûlée 🍮"), "crème brûlée");
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("!!!"), "");
        assert_eq!(normalize("hi"), normalize("Hi!"));
    }

    #[test]
    fn names_round_trip_through_parse_and_serde() {
        for intent in Intent::ALL {
            assert_eq!(Intent::parse(intent.as_str()), Some(intent));
            let json = serde_json::to_string(&intent).unwrap();
            assert_eq!(json, format!("\"{}\"", intent.as_str()));
            assert_eq!(serde_json::from_str::<Intent>(&json).unwrap(), intent);
        }
        assert_eq!(Intent::parse(" Add_To_Cart "), Some(AddToCart));
        assert_eq!(Intent::parse("shopping"), None);
        let distinct: std::collections::HashSet<_> = Intent::ALL.into_iter().collect();
        assert_eq!(distinct.len(), Intent::ALL.len());
    }

    #[test]
    fn score_slots_follow_the_order_of_all() {
        for (position, intent) in Intent::ALL.into_iter().enumerate() {
            assert_eq!(intent.index(), position, "{intent:?}");
        }
    }

    #[test]
    fn one_edit_apart_covers_each_kind_of_edit() {
        assert!(one_edit_apart("chekout", "checkout"));
        assert!(one_edit_apart("checkuot", "checkout"));
        assert!(one_edit_apart("checkoot", "checkout"));
        assert!(one_edit_apart("checkoutt", "checkout"));
        assert!(one_edit_apart("shopping", "shipping"));
        assert!(!one_edit_apart("checkout", "checkout"));
        assert!(!one_edit_apart("chkout", "checkout"));
        assert!(!one_edit_apart("recipe", "receipt"));
        assert!(!one_edit_apart("ab", "ba "));
    }

    #[test]
    fn every_table_phrase_is_already_normalised() {
        for (intent, cues) in CUE_TABLES {
            for cue in cues {
                assert_eq!(normalize(cue.phrase), cue.phrase, "{intent:?}");
            }
        }
        for word in PRODUCT_WORDS {
            assert_eq!(normalize(word), *word);
        }
    }
}
