//! [`Conn`] over a `postgres` client: `?N` rewritten to `$N` and prepared
//! once per connection with the parameters' types, rows read by column
//! type, writers serialised by a transaction-scoped advisory lock.

use std::collections::HashMap;
use std::error::Error as StdError;

use ::postgres::binary_copy::BinaryCopyInWriter;
use ::postgres::fallible_iterator::FallibleIterator;
use ::postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use ::postgres::{Client, IsolationLevel, Statement, Transaction};
use bytes::BytesMut;

use crate::store::StoreError;
use crate::store::sql::{
    Conn, Dialect, Finish, Kind, NextRow, Param, Row, RowFn, TxBody, TxMode, Value, ValueRef,
    corrupt, numbered_to_dollar,
};

/// The advisory lock every writer takes first (transaction-scoped): the
/// PostgreSQL counterpart of SQLite's `BEGIN IMMEDIATE`. Advisory locks
/// are per database, so stores in different databases do not contend.
const WRITER_LOCK: i64 = 0x756e_6c69_7374_6401;

/// A message for a PostgreSQL error that can never contain row data: the
/// server's message and SQLSTATE, never its DETAIL (which quotes key
/// values). Values are always bound in binary, so no message echoes one.
pub(super) fn pg(e: ::postgres::Error) -> StoreError {
    if e.is_closed() && e.as_db_error().is_none() {
        return StoreError::Unavailable("the database connection is closed".into());
    }
    StoreError::Backend(pg_msg(&e))
}

