//! Roster import: stream the rows into a TEMP staging table (prepared
//! inserts on SQLite, `COPY` on PostgreSQL) in chunks, find duplicate refs
//! with one set-based query, compare the stage with the roster into TEMP
//! tables of what changes, and only then take the store's write lock, for
//! one short transaction that applies just the changes.
//!
//! Everything before that transaction touches only this connection's
//! temporary tables and reads the roster, so a running daemon keeps
//! probing and recording while a million rows are read, staged and
//! compared. A concurrent import is caught by the roster's generation (a
//! `meta` counter every import bumps): if it moved between the comparison
//! and the lock, the comparison is redone under the lock.

use super::rows::{count, count_col, ms};
use super::sql::{Conn, Dialect, Kind, Value, params};
use super::{ImportCounts, ImportOutcome, RosterRow, RowProblem, StoreError, Ts};
use crate::domain::pseudonym::Pseudonymizer;

/// How many problems a rejected import reports (all are counted).
const MAX_PROBLEMS: usize = 1000;

/// Rows staged per transaction.
const STAGE_CHUNK: u64 = 100_000;

/// The `meta` key of the roster's generation.
const GENERATION: &str = "roster_generation";

/// The staging table; `ref` is indexed after the load (faster), and is
/// unique by the time anything is applied.
const CREATE_STAGE: &str = "
    CREATE TEMP TABLE import_stage (
        line         BIGINT NOT NULL,
        ref          TEXT NOT NULL,
        phone        TEXT NOT NULL,
        phone_hmac   TEXT NOT NULL,
        name         TEXT,
        street       TEXT,
        house_number TEXT,
        floor        TEXT,
        door         TEXT,
        postcode     TEXT,
        city         TEXT,
        hide_number  BIGINT NOT NULL,
        hide_address BIGINT NOT NULL,
        cohort       TEXT
    )";

const STAGE_COLUMNS: &[(&str, Kind)] = &[
    ("line", Kind::Int),
    ("ref", Kind::Text),
    ("phone", Kind::Text),
    ("phone_hmac", Kind::Text),
    ("name", Kind::Text),
    ("street", Kind::Text),
    ("house_number", Kind::Text),
    ("floor", Kind::Text),
    ("door", Kind::Text),
    ("postcode", Kind::Text),
    ("city", Kind::Text),
    ("hide_number", Kind::Int),
    ("hide_address", Kind::Int),
    ("cohort", Kind::Text),
];

/// Drops the stage and the comparison's tables.
fn drop_stage(d: Dialect) -> String {
    ["import_stage", "import_upsert", "import_removed"]
        .iter()
        .map(|t| format!("DROP TABLE IF EXISTS {};", d.temp_table(t)))
        .collect()
}

/// Null-safe "some field of the new row `n` differs from entry `e`".
fn differs(n: &str) -> String {
    [
        "phone",
        "phone_hmac",
        "name",
        "street",
        "house_number",
        "floor",
        "door",
        "postcode",
        "city",
        "hide_number",
        "hide_address",
        "cohort",
    ]
    .iter()
    .map(|c| format!("e.{c} IS DISTINCT FROM {n}.{c}"))
    .collect::<Vec<_>>()
    .join(" OR ")
}

/// Keeps the `MAX_PROBLEMS` problems with the smallest line numbers, without
/// holding more than twice that many at once.
#[derive(Default)]
struct Problems {
    kept: Vec<RowProblem>,
    total: u64,
}

impl Problems {
    fn push(&mut self, p: RowProblem) {
        self.total += 1;
        self.kept.push(p);
        if self.kept.len() >= 2 * MAX_PROBLEMS {
            self.trim();
        }
    }
    fn trim(&mut self) {
        self.kept.sort_by_key(|p| p.line);
        self.kept.truncate(MAX_PROBLEMS);
    }
}

pub(super) fn import_roster(
    c: &mut dyn Conn,
    rows: &mut dyn Iterator<Item = RosterRow>,
    pseudo: &Pseudonymizer,
    now: Ts,
) -> Result<ImportOutcome, StoreError> {
    let drop = drop_stage(c.dialect());
    // A stage left by a crashed import of this connection goes first.
    c.batch(&drop)?;
    let result = stage_compare_apply(c, rows, pseudo, now);
    // The staging tables hold protected data: never leave them behind, on
    // any path (every transaction is over by now, committed or not).
    let dropped = c.batch(&drop);
    let outcome = result?;
    dropped?;
    if let (ImportOutcome::Applied(_), Some(analyze)) = (&outcome, c.dialect().analyze("entries")) {
        c.batch(&analyze)?;
    }
    Ok(outcome)
}

