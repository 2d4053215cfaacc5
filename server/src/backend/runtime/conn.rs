//! A connection as the multi-threaded runtimes hold it: its scheduling word, and behind a
//! lock that only the thread running its turn takes, its driver, socket, known readiness and
//! entered deadline. One turn ([`Conn::run`]) is the same for every backend that uses it.

use std::io;
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
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
        // The connection is its mailbox's waker: made first (not yet open, and queued, so no
        // wake-up queues it before its first turn), under a key kept for it.
        let conn = {
            let mut table = self.table();
            let conn = Conn::new(table.vacant_key(), runtime);
            table.insert(conn.clone());
            conn
        };
        let forget = |conn: &Conn| drop(self.table().remove(conn.key()));
        let session = match ctx.open_session(conn.clone(), &stream) {
            Ok(session) => session,
            Err(why) => {
                forget(&conn);
                ctx.refuse(stream, why);
                return None;
            }
        };
        if let Err(e) = stream.set_nonblocking(true).and_then(|()| stream.set_nodelay(true)) {
            tracing::debug!(conn = session.id(), "cannot set up a connection: {e}");
            forget(&conn);
            return None;
        }
        if let Err(e) = watch(&stream, conn.key()) {
            tracing::warn!(conn = session.id(), "cannot watch a connection: {e}");
            forget(&conn);
            return None;
        }
        let driver = Driver::new(session, ctx.clone(), Instant::now());
        *conn.lock() = Some(Served { driver, stream, ready: Readiness::default(), timer: None });
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
        lock(&self.timers).forget(conn.key(), served.timer);
        // Dropping the session leaves its subscriptions and accounts for its messages.
        drop(served);
        let mut table = self.table();
        table.remove(conn.key());
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

/// One connection. It is also its mailbox's waker ([`Wake`]): the mailbox holds it, so it
/// lives until its session, registry entry and subscriptions let go of the mailbox (the
/// session, dropped at close, is what holds the mailbox from inside: no cycle outlives it).
pub(crate) struct Conn {
    /// Its key in the runtime's table (and its poller key): 32 bits, so that it and the state
    /// word share 8 bytes (keys are dense and fewer than descriptors).
    key: u32,
    pub(crate) state: State,
    /// Itself, for its wake-ups to queue.
    me: Weak<Conn>,
    /// The runtime that queues it when its mailbox wakes it (weak: the runtime's table holds
    /// the connection).
    runtime: Weak<dyn Schedule>,
    /// `None` before it is admitted and once closed. Locked only by the thread whose turn it
    /// is (the state word makes sure there is one), so never contended.
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
    /// A connection not yet open, queued for its first turn (the caller queues it once it
    /// is open).
    fn new<S: Schedule + 'static>(key: usize, runtime: Weak<S>) -> Arc<Conn> {
        let key = u32::try_from(key).expect("fewer connections than descriptors");
        Arc::new_cyclic(|me| Conn {
            key,
            state: State::queued(),
            me: me.clone(),
            runtime,
            inner: Mutex::new(None),
        })
    }

    /// Its key in the runtime's table (and its poller key).
    pub(crate) fn key(&self) -> usize {
        self.key as usize
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
            && lock(timers).enter(self.key(), &mut served.timer, wanted)
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

/// A mailbox wake-up records the mail and, if the connection was idle, has its runtime queue
/// it.
impl Wake for Conn {
    fn wake(&self) {
        if self.state.wake(MAIL) {
            if let (Some(conn), Some(runtime)) = (self.me.upgrade(), self.runtime.upgrade()) {
                runtime.schedule(conn);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, ServerContext};
    use std::net::TcpListener;

    /// A runtime that records what its connections' mailboxes queue.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<Arc<Conn>>>);

    impl Schedule for Recorder {
        fn schedule(&self, conn: Arc<Conn>) {
            lock(&self.0).push(conn);
        }
    }

    #[test]
    fn a_connection_is_its_mailboxs_waker_and_is_freed_once_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let ctx = Arc::new(ServerContext::new(Config::default(), listener.local_addr().unwrap()));
        let _peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (stream, _) = listener.accept().unwrap();
        let runtime = Arc::new(Recorder::default());
        let conns = Conns::default();
        let conn = conns.admit(&ctx, Arc::downgrade(&runtime), stream, |_, _| Ok(())).unwrap();
        assert_eq!(conns.len(), 1);
        // Queued for its first turn: a wake-up now only records the mail.
        let mailbox = lock(&conn.inner).as_ref().unwrap().driver.session().mailbox().clone();
        mailbox.wake();
        assert!(lock(&runtime.0).is_empty());
        // Parked, a wake-up queues it through its runtime, once.
        let mut input = [0u8; 64];
        let timers = Mutex::new(Timers::default());
        assert!(matches!(conn.run(&mut input, false, &timers, || (), |_| Ok(())), After::Parked));
        mailbox.wake();
        mailbox.wake();
        assert_eq!(lock(&runtime.0).len(), 1);
        lock(&runtime.0).clear();
        // Closed and forgotten, nothing holds it any more (the mailbox let go with the session).
        let served = lock(&conn.inner).take().unwrap();
        conn.state.close();
        let weak = Arc::downgrade(&conn);
        drop(mailbox);
        assert_eq!(conns.close(&conn, Box::new(served), |_| Ok(())), 0);
        drop(conn);
        assert!(weak.upgrade().is_none(), "a closed connection outlived its session");
    }

    #[test]
    fn a_connection_stays_within_its_memory_budget() {
        // ARCHITECTURE.md "What an idle connection costs": with its `Arc` counts (16) and
        // the allocator's header (8), one 272-byte block, its mailbox's waker included.
        let size = std::mem::size_of::<Conn>();
        assert!(size + 16 + 8 <= 272, "Conn: {size}");
    }
}
