//! Splits a gRPC body into its length-prefixed messages (1 flag byte + 4 length bytes + payload),
//! across however the transport chunked it: for the opt-in `rpc.message` events, and to read the
//! trailers gRPC-Web sends as a final body frame (flag `0x80`).

/// One message seen in a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MessageSeen {
    /// Whether the message was compressed.
    pub(crate) compressed: bool,
    /// The payload length on the wire.
    pub(crate) len: u32,
}

/// The most of a gRPC-Web trailer frame we keep (status and message fit easily).
const MAX_TRAILERS: usize = 8 * 1024;

/// A streaming parser: feed it chunks, it reports each message header it completes.
#[derive(Debug, Default)]
pub(crate) struct FrameParser {
    header: [u8; 5],
    have: usize,
    skip: u64,
    /// Capturing a gRPC-Web trailer frame: its bytes so far and how many are still to come.
    trailers: Option<(Vec<u8>, u64)>,
}

impl FrameParser {
    /// Feeds `chunk`, calling `seen` for each message whose header completes in it.
    pub(crate) fn feed(&mut self, chunk: &[u8], seen: impl FnMut(MessageSeen)) {
        self.feed_frames(chunk, seen, |_| {});
    }

    /// Like [`feed`](Self::feed), and calls `trailers` with the payload of each gRPC-Web
    /// trailer frame (flag `0x80`) once it is complete (cut at 8 KiB).
    pub(crate) fn feed_frames(
        &mut self,
        mut chunk: &[u8],
        mut seen: impl FnMut(MessageSeen),
        mut trailers: impl FnMut(&[u8]),
    ) {
        while !chunk.is_empty() {
            if let Some((buf, left)) = self.trailers.as_mut() {
                let n = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(chunk.len());
                let room = MAX_TRAILERS.saturating_sub(buf.len()).min(n);
                buf.extend_from_slice(&chunk[..room]);
                *left -= n as u64;
                chunk = &chunk[n..];
                if *left == 0 {
                    if let Some((buf, _)) = self.trailers.take() {
                        trailers(&buf);
                    }
                }
                continue;
            }
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
                self.have = 0;
                if self.header[0] & 0x80 != 0 {
                    if len == 0 {
                        trailers(&[]);
                    } else {
                        self.trailers = Some((Vec::new(), u64::from(len)));
                    }
                    continue;
                }
                seen(MessageSeen {
                    compressed: self.header[0] & 1 == 1,
                    len,
                });
                self.skip = u64::from(len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_web_trailer_frames_are_captured() {
        let mut wire = vec![0u8, 0, 0, 0, 2, b'h', b'i'];
        let trailer = b"grpc-status:5\r\ngrpc-message:nope\r\n";
        wire.push(0x80);
        wire.extend_from_slice(&(trailer.len() as u32).to_be_bytes());
        wire.extend_from_slice(trailer);
        for split in 1..wire.len() {
            let mut p = FrameParser::default();
            let (mut messages, mut got) = (0, Vec::new());
            for chunk in wire.chunks(split) {
                p.feed_frames(chunk, |_| messages += 1, |t| got.push(t.to_vec()));
            }
            assert_eq!(messages, 1, "split {split}");
            assert_eq!(got, vec![trailer.to_vec()], "split {split}");
        }
    }

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
