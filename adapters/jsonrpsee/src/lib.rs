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

/// Runs `f` with the string form of a request id for `jsonrpc.request.id`; `None` for `null`
/// (the conventions leave the attribute out then). A number is formatted on the stack: the
/// instrument copies the text once, into the attribute.
fn with_id_text<R>(id: &Id<'_>, f: impl FnOnce(Option<&str>) -> R) -> R {
    match id {
        Id::Null => f(None),
        Id::Number(n) => f(Some(itoa::Buffer::new().format(*n))),
        Id::Str(s) => f(Some(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_as_text() {
        let text = |id: &Id<'_>| with_id_text(id, |t| t.map(str::to_owned));
        assert_eq!(text(&Id::Null), None);
        assert_eq!(text(&Id::Number(7)).as_deref(), Some("7"));
        assert_eq!(text(&Id::Number(u64::MAX)), Some(u64::MAX.to_string()));
        assert_eq!(text(&Id::Str("a".into())).as_deref(), Some("a"));
    }
}