/// [`pg`]'s message: the server's words, or the client's with their cause
/// (a TLS or socket error: no row data either).
pub(super) fn pg_msg(e: &::postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    match e.source() {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

fn pg_type(k: Kind) -> Type {
    match k {
        Kind::Int => Type::INT8,
        Kind::Text => Type::TEXT,
        Kind::Blob => Type::BYTEA,
    }
}

/// Binds by the statement's actual parameter type, so a 64-bit integer can
/// fill an `integer` slot (range-checked) and NULL fills any slot.
impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match *self {
            Param::Null(_) => Ok(IsNull::Yes),
            Param::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                _ => Err(format!("an integer cannot fill a {ty} parameter").into()),
            },
            Param::Text(s) => s.to_sql(ty, out),
            Param::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

struct PgRow(::postgres::Row);

impl Row for PgRow {
    fn value(&self, idx: usize) -> Result<ValueRef<'_>, StoreError> {
        let r = &self.0;
        let ty = r
            .columns()
            .get(idx)
            .ok_or_else(|| StoreError::Backend(format!("invalid column index {idx}")))?
            .type_()
            .clone();
        let bad = |_| corrupt(idx, "column");
        let v = match ty {
            Type::INT8 => r
                .try_get::<_, Option<i64>>(idx)
                .map_err(bad)?
                .map(ValueRef::Int),
            Type::INT4 => r
                .try_get::<_, Option<i32>>(idx)
                .map_err(bad)?
                .map(|v| ValueRef::Int(v.into())),
            Type::INT2 => r
                .try_get::<_, Option<i16>>(idx)
                .map_err(bad)?
                .map(|v| ValueRef::Int(v.into())),
            // Booleans read as 0/1, as SQLite has them.
            Type::BOOL => r
                .try_get::<_, Option<bool>>(idx)
                .map_err(bad)?
                .map(|v| ValueRef::Int(v.into())),
            Type::FLOAT8 => r
                .try_get::<_, Option<f64>>(idx)
                .map_err(bad)?
                .map(ValueRef::Real),
            Type::BYTEA => r
                .try_get::<_, Option<&[u8]>>(idx)
                .map_err(bad)?
                .map(ValueRef::Blob),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => r
                .try_get::<_, Option<&str>>(idx)
                .map_err(bad)?
                .map(|s| ValueRef::Text(s.as_bytes())),
            // NUMERIC (an uncast sum), dates, ...: the shared SQL never
            // yields them.
            _ => return Err(corrupt(idx, "column type")),
        };
        Ok(v.unwrap_or(ValueRef::Null))
    }
}

/// Statements prepared on one connection, by their `?N` text.
pub(super) type StmtCache = HashMap<String, Statement>;

enum Handle<'a> {
    Client(&'a mut Client),
    Tx(Transaction<'a>),
}

/// A pooled connection, or a transaction on it.
pub(super) struct PgConn<'a> {
    h: Handle<'a>,
    cache: &'a mut StmtCache,
}

impl<'a> PgConn<'a> {
    pub(super) fn new(client: &'a mut Client, cache: &'a mut StmtCache) -> PgConn<'a> {
        PgConn {
            h: Handle::Client(client),
            cache,
        }
    }

    fn statement(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Statement, StoreError> {
        if let Some(s) = self.cache.get(sql) {
            return Ok(s.clone());
        }
        let text = numbered_to_dollar(sql)?;
        let types: Vec<Type> = params.iter().map(|p| pg_type(p.kind())).collect();
        let stmt = match &mut self.h {
            Handle::Client(c) => c.prepare_typed(&text, &types),
            Handle::Tx(t) => t.prepare_typed(&text, &types),
        }
        .map_err(pg)?;
        self.cache.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }
}

fn as_sql<'p>(params: &'p [Param<'_>]) -> Vec<&'p (dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl Conn for PgConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        let stmt = self.statement(sql, params)?;
        let p = as_sql(params);
        match &mut self.h {
            Handle::Client(c) => c.execute(&stmt, &p),
            Handle::Tx(t) => t.execute(&stmt, &p),
        }
        .map_err(pg)
    }

    fn query_each(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        f: &mut RowFn<'_>,
    ) -> Result<(), StoreError> {
        let stmt = self.statement(sql, params)?;
        let mut rows = match &mut self.h {
            Handle::Client(c) => c.query_raw(&stmt, params.iter()),
            Handle::Tx(t) => t.query_raw(&stmt, params.iter()),
        }
        .map_err(pg)?;
        while let Some(r) = rows.next().map_err(pg)? {
            f(&PgRow(r))?;
        }
        Ok(())
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        match &mut self.h {
            Handle::Client(c) => c.batch_execute(sql),
            Handle::Tx(t) => t.batch_execute(sql),
        }
        .map_err(pg)
    }

    fn transaction(&mut self, mode: TxMode, body: &mut TxBody<'_>) -> Result<(), StoreError> {
        let tx = match &mut self.h {
            Handle::Client(c) => {
                let b = c.build_transaction();
                match mode {
                    TxMode::Read => b
                        .isolation_level(IsolationLevel::RepeatableRead)
                        .read_only(true),
                    TxMode::Write | TxMode::Rows | TxMode::Local => {
                        b.isolation_level(IsolationLevel::ReadCommitted)
                    }
                }
                .start()
            }
            // Nested: a savepoint inside the caller's transaction (which
            // already holds whatever lock it took).
            Handle::Tx(t) => t.transaction(),
        }
        .map_err(pg)?;
        let mut inner = PgConn {
            h: Handle::Tx(tx),
            cache: &mut *self.cache,
        };
        if mode == TxMode::Write {
            inner.execute(
                "SELECT pg_advisory_xact_lock(?1)",
                &[Param::Int(WRITER_LOCK)],
            )?;
        }
        // Dropped without commit (an error, a panic unwinding), the
        // transaction rolls back.
        let finish = body(&mut inner)?;
        let Handle::Tx(tx) = inner.h else {
            return Err(StoreError::Backend("transaction handle lost".into()));
        };
        match finish {
            Finish::Commit => tx.commit(),
            Finish::Rollback => tx.rollback(),
        }
        .map_err(pg)
    }

    fn bulk_insert(
        &mut self,
        table: &str,
        columns: &[(&str, Kind)],
        next: &mut NextRow<'_>,
    ) -> Result<u64, StoreError> {
        let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
        let types: Vec<Type> = columns.iter().map(|(_, k)| pg_type(*k)).collect();
        let copy = format!("COPY {table} ({}) FROM STDIN BINARY", names.join(", "));
        let sink = match &mut self.h {
            Handle::Client(c) => c.copy_in(&copy),
            Handle::Tx(t) => t.copy_in(&copy),
        }
        .map_err(pg)?;
        let mut w = BinaryCopyInWriter::new(sink, &types);
        let mut row: Vec<Value> = Vec::with_capacity(columns.len());
        loop {
            row.clear();
            // An error drops the writer unfinished, which aborts the COPY.
            if !next(&mut row)? {
                break;
            }
            let params: Vec<Param<'_>> = row.iter().map(Value::param).collect();
            w.write(&as_sql(&params)).map_err(pg)?;
        }
        w.finish().map_err(pg)
    }
}
