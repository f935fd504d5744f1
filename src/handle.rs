//! The opaque handles C code holds for MQTT agent clients and shadow clients.
//!
//! A handle is a pointer-sized value, never a pointer:
//! `generation << 8 | kind << 7 | (slot + 1)`. The kind bit keeps an MQTT
//! handle from naming a shadow client and the reverse; the slot part is never
//! 0, so no handle is NULL. Each slot counts its generation up on delete, so a
//! deleted client's handle names nothing. A generation is never used twice:
//! when a slot has used them all (2^24 - 1 on a 32-bit target), the slot is
//! retired rather than wrapped, and a stale handle stays stale for good.

/// Which table a handle indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Mqtt = 0,
    Shadow = 1,
}

/// Slots a table of handles may have (the slot takes 7 bits).
pub const MAX_SLOTS: usize = 127;

/// The first generation of every slot.
pub const FIRST_GENERATION: u32 = 1;

/// The largest generation a handle can carry on this target.
const MAX_GENERATION: u32 = {
    let bits = usize::BITS - 8;
    if bits >= 32 {
        u32::MAX
    } else {
        (1u32 << bits) - 1
    }
};

/// The handle of `slot` at `generation`.
pub fn encode(kind: Kind, slot: usize, generation: u32) -> usize {
    debug_assert!(slot < MAX_SLOTS && generation >= FIRST_GENERATION && generation <= MAX_GENERATION);
    ((generation as usize) << 8) | ((kind as usize) << 7) | (slot + 1)
}

/// The slot and generation a handle of `kind` names; `None` for a value that
/// is no handle of that kind (NULL, the other kind, an impossible slot).
pub fn decode(kind: Kind, handle: usize, slots: usize) -> Option<(usize, u32)> {
    if (handle >> 7) & 1 != kind as usize {
        return None;
    }
    let slot = (handle & 0x7f).checked_sub(1)?;
    let generation = u32::try_from(handle >> 8).ok()?;
    (slot < slots && generation >= FIRST_GENERATION).then_some((slot, generation))
}

/// The generation after `generation`; `None` once they are used up: the slot
/// is then retired for good.
pub fn next_generation(generation: u32) -> Option<u32> {
    generation.checked_add(1).filter(|g| *g <= MAX_GENERATION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_never_mix() {
        let m = encode(Kind::Mqtt, 0, 1);
        let s = encode(Kind::Shadow, 0, 1);
        assert_ne!(m, s);
        assert_eq!(decode(Kind::Mqtt, m, 4), Some((0, 1)));
        assert_eq!(decode(Kind::Shadow, s, 4), Some((0, 1)));
        assert_eq!(decode(Kind::Mqtt, s, 4), None);
        assert_eq!(decode(Kind::Shadow, m, 4), None);
    }

    #[test]
    fn null_and_impossible_slots_are_no_handles() {
        assert_eq!(decode(Kind::Mqtt, 0, 4), None);
        assert_eq!(decode(Kind::Mqtt, encode(Kind::Mqtt, 4, 1), 4), None);
        assert_eq!(decode(Kind::Mqtt, 1 << 8, 4), None, "slot part 0");
        assert_eq!(decode(Kind::Mqtt, 1, 4), None, "generation 0");
    }

    #[test]
    fn a_stale_handle_stays_stale_past_65535_deletes() {
        // With a 16-bit generation the 65,536th delete brought handle 1 back.
        let first = encode(Kind::Mqtt, 2, FIRST_GENERATION);
        let mut g = FIRST_GENERATION;
        for _ in 0..70_000 {
            g = next_generation(g).unwrap();
            assert_ne!(encode(Kind::Mqtt, 2, g), first);
        }
        assert_eq!(decode(Kind::Mqtt, encode(Kind::Mqtt, 2, g), 4), Some((2, g)));
    }

    #[test]
    fn generations_end_instead_of_wrapping() {
        assert_eq!(next_generation(MAX_GENERATION), None);
        assert_eq!(next_generation(MAX_GENERATION - 1), Some(MAX_GENERATION));
        if usize::BITS == 32 {
            assert_eq!(MAX_GENERATION, (1 << 24) - 1);
        }
    }
}
