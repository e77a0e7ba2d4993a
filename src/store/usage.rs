//! Model usage rows: the call log, the daily usage figures, the per-subject
//! token counters, the monthly remote spend and the alerts already sent.
//!
//! Adds what `assistant::budget` decided to record and reads it back; it must
//! not decide what a budget is, which calls are remote or when an alert is
//! due. Every read here is a primary-key look-up or, for reports, one range
//! of `daily_model_usage` (its key starts with the day).

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::StoreError;

/// One model call as stored; `day` and `month` are the UTC period of `at`.
#[derive(Debug, Clone)]
pub struct CallRow<'a> {
    pub at: &'a str,
    pub day: &'a str,
    pub month: &'a str,
    pub conversation_id: Option<&'a str>,
    pub class: &'a str,
    pub subject: &'a str,
    pub tier: &'a str,
    pub backend: &'a str,
    pub model: &'a str,
    pub purpose: &'a str,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub latency_ms: u64,
    pub cost_micros: u64,
    pub ok: bool,
}

/// What the usage report can group by: each is a column of `daily_model_usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageDimension {
    Day,
    Model,
    Tier,
    Class,
    Backend,
}

impl UsageDimension {
    pub const ALL: [UsageDimension; 5] = [
        UsageDimension::Day,
        UsageDimension::Model,
        UsageDimension::Tier,
        UsageDimension::Class,
        UsageDimension::Backend,
    ];

    /// The name clients use, which is also the column's.
    pub fn as_str(self) -> &'static str {
        match self {
            UsageDimension::Day => "day",
            UsageDimension::Model => "model",
            UsageDimension::Tier => "tier",
            UsageDimension::Class => "class",
            UsageDimension::Backend => "backend",
        }
    }

    pub fn parse(text: &str) -> Option<UsageDimension> {
        Self::ALL.into_iter().find(|d| d.as_str() == text)
    }
}

/// Calls, tokens and cost of a group; cost in micro-units of the shop currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageSums {
    pub calls: u64,
    pub failed: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub cost_micros: u64,
}

/// An alert as stored: `scope` reached `threshold`% of `limit` in `period`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    pub scope: String,
    pub period: String,
    pub threshold: u8,
    pub used: u64,
    pub limit: u64,
    pub at: String,
}

pub fn insert_call(tx: &Transaction, call: &CallRow) -> Result<i64, StoreError> {
    tx.prepare_cached(
        "INSERT INTO model_calls (at, day, month, conversation_id, class, subject, tier,
             backend, model, purpose, input_tokens, output_tokens, cached_tokens, latency_ms,
             cost_micros, ok)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        call.at,
        call.day,
        call.month,
        call.conversation_id,
        call.class,
        call.subject,
        call.tier,
        call.backend,
        call.model,
        call.purpose,
        call.input_tokens,
        call.output_tokens,
        call.cached_tokens,
        call.latency_ms,
        call.cost_micros,
        call.ok
    ])?;
    Ok(tx.last_insert_rowid())
}

/// Adds one call to its day's figures for its class, tier, backend and model.
pub fn add_to_daily_usage(tx: &Transaction, call: &CallRow) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO daily_model_usage (day, class, tier, backend, model, calls, failed,
             input_tokens, output_tokens, cached_tokens, cost_micros)
         VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (day, class, tier, backend, model) DO UPDATE SET
             calls = calls + 1,
             failed = failed + excluded.failed,
             input_tokens = input_tokens + excluded.input_tokens,
             output_tokens = output_tokens + excluded.output_tokens,
             cached_tokens = cached_tokens + excluded.cached_tokens,
             cost_micros = cost_micros + excluded.cost_micros",
    )?
    .execute(params![
        call.day,
        call.class,
        call.tier,
        call.backend,
        call.model,
        i64::from(!call.ok),
        call.input_tokens,
        call.output_tokens,
        call.cached_tokens,
        call.cost_micros
    ])?;
    Ok(())
}

/// Adds `tokens` to a subject's counter for `period` (a day or a month) and
/// returns the new total.
pub fn add_subject_tokens(
    tx: &Transaction,
    subject: &str,
    period: &str,
    tokens: u64,
) -> Result<u64, StoreError> {
    Ok(tx
        .prepare_cached(
            "INSERT INTO subject_usage (subject, period, tokens) VALUES (?1, ?2, ?3)
             ON CONFLICT (subject, period) DO UPDATE SET tokens = tokens + excluded.tokens
             RETURNING tokens",
        )?
        .query_row(params![subject, period, tokens], |r| r.get(0))?)
}

