//! What a backend with one loop per thread (`uring`) needs around its loops: starting them,
//! each with its own `SO_REUSEPORT` listeners, and the ready queue through which a publisher
//! on any thread schedules one of a loop's connections.
//!
//! Not a model: the loops themselves (what they wait on, how they run a connection) are the
//! backends'.

use std::cell::Cell;
use std::io;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::runtime::Interrupt;
use crate::mailbox::Wake;
use crate::ServerContext;

/// A loop that serves its connections on the thread that runs it, until shutdown is complete.
pub(crate) trait Loop {
    fn run(self) -> io::Result<()>;
}

/// Serves with `threads` loops made by `make` from listeners: the first from `listeners`, on
/// the calling thread (an error making it stops the server), and each other one on a thread of
/// its own named `NAME-i` (the backend's name), from listeners bound to the same addresses with `SO_REUSEPORT` (the
/// kernel spreads new connections over them). A loop is made on the thread that runs it, so it
/// may be that thread's alone; one that cannot be made, or whose thread cannot start, is
/// logged and closes its listeners with it: the kernel routes new connections to the others.
/// Returns once every loop has ended: the first error of any.
pub(crate) fn serve<L, F>(
    listeners: Vec<TcpListener>,
    ctx: &ServerContext,
    threads: usize,
    name: &'static str,
    make: F,
) -> io::Result<()>
where
    L: Loop,
    F: Fn(Vec<TcpListener>) -> io::Result<L> + Clone + Send + 'static,
{
    let addrs = listeners.iter().map(TcpListener::local_addr).collect::<io::Result<Vec<_>>>()?;
    let first = make(listeners)?;
    let mut handles = Vec::with_capacity(threads.saturating_sub(1));
    for i in 1..threads {
        let listeners = addrs
            .iter()
            .map(|&addr| crate::bind_listener(addr, true))
            .collect::<io::Result<Vec<_>>>()?;
        let make = make.clone();
        let spawned = std::thread::Builder::new().name(format!("{name}-{i}")).spawn(move || {
            make(listeners)
                .inspect_err(|e| tracing::warn!("cannot start {name} thread {i}: {e}"))?
                .run()
        });
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(e) => tracing::warn!("cannot start {name} thread {i}: {e}"),
        }
    }
    ctx.mark_serving();
    let mut result = first.run();
    for handle in handles {
        let r = handle
            .join()
            .unwrap_or_else(|_| Err(io::Error::other(format!("{name} thread panicked"))));
        if let Err(e) = r {
            tracing::error!("{name} thread failed: {e}");
            if result.is_ok() {
                result = Err(e);
            }
        }
    }
    result
}

/// Ids of loops, unique in the process (0 means "not a loop's thread").
static NEXT_LOOP: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    /// The id of the loop running on this thread, 0 if none.
    static CURRENT: Cell<usize> = const { Cell::new(0) };
}

/// A loop's remote ready queue: the keys of connections whose mailbox woke them, pushed from
/// any thread, and what the loop waits on, `waiter`. Whoever makes the queue non-empty from
/// another thread interrupts the wait; on the loop's own thread (a publish to a neighbour) no
/// interruption is needed, as the loop takes the queue before it next waits.
pub(crate) struct ReadyQueue<W> {
    id: usize,
    woken: Mutex<Vec<usize>>,
    pub(crate) waiter: W,
}

impl<W: Interrupt + 'static> ReadyQueue<W> {
    pub(crate) fn new(waiter: W) -> Arc<ReadyQueue<W>> {
        let id = NEXT_LOOP.fetch_add(1, Ordering::Relaxed);
        Arc::new(ReadyQueue { id, woken: Mutex::new(Vec::new()), waiter })
    }

    /// Marks the calling thread as this loop's (call once, from the thread that runs it).
    pub(crate) fn enter(&self) {
        CURRENT.with(|c| c.set(self.id));
    }

    /// The waker for connection `key`'s mailbox.
    pub(crate) fn waker(self: &Arc<Self>, key: usize) -> Arc<dyn Wake> {
        Arc::new(KeyWake { queue: self.clone(), key })
    }

    /// Swaps the woken keys into `keys` (empty), so that neither side allocates.
    pub(crate) fn take(&self, keys: &mut Vec<usize>) {
        std::mem::swap(&mut *self.woken.lock().unwrap_or_else(|e| e.into_inner()), keys);
    }
}

/// The waker handed to a connection's mailbox: puts connection `key` on its loop's queue.
struct KeyWake<W> {
    queue: Arc<ReadyQueue<W>>,
    key: usize,
}

impl<W: Interrupt> Wake for KeyWake<W> {
    fn wake(&self) {
        let queue = &*self.queue;
        let was_empty = {
            let mut woken = queue.woken.lock().unwrap_or_else(|e| e.into_inner());
            woken.push(self.key);
            woken.len() == 1
        };
        if was_empty && CURRENT.with(Cell::get) != queue.id {
            queue.waiter.interrupt();
        }
    }
}