/// The import's three steps; only the last holds the store's write lock.
fn stage_compare_apply(
    c: &mut dyn Conn,
    rows: &mut dyn Iterator<Item = RosterRow>,
    pseudo: &Pseudonymizer,
    now: Ts,
) -> Result<ImportOutcome, StoreError> {
    let t0 = std::time::Instant::now();
    c.batch(CREATE_STAGE)?;
    let mut problems = Problems::default();
    let mut staged = 0u64;
    let mut rows = rows.fuse();
    loop {
        let n = c.write_local(|tx| stage_rows(tx, &mut rows, pseudo, &mut problems))?;
        staged += n;
        if n < STAGE_CHUNK {
            break;
        }
    }
    c.batch("CREATE INDEX import_stage_ref ON import_stage (ref)")?;
    find_duplicates(c, &mut problems)?;
    if problems.total > 0 {
        problems.trim();
        return Ok(ImportOutcome::Rejected {
            problems: problems.kept,
            total: problems.total,
        });
    }
    let t1 = std::time::Instant::now();
    let planned = c.write_local(|tx| compare(tx, staged))?;
    let t2 = std::time::Instant::now();
    let counts = c.write(|tx| {
        let counts = if generation(tx)? == planned.generation {
            planned.counts
        } else {
            // Another import landed since the comparison: compare again,
            // now that nothing can land in between.
            tx.batch(&format!(
                "DROP TABLE {}; DROP TABLE {};",
                tx.dialect().temp_table("import_upsert"),
                tx.dialect().temp_table("import_removed")
            ))?;
            compare(tx, staged)?.counts
        };
        apply(tx, staged, counts, ms(now))?;
        Ok(counts)
    })?;
    // What the benchmark reports: only the last step holds the write lock.
    tracing::debug!(
        stage_ms = (t1 - t0).as_millis() as u64,
        compare_ms = (t2 - t1).as_millis() as u64,
        locked_ms = t2.elapsed().as_millis() as u64,
        "Import applied."
    );
    Ok(ImportOutcome::Applied(counts))
}

/// Streams up to [`STAGE_CHUNK`] valid rows into the stage; invalid ones
/// become problems. Returns how many rows were staged: fewer than a chunk
/// once `rows` is exhausted.
fn stage_rows(
    tx: &mut dyn Conn,
    rows: &mut dyn Iterator<Item = RosterRow>,
    pseudo: &Pseudonymizer,
    problems: &mut Problems,
) -> Result<u64, StoreError> {
    let text = |v: Option<String>| v.map_or(Value::Null(Kind::Text), Value::Text);
    let mut left = STAGE_CHUNK;
    tx.bulk_insert("import_stage", STAGE_COLUMNS, &mut |out| loop {
        if left == 0 {
            return Ok(false);
        }
        let Some(row) = rows.next() else {
            return Ok(false);
        };
        match row {
            RosterRow::Invalid {
                line,
                field,
                message,
            } => problems.push(RowProblem {
                line,
                field,
                message,
            }),
            RosterRow::Valid { line, entry } => {
                let line = i64::try_from(line)
                    .map_err(|_| StoreError::BadInput("line number out of range".into()))?;
                // All six parts NULL when there is no address.
                let a = entry.address.unwrap_or_default();
                out.extend([
                    Value::Int(line),
                    Value::Text(entry.entry_ref),
                    Value::Text(entry.phone.as_str().to_owned()),
                    Value::Text(pseudo.number(&entry.phone)),
                    text(entry.name),
                    text(a.street),
                    text(a.house_number),
                    text(a.floor),
                    text(a.door),
                    text(a.postcode),
                    text(a.city),
                    Value::Int(i64::from(entry.hide_number)),
                    Value::Int(i64::from(entry.hide_address)),
                    text(entry.cohort),
                ]);
                left -= 1;
                return Ok(true);
            }
        }
    })
}

/// A ref on a later line than its first is a problem on that line
/// ("duplicate of line N"): the first `MAX_PROBLEMS` by line, all counted.
fn find_duplicates(tx: &mut dyn Conn, problems: &mut Problems) -> Result<(), StoreError> {
    let extra = tx.query_i64(
        "SELECT count(*) - count(DISTINCT ref) FROM import_stage",
        params![],
    )?;
    if extra == 0 {
        return Ok(());
    }
    let dups = tx.query_map(
        "SELECT s.line, s.first FROM (
             SELECT line, min(line) OVER (PARTITION BY ref) AS first FROM import_stage
         ) AS s
         WHERE s.line > s.first ORDER BY s.line LIMIT ?1",
        params![MAX_PROBLEMS as i64],
        |r| Ok((r.i64(0)?, r.i64(1)?)),
    )?;
    for (line, first) in &dups {
        problems.push(RowProblem {
            line: u64::try_from(*line).unwrap_or(0),
            field: "ref".into(),
            message: format!("duplicate of line {first}"),
        });
    }
    // The rest are counted, not listed (they come after the listed ones).
    problems.total += count(extra).saturating_sub(dups.len() as u64);
    Ok(())
}

