//! [`Conn`] over a rusqlite connection: cached statements, the neutral
//! parameter and row types, `BEGIN IMMEDIATE` for writers.

use rusqlite::types::{ToSqlOutput, ValueRef as SqlValueRef};
use rusqlite::{Connection, TransactionBehavior, params_from_iter};

use crate::store::StoreError;
use crate::store::sql::{
    Conn, Dialect, Finish, Kind, NextRow, Param, Row, RowFn, TxBody, TxMode, Value, ValueRef,
};

/// A message for a rusqlite error that can never contain row data.
pub(super) fn sql_msg(e: &rusqlite::Error) -> String {
    use rusqlite::Error as E;
    match e {
        // SQLite's own messages name constraints and columns, not values
        // (every value is a bound parameter).
        E::SqliteFailure(err, Some(msg)) => format!("{msg} ({:?})", err.code),
        E::SqliteFailure(err, None) => format!("{err}"),
        E::FromSqlConversionFailure(idx, ty, _) => {
            format!("column {idx}: cannot convert {ty} value")
        }
        E::IntegralValueOutOfRange(idx, _) => format!("column {idx}: integer out of range"),
        E::Utf8Error(idx, _) => format!("column {idx}: invalid UTF-8"),
        E::InvalidColumnType(idx, name, ty) => {
            format!("column {idx} ({name}): unexpected type {ty}")
        }
        E::QueryReturnedNoRows => "query returned no rows".into(),
        E::QueryReturnedMoreThanOneRow => "query returned more than one row".into(),
        E::InvalidColumnIndex(idx) => format!("invalid column index {idx}"),
        E::InvalidColumnName(name) => format!("invalid column name {name}"),
        E::StatementChangedRows(n) => format!("statement changed {n} rows"),
        E::InvalidParameterCount(given, expected) => {
            format!("{given} parameters given, {expected} expected")
        }
        E::ExecuteReturnedResults => "execute returned results".into(),
        E::MultipleStatement => "multiple statements".into(),
        E::ToSqlConversionFailure(_) => "cannot convert a parameter".into(),
        _ => "database error".into(),
    }
}

pub(super) fn sql(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
    match e.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked) => StoreError::Busy(sql_msg(&e)),
        _ => StoreError::Backend(sql_msg(&e)),
    }
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Param::Null(_) => SqlValueRef::Null,
            Param::Int(i) => SqlValueRef::Integer(i),
            Param::Text(s) => SqlValueRef::Text(s.as_bytes()),
            Param::Blob(b) => SqlValueRef::Blob(b),
        }))
    }
}

struct SqliteRow<'r, 's>(&'r rusqlite::Row<'s>);

impl Row for SqliteRow<'_, '_> {
    fn value(&self, idx: usize) -> Result<ValueRef<'_>, StoreError> {
        Ok(match self.0.get_ref(idx).map_err(sql)? {
            SqlValueRef::Null => ValueRef::Null,
            SqlValueRef::Integer(i) => ValueRef::Int(i),
            SqlValueRef::Real(f) => ValueRef::Real(f),
            SqlValueRef::Text(t) => ValueRef::Text(t),
            SqlValueRef::Blob(b) => ValueRef::Blob(b),
        })
    }
}

/// A connection, or a transaction on it (rusqlite's `Transaction` derefs
/// to the same `Connection`).
pub(crate) struct SqliteConn<'c>(pub(super) &'c Connection);

impl Conn for SqliteConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql_text: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        let mut stmt = self.0.prepare_cached(sql_text).map_err(sql)?;
        let n = stmt.execute(params_from_iter(params)).map_err(sql)?;
        Ok(n as u64)
    }

    fn query_each(
        &mut self,
        sql_text: &str,
        params: &[Param<'_>],
        f: &mut RowFn<'_>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.0.prepare_cached(sql_text).map_err(sql)?;
        let mut rows = stmt.query(params_from_iter(params)).map_err(sql)?;
        while let Some(r) = rows.next().map_err(sql)? {
            f(&SqliteRow(r))?;
        }
        Ok(())
    }

    fn batch(&mut self, sql_text: &str) -> Result<(), StoreError> {
        self.0.execute_batch(sql_text).map_err(sql)
    }

    fn transaction(&mut self, mode: TxMode, body: &mut TxBody<'_>) -> Result<(), StoreError> {
        let behavior = match mode {
            TxMode::Read | TxMode::Local => TransactionBehavior::Deferred,
            TxMode::Write | TxMode::Rows => TransactionBehavior::Immediate,
        };
        // Dropped without commit (an error, a panic unwinding), it rolls back.
        let tx = rusqlite::Transaction::new_unchecked(self.0, behavior).map_err(sql)?;
        let finish = body(&mut SqliteConn(&tx))?;
        match finish {
            Finish::Commit => tx.commit().map_err(sql),
            Finish::Rollback => tx.rollback().map_err(sql),
        }
    }

    fn bulk_insert(
        &mut self,
        table: &str,
        columns: &[(&str, Kind)],
        next: &mut NextRow<'_>,
    ) -> Result<u64, StoreError> {
        let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
        let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        let text = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            names.join(", "),
            marks.join(", ")
        );
        let mut stmt = self.0.prepare(&text).map_err(sql)?;
        let mut row: Vec<Value> = Vec::with_capacity(columns.len());
        let mut n = 0u64;
        loop {
            row.clear();
            if !next(&mut row)? {
                return Ok(n);
            }
            stmt.execute(params_from_iter(row.iter().map(Value::param)))
                .map_err(sql)?;
            n += 1;
        }
    }
}
