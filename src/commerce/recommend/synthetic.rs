//! A synthetic order history with real co-purchase structure, for evaluating
//! recommendations where no shop's order history can be published.
//!
//! Baskets come from shopping "missions" (breakfast, pasta night, a barbecue,
//! a cheese board …) whose slots are picked from the catalog by category and
//! tag, so they work on any catalog labelled like the demo grocery. On top:
//! products sell with a long-tailed popularity, customers have favourite
//! missions, stick to the products they chose before, some eat vegan, summer
//! and winter missions follow the season, and impulse buys add noise. The
//! same seed always gives the same history. Pure computation: it neither
//! reads nor writes the store.

use std::collections::HashMap;

use time::OffsetDateTime;

use crate::commerce::OrderStatus;

/// What the generator needs to know about a product.
#[derive(Debug, Clone)]
pub struct CatalogItem {
    pub id: i64,
    pub name: String,
    pub category: String,
    pub tags: Vec<String>,
    pub dietary: Vec<String>,
    pub price_minor: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct HistoryOptions {
    pub orders: usize,
    pub seed: u64,
    pub start: OffsetDateTime,
    pub days: u32,
}

/// One generated order; `lines` index the catalog given to [`generate`].
#[derive(Debug, Clone)]
pub struct SyntheticOrder {
    pub customer: u32,
    pub created_at: OffsetDateTime,
    pub status: OrderStatus,
    pub lines: Vec<(usize, i64)>,
}

/// A deterministic pseudo-random source (SplitMix64): the same seed gives the
/// same history on every machine, which a recorded benchmark needs.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n); n must be > 0.
    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// An index drawn with probability proportional to its weight.
    fn weighted(&mut self, weights: impl Iterator<Item = f64> + Clone) -> usize {
        let total: f64 = weights.clone().sum();
        let mut target = self.unit() * total;
        let mut last = 0;
        for (i, w) in weights.enumerate() {
            last = i;
            if target < w {
                return i;
            }
            target -= w;
        }
        last
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Season {
    AllYear,
    Summer,
    Winter,
    December,
}

impl Season {
    /// How much likelier the mission is in `month` (1–12) than on average.
    fn factor(self, month: u8) -> f64 {
        let summer = matches!(month, 5..=8);
        let winter = matches!(month, 11 | 12 | 1 | 2);
        match self {
            Season::AllYear => 1.0,
            Season::Summer if summer => 2.5,
            Season::Summer if winter => 0.2,
            Season::Winter if winter => 2.0,
            Season::Winter if summer => 0.4,
            Season::December if month == 12 => 6.0,
            Season::December => 0.5,
            Season::Summer | Season::Winter => 1.0,
        }
    }
}

/// Products that fill one need of a mission: those in any of `categories`
/// (a path or its prefix) when given, that carry any of `tags` when given.
struct Slot {
    categories: &'static [&'static str],
    tags: &'static [&'static str],
    chance: f64,
    /// How many different products of the slot go in (at most).
    picks: usize,
}

const fn slot(
    categories: &'static [&'static str],
    tags: &'static [&'static str],
    chance: f64,
) -> Slot {
    Slot {
        categories,
        tags,
        chance,
        picks: 1,
    }
}

const fn slots(
    categories: &'static [&'static str],
    tags: &'static [&'static str],
    chance: f64,
    picks: usize,
) -> Slot {
    Slot {
        categories,
        tags,
        chance,
        picks,
    }
}

struct Mission {
    name: &'static str,
    season: Season,
    slots: &'static [Slot],
}

const NONE: &[&str] = &[];

