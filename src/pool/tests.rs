extern crate std;

use super::*;
use core::sync::atomic::AtomicUsize;
use proptest::prelude::*;
use std::boxed::Box;
use std::vec::Vec;

type Small = BufferPool<4, 100>;

/// Stride of `Small`: 100 rounded up to the 8-byte alignment.
const SMALL_STRIDE: usize = 104;

#[test]
fn geometry() {
    assert_eq!(Small::capacity(), 4);
    assert_eq!(Small::buffer_size(), 100);
    assert_eq!(Small::STRIDE, SMALL_STRIDE);
    let pool = Small::new();
    let ptrs: Vec<*mut u8> = (0..4).map(|_| pool.take(1).unwrap().0.as_ptr()).collect();
    for (i, &p) in ptrs.iter().enumerate() {
        assert_eq!(p as usize % BUFFER_ALIGN, 0, "buffer {i} misaligned");
        assert_eq!(pool.index_of(p), Some(i));
        if i > 0 {
            // Buffers do not overlap.
            assert!(p as usize - ptrs[i - 1] as usize >= 100);
        }
    }
}

#[test]
fn take_all_then_next_fails() {
    let pool = Small::new();
    let mut seen = Vec::new();
    for i in 0..4 {
        let (p, len) = pool.take(50).expect("a free buffer");
        assert_eq!(len, 100);
        assert_eq!(pool.free_count(), 3 - i);
        seen.push(p);
    }
    assert!(pool.take(1).is_none());
    assert!(pool.take(0).is_none());
    assert!(pool.take_buffer(1).is_none());
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4);
}

#[test]
fn oversize_request_fails() {
    let pool = Small::new();
    assert!(pool.take(101).is_none());
    assert!(pool.take(usize::MAX).is_none());
    assert!(pool.take_buffer(101).is_none());
    assert_eq!(pool.free_count(), 4);
    assert_eq!(pool.take(100).map(|(_, n)| n), Some(100));
    assert_eq!(pool.take(0).map(|(_, n)| n), Some(100));
}

#[test]
fn give_back_then_take_again() {
    let pool = Small::new();
    let (a, _) = pool.take(10).unwrap();
    let (b, _) = pool.take(10).unwrap();
    // SAFETY: `a` came from `take` and is not used afterwards.
    assert_eq!(unsafe { pool.give_back(a.as_ptr()) }, Ok(()));
    assert_eq!(pool.free_count(), 3);
    // Lowest free index first, like AFR.
    let (c, _) = pool.take(10).unwrap();
    assert_eq!(c, a);
    assert_ne!(c, b);
    assert_eq!(pool.free_count(), 2);
}

#[test]
fn double_return_is_refused() {
    let pool = Small::new();
    let (a, _) = pool.take(10).unwrap();
    let _b = pool.take(10).unwrap();
    // SAFETY: `a` came from `take`; afterwards it is only passed back to check
    // refusal, which touches no memory.
    unsafe {
        assert_eq!(pool.give_back(a.as_ptr()), Ok(()));
        assert_eq!(pool.free_count(), 3);
        assert_eq!(pool.give_back(a.as_ptr()), Err(PoolError::NotInUse));
        assert_eq!(pool.free_count(), 3);
        // A never-taken buffer is refused the same way.
        let never = a.as_ptr().wrapping_add(3 * SMALL_STRIDE);
        assert_eq!(pool.index_of(never), Some(3));
        assert_eq!(pool.give_back(never), Err(PoolError::NotInUse));
    }
    assert_eq!(pool.free_count(), 3);
}

