//! The backend-neutral SQL layer: what the query modules see of a database.
//!
//! Query modules write SQL once, in the subset SQLite and PostgreSQL share
//! (rules in ARCHITECTURE.md, "The SQL both backends speak"), pass typed
//! [`Param`]s and read rows through [`Row`]'s typed getters. A backend
//! (`sqlite/`, `postgres/`) implements [`Conn`]: statement caching,
//! placeholder rewriting, type conversion and transactions live there.
//! Where the two dialects truly differ, the query asks [`Conn::dialect`].

use super::StoreError;

/// The type of a parameter, which PostgreSQL needs even for a NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Int,
    Text,
    Blob,
}

/// One bound parameter. Integers are always 64-bit; booleans are 0/1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Param<'a> {
    Null(Kind),
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl Param<'_> {
    pub(super) fn kind(&self) -> Kind {
        match self {
            Param::Null(k) => *k,
            Param::Int(_) => Kind::Int,
            Param::Text(_) => Kind::Text,
            Param::Blob(_) => Kind::Blob,
        }
    }
}

/// An owned parameter, for rows built one at a time (bulk loads).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Null(Kind),
    Int(i64),
    Text(String),
}

impl Value {
    pub(super) fn param(&self) -> Param<'_> {
        match self {
            Value::Null(k) => Param::Null(*k),
            Value::Int(i) => Param::Int(*i),
            Value::Text(s) => Param::Text(s),
        }
    }
}

/// Rust values that bind as a [`Param`]; `None` binds a NULL of the
/// value's kind.
pub(super) trait ToParam {
    const KIND: Kind;
    fn to_param(&self) -> Param<'_>;
}

macro_rules! int_param {
    ($($t:ty),*) => {$(
        impl ToParam for $t {
            const KIND: Kind = Kind::Int;
            fn to_param(&self) -> Param<'_> {
                Param::Int(i64::from(*self))
            }
        }
    )*};
}
int_param!(i64, i32, u32, u16);

impl ToParam for bool {
    const KIND: Kind = Kind::Int;
    fn to_param(&self) -> Param<'_> {
        Param::Int(i64::from(*self))
    }
}

impl ToParam for str {
    const KIND: Kind = Kind::Text;
    fn to_param(&self) -> Param<'_> {
        Param::Text(self)
    }
}

impl ToParam for String {
    const KIND: Kind = Kind::Text;
    fn to_param(&self) -> Param<'_> {
        Param::Text(self)
    }
}

impl ToParam for [u8] {
    const KIND: Kind = Kind::Blob;
    fn to_param(&self) -> Param<'_> {
        Param::Blob(self)
    }
}

impl ToParam for Vec<u8> {
    const KIND: Kind = Kind::Blob;
    fn to_param(&self) -> Param<'_> {
        Param::Blob(self)
    }
}

impl<T: ToParam + ?Sized> ToParam for &T {
    const KIND: Kind = T::KIND;
    fn to_param(&self) -> Param<'_> {
        (**self).to_param()
    }
}

impl<T: ToParam> ToParam for Option<T> {
    const KIND: Kind = T::KIND;
    fn to_param(&self) -> Param<'_> {
        match self {
            Some(v) => v.to_param(),
            None => Param::Null(T::KIND),
        }
    }
}