/// What the comparison found, and against which roster generation.
struct Planned {
    counts: ImportCounts,
    generation: i64,
}

fn generation(tx: &mut dyn Conn) -> Result<i64, StoreError> {
    let v = tx.query_opt(
        "SELECT value FROM meta WHERE key = ?1",
        params![GENERATION],
        |r| r.bytes(0),
    )?;
    Ok(v.and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0))
}

/// Compares the stage with the roster into two TEMP tables: the rows to
/// insert or update (`import_upsert`: new refs, removed refs coming back,
/// changed rows) and the entries to deactivate (`import_removed`).
fn compare(tx: &mut dyn Conn, staged: u64) -> Result<Planned, StoreError> {
    let generation = generation(tx)?;
    tx.batch(&format!(
        "CREATE TEMP TABLE import_upsert AS
             SELECT s.*, CASE WHEN e.id IS NULL OR e.active = 0 THEN 1 ELSE 0 END AS added
             FROM import_stage AS s LEFT JOIN entries AS e ON e.ref = s.ref
             WHERE e.id IS NULL OR e.active = 0 OR {};
         CREATE TEMP TABLE import_removed AS
             SELECT e.id FROM entries AS e
             WHERE e.active = 1
                 AND NOT EXISTS (SELECT 1 FROM import_stage AS s WHERE s.ref = e.ref);",
        differs("s")
    ))?;
    let mut one =
        |q: &str| -> Result<u64, StoreError> { tx.query_one(q, params![], |r| count_col(r, 0)) };
    let added = one("SELECT count(*) FROM import_upsert WHERE added = 1")?;
    let changed = one("SELECT count(*) FROM import_upsert WHERE added = 0")?;
    let removed = one("SELECT count(*) FROM import_removed")?;
    Ok(Planned {
        counts: ImportCounts {
            added,
            changed,
            removed,
            unchanged: staged.saturating_sub(added + changed),
        },
        generation,
    })
}

/// Applies what [`compare`] found (under the write lock): removed refs
/// deactivated, new ones inserted, removed ones coming back re-activated
/// with their old id, changed rows updated; unchanged rows are not
/// touched. Then the audit record and the next generation.
fn apply(tx: &mut dyn Conn, staged: u64, counts: ImportCounts, now: i64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE entries SET active = 0, removed_at = ?1, updated_at = ?1
         WHERE active = 1 AND id IN (SELECT id FROM import_removed)",
        params![now],
    )?;
    tx.execute(
        &format!(
            "INSERT INTO entries AS e (ref, phone, phone_hmac, name, street, house_number, floor,
                 door, postcode, city, hide_number, hide_address, cohort, active, added_at,
                 updated_at, removed_at)
             SELECT ref, phone, phone_hmac, name, street, house_number, floor, door, postcode,
                 city, hide_number, hide_address, cohort, 1, ?1, ?1, NULL
             FROM import_upsert WHERE true
             ON CONFLICT (ref) DO UPDATE SET
                 phone = excluded.phone, phone_hmac = excluded.phone_hmac,
                 name = excluded.name, street = excluded.street,
                 house_number = excluded.house_number, floor = excluded.floor,
                 door = excluded.door, postcode = excluded.postcode, city = excluded.city,
                 hide_number = excluded.hide_number, hide_address = excluded.hide_address,
                 cohort = excluded.cohort,
                 added_at = CASE WHEN e.active = 0 THEN excluded.added_at ELSE e.added_at END,
                 active = 1, removed_at = NULL, erased_at = NULL,
                 updated_at = excluded.updated_at
             WHERE e.active = 0 OR {}",
            differs("excluded")
        ),
        params![now],
    )?;
    // The operator's action, in the trail with its counts (no roster data).
    super::audit::append(
        tx,
        crate::audit::kind::ROSTER_IMPORT,
        "",
        &serde_json::json!({
            "rows": staged, "added": counts.added, "changed": counts.changed,
            "removed": counts.removed, "unchanged": counts.unchanged,
        }),
        now,
    )?;
    let next = generation(tx)?.saturating_add(1).to_string();
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![GENERATION, next.as_bytes()],
    )?;
    Ok(())
}
