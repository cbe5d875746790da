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
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;

/// A deadline later than any configured wait (a `Duration::MAX` setting).
const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// `d` from now (or [`FAR`] from now when that overflows).
pub fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(FAR))
        .unwrap_or(now)
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

    /// Runs `f` until it ends or `deadline` passes (`None`: it passed first; `f` is dropped).
    pub async fn read<F: Future>(&mut self, deadline: Instant, f: F) -> Option<F::Output> {
        within(self.read.as_mut(), deadline, f).await
    }

    /// Runs `f` for at most `limit` from now (`None`: it ran out first; `f` is dropped).
    pub async fn write<F: Future>(&mut self, limit: Duration, f: F) -> Option<F::Output> {
        within(self.write.as_mut(), after(limit), f).await
    }
}

async fn within<F: Future>(
    mut timer: Pin<&mut Sleep>,
    deadline: Instant,
    f: F,
) -> Option<F::Output> {
    if timer.deadline() != deadline {
        timer.as_mut().reset(deadline);
    }
    let mut f = pin!(f);
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

    fn rt() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("runtime")
    }

    #[test]
    fn a_wait_ends_at_its_own_deadline_whichever_way_the_timer_moves() {
        rt().block_on(async {
            let (r, w) = (pin!(unset()), pin!(unset()));
            let mut t = Timers::new(r, w);
            // Done before the deadline: the output.
            assert_eq!(
                t.read(after(Duration::from_secs(60)), async { 7 }).await,
                Some(7)
            );
            // A later wait with an earlier deadline (the timer moves back): it still fires.
            let never = std::future::pending::<()>();
            let started = Instant::now();
            assert_eq!(t.read(after(Duration::from_millis(20)), never).await, None);
            assert!(started.elapsed() >= Duration::from_millis(15));
            // The timer fired; moved later again, it does not end the next wait early.
            let ok = t
                .read(after(Duration::from_secs(60)), async {
                    monoio::time::sleep(Duration::from_millis(30)).await;
                    1
                })
                .await;
            assert_eq!(ok, Some(1));
            // Many waits that end in time, then one that does not: the write timer is
            // extended each time and fires at the last deadline.
            for _ in 0..100 {
                assert_eq!(t.write(Duration::from_secs(30), async {}).await, Some(()));
            }
            let stuck = t
                .write(Duration::from_millis(20), std::future::pending::<()>())
                .await;
            assert_eq!(stuck, None);
        });
    }
}
