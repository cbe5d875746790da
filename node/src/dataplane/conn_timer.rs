//! A connection's two timers (one for reads, one for writes), made once and moved from wait to
//! wait instead of a new timer per wait.
//!
//! `monoio::time::timeout` makes a timer per wait. With io_uring every read and write is still
//! pending on its first poll, so that timer is filed in the timer wheel and taken out again when
//! the wait ends: two wheel operations per wait, two waits (the answer's write, the next
//! request's read) per keep-alive request. A [`Timers`] timer is filed once: moving its deadline
//! later only records the new time, and when the filed time comes the driver sees the later
//! deadline and files it again (monoio's timer entries work this way: `Sleep::reset` to a later
//! deadline does not touch the wheel). So a wait costs one clock read. Moving a deadline earlier
//! (a head that did not arrive in one read gets `header_read` after an idle wait) re-files it.
//! The deadlines themselves are what they were: a wait still ends at its own deadline.

use monoio::time::{Instant, Sleep};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

/// A deadline later than any configured wait (a `Duration::MAX` setting).
const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// `d` from now (or [`FAR`] from now when that overflows), "now" read from the coarse clock
/// ([`coarse_now`]): not earlier than the precise deadline, a few ms later at most.
pub fn after(d: Duration) -> Instant {
    let now = coarse_now();
    now.checked_add(d)
        .or_else(|| now.checked_add(FAR))
        .unwrap_or(now)
}

/// Ticks [`coarse_now`] adds to the coarse clock's reading.
const SLACK_TICKS: u32 = 2;