/// Shopping missions of a grocery and deli, the source of co-purchase structure.
const MISSIONS: &[Mission] = &[
    Mission {
        name: "breakfast",
        season: Season::AllYear,
        slots: &[
            slot(&["Bakery > Bread"], NONE, 0.85),
            slot(&["Dairy & Eggs > Butter & Spreads"], NONE, 0.6),
            slot(&["Pantry > Honey & Spreads"], NONE, 0.55),
            slot(&["Dairy & Eggs > Eggs"], NONE, 0.45),
            slot(NONE, &["bacon", "mushrooms", "avocado"], 0.3),
            slot(&["Beverages > Juice"], NONE, 0.3),
        ],
    },
    Mission {
        name: "cereal bowl",
        season: Season::AllYear,
        slots: &[
            slot(
                &["Breakfast > Cereal & Granola", "Breakfast > Oats"],
                NONE,
                0.95,
            ),
            slot(
                &["Dairy & Eggs > Milk", "Dairy & Eggs > Plant-Based Milk"],
                NONE,
                0.75,
            ),
            slot(&["Fruit & Vegetables > Berries"], NONE, 0.4),
            slot(NONE, &["bananas"], 0.3),
            slot(&["Dairy & Eggs > Yoghurt"], NONE, 0.35),
            slot(&["Breakfast > Toppings & Seeds"], NONE, 0.3),
        ],
    },
    Mission {
        name: "pasta night",
        season: Season::AllYear,
        slots: &[
            slot(
                &["Pantry"],
                &["pasta", "spaghetti", "rigatoni", "tagliatelle", "fusilli"],
                0.95,
            ),
            slot(
                &["Pantry"],
                &["pasta sauce", "tinned tomatoes", "pesto", "arrabbiata"],
                0.8,
            ),
            slot(NONE, &["parmesan"], 0.6),
            slot(NONE, &["basil", "garlic", "onions"], 0.5),
            slot(NONE, &["rocket", "spinach"], 0.3),
            slot(NONE, &["olive oil"], 0.25),
        ],
    },
    Mission {
        name: "barbecue",
        season: Season::Summer,
        slots: &[
            slots(
                &["Meat & Seafood"],
                &["bbq", "burgers", "sausages", "skewers", "steaks"],
                0.9,
                2,
            ),
            slot(NONE, &["buns", "burger"], 0.7),
            slot(NONE, &["coleslaw", "potato salad"], 0.55),
            slot(NONE, &["bbq sauce", "ketchup", "mustard", "bbq rub"], 0.5),
            slot(NONE, &["charcoal"], 0.35),
            slot(NONE, &["sweetcorn", "peppers", "halloumi"], 0.4),
            slot(&["Beverages > Soft Drinks"], NONE, 0.4),
        ],
    },
    Mission {
        name: "picnic",
        season: Season::Summer,
        slots: &[
            slot(&["Bakery"], &["picnic", "baguette"], 0.6),
            slot(&["Deli > Cheese Counter"], &["picnic"], 0.5),
            slot(&["Deli > Charcuterie"], &["picnic"], 0.45),
            slot(&["Deli > Dips", "Deli > Prepared Salads"], &["picnic"], 0.5),
            slot(&["Fruit & Vegetables"], &["picnic"], 0.45),
            slot(
                &[
                    "Picnic & Household > Picnic Gear",
                    "Picnic & Household > Tableware",
                ],
                NONE,
                0.35,
            ),
            slot(&["Beverages > Soft Drinks", "Beverages > Water"], NONE, 0.4),
        ],
    },
    Mission {
        name: "cheese board",
        season: Season::AllYear,
        slots: &[
            slots(&["Deli > Cheese Counter"], NONE, 0.95, 2),
            slot(&["Snacks > Crackers"], NONE, 0.8),
            slot(NONE, &["grapes", "pears", "fig", "quince"], 0.55),
            slot(&["Deli > Charcuterie"], NONE, 0.3),
            slot(&["Deli > Olives & Antipasti"], NONE, 0.3),
        ],
    },
    Mission {
        name: "taco night",
        season: Season::AllYear,
        slots: &[
            slot(NONE, &["tortillas", "tacos", "burrito"], 0.9),
            slot(NONE, &["guacamole", "sour cream"], 0.6),
            slot(NONE, &["black beans", "nachos", "tortilla chips"], 0.5),
            slot(NONE, &["peppers", "avocado", "onions"], 0.4),
            slot(&["Meat & Seafood > Beef"], NONE, 0.3),
        ],
    },
    Mission {
        name: "curry night",
        season: Season::Winter,
        slots: &[
            slot(
                NONE,
                &["curry night", "curry paste", "garam masala", "curry"],
                0.9,
            ),
            slot(NONE, &["naan"], 0.6),
            slot(NONE, &["basmati"], 0.6),
            slot(
                &["Meat & Seafood > Poultry", "Meat & Seafood > Lamb"],
                NONE,
                0.4,
            ),
        ],
    },
    Mission {
        name: "afternoon tea",
        season: Season::Winter,
        slots: &[
            slot(NONE, &["afternoon tea", "tea time"], 0.9),
            slot(&["Beverages > Tea"], NONE, 0.6),
            slot(&["Dairy & Eggs > Cream"], NONE, 0.35),
            slot(NONE, &["jam", "honey"], 0.4),
            slot(&["Snacks > Cookies & Biscuits"], NONE, 0.4),
        ],
    },
    Mission {
        name: "mezze",
        season: Season::Summer,
        slots: &[
            slots(
                NONE,
                &["hummus", "mezze", "pita", "tzatziki", "falafel"],
                0.9,
                2,
            ),
            slot(&["Deli > Olives & Antipasti"], NONE, 0.5),
            slot(NONE, &["zaatar", "middle eastern"], 0.3),
            slot(NONE, &["cucumber", "tomatoes"], 0.4),
            slot(NONE, &["halloumi", "feta"], 0.3),
        ],
    },
    Mission {
        name: "home baking",
        season: Season::Winter,
        slots: &[
            slot(NONE, &["flour", "bread baking", "yeast"], 0.7),
            slot(NONE, &["sugar", "caster sugar"], 0.6),
            slot(&["Dairy & Eggs > Butter & Spreads"], NONE, 0.6),
            slot(&["Dairy & Eggs > Eggs"], NONE, 0.6),
            slot(NONE, &["vanilla", "chocolate chips", "extract"], 0.5),
            slot(&["Dairy & Eggs > Cream"], NONE, 0.3),
        ],
    },
    Mission {
        name: "lunchbox",
        season: Season::AllYear,
        slots: &[
            slots(NONE, &["lunchbox"], 0.95, 3),
            slot(NONE, &["kids"], 0.4),
            slot(&["Snacks > Crisps"], NONE, 0.3),
        ],
    },
    Mission {
        name: "smoothie",
        season: Season::Summer,
        slots: &[
            slots(
                NONE,
                &["smoothie", "frozen fruit", "mango", "berries"],
                0.9,
                2,
            ),
            slot(&["Dairy & Eggs > Yoghurt"], NONE, 0.5),
            slot(&["Dairy & Eggs > Plant-Based Milk"], NONE, 0.5),
            slot(NONE, &["chia", "seeds"], 0.3),
        ],
    },
    Mission {
        name: "sunday roast",
        season: Season::Winter,
        slots: &[
            slot(
                NONE,
                &["sunday roast", "roast", "brisket", "pork belly"],
                0.9,
            ),
            slot(NONE, &["potatoes", "sweet potato"], 0.7),
            slot(NONE, &["carrots", "broccoli", "greens"], 0.6),
            slot(&["Frozen > Fruit & Vegetables"], NONE, 0.3),
            slot(NONE, &["rosemary", "parsley"], 0.3),
        ],
    },
    Mission {
        name: "movie night",
        season: Season::AllYear,
        slots: &[
            slot(NONE, &["popcorn", "movie night", "friday night"], 0.8),
            slot(&["Snacks > Crisps"], NONE, 0.6),
            slot(&["Snacks > Chocolate", "Snacks > Sweets"], NONE, 0.5),
            slot(&["Beverages > Soft Drinks"], NONE, 0.5),
            slot(&["Deli > Dips"], NONE, 0.3),
            slot(&["Frozen > Pizza"], NONE, 0.35),
        ],
    },
    Mission {
        name: "coffee break",
        season: Season::AllYear,
        slots: &[
            slot(&["Beverages > Coffee"], NONE, 0.95),
            slot(
                &["Dairy & Eggs > Plant-Based Milk", "Dairy & Eggs > Milk"],
                NONE,
                0.55,
            ),
            slot(&["Snacks > Cookies & Biscuits"], NONE, 0.45),
            slot(&["Bakery > Pastries"], NONE, 0.35),
        ],
    },
    Mission {
        name: "asian dinner",
        season: Season::AllYear,
        slots: &[
            slots(
                NONE,
                &["japanese", "thai", "asian", "korean", "stir fry"],
                0.9,
                2,
            ),
            slot(NONE, &["noodles", "soba", "jasmine", "sushi"], 0.6),
            slot(NONE, &["soy sauce", "tamari", "sesame oil"], 0.5),
            slot(NONE, &["gyoza", "dumplings", "edamame"], 0.35),
        ],
    },
    Mission {
        name: "fish supper",
        season: Season::AllYear,
        slots: &[
            slot(
                &["Meat & Seafood > Fish", "Meat & Seafood > Shellfish"],
                NONE,
                0.95,
            ),
            slot(NONE, &["lemons"], 0.5),
            slot(&["Fruit & Vegetables > Salad & Leaves"], NONE, 0.3),
            slot(NONE, &["potatoes", "peas"], 0.4),
        ],
    },
    Mission {
        name: "keto",
        season: Season::AllYear,
        slots: &[
            slots(NONE, &["keto", "low carb"], 0.95, 3),
            slot(&["Deli > Cheese Counter"], NONE, 0.3),
            slot(NONE, &["avocado"], 0.4),
        ],
    },
    Mission {
        name: "gift",
        season: Season::December,
        slots: &[
            slot(&["Picnic & Household > Gift Hampers"], NONE, 0.8),
            slot(NONE, &["candle", "candles"], 0.4),
            slot(&["Snacks > Chocolate"], &["truffles", "gift"], 0.4),
        ],
    },
];

