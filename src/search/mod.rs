//! Product search: a Tantivy keyword index and an in-memory vector index over
//! sentence embeddings, blended per request.
//!
//! Owns the index directory and the embedding model. It learns about product
//! changes only through the store's search outbox (filled by triggers), so it
//! never needs to be told; a background worker drains the outbox into the index
//! and embeds new or changed products. At start the index is opened and checked
//! against SQLite; a missing, corrupt or drifted index is rebuilt. Type-ahead is
//! keyword-only; without the embedding model, search runs in keyword mode.
//! A signed-in shopper's learned preferences lift matching hits a bounded
//! little (`personal`).
//! This module reads the store; it never writes products.

pub mod embed;
pub mod eval;
pub mod fusion;
pub mod personal;
pub mod query;
mod recent;
pub mod schema;
pub mod vectors;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};
use tantivy::collector::{Count, DocSetCollector, FacetCollector, FacetCounts, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query, TermSetQuery};
use tantivy::schema::{Facet, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Searcher, TantivyDocument,
    Term,
};
use utoipa::ToSchema;

use crate::catalog::{Currency, Money, ProductDraft};
use crate::store::{Store, StoreError, products, search as outbox};
use embed::{EmbedError, Embedder};
use fusion::Fusion;
use personal::Affinities;
use query::{Boosts, Filters, LastWord};
use schema::Fields;
use vectors::VectorIndex;

/// Changes indexed per commit.
const INDEX_BATCH: usize = 1_000;
/// Products embedded per model call.
const EMBED_BATCH: usize = 32;
/// Candidates taken from each list before fusion.
const CANDIDATES: usize = 100;
/// Cosine similarity below which a product is not a vector match at all.
const MIN_SIMILARITY: f32 = 0.25;
/// Default weight of the vector ranking, tuned on the judged query sets (docs/BENCHMARKS.md).
pub const DEFAULT_ALPHA: f32 = 0.5;
const QUERY_CACHE_LIMIT: usize = 2_048;
/// Added to the 0..1 relevance of products matching a shopper's preferences.
const PREFERENCE_BONUS: f32 = 0.3;
const WRITER_MEMORY: usize = 20_000_000;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index directory {path}: {source}")]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Embed(#[from] embed::EmbedError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    Relevance,
    PriceAsc,
    PriceDesc,
    Newest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Keyword,
    Vector,
    Hybrid,
    /// No words to match: filters and sorting only.
    Browse,
}

#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub text: String,
    pub limit: usize,
    pub offset: usize,
    /// 0 = keyword only, 1 = vector only; `None` uses the default.
    pub alpha: Option<f32>,
    pub fusion: Fusion,
    pub filters: Filters,
    pub boosts: Boosts,
    /// The shopper's learned preferences; empty for guests (see `personal`).
    pub affinities: Affinities,
    pub sort: Sort,
    /// Count facet values; callers that show no facets save the work.
    pub facets: bool,
}