/// The tokens a subject used in `period` (a day or a month); 0 when none.
pub fn subject_tokens(conn: &Connection, subject: &str, period: &str) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT tokens FROM subject_usage WHERE subject = ?1 AND period = ?2")?
        .query_row(params![subject, period], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Adds to a month's remote spend and returns the new total.
pub fn add_remote_spend(
    tx: &Transaction,
    month: &str,
    cost_micros: u64,
) -> Result<u64, StoreError> {
    Ok(tx
        .prepare_cached(
            "INSERT INTO monthly_remote_spend (month, cost_micros) VALUES (?1, ?2)
             ON CONFLICT (month) DO UPDATE SET cost_micros = cost_micros + excluded.cost_micros
             RETURNING cost_micros",
        )?
        .query_row(params![month, cost_micros], |r| r.get(0))?)
}

/// What remote model APIs cost in `month`; 0 when nothing.
pub fn remote_spend(conn: &Connection, month: &str) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT cost_micros FROM monthly_remote_spend WHERE month = ?1")?
        .query_row([month], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// The sums per value of `dimension` over the days `from` to `to`
/// (inclusive), ordered by that value.
pub fn grouped_usage(
    conn: &Connection,
    from: &str,
    to: &str,
    dimension: UsageDimension,
) -> Result<Vec<(String, UsageSums)>, StoreError> {
    // The column name comes from the enum, never from the request.
    let column = dimension.as_str();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {column}, sum(calls), sum(failed), sum(input_tokens), sum(output_tokens),
                sum(cached_tokens), sum(cost_micros)
         FROM daily_model_usage WHERE day BETWEEN ?1 AND ?2
         GROUP BY {column} ORDER BY {column}"
    ))?;
    let rows = stmt.query_map([from, to], |r| {
        Ok((
            r.get(0)?,
            UsageSums {
                calls: r.get(1)?,
                failed: r.get(2)?,
                input_tokens: r.get(3)?,
                output_tokens: r.get(4)?,
                cached_tokens: r.get(5)?,
                cost_micros: r.get(6)?,
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records an alert; false when this (scope, period, threshold) was already sent.
pub fn insert_alert(tx: &Transaction, alert: &AlertRow) -> Result<bool, StoreError> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO usage_alerts (scope, period, threshold, used, limit_value, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (scope, period, threshold) DO NOTHING",
        )?
        .execute(params![
            alert.scope,
            alert.period,
            alert.threshold,
            alert.used,
            alert.limit,
            alert.at
        ])?;
    Ok(inserted > 0)
}

const ALERT_COLUMNS: &str = "scope, period, threshold, used, limit_value, at";

/// The alerts of `period`, highest threshold first.
pub fn alerts_of_period(conn: &Connection, period: &str) -> Result<Vec<AlertRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ALERT_COLUMNS} FROM usage_alerts WHERE period = ?1
         ORDER BY threshold DESC, scope"
    ))?;
    let rows = stmt.query_map([period], read_alert)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The newest `limit` alerts, newest first.
pub fn recent_alerts(conn: &Connection, limit: usize) -> Result<Vec<AlertRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ALERT_COLUMNS} FROM usage_alerts
         ORDER BY at DESC, threshold DESC, scope LIMIT ?1"
    ))?;
    let rows = stmt.query_map([limit as i64], read_alert)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn read_alert(r: &Row) -> rusqlite::Result<AlertRow> {
    Ok(AlertRow {
        scope: r.get(0)?,
        period: r.get(1)?,
        threshold: r.get(2)?,
        used: r.get(3)?,
        limit: r.get(4)?,
        at: r.get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::query_plan as plan;

    #[test]
    fn budget_checks_and_reports_never_scan_the_call_log() {
        let (_dir, store) = crate::store::scratch();
        store
            .read(|conn| {
                let report = plan(
                    conn,
                    "SELECT model, sum(calls) FROM daily_model_usage
                     WHERE day BETWEEN '2025-01-01' AND '2025-01-31' GROUP BY model",
                );
                assert!(report.contains("SEARCH daily_model_usage"), "{report}");
                let tokens = plan(
                    conn,
                    "SELECT tokens FROM subject_usage WHERE subject = 's' AND period = '2025-01'",
                );
                assert!(tokens.contains("SEARCH subject_usage"), "{tokens}");
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn counters_add_up_and_an_alert_is_stored_once() {
        let (_dir, store) = crate::store::scratch();
        let totals = store
            .write(|tx| {
                Ok((
                    add_subject_tokens(tx, "session:1", "2025-01-02", 70)?,
                    add_subject_tokens(tx, "session:1", "2025-01-02", 30)?,
                    add_remote_spend(tx, "2025-01", 1_500)?,
                    add_remote_spend(tx, "2025-01", 2)?,
                ))
            })
            .unwrap();
        assert_eq!(totals, (70, 100, 1_500, 1_502));
        let read = store
            .read(|c| {
                Ok((
                    subject_tokens(c, "session:1", "2025-01-02")?,
                    subject_tokens(c, "session:1", "2025-01-03")?,
                    remote_spend(c, "2025-02")?,
                ))
            })
            .unwrap();
        assert_eq!(read, (100, 0, 0));

        let alert = AlertRow {
            scope: "spend_cap".into(),
            period: "2025-01".into(),
            threshold: 80,
            used: 8,
            limit: 10,
            at: "2025-01-02T00:00:00Z".into(),
        };
        let first = store.write(|tx| insert_alert(tx, &alert)).unwrap();
        let again = store
            .write(|tx| {
                insert_alert(
                    tx,
                    &AlertRow {
                        used: 9,
                        ..alert.clone()
                    },
                )
            })
            .unwrap();
        assert!(first && !again);
        assert_eq!(
            store.read(|c| alerts_of_period(c, "2025-01")).unwrap(),
            vec![alert]
        );
    }

    #[test]
    fn dimensions_parse_their_own_names_only() {
        for dimension in UsageDimension::ALL {
            assert_eq!(UsageDimension::parse(dimension.as_str()), Some(dimension));
        }
        assert_eq!(UsageDimension::parse("Model"), None);
        assert_eq!(UsageDimension::parse("model; DROP TABLE x"), None);
    }
}
