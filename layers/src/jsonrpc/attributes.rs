//! The JSON-RPC names the semantic conventions do not define (yet): kept in this one file, so
//! adopting upstream names later is a one-file change.

/// The number of entries of a JSON-RPC batch, set on the transport span (the HTTP request that
/// carried the batch). The conventions say nothing about batches; go-ethereum's `rpc.batch.size`
/// is the closest precedent.
pub const BATCH_SIZE: &str = "jsonrpc.batch.size";

/// `rpc.system.name` for JSON-RPC.
pub(crate) const JSONRPC: &str = "jsonrpc";

/// The protocol version jsonrpsee speaks (the attribute is required when it is not `1.0`).
pub(crate) const VERSION_2: &str = "2.0";
