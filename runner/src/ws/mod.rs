//! WebSocket (RFC 6455) client side, pure parts: the upgrade handshake and
//! frame encoding/parsing. No sockets here; the engine feeds bytes in.

pub mod frame;
pub mod handshake;

pub use frame::{FrameParser, Opcode, WsEvent};

/// A protocol violation by the server, or a failed upgrade.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// RSV1..3 set without a negotiated extension.
    #[error("websocket frame has reserved bits set (0x{0:02x})")]
    ReservedBits(u8),
    /// Opcode 3..7 or 0xB..0xF.
    #[error("websocket frame has unknown opcode 0x{0:x}")]
    UnknownOpcode(u8),
    /// A control frame without FIN.
    #[error("websocket control frame (opcode 0x{0:x}) is fragmented")]
    ControlFragmented(u8),
    /// A control frame whose payload exceeds 125 bytes.
    #[error("websocket control frame payload is {0} bytes, at most 125 allowed")]
    ControlTooLong(u64),
    /// Servers must not mask frames.
    #[error("websocket server frame is masked")]
    MaskedServerFrame,
    /// 64-bit payload length with the most significant bit set.
    #[error("websocket frame length has its most significant bit set")]
    LengthTooLarge,
    /// A continuation frame with no fragmented message in progress.
    #[error("websocket continuation frame without a message start")]
    ContinuationWithoutStart,
    /// A new data frame while a fragmented message is unfinished.
    #[error("websocket data frame interleaves an unfinished fragmented message")]
    Interleaved,
    /// A close frame with a one-byte payload (a code needs two).
    #[error("websocket close frame has a 1-byte payload")]
    CloseBadPayload,
    /// The upgrade response head is not a parsable HTTP/1.1 status line + headers.
    #[error("websocket upgrade response is malformed: {0}")]
    BadResponse(&'static str),
    /// The upgrade response head grew past the limit without ending.
    #[error("websocket upgrade response head exceeds {0} bytes")]
    HeadTooLarge(usize),
    /// The server answered with another status than 101.
    #[error("websocket upgrade refused: status {0}, expected 101")]
    NotSwitching(u16),
    /// `Upgrade: websocket` missing from the 101 response.
    #[error("websocket upgrade response lacks \"Upgrade: websocket\"")]
    MissingUpgrade,
    /// `Connection: Upgrade` missing from the 101 response.
    #[error("websocket upgrade response lacks \"Connection: Upgrade\"")]
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Accept` missing or not the expected value.
    #[error("websocket Sec-WebSocket-Accept is {got:?}, expected {expected:?}")]
    BadAccept {
        /// The value the key requires.
        expected: String,
        /// What the server sent (empty when absent).
        got: String,
    },
}
