//! A connection as the multi-threaded runtimes hold it: its scheduling word, and behind a
//! lock that only the thread running its turn takes, its driver, socket, known readiness and
//! entered deadline. One turn ([`Conn::run`]) is the same for every backend that uses it.

use std::io;
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Instant;

use super::state::{State, HANGUP, MAIL, READABLE, TIMER, WRITABLE};
use super::table::Table;
use super::timers::Timers;
use super::{turn, News, Next, Readiness};
use crate::driver::Driver;
use crate::mailbox::Wake;
use crate::ServerContext;

/// The connections of a multi-threaded runtime and their deadlines, each behind its lock
/// (never both held at once).
#[derive(Default)]
pub(crate) struct Conns {
    table: Mutex<Table<Arc<Conn>>>,
    pub(crate) timers: Mutex<Timers>,
}

impl Conns {
    fn table(&self) -> MutexGuard<'_, Table<Arc<Conn>>> {
        lock(&self.table)
    }

    /// Gives `stream` a session (whose mailbox wakes it through `runtime`) and a key, or
    /// refuses it; `watch` registers the socket with the backend's poller under the key
    /// (the backend deletes it before the socket is dropped: [`Conns::close`]). Returns the
    /// connection, queued for its first turn: the caller puts it on a ready queue.
    pub(crate) fn admit<S: Schedule + 'static>(
        &self,
        ctx: &Arc<ServerContext>,
        runtime: Weak<S>,
        stream: TcpStream,
        watch: impl FnOnce(&TcpStream, usize) -> io::Result<()>,
    ) -> Option<Arc<Conn>> {
        let waker = ConnWake::new(runtime);
        let session = match ctx.open_session(waker.clone(), &stream) {
            Ok(session) => session,
            Err(why) => {
                ctx.refuse(stream, why);
                return None;
            }
        };
        if let Err(e) = stream.set_nonblocking(true).and_then(|()| stream.set_nodelay(true)) {
            tracing::debug!(conn = session.id(), "cannot set up a connection: {e}");
            return None;
        }
        let mut table = self.table();
        let key = table.vacant_key();
        if let Err(e) = watch(&stream, key) {
            tracing::warn!(conn = session.id(), "cannot watch a connection: {e}");
            return None;
        }
        let conn = Conn::new(key, Driver::new(session, ctx.clone(), Instant::now()), stream);
        table.insert(conn.clone());
        drop(table);
        let _ = waker.conn.set(Arc::downgrade(&conn));
        Some(conn)
    }

    /// Records `events` for each of `keys` and hands `queue` every connection that was idle.
    /// A key whose connection closed finds nothing, or a newer connection, which gets a
    /// harmless extra turn.
    pub(crate) fn wake(
        &self,
        keys: impl IntoIterator<Item = (usize, u8)>,
        mut queue: impl FnMut(Arc<Conn>),
    ) {
        let table = self.table();
        for (key, events) in keys {
            if let Some(conn) = table.get(key).filter(|c| c.state.wake(events)) {
                queue(conn.clone());
            }
        }
    }

    /// Wakes every connection (shutdown began), handing `queue` those that were idle.
    pub(crate) fn wake_all(&self, mut queue: impl FnMut(Arc<Conn>)) {
        for conn in self.table().values().filter(|c| c.state.wake(TIMER)) {
            queue(conn.clone());
        }
    }

    /// Wakes the connections whose deadline came by `now`, handing `queue` those that were
    /// idle (their turns tell their drivers the time).
    pub(crate) fn expire(&self, now: Instant, queue: impl FnMut(Arc<Conn>)) {
        let mut due = Vec::new();
        {
            let mut timers = lock(&self.timers);
            if timers.next().is_none_or(|at| at > now) {
                return;
            }
            timers.expire(now, |key| due.push((key, TIMER)));
        }
        self.wake(due, queue);
    }

    /// The first deadline of a connection.
    pub(crate) fn first_deadline(&self) -> Option<Instant> {
        lock(&self.timers).next()
    }

    /// How many connections are open.
    pub(crate) fn len(&self) -> usize {
        self.table().len()
    }

    /// Forgets connection `conn`, closed by its turn, and closes it once `unwatch` took its
    /// socket off the poller. Returns how many are left.
    pub(crate) fn close(
        &self,
        conn: &Conn,
        served: Box<Served>,
        unwatch: impl FnOnce(&TcpStream) -> io::Result<()>,
    ) -> usize {
        if let Err(e) = unwatch(&served.stream) {
            tracing::debug!(conn = served.driver.id(), "cannot unwatch a connection: {e}");
        }
        lock(&self.timers).forget(conn.key, served.timer);
        // Dropping the session leaves its subscriptions and accounts for its messages.
        drop(served);
        let mut table = self.table();
        table.remove(conn.key);
        table.len()
    }

    /// At exit, with no thread running turns any more: closes every connection left, each
    /// once `unwatch` took its socket off the poller.
    pub(crate) fn clean_up(&self, unwatch: impl Fn(&TcpStream)) {
        let left = self.table().drain();
        for conn in left {
            conn.state.close();
            if let Some(served) = lock(&conn.inner).take() {
                unwatch(&served.stream);
                drop(served);
            }
        }
    }
}