#[test]
fn foreign_pointers_are_refused() {
    let pool = Small::new();
    let other = Small::new();
    let held: Vec<_> = (0..4).map(|_| pool.take(1).unwrap().0.as_ptr()).collect();
    let first = held[0];
    let last = held[3];
    let stack = [0u8; 16];
    let foreign_from_other = other.take(1).unwrap().0.as_ptr();
    let candidates: [*const u8; 9] = [
        core::ptr::null(),
        first.wrapping_add(1),                 // interior
        first.wrapping_add(99),                // last byte of buffer 0
        first.wrapping_add(100),               // padding after buffer 0
        first.wrapping_sub(SMALL_STRIDE),      // one buffer before the pool
        last.wrapping_add(SMALL_STRIDE),       // one past the end
        stack.as_ptr(),                        // someone's stack array
        foreign_from_other,                    // another pool's buffer
        first.wrapping_add(usize::MAX - first as usize), // the top of the address space
    ];
    for p in candidates {
        assert_eq!(pool.index_of(p), None, "{p:p}");
        // SAFETY: none of these is the start of one of `pool`'s buffers, which
        // `give_back` only compares as an address.
        assert_eq!(unsafe { pool.give_back(p) }, Err(PoolError::Foreign), "{p:p}");
        // SAFETY: as above; `from_raw` only compares the address.
        let r = unsafe { PoolBuffer::from_raw(&pool, p.cast_mut()) };
        assert_eq!(r.err(), Some(PoolError::Foreign));
    }
    assert_eq!(pool.free_count(), 0);
    assert_eq!(other.free_count(), 3);
}

#[test]
fn reset_frees_everything() {
    let pool = Small::new();
    for _ in 0..3 {
        let _ = pool.take(1).unwrap();
    }
    assert_eq!(pool.free_count(), 1);
    // SAFETY: the pointers taken above are never used again and nothing runs
    // concurrently.
    unsafe { pool.reset() };
    assert_eq!(pool.free_count(), 4);
    assert!((0..4).all(|i| !pool.is_in_use(i)));
    assert!(!pool.is_in_use(4));
}

#[test]
fn raii_handle_derefs_and_returns_on_drop() {
    static POOL: BufferPool<2, 33> = BufferPool::new();
    {
        let mut a = POOL.take_buffer(33).unwrap();
        assert_eq!(a.len(), 33);
        assert_eq!(a.index(), 0);
        assert!(core::ptr::eq(a.pool(), &POOL));
        a.fill(0xA5);
        a[32] = 7;
        let b = POOL.take_buffer(1).unwrap();
        assert_eq!(b.index(), 1);
        assert_eq!(POOL.free_count(), 0);
        assert!(POOL.take_buffer(1).is_none());
        assert_eq!(&a[..2], &[0xA5, 0xA5]);
        assert_eq!(a[32], 7);
        drop(b);
        assert_eq!(POOL.free_count(), 1);
    }
    assert_eq!(POOL.free_count(), 2);
    // Contents persist across holders (AFR does not clear buffers either).
    let a = POOL.take_buffer(0).unwrap();
    assert_eq!(a[0], 0xA5);
    assert!(std::format!("{a:?} {POOL:?}").contains("PoolBuffer"));
}

#[test]
fn into_raw_and_from_raw() {
    let pool: BufferPool<2, 16> = BufferPool::new();
    let mut h = pool.take_buffer(16).unwrap();
    h[0] = 42;
    let raw = h.into_raw();
    // Still taken: into_raw does not give it back.
    assert_eq!(pool.free_count(), 1);
    assert_eq!(pool.index_of(raw), Some(0));
    // SAFETY: `raw` came from `into_raw` and is not used otherwise.
    let h = unsafe { PoolBuffer::from_raw(&pool, raw) }.unwrap();
    assert_eq!(h[0], 42);
    drop(h);
    assert_eq!(pool.free_count(), 2);
    // SAFETY: only checks the (now free) buffer's flag.
    let again = unsafe { PoolBuffer::from_raw(&pool, raw) };
    assert_eq!(again.err(), Some(PoolError::NotInUse));
    // A raw take can be wrapped too, and a raw handle given back directly.
    let (p, _) = pool.take(1).unwrap();
    // SAFETY: `p` came from `take` and is handed over to the handle.
    let h = unsafe { PoolBuffer::from_raw(&pool, p.as_ptr()) }.unwrap();
    let raw = h.into_raw();
    // SAFETY: `raw` came from `into_raw`; not used afterwards.
    assert_eq!(unsafe { pool.give_back(raw) }, Ok(()));
    assert_eq!(pool.free_count(), 2);
}