/// `params![a, b, c]`: a slice of [`Param`]s for `?1, ?2, ?3`.
macro_rules! params {
    () => { &[] as &[$crate::store::sql::Param<'_>] };
    ($($v:expr),+ $(,)?) => {
        &[$($crate::store::sql::ToParam::to_param(&$v)),+] as &[$crate::store::sql::Param<'_>]
    };
}
pub(super) use params;

/// A column value as read, borrowed from the row. Text is raw bytes: a
/// tampered SQLite file can hold invalid UTF-8, which the audit check
/// reports rather than fails on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum ValueRef<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a [u8]),
    Blob(&'a [u8]),
}

/// A malformed column value: names the column and what was expected,
/// never the value (it may be roster data).
pub(super) fn corrupt(idx: usize, what: &str) -> StoreError {
    StoreError::Corrupt(format!("column {idx}: unexpected {what} value"))
}

/// One result row. Backends implement [`Row::value`]; the typed getters
/// are shared, so both backends convert (and reject) values alike.
pub(super) trait Row {
    fn value(&self, idx: usize) -> Result<ValueRef<'_>, StoreError>;

    fn opt_i64(&self, idx: usize) -> Result<Option<i64>, StoreError> {
        match self.value(idx)? {
            ValueRef::Null => Ok(None),
            ValueRef::Int(i) => Ok(Some(i)),
            _ => Err(corrupt(idx, "integer")),
        }
    }

    fn i64(&self, idx: usize) -> Result<i64, StoreError> {
        self.opt_i64(idx)?
            .ok_or_else(|| corrupt(idx, "NULL integer"))
    }

    fn opt_text(&self, idx: usize) -> Result<Option<String>, StoreError> {
        match self.value(idx)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(|s| Some(s.to_owned()))
                .map_err(|_| corrupt(idx, "non-UTF-8 text")),
            _ => Err(corrupt(idx, "text")),
        }
    }

    fn text(&self, idx: usize) -> Result<String, StoreError> {
        self.opt_text(idx)?.ok_or_else(|| corrupt(idx, "NULL text"))
    }

    /// Bytes of a blob, or of text (older SQLite stores wrote some `meta`
    /// values as text).
    fn opt_bytes(&self, idx: usize) -> Result<Option<Vec<u8>>, StoreError> {
        match self.value(idx)? {
            ValueRef::Null => Ok(None),
            ValueRef::Blob(b) | ValueRef::Text(b) => Ok(Some(b.to_vec())),
            _ => Err(corrupt(idx, "blob")),
        }
    }

    fn bytes(&self, idx: usize) -> Result<Vec<u8>, StoreError> {
        self.opt_bytes(idx)?
            .ok_or_else(|| corrupt(idx, "NULL blob"))
    }
}

/// The SQL dialect, for the few places where the two differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// An expression giving a uniformly random 64-bit key per row.
    /// (SQLite's `random()` is one; PostgreSQL's is a double in [0, 1).)
    pub(super) fn random_key(self) -> &'static str {
        match self {
            Dialect::Sqlite => "random()",
            Dialect::Postgres => "CAST(floor((random() - 0.5) * 18446744073709551616.0) AS BIGINT)",
        }
    }

    /// An expression giving a random integer in `[0, n)` for the integer
    /// expression `n` (a parameter, typically).
    pub(super) fn random_below(self, n: &str) -> String {
        match self {
            Dialect::Sqlite => format!("abs(random() % {n})"),
            Dialect::Postgres => format!("CAST(floor(random() * {n}) AS BIGINT)"),
        }
    }

    /// Statements that refresh the planner's statistics of `tables` after
    /// a change of most of their rows (`None` where the backend needs
    /// none). PostgreSQL's autovacuum would get there, but the first
    /// cycle batch after a million-row import would otherwise be planned
    /// blind (a hash join and a sort instead of the cycle index).
    pub(super) fn analyze(self, tables: &str) -> Option<String> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some(format!("ANALYZE {tables}")),
        }
    }

    /// The name of a temporary table, qualified so it never resolves to a
    /// permanent one.
    pub(super) fn temp_table(self, name: &str) -> String {
        match self {
            Dialect::Sqlite => format!("temp.{name}"),
            Dialect::Postgres => format!("pg_temp.{name}"),
        }
    }

    /// What ends a `SELECT` that locks the rows it reads until the
    /// transaction ends (in a [`TxMode::Rows`] writer). SQLite has no row
    /// locks and needs none: its writer holds the whole database.
    pub(super) fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }
}

/// What a transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TxMode {
    /// One consistent snapshot for several reads (`audit verify`).
    Read,
    /// A writer, serialised with every other writer of the same store, on
    /// any host: SQLite's `BEGIN IMMEDIATE`; on PostgreSQL a transaction
    /// that first takes the store's advisory writer lock. Reads inside see
    /// everything committed before it began, so read-then-write is safe.
    Write,
    /// A small writer that locks only the rows it reads with
    /// [`Dialect::for_update`] (or changes): on PostgreSQL it takes no
    /// store-wide lock, so a budget claim or a lease renewal never waits
    /// for a probe batch or an import; on SQLite it is `BEGIN IMMEDIATE`
    /// like any writer (SQLite locks the whole file anyway).
    Rows,
    /// Writes only this connection's temporary tables (an import's
    /// staging): no lock on the store (SQLite: deferred; PostgreSQL: no
    /// advisory lock), so it can take as long as it takes.
    Local,
}

/// How a transaction body ends when it returns `Ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Finish {
    Commit,
    Rollback,
}

/// A row callback: gets each row in order; an error stops the query.
pub(super) type RowFn<'f> = dyn FnMut(&dyn Row) -> Result<(), StoreError> + 'f;

/// Fills the vector with the next row's values; `false` when there are no
/// more rows.
pub(super) type NextRow<'f> = dyn FnMut(&mut Vec<Value>) -> Result<bool, StoreError> + 'f;

/// A transaction body.
pub(super) type TxBody<'f> = dyn FnMut(&mut dyn Conn) -> Result<Finish, StoreError> + 'f;

/// A connection (or a transaction on one). Placeholders are `?1..?N`
/// only; statements are prepared once per connection and cached by text.
pub(super) trait Conn {
    fn dialect(&self) -> Dialect;

    /// Runs one statement; returns the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError>;

    /// Runs one query and hands each row to `f`, streaming.
    fn query_each(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        f: &mut RowFn<'_>,
    ) -> Result<(), StoreError>;

    /// Runs several statements without parameters (DDL), uncached.
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;

