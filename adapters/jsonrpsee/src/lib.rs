#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The core crate, re-exported so one dependency line is enough (enable its `setup` and
/// `tracing` features through this crate's features of the same names).
pub use towerlight;

mod client;
mod server;

pub use client::{ClientLayer, ClientTracing};
pub use server::{ServerLayer, ServerTracing};

use jsonrpsee::types::Id;

/// The string form of a request id for `jsonrpc.request.id`; `None` for `null` (the conventions
/// leave the attribute out then).
fn id_text(id: &Id<'_>) -> Option<String> {
    match id {
        Id::Null => None,
        Id::Number(n) => Some(n.to_string()),
        Id::Str(s) => Some(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_as_text() {
        assert_eq!(id_text(&Id::Null), None);
        assert_eq!(id_text(&Id::Number(7)).as_deref(), Some("7"));
        assert_eq!(id_text(&Id::Str("a".into())).as_deref(), Some("a"));
    }
}