#[test]
fn empty_pool_never_hands_out() {
    let pool: BufferPool<0, 8> = BufferPool::new();
    assert!(pool.take(0).is_none());
    assert_eq!(pool.free_count(), 0);
    assert_eq!(pool.index_of(core::ptr::null()), None);
}

#[test]
fn concurrent_takers_never_share_a_buffer() {
    const THREADS: usize = 4;
    // Miri is ~10^4 times slower; a few rounds still explore interleavings there.
    const ROUNDS: usize = if cfg!(miri) { 30 } else { 10_000 };
    const SIZE: usize = 64;
    static POOL: BufferPool<3, SIZE> = BufferPool::new();
    // Who holds each buffer (0 = nobody): a second, independent witness.
    static HOLDER: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];
    static FAILED_TAKES: AtomicUsize = AtomicUsize::new(0);

    let check_in = |index: usize, me: usize| {
        let prev = HOLDER[index].swap(me, Ordering::SeqCst);
        assert_eq!(prev, 0, "buffer {index} handed to {me} while {prev} holds it");
    };
    let check_out = |index: usize, me: usize| {
        let prev = HOLDER[index].swap(0, Ordering::SeqCst);
        assert_eq!(prev, me, "buffer {index} lost by {me}");
    };
    let fill_and_verify = |buf: &mut [u8], me: usize, round: usize| {
        let seed = (me * 31 + round) as u8;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = seed.wrapping_add(i as u8);
        }
        if round % 7 == 0 {
            std::thread::yield_now();
        }
        for (i, b) in buf.iter().enumerate() {
            assert_eq!(*b, seed.wrapping_add(i as u8), "buffer overwritten under thread {me}");
        }
    };

    std::thread::scope(|s| {
        for t in 0..THREADS {
            s.spawn(move || {
                let me = t + 1;
                let mut done = 0;
                let mut round = 0;
                while done < ROUNDS {
                    round += 1;
                    if round % 2 == 0 {
                        // RAII path.
                        let Some(mut buf) = POOL.take_buffer(SIZE) else {
                            FAILED_TAKES.fetch_add(1, Ordering::Relaxed);
                            std::thread::yield_now();
                            continue;
                        };
                        check_in(buf.index(), me);
                        fill_and_verify(&mut buf, me, round);
                        check_out(buf.index(), me);
                        drop(buf);
                    } else {
                        // Raw-pointer (C ABI) path.
                        let Some((p, len)) = POOL.take(1) else {
                            FAILED_TAKES.fetch_add(1, Ordering::Relaxed);
                            std::thread::yield_now();
                            continue;
                        };
                        let index = POOL.index_of(p.as_ptr()).unwrap();
                        check_in(index, me);
                        // SAFETY: we own this buffer until give_back; it is valid
                        // for `len` bytes.
                        let buf = unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), len) };
                        fill_and_verify(buf, me, round);
                        check_out(index, me);
                        // SAFETY: `p` came from `take`; `buf` is not used again.
                        assert_eq!(unsafe { POOL.give_back(p.as_ptr()) }, Ok(()));
                    }
                    done += 1;
                }
            });
        }
    });
    assert_eq!(POOL.free_count(), 3);
    // With 4 threads on 3 buffers contention must have happened at least sometimes
    // on a multi-core host; not asserted, as a single-core CI box may never see it.
    let _ = FAILED_TAKES.load(Ordering::Relaxed);
}

#[derive(Debug, Clone)]
enum Op {
    Take(usize),
    TakeRaii(usize),
    /// Give back the k-th held buffer (modulo the number held).
    GiveBack(prop::sample::Index),
    /// Give back a buffer that is currently free.
    GiveBackFree(prop::sample::Index),
    /// Give back an address at `offset` bytes from the pool's first buffer.
    GiveBackOffset(isize),
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..80).prop_map(Op::Take),
        2 => (0usize..80).prop_map(Op::TakeRaii),
        4 => any::<prop::sample::Index>().prop_map(Op::GiveBack),
        1 => any::<prop::sample::Index>().prop_map(Op::GiveBackFree),
        1 => (-64isize..400).prop_map(Op::GiveBackOffset),
        1 => Just(Op::Reset),
    ]
}

