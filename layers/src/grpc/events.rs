//! Opt-in `rpc.message` events, read from gRPC's length-prefixed framing.

use bytes::Buf;
use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute as attr;

use super::frames::FrameParser;

pub(crate) const SENT: &str = "SENT";
pub(crate) const RECEIVED: &str = "RECEIVED";

/// Records an `rpc.message` event for every message of one direction of a call.
#[derive(Debug)]
pub(crate) struct MessageTap {
    parser: FrameParser,
    cx: Context,
    kind: &'static str,
    next_id: i64,
}

impl MessageTap {
    pub(crate) fn new(cx: Context, kind: &'static str) -> MessageTap {
        MessageTap {
            parser: FrameParser::default(),
            cx,
            kind,
            next_id: 1,
        }
    }

    /// Feeds a data frame; adds one event per message header completed in it.
    pub(crate) fn feed<D: Buf>(&mut self, data: &D) {
        if data.chunk().len() == data.remaining() {
            self.feed_slice(data.chunk());
            return;
        }
        // A buffer in several pieces (rare: hyper and tonic hand out `Bytes`): walk them
        // without consuming the caller's buffer.
        let mut slices = [std::io::IoSlice::new(&[]); 64];
        let n = data.chunks_vectored(&mut slices);
        for slice in &slices[..n] {
            self.feed_slice(slice);
        }
    }

    #[allow(deprecated)] // the rpc.message.* attributes are deprecated upstream (opt-in here)
    fn feed_slice(&mut self, bytes: &[u8]) {
        let (cx, kind, next_id) = (&self.cx, self.kind, &mut self.next_id);
        self.parser.feed(bytes, |message| {
            let size_key = if message.compressed {
                attr::RPC_MESSAGE_COMPRESSED_SIZE
            } else {
                attr::RPC_MESSAGE_UNCOMPRESSED_SIZE
            };
            #[allow(deprecated)]
            let attributes = vec![
                KeyValue::new(attr::RPC_MESSAGE_TYPE, kind),
                KeyValue::new(attr::RPC_MESSAGE_ID, *next_id),
                KeyValue::new(size_key, i64::from(message.len)),
            ];
            cx.span().add_event("rpc.message", attributes);
            *next_id += 1;
        });
    }
}