/// A mission's slots as pools of catalog indices (empty slots dropped).
struct Pools {
    name: &'static str,
    season: Season,
    slots: Vec<(f64, usize, Vec<usize>)>,
}

fn matches(slot: &Slot, item: &CatalogItem) -> bool {
    let in_category = slot.categories.is_empty()
        || slot
            .categories
            .iter()
            .any(|c| item.category == *c || item.category.starts_with(&format!("{c} > ")));
    let tagged = slot.tags.is_empty()
        || slot
            .tags
            .iter()
            .any(|t| item.tags.iter().any(|own| own.eq_ignore_ascii_case(t)));
    in_category && tagged
}

fn mission_pools(catalog: &[CatalogItem]) -> Vec<Pools> {
    MISSIONS
        .iter()
        .map(|m| Pools {
            name: m.name,
            season: m.season,
            slots: m
                .slots
                .iter()
                .map(|s| {
                    let pool = (0..catalog.len())
                        .filter(|&i| matches(s, &catalog[i]))
                        .collect::<Vec<_>>();
                    (s.chance, s.picks, pool)
                })
                .filter(|(_, _, pool)| !pool.is_empty())
                .collect(),
        })
        .filter(|p| !p.slots.is_empty())
        .collect()
}

/// The names of the missions this catalog can fill.
pub fn missions_for(catalog: &[CatalogItem]) -> Vec<&'static str> {
    mission_pools(catalog).iter().map(|p| p.name).collect()
}

