//! `"Name" = { file = "..." }`: a secret request header, for a site
//! (`[sites.headers]`) or a webhook receiver (`headers`). Its own file, as
//! both the raw shape and the alert tables name it.

use serde::Deserialize;
use toml::Spanned;

/// The value is a secret, so it only ever comes from a file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHeader {
    pub(super) file: Spanned<String>,
}
