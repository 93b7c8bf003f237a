//! JSON-RPC on the RPC core (semantic conventions v1.44, Development status): calls, batch
//! entries and notifications as RPC spans with `rpc.system.name = "jsonrpc"`, the error object's
//! code as `rpc.response.status_code` and `error.type` (every error code is an error), the
//! message as the span status description, `jsonrpc.request.id` and `jsonrpc.protocol.version`,
//! and in-band context in `params._meta` (`traceparent`, `tracestate`, `baggage`: MCP's SEP-414,
//! usable by any JSON-RPC).
//!
//! Framework-free: `towerlight-jsonrpsee` translates jsonrpsee's types into [`JsonRpcRequest`]
//! and the outcomes into [`JsonRpcCall`]'s methods.

mod attributes;
mod instrument;
mod meta;

pub use attributes::BATCH_SIZE;
pub use instrument::{JsonRpcCall, JsonRpcInstrument, JsonRpcRequest, TransportContext};
pub use meta::inject_meta;