/// Nanoseconds on `clock` (a `libc::CLOCK_*` id), `None` where the kernel lacks it. The
/// coarse clocks (`CLOCK_MONOTONIC_COARSE`, `CLOCK_REALTIME_COARSE`) are the clock at the
/// kernel's last tick, read from memory (no hardware clock read: a few ns where
/// `Instant::now` takes tens).
pub fn clock_ns(clock: libc::clockid_t) -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` that outlives the call, which is all
    // `clock_gettime` needs; it writes nothing else.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u64::try_from(ts.tv_nsec).ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Nanoseconds on `CLOCK_MONOTONIC_COARSE` (a connection reads the clock for each wait).
fn coarse_ns() -> Option<u64> {
    clock_ns(libc::CLOCK_MONOTONIC_COARSE)
}

/// Where the coarse clock is placed on [`Instant`]'s: a coarse reading, a precise one just
/// after it, and the coarse clock's resolution (one tick).
struct Anchor {
    coarse: u64,
    at: Instant,
    tick: Duration,
}

fn anchor() -> Option<&'static Anchor> {
    static ANCHOR: std::sync::OnceLock<Option<Anchor>> = std::sync::OnceLock::new();
    ANCHOR
        .get_or_init(|| {
            let mut res = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: as in `clock_ns`: a valid, writable `timespec` for the call.
            if unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut res) } != 0 {
                return None;
            }
            let tick = Duration::new(
                u64::try_from(res.tv_sec).ok()?,
                u32::try_from(res.tv_nsec).ok()?,
            );
            if tick > Duration::from_millis(100) {
                return None; // too coarse to place deadlines with
            }
            // The coarse reading first: the precise one after it is then never earlier.
            let coarse = coarse_ns()?;
            let at = Instant::now();
            Some(Anchor { at, coarse, tick })
        })
        .as_ref()
}

/// "Now" for deadlines: [`Instant::now`] placed by the coarse clock, two ticks ahead.
///
/// Both clocks run at the same rate (the coarse one is the monotonic clock as of the last
/// tick), so a coarse reading `c` taken at precise time `t` has `t - tick <= c <= t` while
/// the kernel's ticks run on time. With the anchor (`coarse`, then `at` read just after it)
/// that gives `t <= at + (c - coarse) + tick <= t + 2 ticks`. Ticks can run late on a busy
/// virtual machine (a coarse clock up to 7 ms, nearly two 4 ms ticks, behind was seen here),
/// so [`SLACK_TICKS`] ticks are added, not one: a deadline placed with it does not end a wait
/// early unless a tick runs later than that, and then by no more than the excess, and it ends
/// a wait at most a few ticks (about 12 ms at 250 Hz) late. The waits it places are seconds
/// long (idle, write), and the timer wheel rounds to milliseconds anyway.
pub fn coarse_now() -> Instant {
    let Some(a) = anchor() else {
        return Instant::now();
    };
    match coarse_ns() {
        Some(c) => a.at + Duration::from_nanos(c.saturating_sub(a.coarse)) + a.tick * SLACK_TICKS,
        None => Instant::now(),
    }
}

/// A timer for [`Timers::new`], not yet filed (it is filed on its first wait).
pub fn unset() -> Sleep {
    monoio::time::sleep_until(after(FAR))
}

/// A connection's read and write timers (pinned where the connection's future lives).
pub struct Timers<'a> {
    read: Pin<&'a mut Sleep>,
    write: Pin<&'a mut Sleep>,
}

impl<'a> Timers<'a> {
    /// Two [`unset`] timers, pinned (`std::pin::pin!`) where the connection's future lives.
    pub fn new(read: Pin<&'a mut Sleep>, write: Pin<&'a mut Sleep>) -> Timers<'a> {
        Timers { read, write }
    }

    /// Runs `f` until it ends or `deadline` passes (`None`: it passed first).
    ///
    /// `f` is pinned by the caller (`std::pin::pin!`) rather than taken by value: a read or
    /// write future of a TLS connection is hundreds of bytes, and passing it down by value
    /// copied it at each level (two `memcpy`s of it per wait, about 1 % of the worker's CPU
    /// on keep-alive TLS).
    pub async fn read<F: Future>(
        &mut self,
        deadline: Instant,
        f: Pin<&mut F>,
    ) -> Option<F::Output> {
        within(self.read.as_mut(), deadline, f).await
    }

    /// Runs `f` for at most `limit` from now (`None`: it ran out first).
    pub async fn write<F: Future>(&mut self, limit: Duration, f: Pin<&mut F>) -> Option<F::Output> {
        within(self.write.as_mut(), after(limit), f).await
    }
}

async fn within<F: Future>(
    mut timer: Pin<&mut Sleep>,
    deadline: Instant,
    mut f: Pin<&mut F>,
) -> Option<F::Output> {
    if timer.deadline() != deadline {
        timer.as_mut().reset(deadline);
    }
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = f.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;

    fn rt() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("runtime")
    }

    #[test]
    fn the_coarse_now_is_never_early_and_at_most_a_few_ticks_late() {
        // Without the slack it would be up to a tick (4 ms at 250 Hz) early in about half the
        // readings. With it, a reading is early only when a tick runs later than the slack,
        // which a loaded VM does now and then (the suite runs many tests at once on 2 cores):
        // counted, and bounded in share and size, rather than asserted never to happen.
        let mut early_readings = 0;
        for _ in 0..2000 {
            let before = Instant::now();
            let coarse = coarse_now();
            let after = Instant::now();
            let early = before.saturating_duration_since(coarse);
            if early > Duration::from_millis(1) {
                early_readings += 1;
            }
            assert!(
                early <= Duration::from_millis(100),
                "{early:?} before the precise clock"
            );
            let late = coarse.saturating_duration_since(after);
            assert!(late <= Duration::from_millis(40), "{late:?} late");
            std::hint::black_box(&coarse);
        }
        assert!(
            early_readings < 200,
            "{early_readings} of 2000 readings more than 1 ms early"
        );
        // It moves with time.
        let a = coarse_now();
        std::thread::sleep(Duration::from_millis(60));
        assert!(coarse_now() >= a + Duration::from_millis(15));
    }

    #[test]
    fn a_wait_ends_at_its_own_deadline_whichever_way_the_timer_moves() {
        rt().block_on(async {
            let (r, w) = (pin!(unset()), pin!(unset()));
            let mut t = Timers::new(r, w);
            // Done before the deadline: the output.
            assert_eq!(
                t.read(after(Duration::from_secs(60)), pin!(async { 7 }))
                    .await,
                Some(7)
            );
            // A later wait with an earlier deadline (the timer moves back): it still fires.
            let never = pin!(std::future::pending::<()>());
            let started = Instant::now();
            assert_eq!(t.read(after(Duration::from_millis(20)), never).await, None);
            assert!(started.elapsed() >= Duration::from_millis(15));
            // The timer fired; moved later again, it does not end the next wait early.
            let ok = t
                .read(
                    after(Duration::from_secs(60)),
                    pin!(async {
                        monoio::time::sleep(Duration::from_millis(30)).await;
                        1
                    }),
                )
                .await;
            assert_eq!(ok, Some(1));
            // Many waits that end in time, then one that does not: the write timer is
            // extended each time and fires at the last deadline.
            for _ in 0..100 {
                assert_eq!(
                    t.write(Duration::from_secs(30), pin!(async {})).await,
                    Some(())
                );
            }
            let stuck = t
                .write(
                    Duration::from_millis(20),
                    pin!(std::future::pending::<()>()),
                )
                .await;
            assert_eq!(stuck, None);
        });
    }
}