proptest! {
    #[test]
    fn prop_matches_model(ops in proptest::collection::vec(op(), 0..64)) {
        const N: usize = 5;
        const SIZE: usize = 60;
        const STRIDE: usize = 64;
        let pool: Box<BufferPool<N, SIZE>> = Box::default();
        // Addresses are derived from a real pointer (not cast from integers) so
        // that Miri can check provenance strictly.
        let base: *const u8 = pool.buffer_ptr(0);
        let buf = |index: usize| base.wrapping_add(index * STRIDE);
        let mut held: Vec<usize> = Vec::new(); // model: indices taken, in take order
        for op in ops {
            match op {
                Op::Take(len) | Op::TakeRaii(len) => {
                    let expect_ok = len <= SIZE && held.len() < N;
                    let got = match (&op, pool.take(len)) {
                        (Op::Take(_), Some((p, n))) => {
                            prop_assert_eq!(n, SIZE);
                            Some(p.as_ptr())
                        }
                        (Op::Take(_), None) => None,
                        (_, raw) => {
                            // Undo the raw take and retry through the RAII path.
                            if let Some((p, _)) = raw {
                                // SAFETY: just taken, not used.
                                prop_assert_eq!(unsafe { pool.give_back(p.as_ptr()) }, Ok(()));
                            }
                            pool.take_buffer(len).map(PoolBuffer::into_raw)
                        }
                    };
                    prop_assert_eq!(got.is_some(), expect_ok);
                    if let Some(p) = got {
                        let index = pool.index_of(p).unwrap();
                        prop_assert_eq!(p.cast_const(), buf(index));
                        prop_assert!(!held.contains(&index));
                        // Lowest free index, single-threaded.
                        let lowest = (0..N).find(|i| !held.contains(i)).unwrap();
                        prop_assert_eq!(index, lowest);
                        held.push(index);
                    }
                }
                Op::GiveBack(k) => {
                    if held.is_empty() { continue; }
                    let index = held.remove(k.index(held.len()));
                    // SAFETY: the model says we own it; nothing dereferences it.
                    let r = unsafe { pool.give_back(buf(index)) };
                    prop_assert_eq!(r, Ok(()));
                }
                Op::GiveBackFree(k) => {
                    let free: Vec<usize> = (0..N).filter(|i| !held.contains(i)).collect();
                    if free.is_empty() { continue; }
                    let index = free[k.index(free.len())];
                    // SAFETY: the buffer is free, so this only checks its flag.
                    let r = unsafe { pool.give_back(buf(index)) };
                    prop_assert_eq!(r, Err(PoolError::NotInUse));
                }
                Op::GiveBackOffset(off) => {
                    let addr = base.wrapping_offset(off);
                    let is_start = off >= 0 && off as usize % STRIDE == 0 && (off as usize / STRIDE) < N;
                    let expect = if !is_start {
                        Err(PoolError::Foreign)
                    } else if let Some(pos) = held.iter().position(|&i| i == off as usize / STRIDE) {
                        held.remove(pos);
                        Ok(())
                    } else {
                        Err(PoolError::NotInUse)
                    };
                    // SAFETY: if it is a held buffer start, the model gives it up now.
                    let r = unsafe { pool.give_back(addr) };
                    prop_assert_eq!(r, expect);
                }
                Op::Reset => {
                    // SAFETY: single-threaded, and the model forgets every holder.
                    unsafe { pool.reset() };
                    held.clear();
                }
            }
            prop_assert_eq!(pool.free_count(), N - held.len());
            for i in 0..N {
                prop_assert_eq!(pool.is_in_use(i), held.contains(&i));
            }
        }
    }
}
