//! The WebSocket rules, as small pure functions: names of directions and message types, and
//! which closes are errors.

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Received from the peer (`network.io.direction = receive`).
    Receive,
    /// Sent to the peer (`network.io.direction = transmit`).
    Transmit,
}

impl Direction {
    /// The `network.io.direction` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Receive => "receive",
            Direction::Transmit => "transmit",
        }
    }
}

/// A message's type (`websocket.message.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// A text message.
    Text,
    /// A binary message.
    Binary,
    /// A ping.
    Ping,
    /// A pong.
    Pong,
    /// A close frame.
    Close,
}

impl MessageKind {
    /// A dense index (0..5), for per-type tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Binary => "binary",
            MessageKind::Ping => "ping",
            MessageKind::Pong => "pong",
            MessageKind::Close => "close",
        }
    }
}

/// Which side closed the session first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseInitiator {
    /// This side sent the first close frame.
    Local,
    /// The peer did.
    Remote,
}

impl CloseInitiator {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseInitiator::Local => "local",
            CloseInitiator::Remote => "remote",
        }
    }
}

/// The close code of a session that ended without a close frame (RFC 6455 §7.1.5).
pub(crate) const ABNORMAL: u16 = 1006;

/// `error.type` for a session's end, bounded: none for a normal end (1000 normal, 1001 going
/// away, 1005 no code given), the registered code for the protocol's failures (1002…1015), and
/// one value per class for codes applications choose (`3xxx`, `4xxx`) or that are invalid.
pub(crate) fn close_error_type(code: u16) -> Option<&'static str> {
    Some(match code {
        1000 | 1001 | 1005 => return None,
        1002 => "1002",
        1003 => "1003",
        1006 => "1006",
        1007 => "1007",
        1008 => "1008",
        1009 => "1009",
        1010 => "1010",
        1011 => "1011",
        1012 => "1012",
        1013 => "1013",
        1014 => "1014",
        1015 => "1015",
        3000..=3999 => "3xxx",
        4000..=4999 => "4xxx",
        _ => "invalid",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_are_bounded_error_types() {
        assert_eq!(close_error_type(1000), None);
        assert_eq!(close_error_type(1001), None);
        assert_eq!(close_error_type(1005), None);
        assert_eq!(close_error_type(1006), Some("1006"));
        assert_eq!(close_error_type(1011), Some("1011"));
        assert_eq!(close_error_type(4000), Some("4xxx"));
        assert_eq!(close_error_type(4999), Some("4xxx"));
        assert_eq!(close_error_type(3001), Some("3xxx"));
        assert_eq!(close_error_type(999), Some("invalid"));
        assert_eq!(close_error_type(5000), Some("invalid"));
    }

    #[test]
    fn names() {
        assert_eq!(Direction::Receive.as_str(), "receive");
        assert_eq!(Direction::Transmit.as_str(), "transmit");
        assert_eq!(MessageKind::Binary.as_str(), "binary");
        assert_eq!(CloseInitiator::Remote.as_str(), "remote");
    }

    #[test]
    fn message_kinds_have_distinct_dense_indexes() {
        use MessageKind::*;
        let indexes: Vec<usize> = [Text, Binary, Ping, Pong, Close]
            .map(MessageKind::index)
            .into();
        assert_eq!(indexes, vec![0, 1, 2, 3, 4]);
    }
}