struct Customer {
    /// Weight of each mission (index into the pools) in this customer's life.
    missions: Vec<(usize, f64)>,
    vegan: bool,
    /// The product chosen before for a (mission, slot), bought again mostly.
    usual: HashMap<(usize, usize), usize>,
}

const VEGAN_SHARE: f64 = 0.12;
const LOYALTY: f64 = 0.65;
const EXPLORE: f64 = 0.15;
const SECOND_MISSION: f64 = 0.35;
const ORDERS_PER_CUSTOMER: usize = 8;

struct Generator<'a> {
    catalog: &'a [CatalogItem],
    pools: Vec<Pools>,
    /// Long-tailed popularity of each product.
    popularity: Vec<f64>,
    customers: Vec<Customer>,
    /// How often each customer shops, long-tailed too.
    activity: Vec<f64>,
    rng: Rng,
}

/// Generates `options.orders` orders over `options.days` days from
/// `options.start`, sorted by time.
pub fn generate(catalog: &[CatalogItem], options: &HistoryOptions) -> Vec<SyntheticOrder> {
    if catalog.is_empty() {
        return Vec::new();
    }
    let mut generator = Generator::new(catalog, options);
    let mut times: Vec<OffsetDateTime> = (0..options.orders)
        .map(|_| generator.timestamp(options))
        .collect();
    times.sort();
    times.into_iter().map(|at| generator.order(at)).collect()
}

