//! 118.dk (TDC/Nuuday), `sites.md` §1 and §9.

use super::{Page, Query, Unparseable};

/// The adapter's default no-results marker (`sites.md` §9: the project's
/// convention, overridable per site with `no_results`).
pub const DEFAULT_NO_RESULTS: &str = "div.no-results";

/// Results per page we ask for.
pub const PAGE_SIZE: u32 = 25;

#[derive(Debug, Clone)]
pub struct Dk118 {
    no_results: scraper::Selector,
}

impl Dk118 {
    /// `no_results` is a CSS selector; `None` takes [`DEFAULT_NO_RESULTS`].
    /// Errors name the selector problem as text (selector errors are not Send).
    pub fn new(no_results: Option<&str>) -> Result<Self, String> {
        let sel = no_results.unwrap_or(DEFAULT_NO_RESULTS);
        let no_results = scraper::Selector::parse(sel).map_err(|e| e.to_string())?;
        Ok(Dk118 { no_results })
    }

    pub fn request_path(&self, query: &Query, page: u32) -> String {
        let _ = (query, page, &self.no_results);
        todo!("helper: /search/go?what=..&pageSize=25&page=N")
    }

    pub fn parse(&self, body: &str) -> Result<Page, Unparseable> {
        let _ = body;
        todo!("helper")
    }
}