/// One connection.
pub(crate) struct Conn {
    /// Its key in the runtime's table (and its poller key).
    pub(crate) key: usize,
    pub(crate) state: State,
    /// `None` once closed. Locked only by the thread whose turn it is (the state word makes
    /// sure there is one), so never contended.
    inner: Mutex<Option<Served>>,
}

/// An open connection's driver and socket, and what its turns know.
pub(crate) struct Served {
    /// Declared before the socket, so dropped first: the session leaves its subscriptions
    /// before the peer can see the connection close.
    pub(crate) driver: Driver,
    pub(crate) stream: TcpStream,
    ready: Readiness,
    /// The deadline entered in the timers for it.
    timer: Option<Instant>,
}

/// How a turn ended.
pub(crate) enum After {
    /// Parked until a wake-up (or it was not the caller's to run).
    Parked,
    /// To be put back on a ready queue: a wake-up came during the turn, or its read budget
    /// ran out.
    Queued,
    /// Done: the caller stops watching the socket, then drops it (the connection is closed
    /// for every later wake-up).
    Closed(Box<Served>),
}

impl Conn {
    /// A new connection, queued for its first turn (the caller queues it).
    fn new(key: usize, driver: Driver, stream: TcpStream) -> Arc<Conn> {
        let served = Served { driver, stream, ready: Readiness::default(), timer: None };
        Arc::new(Conn { key, state: State::queued(), inner: Mutex::new(Some(served)) })
    }

    fn lock(&self) -> MutexGuard<'_, Option<Served>> {
        lock(&self.inner)
    }

    /// Returns true if and only if the connection is open.
    #[cfg(test)]
    pub(crate) fn is_open(&self) -> bool {
        self.lock().is_some()
    }

    /// Runs one turn, by the thread that took the connection from a ready queue: the events
    /// recorded since the last one are handed to [`turn`] with the read buffer `input`, its
    /// new deadline goes into `timers` (`on_first` is told when it became the first), and
    /// `park` is called with what is served before it parks (a oneshot poller re-arms there).
    pub(crate) fn run(
        &self,
        input: &mut [u8],
        stopping: bool,
        timers: &Mutex<Timers>,
        on_first: impl FnOnce(),
        park: impl FnOnce(&Served) -> std::io::Result<()>,
    ) -> After {
        let Some(events) = self.state.start() else { return After::Parked };
        let mut guard = self.lock();
        let Some(served) = guard.as_mut() else { return After::Parked };
        served.ready.readable |= events & (READABLE | HANGUP) != 0;
        served.ready.hangup |= events & HANGUP != 0;
        served.ready.writable |= events & WRITABLE != 0;
        let now = Instant::now();
        Timers::fired(&mut served.timer, now);
        let news = News { mail: events & MAIL != 0, stopping, now };
        let next = turn(&mut served.driver, &mut served.stream, input, &mut served.ready, news);
        let parked = match next {
            Next::Close => Err(()),
            Next::Park | Next::Again => park(served).map_err(|e| {
                tracing::debug!(conn = served.driver.id(), "cannot watch: {e}");
            }),
        };
        if parked.is_err() {
            self.state.close();
            return guard.take().map_or(After::Parked, |served| After::Closed(Box::new(served)));
        }
        let wanted = served.driver.poll_deadline();
        if wanted.is_some_and(|at| served.timer.is_none_or(|entered| at < entered))
            && lock(timers).enter(self.key, &mut served.timer, wanted)
        {
            on_first();
        }
        drop(guard);
        if self.state.finish(next == Next::Again) {
            After::Queued
        } else {
            After::Parked
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where a runtime puts a connection woken by its mailbox.
pub(crate) trait Schedule: Send + Sync {
    /// Queues `conn`, whose state word said the caller must.
    fn schedule(&self, conn: Arc<Conn>);
}

/// The waker handed to a connection's mailbox: records the mail and, if the connection was
/// idle, has its runtime queue it.
struct ConnWake<S> {
    /// Set right after the connection is built (its session, holding this waker, comes
    /// first). Weak: the connection owns the session that owns this waker.
    conn: OnceLock<Weak<Conn>>,
    /// Weak: the runtime's table holds the connection.
    runtime: Weak<S>,
}

impl<S: Schedule> ConnWake<S> {
    fn new(runtime: Weak<S>) -> Arc<ConnWake<S>> {
        Arc::new(ConnWake { conn: OnceLock::new(), runtime })
    }
}

impl<S: Schedule> Wake for ConnWake<S> {
    fn wake(&self) {
        let Some(conn) = self.conn.get().and_then(Weak::upgrade) else { return };
        if conn.state.wake(MAIL) {
            if let Some(runtime) = self.runtime.upgrade() {
                runtime.schedule(conn);
            }
        }
    }
}
