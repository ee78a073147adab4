//! The one definition of how a completion finds its connection.
//!
//! Layout of the 64-bit `user_data`, as in the original:
//!
//! ```text
//!  63        48 47        32 31                         0
//! +------------+------------+----------------------------+
//! |    kind    | generation |      connection index      |
//! +------------+------------+----------------------------+
//! ```
//!
//! The generation is bumped every time a connection slot gets a new socket, so a
//! completion that belongs to a socket already closed is recognised and dropped.

/// What operation a completion belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Kind {
    /// `IORING_OP_CONNECT`.
    Connect = 1,
    /// Multishot `IORING_OP_RECV` with provided buffers.
    Recv = 2,
    /// `IORING_OP_SEND` of pre-built requests.
    Send = 3,
}

/// Pack kind, generation and connection index.
#[inline]
pub fn pack(kind: Kind, generation: u16, conn: u32) -> u64 {
    ((kind as u64) << 48) | ((generation as u64) << 32) | conn as u64
}

/// Unpack into (kind, generation, connection index); `None` for unknown kinds.
#[inline]
pub fn unpack(user_data: u64) -> Option<(Kind, u16, u32)> {
    let kind = match (user_data >> 48) as u16 {
        1 => Kind::Connect,
        2 => Kind::Recv,
        3 => Kind::Send,
        _ => return None,
    };
    Some((kind, (user_data >> 32) as u16, user_data as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_field_at_its_extremes() {
        for kind in [Kind::Connect, Kind::Recv, Kind::Send] {
            for gen in [0u16, 1, u16::MAX] {
                for conn in [0u32, 7, u32::MAX] {
                    assert_eq!(unpack(pack(kind, gen, conn)), Some((kind, gen, conn)));
                }
            }
        }
        assert_eq!(unpack(0), None);
    }
}
