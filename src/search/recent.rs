//! Whole answers to recent searches, reused while the index and the vectors
//! they came from are unchanged.
//!
//! Search-as-you-type and popular queries repeat the same request many times
//! a second; answering them again from the index costs milliseconds each.
//! Every change to what search reads (a reload of the index, a vector added
//! or removed) starts a new revision, and an answer is only reused within
//! the revision it was computed in. Personal searches are never kept. This
//! module owns that cache only; it never touches the index or the store.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{SearchRequest, SearchResults};

/// Distinct requests kept; the cache starts over when full.
const LIMIT: usize = 1_024;

#[derive(Default)]
pub struct RecentResults {
    revision: AtomicU64,
    entries: Mutex<HashMap<String, (u64, SearchResults)>>,
}

/// Where a request stands with the cache: its key and the revision it is
/// answered in, or nothing for a request that may not be shared.
pub struct Lookup {
    key: String,
    revision: u64,
}

impl RecentResults {
    /// Call after anything search reads has changed.
    pub fn invalidate(&self) {
        self.revision.fetch_add(1, Ordering::AcqRel);
    }

    /// The kept answer to `request`, or how to keep the one about to be computed.
    pub fn lookup(&self, request: &SearchRequest) -> Result<SearchResults, Option<Lookup>> {
        if !request.affinities.is_empty() {
            return Err(None);
        }
        let lookup = Lookup {
            key: format!("{request:?}"),
            revision: self.revision.load(Ordering::Acquire),
        };
        match self.lock().get(&lookup.key) {
            Some((revision, results)) if *revision == lookup.revision => Ok(results.clone()),
            _ => Err(Some(lookup)),
        }
    }

    /// Keeps an answer computed after `lookup`, unless search changed meanwhile.
    pub fn keep(&self, lookup: Lookup, results: &SearchResults) {
        if lookup.revision != self.revision.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= LIMIT {
            entries.clear();
        }
        entries.insert(lookup.key, (lookup.revision, results.clone()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, SearchResults)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::{Facets, Mode};

    fn answer(total: usize) -> SearchResults {
        SearchResults {
            hits: Vec::new(),
            facets: Facets::default(),
            total,
            mode: Mode::Keyword,
            took_ms: 1.0,
        }
    }

    fn kept(cache: &RecentResults, request: &SearchRequest) -> Option<usize> {
        cache.lookup(request).ok().map(|r| r.total)
    }

    #[test]
    fn an_answer_is_reused_for_the_same_request_until_search_changes() {
        let cache = RecentResults::default();
        let bread = SearchRequest::new("bread");
        let Err(Some(lookup)) = cache.lookup(&bread) else {
            panic!("an empty cache answered");
        };
        cache.keep(lookup, &answer(7));
        assert_eq!(kept(&cache, &bread), Some(7));
        assert_eq!(kept(&cache, &SearchRequest::new("bread ")), None);
        let mut second_page = SearchRequest::new("bread");
        second_page.offset = 20;
        assert_eq!(kept(&cache, &second_page), None);
        cache.invalidate();
        assert_eq!(kept(&cache, &bread), None);
    }

    #[test]
    fn an_answer_computed_while_search_changed_is_not_kept() {
        let cache = RecentResults::default();
        let bread = SearchRequest::new("bread");
        let Err(Some(lookup)) = cache.lookup(&bread) else {
            panic!("an empty cache answered");
        };
        cache.invalidate();
        cache.keep(lookup, &answer(7));
        assert_eq!(kept(&cache, &bread), None);
    }

    #[test]
    fn personal_searches_are_never_kept() {
        let cache = RecentResults::default();
        let mut personal = SearchRequest::new("bread");
        personal.affinities.brands.push(("Acme".into(), 1.0));
        assert!(matches!(cache.lookup(&personal), Err(None)));
    }
}
