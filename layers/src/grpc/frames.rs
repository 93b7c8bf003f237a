//! Splits a gRPC body into its length-prefixed messages (1 flag byte + 4 length bytes + payload),
//! across however the transport chunked it, for the opt-in `rpc.message` events.

/// One message seen in a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MessageSeen {
    /// Whether the message was compressed.
    pub(crate) compressed: bool,
    /// The payload length on the wire.
    pub(crate) len: u32,
}

/// A streaming parser: feed it chunks, it reports each message header it completes.
#[derive(Debug, Default)]
pub(crate) struct FrameParser {
    header: [u8; 5],
    have: usize,
    skip: u64,
}

impl FrameParser {
    /// Feeds `chunk`, calling `seen` for each message whose header completes in it.
    pub(crate) fn feed(&mut self, mut chunk: &[u8], mut seen: impl FnMut(MessageSeen)) {
        while !chunk.is_empty() {
            if self.skip > 0 {
                let n = usize::try_from(self.skip)
                    .unwrap_or(usize::MAX)
                    .min(chunk.len());
                self.skip -= n as u64;
                chunk = &chunk[n..];
                continue;
            }
            let n = (5 - self.have).min(chunk.len());
            self.header[self.have..self.have + n].copy_from_slice(&chunk[..n]);
            self.have += n;
            chunk = &chunk[n..];
            if self.have == 5 {
                let len = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]);
                seen(MessageSeen {
                    compressed: self.header[0] & 1 == 1,
                    len,
                });
                self.have = 0;
                self.skip = u64::from(len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_across_chunks() {
        let mut wire = Vec::new();
        for (flag, payload) in [(0u8, &b"hello"[..]), (1, &b""[..]), (0, &b"abc"[..])] {
            wire.push(flag);
            wire.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            wire.extend_from_slice(payload);
        }
        for split in 1..wire.len() {
            let mut p = FrameParser::default();
            let mut seen = Vec::new();
            for chunk in wire.chunks(split) {
                p.feed(chunk, |m| seen.push(m));
            }
            assert_eq!(
                seen,
                vec![
                    MessageSeen {
                        compressed: false,
                        len: 5
                    },
                    MessageSeen {
                        compressed: true,
                        len: 0
                    },
                    MessageSeen {
                        compressed: false,
                        len: 3
                    },
                ],
                "split {split}"
            );
        }
    }
}
