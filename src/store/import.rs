//! Roster import: stream the rows into a TEMP staging table, then compare
//! and apply with set-based SQL, all in one transaction.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::db::{ms, sql};
use super::{ImportCounts, ImportOutcome, RosterRow, RowProblem, StoreError, Ts};
use crate::domain::pseudonym::Pseudonymizer;

/// How many problems a rejected import reports (all are counted).
const MAX_PROBLEMS: usize = 1000;

const CREATE_STAGE: &str = "
    DROP TABLE IF EXISTS temp.import_stage;
    CREATE TEMP TABLE import_stage (
        line         INTEGER NOT NULL,
        ref          TEXT NOT NULL UNIQUE,
        phone        TEXT NOT NULL,
        phone_hmac   TEXT NOT NULL,
        name         TEXT,
        street       TEXT,
        house_number TEXT,
        floor        TEXT,
        door         TEXT,
        postcode     TEXT,
        city         TEXT,
        hide_number  INTEGER NOT NULL,
        hide_address INTEGER NOT NULL,
        cohort       TEXT
    );";

const DROP_STAGE: &str = "DROP TABLE IF EXISTS temp.import_stage;";

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
    .map(|c| format!("e.{c} IS NOT {n}.{c}"))
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
    conn: &mut Connection,
    rows: &mut dyn Iterator<Item = RosterRow>,
    pseudo: &Pseudonymizer,
    now: Ts,
) -> Result<ImportOutcome, StoreError> {
    let result = import_in_tx(conn, rows, pseudo, now);
    // The staging table holds protected data: never leave it behind, on any
    // path (the transaction is over by now, committed or rolled back).
    let dropped = conn.execute_batch(DROP_STAGE).map_err(sql);
    let outcome = result?;
    dropped?;
    Ok(outcome)
}

fn import_in_tx(
    conn: &mut Connection,
    rows: &mut dyn Iterator<Item = RosterRow>,
    pseudo: &Pseudonymizer,
    now: Ts,
) -> Result<ImportOutcome, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)?;
    tx.execute_batch(CREATE_STAGE).map_err(sql)?;

    let mut problems = Problems::default();
    let mut staged: u64 = 0;
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO import_stage (line, ref, phone, phone_hmac, name, street,
                     house_number, floor, door, postcode, city, hide_number, hide_address,
                     cohort)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT (ref) DO NOTHING",
            )
            .map_err(sql)?;
        let mut line_of = tx
            .prepare("SELECT line FROM import_stage WHERE ref = ?1")
            .map_err(sql)?;
        for row in rows {
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
                    let line_i = i64::try_from(line)
                        .map_err(|_| StoreError::BadInput("line number out of range".into()))?;
                    let addr = entry.address.as_ref();
                    let n = insert
                        .execute(params![
                            line_i,
                            entry.entry_ref,
                            entry.phone.as_str(),
                            pseudo.number(&entry.phone),
                            entry.name,
                            addr.and_then(|a| a.street.as_deref()),
                            addr.and_then(|a| a.house_number.as_deref()),
                            addr.and_then(|a| a.floor.as_deref()),
                            addr.and_then(|a| a.door.as_deref()),
                            addr.and_then(|a| a.postcode.as_deref()),
                            addr.and_then(|a| a.city.as_deref()),
                            entry.hide_number,
                            entry.hide_address,
                            entry.cohort,
                        ])
                        .map_err(sql)?;
                    if n == 1 {
                        staged += 1;
                    } else {
                        let first: Option<i64> = line_of
                            .query_row([&entry.entry_ref], |r| r.get(0))
                            .optional()
                            .map_err(sql)?;
                        let message = match first {
                            Some(first) => format!("duplicate of line {first}"),
                            None => "duplicate".to_owned(),
                        };
                        problems.push(RowProblem {
                            line,
                            field: "ref".into(),
                            message,
                        });
                    }
                }
            }
        }
    }

    if problems.total > 0 {
        tx.rollback().map_err(sql)?;
        problems.trim();
        return Ok(ImportOutcome::Rejected {
            problems: problems.kept,
            total: problems.total,
        });
    }

    let one = |q: &str| -> Result<u64, StoreError> {
        tx.query_row(q, [], |r| r.get::<_, i64>(0))
            .map(super::db::count)
            .map_err(sql)
    };
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

    let now = ms(now);
    tx.execute(
        "UPDATE entries SET active = 0, removed_at = ?1, updated_at = ?1
         WHERE active = 1 AND NOT EXISTS (SELECT 1 FROM import_stage s WHERE s.ref = entries.ref)",
        [now],
    )
    .map_err(sql)?;
    // New refs are inserted; removed refs coming back are re-activated with
    // their old id; changed rows are updated; unchanged rows are not touched.
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
        [now],
    )
    .map_err(sql)?;
    // The operator's action, in the trail with its counts (no roster data).
    super::audit::append(
        &tx,
        crate::audit::kind::ROSTER_IMPORT,
        "",
        &serde_json::json!({
            "rows": staged, "added": added, "changed": changed,
            "removed": removed, "unchanged": unchanged,
        }),
        now,
    )?;
    tx.commit().map_err(sql)?;
    Ok(ImportOutcome::Applied(ImportCounts {
        added,
        changed,
        removed,
        unchanged,
    }))
}