    /// Runs `body` in a transaction: committed when it returns
    /// `Ok(Finish::Commit)`, rolled back otherwise (an error, a panic).
    fn transaction(&mut self, mode: TxMode, body: &mut TxBody<'_>) -> Result<(), StoreError>;

    /// Loads rows into `table` (inside the caller's transaction) as fast
    /// as the backend can, streaming: prepared inserts on SQLite, `COPY`
    /// on PostgreSQL. Returns the number of rows loaded.
    fn bulk_insert(
        &mut self,
        table: &str,
        columns: &[(&str, Kind)],
        next: &mut NextRow<'_>,
    ) -> Result<u64, StoreError>;
}

impl dyn Conn + '_ {
    /// Every row, each mapped by `f`.
    pub(super) fn query_map<T>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        mut f: impl FnMut(&dyn Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        self.query_each(sql, params, &mut |r| {
            out.push(f(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row mapped by `f`, if there is one.
    pub(super) fn query_opt<T>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        f: impl FnOnce(&dyn Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut f = Some(f);
        let mut out = None;
        self.query_each(sql, params, &mut |r| {
            if let Some(f) = f.take() {
                out = Some(f(r)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row mapped by `f`; an error when there is none.
    pub(super) fn query_one<T>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        f: impl FnOnce(&dyn Row) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.query_opt(sql, params, f)?
            .ok_or_else(|| StoreError::Backend("query returned no rows".into()))
    }

    /// The integer in the first column of the first row.
    pub(super) fn query_i64(&mut self, sql: &str, params: &[Param<'_>]) -> Result<i64, StoreError> {
        self.query_one(sql, params, |r| r.i64(0))
    }

    /// `f` in a [`TxMode::Write`] transaction, committed when it succeeds.
    pub(super) fn write<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.write_finishing(|c| f(c).map(|v| (v, Finish::Commit)))
    }

    /// `f` in a [`TxMode::Write`] transaction that decides itself whether
    /// to commit (a rejected import rolls its staging back).
    pub(super) fn write_finishing<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Conn) -> Result<(T, Finish), StoreError>,
    ) -> Result<T, StoreError> {
        self.run_tx(TxMode::Write, f)
    }

    /// `f` over one consistent snapshot; nothing is written.
    pub(super) fn snapshot<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.run_tx(TxMode::Read, |c| f(c).map(|v| (v, Finish::Rollback)))
    }

    /// `f` in a [`TxMode::Rows`] transaction, committed when it succeeds.
    pub(super) fn write_rows<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.run_tx(TxMode::Rows, |c| f(c).map(|v| (v, Finish::Commit)))
    }

    /// `f` in a [`TxMode::Local`] transaction, committed when it succeeds.
    pub(super) fn write_local<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.run_tx(TxMode::Local, |c| f(c).map(|v| (v, Finish::Commit)))
    }

    fn run_tx<T>(
        &mut self,
        mode: TxMode,
        f: impl FnOnce(&mut dyn Conn) -> Result<(T, Finish), StoreError>,
    ) -> Result<T, StoreError> {
        let mut f = Some(f);
        let mut out = None;
        self.transaction(mode, &mut |c| {
            let f = f
                .take()
                .ok_or_else(|| StoreError::Backend("transaction body ran twice".into()))?;
            let (v, finish) = f(c)?;
            out = Some(v);
            Ok(finish)
        })?;
        out.ok_or_else(|| StoreError::Backend("transaction body did not run".into()))
    }
}

/// Rewrites `?N` placeholders to PostgreSQL's `$N`, leaving string
/// literals, quoted identifiers and comments alone. A bare `?` is an error:
/// the common subset numbers every placeholder.
pub(super) fn numbered_to_dollar(sql: &str) -> Result<String, StoreError> {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '?' => {
                if !chars.peek().is_some_and(char::is_ascii_digit) {
                    return Err(StoreError::Backend(
                        "unnumbered placeholder in a statement".into(),
                    ));
                }
                out.push('$');
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_outside_literals() {
        assert_eq!(
            numbered_to_dollar("SELECT ?1, '?2', \"a?3\" -- ?4\n, ?12").unwrap(),
            "SELECT $1, '?2', \"a?3\" -- ?4\n, $12"
        );
        assert_eq!(
            numbered_to_dollar("SELECT 'it''s ?1', ?2").unwrap(),
            "SELECT 'it''s ?1', $2"
        );
        assert!(numbered_to_dollar("SELECT ?").is_err());
    }

    #[test]
    fn options_bind_typed_nulls() {
        let none: Option<&str> = None;
        let p = params![1i64, "a", none, None::<i64>, Some(3u16), true];
        assert_eq!(
            p,
            &[
                Param::Int(1),
                Param::Text("a"),
                Param::Null(Kind::Text),
                Param::Null(Kind::Int),
                Param::Int(3),
                Param::Int(1)
            ]
        );
        assert_eq!(p[2].kind(), Kind::Text);
    }
}
