//! Roster import: stream the rows into a TEMP staging table (prepared
//! inserts on SQLite, `COPY` on PostgreSQL), find duplicate refs with one
//! set-based query, then compare and apply, all in one transaction.

use super::rows::{count, count_col, ms};
use super::sql::{Conn, Dialect, Kind, Value, params};
use super::{ImportCounts, ImportOutcome, RosterRow, RowProblem, StoreError, Ts};
use crate::domain::pseudonym::Pseudonymizer;

/// How many problems a rejected import reports (all are counted).
const MAX_PROBLEMS: usize = 1000;

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

fn drop_stage(d: Dialect) -> String {
    format!("DROP TABLE IF EXISTS {}", d.temp_table("import_stage"))
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
    let result = c.write_finishing(|tx| import_in_tx(tx, rows, pseudo, now));
    // The staging table holds protected data: never leave it behind, on any
    // path (the transaction is over by now, committed or rolled back).
    let dropped = c.batch(&drop);
    let outcome = result?;
    dropped?;
    if let (ImportOutcome::Applied(_), Some(analyze)) = (&outcome, c.dialect().analyze("entries")) {
        c.batch(&analyze)?;
    }
    Ok(outcome)
}

fn import_in_tx(
    tx: &mut dyn Conn,
    rows: &mut dyn Iterator<Item = RosterRow>,
    pseudo: &Pseudonymizer,
    now: Ts,
) -> Result<(ImportOutcome, super::sql::Finish), StoreError> {
    use super::sql::Finish;
    tx.batch(CREATE_STAGE)?;
    let mut problems = Problems::default();
    let staged = stage_rows(tx, rows, pseudo, &mut problems)?;
    tx.batch("CREATE INDEX import_stage_ref ON import_stage (ref)")?;
    find_duplicates(tx, &mut problems)?;
    if problems.total > 0 {
        problems.trim();
        let rejected = ImportOutcome::Rejected {
            problems: problems.kept,
            total: problems.total,
        };
        return Ok((rejected, Finish::Rollback));
    }
    let counts = apply(tx, staged, ms(now))?;
    Ok((ImportOutcome::Applied(counts), Finish::Commit))
}

/// Streams the valid rows into the stage; invalid ones become problems.
/// Returns how many rows were staged.
fn stage_rows(
    tx: &mut dyn Conn,
    rows: &mut dyn Iterator<Item = RosterRow>,
    pseudo: &Pseudonymizer,
    problems: &mut Problems,
) -> Result<u64, StoreError> {
    let text = |v: Option<String>| v.map_or(Value::Null(Kind::Text), Value::Text);
    tx.bulk_insert("import_stage", STAGE_COLUMNS, &mut |out| loop {
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

/// Compares the stage with the roster and applies it: new refs inserted,
/// removed refs coming back re-activated with their old id, changed rows
/// updated, missing ones deactivated, unchanged rows not touched.
fn apply(tx: &mut dyn Conn, staged: u64, now: i64) -> Result<ImportCounts, StoreError> {
    let mut one =
        |q: &str| -> Result<u64, StoreError> { tx.query_one(q, params![], |r| count_col(r, 0)) };
    let added = one(
        "SELECT count(*) FROM import_stage s LEFT JOIN entries e ON e.ref = s.ref
         WHERE e.id IS NULL OR e.active = 0",
    )?;
    let changed = one(&format!(
        "SELECT count(*) FROM import_stage s JOIN entries e ON e.ref = s.ref
         WHERE e.active = 1 AND ({})",
        differs("s")
    ))?;
    let removed = one("SELECT count(*) FROM entries e WHERE e.active = 1
         AND NOT EXISTS (SELECT 1 FROM import_stage s WHERE s.ref = e.ref)")?;
    let unchanged = staged.saturating_sub(added + changed);

    tx.execute(
        "UPDATE entries SET active = 0, removed_at = ?1, updated_at = ?1
         WHERE active = 1 AND NOT EXISTS (SELECT 1 FROM import_stage s WHERE s.ref = entries.ref)",
        params![now],
    )?;
    tx.execute(
        &format!(
            "INSERT INTO entries AS e (ref, phone, phone_hmac, name, street, house_number, floor,
                 door, postcode, city, hide_number, hide_address, cohort, active, added_at,
                 updated_at, removed_at)
             SELECT ref, phone, phone_hmac, name, street, house_number, floor, door, postcode,
                 city, hide_number, hide_address, cohort, 1, ?1, ?1, NULL
             FROM import_stage WHERE true
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
            "rows": staged, "added": added, "changed": changed,
            "removed": removed, "unchanged": unchanged,
        }),
        now,
    )?;
    Ok(ImportCounts {
        added,
        changed,
        removed,
        unchanged,
    })
}
