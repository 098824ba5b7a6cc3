//! Exit codes (contract: "CLI") and the one error type every command
//! returns: a [`Failure`] carries its exit code, and its message goes to
//! stderr.

use crate::app::AppError;
use crate::config::ConfigError;
use crate::daemon::DaemonError;
use crate::store::StoreError;

/// Exit codes (contract).
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_EXPOSED: u8 = 3;

/// A failure with its exit code; the message goes to stderr.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub(super) fn bad_input(m: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_BAD_INPUT,
            message: m.into(),
        }
    }
    pub(super) fn operational(m: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_FAILURE,
            message: m.into(),
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::bad_input(e.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) | StoreError::Conflict(m) | StoreError::BadInput(m) => {
                Failure::bad_input(m)
            }
            // The config's key and the store disagree: fix the config.
            e @ StoreError::Key { config: true, .. } => Failure::bad_input(e.to_string()),
            e => Failure::operational(e.to_string()),
        }
    }
}

impl From<AppError> for Failure {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Store(e) => e.into(),
            e => Failure::operational(e.to_string()),
        }
    }
}

impl From<DaemonError> for Failure {
    fn from(e: DaemonError) -> Self {
        match e {
            // A config that does not load is bad input (exit 2).
            DaemonError::Config(e) => e.into(),
            DaemonError::App(e) => e.into(),
            e => Failure::operational(e.to_string()),
        }
    }
}