impl<'a> Generator<'a> {
    fn new(catalog: &'a [CatalogItem], options: &HistoryOptions) -> Self {
        let mut rng = Rng::new(options.seed);
        let pools = mission_pools(catalog);
        let popularity = zipf_weights(catalog.len(), 0.9, &mut rng);
        let customer_count = (options.orders / ORDERS_PER_CUSTOMER).max(50);
        let activity = zipf_weights(customer_count, 0.6, &mut rng);
        let customers = (0..customer_count)
            .map(|_| Customer::new(pools.len(), &mut rng))
            .collect();
        Generator {
            catalog,
            pools,
            popularity,
            customers,
            activity,
            rng,
        }
    }

    /// A moment in the window, busier in the day and the evening than at night.
    fn timestamp(&mut self, options: &HistoryOptions) -> OffsetDateTime {
        let day = self.rng.below(options.days.max(1) as usize) as i64;
        let hour = [7, 8, 9, 11, 12, 13, 16, 17, 18, 19, 20, 21, 22][self.rng.below(13)];
        let second = self.rng.below(3600) as i64;
        options.start
            + time::Duration::days(day)
            + time::Duration::hours(hour)
            + time::Duration::seconds(second)
    }

    fn order(&mut self, at: OffsetDateTime) -> SyntheticOrder {
        let customer = self.rng.weighted(self.activity.iter().copied());
        let month = u8::from(at.month());
        let mut basket: Vec<usize> = Vec::new();
        let missions = if self.rng.chance(SECOND_MISSION) {
            2
        } else {
            1
        };
        for _ in 0..missions {
            if let Some(mission) = self.choose_mission(customer, month) {
                self.fill_mission(customer, mission, &mut basket);
            }
        }
        let impulse = self.rng.below(3) + usize::from(self.rng.chance(0.2));
        for _ in 0..impulse {
            let item = self.rng.weighted(self.popularity.iter().copied());
            push_unique(&mut basket, item);
        }
        if basket.is_empty() {
            basket.push(self.rng.weighted(self.popularity.iter().copied()));
        }
        let lines = basket
            .into_iter()
            .map(|item| (item, self.quantity()))
            .collect();
        SyntheticOrder {
            customer: customer as u32,
            created_at: at,
            status: self.status(),
            lines,
        }
    }

    fn choose_mission(&mut self, customer: usize, month: u8) -> Option<usize> {
        if self.pools.is_empty() {
            return None;
        }
        if self.rng.chance(EXPLORE) {
            return Some(self.rng.below(self.pools.len()));
        }
        let favourites = &self.customers[customer].missions;
        let pools = &self.pools;
        let pick = self.rng.weighted(
            favourites
                .iter()
                .map(|&(m, w)| w * pools[m].season.factor(month)),
        );
        Some(favourites[pick].0)
    }

    fn fill_mission(&mut self, customer: usize, mission: usize, basket: &mut Vec<usize>) {
        let mut added = false;
        for slot in 0..self.pools[mission].slots.len() {
            let (chance, picks) = {
                let s = &self.pools[mission].slots[slot];
                (s.0, s.1)
            };
            let forced = !added && slot + 1 == self.pools[mission].slots.len();
            if !forced && !self.rng.chance(chance) {
                continue;
            }
            let count = 1 + self.rng.below(picks.max(1));
            for pick in 0..count {
                let item = self.pick_from_slot(customer, mission, slot, pick == 0);
                push_unique(basket, item);
                added = true;
            }
        }
    }

    /// A product of the slot: the customer's usual one mostly, else one drawn
    /// by popularity (vegan customers only from vegan products when any).
    fn pick_from_slot(
        &mut self,
        customer: usize,
        mission: usize,
        slot: usize,
        first: bool,
    ) -> usize {
        let key = (mission, slot);
        if first
            && let Some(&usual) = self.customers[customer].usual.get(&key)
            && self.rng.chance(LOYALTY)
        {
            return usual;
        }
        let pool = &self.pools[mission].slots[slot].2;
        let vegan = self.customers[customer].vegan;
        let suits = |i: &usize| {
            !vegan
                || self.catalog[*i]
                    .dietary
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case("vegan"))
        };
        let suitable: Vec<usize> = if pool.iter().any(suits) {
            pool.iter().copied().filter(suits).collect()
        } else {
            pool.clone()
        };
        let chosen = suitable[self
            .rng
            .weighted(suitable.iter().map(|&i| self.popularity[i]))];
        if first {
            self.customers[customer].usual.insert(key, chosen);
        }
        chosen
    }

    fn quantity(&mut self) -> i64 {
        match self.rng.unit() {
            u if u < 0.7 => 1,
            u if u < 0.9 => 2,
            _ => 3,
        }
    }

    fn status(&mut self) -> OrderStatus {
        match self.rng.unit() {
            u if u < 0.02 => OrderStatus::Cancelled,
            u if u < 0.03 => OrderStatus::Refunded,
            _ => OrderStatus::Fulfilled,
        }
    }
}

