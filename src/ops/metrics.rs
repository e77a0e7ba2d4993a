//! Prometheus metrics: HTTP traffic, the database pool, the catalog, the
//! assistant's answer cache, the process.
//!
//! Request counters are labelled by route pattern ("/api/v1/products/{id}"), never
//! by raw path, so a crawler cannot grow the label set without bound.

use prometheus::proto::{Counter, Gauge, Metric, MetricFamily, MetricType};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::assistant::cache::CacheStats;
use crate::store::{Store, products};
use std::sync::atomic::Ordering;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
    pool_waits: IntGauge,
    catalog: IntGaugeVec,
    resident_memory: IntGauge,
    rate_limited: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("shopkeep".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route pattern, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route pattern",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["route", "method"],
        )?;
        let pool = IntGaugeVec::new(
            Opts::new("db_readers", "SQLite reader connections by state"),
            &["state"],
        )?;
        let pool_waits = IntGauge::new(
            "db_reader_waits_total",
            "Times a query waited for a free reader",
        )?;
        let catalog = IntGaugeVec::new(
            Opts::new("catalog_products", "Products in the catalog"),
            &["kind"],
        )?;
        let resident_memory = IntGauge::new(
            "process_resident_memory_bytes",
            "Resident memory of this process",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool.clone()))?;
        registry.register(Box::new(pool_waits.clone()))?;
        registry.register(Box::new(catalog.clone()))?;
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "rate_limited_total",
                "Requests refused with 429 because their client address spent its budget",
            ),
            &["budget"],
        )?;
        registry.register(Box::new(resident_memory.clone()))?;
        registry.register(Box::new(rate_limited.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
            pool,
            pool_waits,
            catalog,
            resident_memory,
            rate_limited,
        })
    }

    pub fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[route, method])
            .observe(seconds);
    }

    /// Counts a request refused by the per-address budget `budget` (login, chat …).
    pub fn count_rate_limited(&self, budget: &str) {
        self.rate_limited.with_label_values(&[budget]).inc();
    }

    /// Refreshes the gauges that are read at scrape time and renders the text
    /// format, with the answer cache's figures as they are now.
    pub fn render(&self, store: &Store, answers: &CacheStats) -> String {
        let stats = store.stats();
        let total = stats.readers_total.load(Ordering::Relaxed) as i64;
        let busy = stats.readers_busy.load(Ordering::Relaxed) as i64;
        self.pool.with_label_values(&["busy"]).set(busy);
        self.pool.with_label_values(&["idle"]).set(total - busy);
        self.pool_waits
            .set(stats.reader_waits.load(Ordering::Relaxed) as i64);
        if let Ok(counts) = store.read(products::counts) {
            self.catalog.with_label_values(&["all"]).set(counts.total);
            self.catalog
                .with_label_values(&["active"])
                .set(counts.active);
            self.catalog
                .with_label_values(&["variants"])
                .set(counts.variants);
        }
        if let Some(rss) = resident_memory_bytes() {
            self.resident_memory.set(rss as i64);
        }
        let mut families = self.registry.gather();
        families.extend(answer_cache_families(answers));
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&families, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The answer cache's counters as they stand: the cache keeps them itself,
/// so they are written out at scrape time instead of mirrored in the registry.
fn answer_cache_families(stats: &CacheStats) -> [MetricFamily; 3] {
    [
        counter_family(
            "shopkeep_answer_cache_hits_total",
            "Assistant questions answered from the answer cache",
            stats.hits,
        ),
        counter_family(
            "shopkeep_answer_cache_misses_total",
            "Answer cache look-ups that found no current answer",
            stats.misses,
        ),
        gauge_family(
            "shopkeep_answer_cache_entries",
            "Answers held in the answer cache",
            stats.entries as f64,
        ),
    ]
}

fn counter_family(name: &str, help: &str, value: u64) -> MetricFamily {
    let mut counter = Counter::default();
    counter.set_value(value as f64);
    let mut metric = Metric::default();
    metric.set_counter(counter);
    family(name, help, MetricType::COUNTER, metric)
}

fn gauge_family(name: &str, help: &str, value: f64) -> MetricFamily {
    let mut gauge = Gauge::default();
    gauge.set_value(value);
    family(name, help, MetricType::GAUGE, Metric::from_gauge(gauge))
}

fn family(name: &str, help: &str, kind: MetricType, metric: Metric) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name.to_string());
    family.set_help(help.to_string());
    family.set_field_type(kind);
    family.set_metric(vec![metric]);
    family
}

/// Resident set size from /proc; `None` where there is no procfs.
pub fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_cache_is_rendered_with_its_counters_and_size() {
        let (_dir, store) = crate::store::scratch();
        let stats = CacheStats {
            hits: 7,
            misses: 3,
            entries: 2,
        };
        let text = Metrics::new().unwrap().render(&store, &stats);
        for line in [
            "# TYPE shopkeep_answer_cache_hits_total counter",
            "shopkeep_answer_cache_hits_total 7",
            "# TYPE shopkeep_answer_cache_misses_total counter",
            "shopkeep_answer_cache_misses_total 3",
            "# TYPE shopkeep_answer_cache_entries gauge",
            "shopkeep_answer_cache_entries 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing:\n{text}");
        }
    }
}
