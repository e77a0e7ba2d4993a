//! The dietary and feature vocabulary shoppers filter on ("vegan", "gluten-free").
//!
//! Owns the canonical spelling of each label and the synonyms found in real
//! exports ("Gluten Free", "GF", "plant based"). It must not decide anything
//! about a product beyond naming its labels.

/// Canonical dietary labels and the words that mean them in shop exports.
const VOCABULARY: &[(&str, &[&str])] = &[
    ("vegan", &["vegan", "plant based", "plant-based"]),
    ("vegetarian", &["vegetarian", "veggie"]),
    (
        "gluten-free",
        &[
            "gluten free",
            "gluten-free",
            "glutenfree",
            "gf",
            "sin gluten",
            "celiac friendly",
        ],
    ),
    (
        "dairy-free",
        &[
            "dairy free",
            "dairy-free",
            "lactose free",
            "lactose-free",
            "sin lactosa",
        ],
    ),
    ("nut-free", &["nut free", "nut-free", "peanut free"]),
    ("organic", &["organic", "bio", "organico", "orgánico"]),
    (
        "keto",
        &["keto", "ketogenic", "keto friendly", "low carb", "low-carb"],
    ),
    (
        "low-sugar",
        &[
            "low sugar",
            "low-sugar",
            "sugar free",
            "sugar-free",
            "no added sugar",
        ],
    ),
    ("high-protein", &["high protein", "high-protein", "protein"]),
    ("halal", &["halal"]),
    ("kosher", &["kosher"]),
];

/// Maps one free-form word to its canonical label, if it names one.
pub fn canonical(word: &str) -> Option<&'static str> {
    let folded = fold(word);
    VOCABULARY
        .iter()
        .find(|(label, synonyms)| *label == folded || synonyms.contains(&folded.as_str()))
        .map(|(label, _)| *label)
}

/// Labels implied by a product's tags, in vocabulary order, without repeats.
pub fn from_tags<'a>(tags: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let found: Vec<&str> = tags.into_iter().filter_map(canonical).collect();
    VOCABULARY
        .iter()
        .map(|(label, _)| *label)
        .filter(|label| found.contains(label))
        .map(str::to_string)
        .collect()
}

/// Lower-cases and turns underscores and runs of spaces into single spaces.
fn fold(word: &str) -> String {
    word.trim()
        .to_lowercase()
        .replace('_', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synonyms_map_to_one_label() {
        assert_eq!(canonical("Gluten Free"), Some("gluten-free"));
        assert_eq!(canonical(" GF "), Some("gluten-free"));
        assert_eq!(canonical("Plant_Based"), Some("vegan"));
        assert_eq!(canonical("chocolate"), None);
    }

    #[test]
    fn tags_give_ordered_unique_labels() {
        let labels = from_tags(["Vegan", "organic", "bread", "plant based", "Low Carb"]);
        assert_eq!(labels, vec!["vegan", "organic", "keto"]);
    }
}