impl Customer {
    fn new(missions: usize, rng: &mut Rng) -> Customer {
        let mut chosen: Vec<(usize, f64)> = Vec::new();
        let wanted = 3.min(missions);
        while chosen.len() < wanted {
            let m = rng.below(missions);
            if !chosen.iter().any(|(c, _)| *c == m) {
                // Exponential weights: most customers have one main mission.
                chosen.push((m, -(1.0 - rng.unit()).ln()));
            }
        }
        Customer {
            missions: chosen,
            vegan: rng.chance(VEGAN_SHARE),
            usual: HashMap::new(),
        }
    }
}

/// Weights 1/rank^s over a random ranking of `n` things.
fn zipf_weights(n: usize, s: f64, rng: &mut Rng) -> Vec<f64> {
    let mut ranks: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        ranks.swap(i, rng.below(i + 1));
    }
    ranks
        .into_iter()
        .map(|rank| 1.0 / ((rank + 1) as f64).powf(s))
        .collect()
}

fn push_unique(basket: &mut Vec<usize>, item: usize) {
    if !basket.contains(&item) {
        basket.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: i64, category: &str, tags: &[&str]) -> CatalogItem {
        CatalogItem {
            id,
            name: format!("p{id}"),
            category: category.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            dietary: Vec::new(),
            price_minor: 100,
        }
    }

    /// Seven mission products among forty that no mission asks for, so
    /// impulse buys spread thin as in a real shop.
    fn catalog() -> Vec<CatalogItem> {
        let mut items = vec![
            item(1, "Bakery > Bread", &["toast"]),
            item(2, "Dairy & Eggs > Butter & Spreads", &[]),
            item(3, "Pantry > Honey & Spreads", &["jam"]),
            item(4, "Pantry > Pasta & Grains", &["pasta"]),
            item(5, "Pantry > Sauces", &["pasta sauce"]),
            item(6, "Deli > Cheese Counter", &["parmesan"]),
            item(7, "Household", &["candles"]),
        ];
        items.extend((8..48).map(|id| item(id, "Other", &[])));
        items
    }

    fn options(seed: u64) -> HistoryOptions {
        HistoryOptions {
            orders: 2000,
            seed,
            start: OffsetDateTime::UNIX_EPOCH,
            days: 365,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_history_and_another_seed_another() {
        let summary = |orders: Vec<SyntheticOrder>| -> Vec<(u32, Vec<(usize, i64)>)> {
            orders.into_iter().map(|o| (o.customer, o.lines)).collect()
        };
        let a = summary(generate(&catalog(), &options(7)));
        assert_eq!(a, summary(generate(&catalog(), &options(7))));
        assert_ne!(a, summary(generate(&catalog(), &options(8))));
    }

    #[test]
    fn missions_make_their_products_go_together_and_time_is_sorted() {
        let orders = generate(&catalog(), &options(1));
        assert_eq!(orders.len(), 2000);
        assert!(
            orders
                .windows(2)
                .all(|w| w[0].created_at <= w[1].created_at)
        );
        let with = |a: usize, b: usize| {
            orders
                .iter()
                .filter(|o| o.lines.iter().any(|l| l.0 == a) && o.lines.iter().any(|l| l.0 == b))
                .count()
        };
        // Pasta (index 3) goes with its sauce (4) far more than with butter
        // (1), though each is sold in plenty of orders.
        assert!(
            with(3, 4) > 3 * with(3, 1),
            "{} vs {}",
            with(3, 4),
            with(3, 1)
        );
        assert!(missions_for(&catalog()).contains(&"pasta night"));
    }
}