impl SearchRequest {
    pub fn new(text: &str) -> SearchRequest {
        SearchRequest {
            text: text.to_string(),
            limit: 20,
            offset: 0,
            alpha: None,
            fusion: Fusion::RelativeScore,
            filters: Filters::default(),
            boosts: Boosts::default(),
            affinities: Affinities::default(),
            sort: Sort::Relevance,
            facets: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Hit {
    pub id: i64,
    pub handle: String,
    pub name: String,
    pub brand: Option<String>,
    /// Decimal in major units.
    pub price: String,
    pub price_minor: u64,
    pub in_stock: bool,
    pub score: f32,
    /// Name and description fragments with matched words in `<b>…</b>`.
    pub highlights: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct FacetValue {
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Facets {
    pub category: Vec<FacetValue>,
    pub brand: Vec<FacetValue>,
    pub tags: Vec<FacetValue>,
    pub dietary: Vec<FacetValue>,
    pub price: Vec<FacetValue>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchResults {
    pub hits: Vec<Hit>,
    pub facets: Facets,
    pub total: usize,
    pub mode: Mode,
    pub took_ms: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Suggestion {
    pub id: i64,
    pub handle: String,
    pub name: String,
}

/// What the index and the embeddings are doing, for `/readyz` and the CLI.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchStatus {
    pub indexed: u64,
    pub pending: i64,
    pub embedding_model: Option<String>,
    pub embedded: usize,
    pub embedding_queue: usize,
    pub last_error: Option<String>,
    /// Why an embedding model that is installed did not load (search runs
    /// keyword-only meanwhile); null when it loaded or none is installed.
    pub embedding_error: Option<String>,
}

pub struct SearchService {
    store: Arc<Store>,
    currency: Currency,
    fields: Fields,
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    embedder: Option<Embedder>,
    embedder_error: Option<String>,
    vectors: RwLock<VectorIndex>,
    embed_queue: Mutex<VecDeque<i64>>,
    query_vectors: Mutex<HashMap<String, Arc<Vec<f32>>>>,
    recent: recent::RecentResults,
    wake: (Mutex<bool>, Condvar),
    stopping: AtomicBool,
    indexed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl SearchService {
    /// Opens (or rebuilds) the index in `index_dir` and loads the embedding model
    /// from `models_dir` when it is there. Call `start` to run the worker.
    pub fn open(
        store: Arc<Store>,
        currency: Currency,
        index_dir: &Path,
        models_dir: Option<&Path>,
    ) -> Result<SearchService, SearchError> {
        let (schema, fields) = schema::build();
        let (index, rebuilt) = open_index(index_dir, &schema)?;
        schema::register_tokenizers(&index);
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let (embedder, embedder_error) = match models_dir.map(Embedder::load) {
            Some(Ok(embedder)) => (Some(embedder), None),
            Some(Err(EmbedError::Missing(dir))) if !dir.exists() => {
                tracing::info!(path = %dir.display(), "semantic search off (no embedding model installed): keyword search only");
                (None, None)
            }
            Some(Err(err)) => {
                tracing::warn!(error = %err, "semantic search off: keyword search only");
                (None, Some(err.to_string()))
            }
            None => (None, None),
        };
        let mut vectors = VectorIndex::new(embedder.as_ref().map_or(0, Embedder::dims));
        let mut queue = VecDeque::new();
        if let Some(embedder) = &embedder {
            for (id, vector) in store.read(|c| outbox::active_embeddings(c, embedder.name()))? {
                vectors.upsert(id, &vector);
            }
            queue.extend(store.read(|c| outbox::missing_embeddings(c, embedder.name()))?);
        }
        let service = SearchService {
            store,
            currency,
            fields,
            index,
            reader,
            writer: Mutex::new(writer),
            embedder,
            embedder_error,
            vectors: RwLock::new(vectors),
            embed_queue: Mutex::new(queue),
            query_vectors: Mutex::new(HashMap::new()),
            recent: recent::RecentResults::default(),
            wake: (Mutex::new(false), Condvar::new()),
            stopping: AtomicBool::new(false),
            indexed: AtomicU64::new(0),
            last_error: Mutex::new(None),
        };
        service
            .indexed
            .store(service.reader.searcher().num_docs(), Ordering::Relaxed);
        if rebuilt || service.drifted()? {
            tracing::info!("search index rebuilt from the database");
            service.store.write(outbox::queue_all)?;
        }
        Ok(service)
    }

    /// The index disagrees with SQLite although nothing is queued: rebuild.
    fn drifted(&self) -> Result<bool, SearchError> {
        let pending = self.store.read(outbox::pending_count)?;
        let active = self.store.read(products::counts)?.active as u64;
        Ok(pending == 0 && self.reader.searcher().num_docs() != active)
    }

    /// Starts the background worker that indexes and embeds until `stop`.
    pub fn start(self: &Arc<Self>) -> std::io::Result<std::thread::JoinHandle<()>> {
        let service = Arc::clone(self);
        std::thread::Builder::new()
            .name("search-indexer".into())
            .spawn(move || service.run_worker())
    }

    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.nudge();
    }

    /// Wakes the worker now instead of at its next poll.
    pub fn nudge(&self) {
        let (flag, signal) = &self.wake;
        *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        signal.notify_one();
    }

    fn run_worker(&self) {
        while !self.stopping.load(Ordering::Relaxed) {
            let worked = match self.step() {
                Ok(worked) => worked,
                Err(err) => {
                    tracing::warn!(error = %err, "search indexing step failed; retrying");
                    *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(err.to_string());
                    false
                }
            };
            if !worked {
                let (flag, signal) = &self.wake;
                let guard = flag.lock().unwrap_or_else(|p| p.into_inner());
                let (mut guard, _) = signal
                    .wait_timeout_while(guard, Duration::from_millis(500), |woken| !*woken)
                    .unwrap_or_else(|p| p.into_inner());
                *guard = false;
            }
        }
    }

    /// One unit of background work; true when there was something to do.
    pub fn step(&self) -> Result<bool, SearchError> {
        let indexed = self.index_pending()?;
        let embedded = self.embed_pending()?;
        Ok(indexed + embedded > 0)
    }

    /// Indexes every queued change on this thread, leaving embedding to the worker.
    pub fn catch_up_index(&self) -> Result<(), SearchError> {
        while self.index_pending()? > 0 {}
        Ok(())
    }

    /// Puts ready-made vectors in the in-memory index (benchmarks with synthetic vectors).
    pub fn add_vectors(&self, vectors: impl IntoIterator<Item = (i64, Vec<f32>)>) {
        let mut index = self.vectors.write().unwrap_or_else(|p| p.into_inner());
        for (id, vector) in vectors {
            index.upsert(id, &vector);
        }
        self.recent.invalidate();
    }

    /// The embedding model, when one is loaded.
    pub fn embedder(&self) -> Option<&Embedder> {
        self.embedder.as_ref()
    }

    /// Runs the worker's steps on this thread until nothing is left (tests, CLI).
    pub fn catch_up(&self) -> Result<(), SearchError> {
        while self.step()? {}
        Ok(())
    }

    /// Applies queued product changes to the index in one commit.
    fn index_pending(&self) -> Result<usize, SearchError> {
        let queued = self.store.read(|c| outbox::pending(c, INDEX_BATCH))?;
        if queued.is_empty() {
            return Ok(0);
        }
        let minor_per_major = 10u64.pow(self.currency.exponent());
        let mut to_embed = Vec::new();
        let mut gone = Vec::new();
        {
            let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            for entry in &queued {
                writer.delete_term(Term::from_field_u64(
                    self.fields.id,
                    entry.product_id as u64,
                ));
                match self.store.read(|c| products::get(c, entry.product_id))? {
                    Some(product) if product.draft.active() => {
                        writer.add_document(schema::document(
                            &self.fields,
                            &product,
                            minor_per_major,
                        ))?;
                        if let Some(embedder) = &self.embedder {
                            let stored = self
                                .store
                                .read(|c| outbox::embedding_hash(c, product.id, embedder.name()))?;
                            if stored.as_deref() != Some(text_hash(&product.draft).as_str()) {
                                to_embed.push(product.id);
                            }
                        }
                    }
                    _ => gone.push(entry.product_id),
                }
            }
            writer.commit()?;
        }
        self.reader.reload()?;
        self.recent.invalidate();
        self.store.write(|tx| outbox::mark_indexed(tx, &queued))?;
        self.indexed
            .store(self.reader.searcher().num_docs(), Ordering::Relaxed);
        let mut vectors = self.vectors.write().unwrap_or_else(|p| p.into_inner());
        for id in gone {
            vectors.remove(id);
        }
        drop(vectors);
        self.recent.invalidate();
        self.embed_queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(to_embed);
        Ok(queued.len())
    }

    /// Embeds one batch of queued products and stores the vectors.
    fn embed_pending(&self) -> Result<usize, SearchError> {
        let Some(embedder) = &self.embedder else {
            return Ok(0);
        };
        let batch: Vec<i64> = {
            let mut queue = self.embed_queue.lock().unwrap_or_else(|p| p.into_inner());
            let take = queue.len().min(EMBED_BATCH);
            queue.drain(..take).collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        // A product can be queued twice (missing at start, then changed); embed it once.
        let is_current = |p: &products::Product| {
            let stored = self
                .store
                .read(|c| outbox::embedding_hash(c, p.id, embedder.name()))
                .ok()
                .flatten();
            stored.as_deref() == Some(text_hash(&p.draft).as_str())
        };
        let products: Vec<products::Product> = batch
            .iter()
            .filter_map(|id| self.store.read(|c| products::get(c, *id)).ok().flatten())
            .filter(|p| p.draft.active() && !is_current(p))
            .collect();
        if products.is_empty() {
            return Ok(batch.len());
        }
        let texts: Vec<String> = products.iter().map(|p| embedding_text(&p.draft)).collect();
        let vectors = embedder.embed(&texts.iter().map(String::as_str).collect::<Vec<_>>())?;
        self.store.write(|tx| {
            for (product, vector) in products.iter().zip(&vectors) {
                outbox::save_embedding(
                    tx,
                    product.id,
                    embedder.name(),
                    &text_hash(&product.draft),
                    vector,
                )?;
            }
            Ok(())
        })?;
        let mut index = self.vectors.write().unwrap_or_else(|p| p.into_inner());
        for (product, vector) in products.iter().zip(&vectors) {
            index.upsert(product.id, vector);
        }
        self.recent.invalidate();
        Ok(batch.len())
    }

    pub fn status(&self) -> Result<SearchStatus, SearchError> {
        Ok(SearchStatus {
            indexed: self.indexed.load(Ordering::Relaxed),
            pending: self.store.read(outbox::pending_count)?,
            embedding_model: self.embedder.as_ref().map(|e| e.name().to_string()),
            embedded: self.vectors.read().unwrap_or_else(|p| p.into_inner()).len(),
            embedding_queue: self
                .embed_queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len(),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            embedding_error: self.embedder_error.clone(),
        })
    }

    /// Queues every product for re-indexing (and re-embedding where the text changed).
    pub fn rebuild(&self) -> Result<usize, SearchError> {
        {
            let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            writer.delete_all_documents()?;
            writer.commit()?;
        }
        self.reader.reload()?;
        self.recent.invalidate();
        let queued = self.store.write(outbox::queue_all)?;
        self.nudge();
        Ok(queued)
    }

    pub fn has_vectors(&self) -> bool {
        self.embedder.is_some()
            && !self
                .vectors
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
    }

    /// The normalised embedding of a query, from the cache when it was seen before.
    fn query_vector(&self, text: &str) -> Result<Option<Arc<Vec<f32>>>, SearchError> {
        let Some(embedder) = &self.embedder else {
            return Ok(None);
        };
        let key = text.trim().to_lowercase();
        if let Some(hit) = self
            .query_vectors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(Some(Arc::clone(hit)));
        }
        let vector = Arc::new(embedder.embed(&[&key])?.pop().unwrap_or_default());
        let mut cache = self.query_vectors.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= QUERY_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&vector));
        Ok(Some(vector))
    }

    /// Answers a search, from the recent answers when the same request was
    /// answered since search last changed.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults, SearchError> {
        let started = Instant::now();
        match self.recent.lookup(request) {
            Ok(mut kept) => {
                kept.took_ms = started.elapsed().as_secs_f64() * 1000.0;
                Ok(kept)
            }
            Err(lookup) => {
                let results = self.search_index(request, started)?;
                if let Some(lookup) = lookup {
                    self.recent.keep(lookup, &results);
                }
                Ok(results)
            }
        }
    }

    fn search_index(
        &self,
        request: &SearchRequest,
        started: Instant,
    ) -> Result<SearchResults, SearchError> {
        let searcher = self.reader.searcher();
        let relevance =
            query::text_query(&self.index, &self.fields, &request.text, LastWord::Finished);
        let has_words = relevance.is_some();
        let alpha = request.alpha.unwrap_or(DEFAULT_ALPHA).clamp(0.0, 1.0);
        let mode = match (has_words, self.has_vectors()) {
            (false, _) if request.text.trim().is_empty() => Mode::Browse,
            (false, _) => return Ok(empty_results(started)),
            (true, false) => Mode::Keyword,
            (true, true) if alpha <= 0.0 => Mode::Keyword,
            (true, true) if alpha >= 1.0 => Mode::Vector,
            (true, true) => Mode::Hybrid,
        };
        let wanted = (request.offset + request.limit).max(CANDIDATES);
        let keyword_query = query::full_query(
            relevance.as_ref().map(|q| q.box_clone()),
            &self.fields,
            &request.filters,
        );
        let mut addresses: HashMap<i64, DocAddress> = HashMap::new();
        let keyword = if mode == Mode::Vector {
            Vec::new()
        } else {
            let top = searcher.search(
                &*keyword_query,
                &TopDocs::with_limit(wanted).order_by_score(),
            )?;
            self.identify(&searcher, top, &mut addresses)?
        };
        let vector = match mode {
            Mode::Vector | Mode::Hybrid => self.vector_candidates(
                &searcher,
                &request.text,
                &request.filters,
                wanted,
                &mut addresses,
            )?,
            _ => Vec::new(),
        };
        let union_query: Box<dyn Query> = if vector.is_empty() {
            keyword_query.box_clone()
        } else {
            let ids = TermSetQuery::new(
                vector
                    .iter()
                    .map(|(id, _)| Term::from_field_u64(self.fields.id, *id as u64)),
            );
            let either: Box<dyn Query> = match &relevance {
                Some(text) if mode == Mode::Hybrid => {
                    Box::new(BooleanQuery::union(vec![text.box_clone(), Box::new(ids)]))
                }
                _ => Box::new(ids),
            };
            query::full_query(Some(either), &self.fields, &request.filters)
        };
        let (total, facets) = if request.facets {
            let collectors = (Count, self.facet_collector(&request.filters));
            let (total, counts) = searcher.search(&*union_query, &collectors)?;
            (total, self.facets(&counts, &request.filters))
        } else {
            (searcher.search(&*union_query, &Count)?, Facets::default())
        };
        let ranked: Vec<(i64, f32)> = match request.sort {
            Sort::Relevance if mode == Mode::Browse => keyword,
            Sort::Relevance => {
                let weight = match mode {
                    Mode::Keyword => 0.0,
                    Mode::Vector => 1.0,
                    _ => alpha,
                };
                let fused = fusion::fuse(&keyword, &vector, weight, request.fusion);
                let personal = self.personalize(&searcher, fused, &request.affinities)?;
                self.prefer(&searcher, personal, &request.boosts)?
            }
            sort => self.sorted(
                &searcher,
                &*union_query,
                sort,
                request.offset + request.limit,
                &mut addresses,
            )?,
        };
        let page: Vec<(i64, f32)> = ranked
            .into_iter()
            .skip(request.offset)
            .take(request.limit)
            .collect();
        let hits = self.hits(&searcher, &page, &addresses, relevance.as_deref())?;
        Ok(SearchResults {
            hits,
            facets,
            total,
            mode,
            took_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    /// Adds a bonus to ranked products matching the caller's preferences and re-sorts.
    fn prefer(
        &self,
        searcher: &Searcher,
        mut ranked: Vec<(i64, f32)>,
        boosts: &Boosts,
    ) -> Result<Vec<(i64, f32)>, SearchError> {
        if boosts.is_empty() || ranked.is_empty() {
            return Ok(ranked);
        }
        let ids = TermSetQuery::new(
            ranked
                .iter()
                .map(|(id, _)| Term::from_field_u64(self.fields.id, *id as u64)),
        );
        let preferred = BooleanQuery::new(vec![
            (Occur::Must, Box::new(ids) as Box<dyn Query>),
            (Occur::Must, query::preference_query(&self.fields, boosts)),
        ]);
        let mut matching = HashSet::new();
        for address in searcher.search(&preferred, &DocSetCollector)? {
            matching.insert(self.id_of(searcher, address)?);
        }
        for (id, score) in &mut ranked {
            if matching.contains(id) {
                *score += PREFERENCE_BONUS;
            }
        }
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(ranked)
    }

    /// Multiplies the fused relevance of products matching the shopper's
    /// preferences by a bounded factor (see `personal`) and re-sorts.
    fn personalize(
        &self,
        searcher: &Searcher,
        mut ranked: Vec<(i64, f32)>,
        affinities: &Affinities,
    ) -> Result<Vec<(i64, f32)>, SearchError> {
        if affinities.is_empty() || ranked.is_empty() {
            return Ok(ranked);
        }
        let candidates: Box<dyn Query> = Box::new(TermSetQuery::new(
            ranked
                .iter()
                .map(|(id, _)| Term::from_field_u64(self.fields.id, *id as u64)),
        ));
        let mut matched: HashMap<i64, personal::Matched> = HashMap::new();
        for (kind, facet, weight) in query::affinity_queries(&self.fields, affinities) {
            let among_candidates = BooleanQuery::new(vec![
                (Occur::Must, candidates.box_clone()),
                (Occur::Must, facet),
            ]);
            for address in searcher.search(&among_candidates, &DocSetCollector)? {
                let id = self.id_of(searcher, address)?;
                personal::note(matched.entry(id).or_default(), kind, weight);
            }
        }
        for (id, score) in &mut ranked {
            if let Some(matched) = matched.get(id) {
                *score = personal::boosted(*score, matched);
            }
        }
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(ranked)
    }

    /// Product names for type-ahead: keyword only, prefix on the last word.
    pub fn suggest(&self, text: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError> {
        let Some(relevance) =
            query::text_query(&self.index, &self.fields, text, LastWord::BeingTyped)
        else {
            return Ok(Vec::new());
        };
        let searcher = self.reader.searcher();
        let top = searcher.search(
            &*relevance,
            &TopDocs::with_limit(limit.max(1)).order_by_score(),
        )?;
        let mut suggestions = Vec::new();
        for (_, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            suggestions.push(Suggestion {
                id: first_u64(&doc, self.fields.id) as i64,
                handle: first_text(&doc, self.fields.handle),
                name: first_text(&doc, self.fields.name),
            });
        }
        Ok(suggestions)
    }

    /// Vector matches that also pass the filters, best first.
    fn vector_candidates(
        &self,
        searcher: &Searcher,
        text: &str,
        filters: &Filters,
        wanted: usize,
        addresses: &mut HashMap<i64, DocAddress>,
    ) -> Result<Vec<(i64, f32)>, SearchError> {
        let Some(query_vector) = self.query_vector(text)? else {
            return Ok(Vec::new());
        };
        let nearest = self
            .vectors
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .nearest(&query_vector, wanted, MIN_SIMILARITY);
        if nearest.is_empty() {
            return Ok(Vec::new());
        }
        let ids = TermSetQuery::new(
            nearest
                .iter()
                .map(|(id, _)| Term::from_field_u64(self.fields.id, *id as u64)),
        );
        let allowed_query = BooleanQuery::new(vec![
            (Occur::Must, Box::new(ids)),
            (Occur::Must, query::filter_query(&self.fields, filters)),
        ]);
        let allowed_docs = searcher.search(&allowed_query, &DocSetCollector)?;
        let mut allowed = HashSet::new();
        for address in allowed_docs {
            let id = self.id_of(searcher, address)?;
            addresses.insert(id, address);
            allowed.insert(id);
        }
        Ok(nearest
            .into_iter()
            .filter(|(id, _)| allowed.contains(id))
            .collect())
    }

    fn sorted(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        sort: Sort,
        wanted: usize,
        addresses: &mut HashMap<i64, DocAddress>,
    ) -> Result<Vec<(i64, f32)>, SearchError> {
        let wanted = wanted.max(1);
        let docs: Vec<DocAddress> = match sort {
            Sort::PriceAsc | Sort::PriceDesc => {
                let order = if sort == Sort::PriceAsc {
                    Order::Asc
                } else {
                    Order::Desc
                };
                let top = searcher.search(
                    query,
                    &TopDocs::with_limit(wanted).order_by_fast_field::<u64>("price", order),
                )?;
                top.into_iter().map(|(_, address)| address).collect()
            }
            _ => {
                let top = searcher.search(
                    query,
                    &TopDocs::with_limit(wanted).order_by_fast_field::<i64>("created", Order::Desc),
                )?;
                top.into_iter().map(|(_, address)| address).collect()
            }
        };
        let mut ranked = Vec::with_capacity(docs.len());
        for address in docs {
            let id = self.id_of(searcher, address)?;
            addresses.insert(id, address);
            ranked.push((id, 0.0));
        }
        Ok(ranked)
    }

    fn identify(
        &self,
        searcher: &Searcher,
        top: Vec<(f32, DocAddress)>,
        addresses: &mut HashMap<i64, DocAddress>,
    ) -> Result<Vec<(i64, f32)>, SearchError> {
        let mut out = Vec::with_capacity(top.len());
        for (score, address) in top {
            let id = self.id_of(searcher, address)?;
            addresses.insert(id, address);
            out.push((id, score));
        }
        Ok(out)
    }

    fn id_of(&self, searcher: &Searcher, address: DocAddress) -> Result<i64, SearchError> {
        let column = searcher
            .segment_reader(address.segment_ord)
            .fast_fields()
            .u64("id")?;
        Ok(column.first(address.doc_id).unwrap_or(0) as i64)
    }

    fn hits(
        &self,
        searcher: &Searcher,
        page: &[(i64, f32)],
        addresses: &HashMap<i64, DocAddress>,
        relevance: Option<&dyn Query>,
    ) -> Result<Vec<Hit>, SearchError> {
        let snippets = match relevance {
            Some(query) => {
                let mut name = SnippetGenerator::create(searcher, query, self.fields.name)?;
                let mut description =
                    SnippetGenerator::create(searcher, query, self.fields.description)?;
                name.set_max_num_chars(120);
                description.set_max_num_chars(160);
                Some((name, description))
            }
            None => None,
        };
        let mut hits = Vec::with_capacity(page.len());
        for (id, score) in page {
            let Some(address) = addresses.get(id) else {
                continue;
            };
            let doc: TantivyDocument = searcher.doc(*address)?;
            let price = first_u64(&doc, self.fields.price);
            let highlights = snippets
                .as_ref()
                .map(|(name, description)| {
                    [
                        name.snippet_from_doc(&doc),
                        description.snippet_from_doc(&doc),
                    ]
                    .into_iter()
                    .filter(|s| !s.highlighted().is_empty())
                    .map(|s| s.to_html())
                    .collect()
                })
                .unwrap_or_default();
            let brand = first_text(&doc, self.fields.brand);
            hits.push(Hit {
                id: *id,
                handle: first_text(&doc, self.fields.handle),
                name: first_text(&doc, self.fields.name),
                brand: (!brand.is_empty()).then_some(brand),
                price: self
                    .currency
                    .format_plain(Money::from_minor(price as i64).unwrap_or(Money::ZERO)),
                price_minor: price,
                in_stock: first_u64(&doc, self.fields.in_stock) == 1,
                score: *score,
                highlights,
            });
        }
        Ok(hits)
    }

    /// Collectors for every facet; nested because Tantivy's tuples stop at four.
    fn facet_collector(
        &self,
        filters: &Filters,
    ) -> (
        (FacetCollector, FacetCollector, FacetCollector),
        (FacetCollector, FacetCollector),
    ) {
        let mut category = FacetCollector::for_field("category_facet");
        category.add_facet(
            filters
                .category
                .as_deref()
                .and_then(schema::category_facet)
                .unwrap_or_else(Facet::root),
        );
        let root = |field: &str| {
            let mut collector = FacetCollector::for_field(field);
            collector.add_facet(Facet::root());
            collector
        };
        (
            (category, root("brand_facet"), root("tag_facet")),
            (root("dietary_facet"), root("price_facet")),
        )
    }

    fn facets(
        &self,
        counts: &(
            (FacetCounts, FacetCounts, FacetCounts),
            (FacetCounts, FacetCounts),
        ),
        filters: &Filters,
    ) -> Facets {
        let ((category, brand, tags), (dietary, price)) = counts;
        let category_root = filters
            .category
            .as_deref()
            .and_then(schema::category_facet)
            .unwrap_or_else(Facet::root);
        let values = |counts: &FacetCounts, under: &Facet, top: usize| -> Vec<FacetValue> {
            let mut list: Vec<FacetValue> = counts
                .get(under.clone())
                .map(|(facet, count)| FacetValue {
                    value: facet_label(facet),
                    count,
                })
                .collect();
            list.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
            list.truncate(top);
            list
        };
        let mut price = values(price, &Facet::root(), 10);
        price.sort_by_key(|v| {
            schema::PRICE_BUCKETS
                .iter()
                .position(|(label, _)| *label == v.value)
        });
        Facets {
            category: values(category, &category_root, 30),
            brand: values(brand, &Facet::root(), 30),
            tags: values(tags, &Facet::root(), 30),
            dietary: values(dietary, &Facet::root(), 20),
            price,
        }
    }
}

fn empty_results(started: Instant) -> SearchResults {
    SearchResults {
        hits: Vec::new(),
        facets: Facets::default(),
        total: 0,
        mode: Mode::Keyword,
        took_ms: started.elapsed().as_secs_f64() * 1000.0,
    }
}

/// The facet's path as people read it ("Pantry > Pasta", "vegan").
fn facet_label(facet: &Facet) -> String {
    facet.to_path().join(" > ")
}

fn first_text(doc: &TantivyDocument, field: tantivy::schema::Field) -> String {
    doc.get_first(field)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

fn first_u64(doc: &TantivyDocument, field: tantivy::schema::Field) -> u64 {
    doc.get_first(field)
        .and_then(|v| v.as_u64())
        .unwrap_or_default()
}

/// The text a product is embedded from: what it is, who makes it, where it sits, what it is like.
pub fn embedding_text(draft: &ProductDraft) -> String {
    let mut parts = vec![draft.name().to_string()];
    parts.extend(draft.brand().map(str::to_string));
    parts.push(draft.category().replace(" > ", ", "));
    if !draft.tags().is_empty() {
        parts.push(draft.tags().join(", "));
    }
    if !draft.dietary().is_empty() {
        parts.push(draft.dietary().join(", "));
    }
    parts.push(draft.description().chars().take(300).collect());
    parts.retain(|p| !p.trim().is_empty());
    parts.join(". ")
}

fn text_hash(draft: &ProductDraft) -> String {
    hex::encode(Sha256::digest(embedding_text(draft).as_bytes()))
}

/// Opens the index, or creates it empty when missing, corrupt or of another schema.
/// Returns whether it had to be created (and so needs every product).
fn open_index(dir: &Path, schema: &tantivy::schema::Schema) -> Result<(Index, bool), SearchError> {
    let io = |source| SearchError::Directory {
        path: dir.to_path_buf(),
        source,
    };
    if dir.join("meta.json").exists() {
        match Index::open_in_dir(dir) {
            Ok(index) if same_schema(&index.schema(), schema) => return Ok((index, false)),
            Ok(_) => {
                tracing::warn!(path = %dir.display(), "search index has an older schema; rebuilding")
            }
            Err(err) => {
                tracing::warn!(path = %dir.display(), error = %err, "search index unreadable; rebuilding")
            }
        }
        std::fs::remove_dir_all(dir).map_err(io)?;
    }
    std::fs::create_dir_all(dir).map_err(io)?;
    Ok((Index::create_in_dir(dir, schema.clone())?, true))
}

fn same_schema(a: &tantivy::schema::Schema, b: &tantivy::schema::Schema) -> bool {
    serde_json::to_string(a).ok() == serde_json::to_string(b).ok()
}
