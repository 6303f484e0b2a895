//! The connection pool: keep-alive reuse with a hard cap on connections per host.
//!
//! hyper-util's legacy pool races a new connect against waiting for an idle
//! connection and lets the losing connect finish in the background, so it
//! opens more sockets than any semaphore on requests allows. This pool never
//! does: a connection is only opened while holding one of the host's
//! `per_host` slots, and the slot is released only when the connection
//! closes. A request that finds no idle connection and no free slot waits for
//! whichever comes first: a connection handed back, or a slot freed.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::connect::{Connection, Connector, Protocol, Stream};
use crate::proxy::Proxy;
use crate::{EgressPolicy, ErrorKind, FetchError};

/// Request bodies are buffered: small, and replayable on a stale connection.
pub(crate) type ReqBody = Full<Bytes>;

/// Where a connection goes: scheme, lower-case host, port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct HostKey {
    pub(crate) tls: bool,
    pub(crate) host: Arc<str>,
    pub(crate) port: u16,
}

impl HostKey {
    pub(crate) fn from_uri(uri: &Uri) -> Result<Self, FetchError> {
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => {
                return Err(FetchError::invalid(format!(
                    "unsupported scheme {other:?} in {uri}: only http and https are supported"
                )));
            }
            None => return Err(FetchError::invalid(format!("URL {uri} has no scheme"))),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| FetchError::invalid(format!("URL {uri} has no host")))?;
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Self {
            tls,
            host: host.to_ascii_lowercase().into(),
            port,
        })
    }
}

impl fmt::Display for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// Connection counters shared by the pool and its connection tasks.
#[derive(Debug, Default)]
pub(crate) struct ConnCounters {
    /// Connections opened since the client was made.
    pub(crate) opened: AtomicU64,
    /// Connections open now.
    pub(crate) open: AtomicU64,
    /// The client's traffic per host (connections opened among it), if
    /// it is kept.
    pub(crate) traffic: Option<crate::traffic::Traffic>,
}

/// A connection checked out of the pool for one request, with the address
/// it is connected to.
pub(crate) enum Conn {
    H1(http1::SendRequest<ReqBody>, Peer),
    H2(http2::SendRequest<ReqBody>),
}

/// Where an HTTP/1 connection leads.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    /// The target's address the policy allowed (behind a proxy: the
    /// address checked, not necessarily the one the proxy connected to).
    pub(crate) ip: IpAddr,
    /// The forwarding proxy, whose credentials each request carries.
    pub(crate) forward: Option<Arc<Proxy>>,
}

pub(crate) struct Checkout {
    pub(crate) conn: Conn,
    pub(crate) host: Arc<HostPool>,
    /// The session's hold on an HTTP/1 connection (none for HTTP/2, whose
    /// one connection every session shares).
    pub(crate) lease: Option<Lease>,
    /// Whether the connection served a request before (and so may have been
    /// closed by the server meanwhile).
    pub(crate) reused: bool,
}

#[derive(Debug)]
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    hosts: Mutex<HashMap<HostKey, Arc<HostPool>>>,
    connector: Connector,
    per_host: usize,
    idle_timeout: Duration,
    max_header_bytes: usize,
    counters: Arc<ConnCounters>,
    /// The network thread's runtime, where connections are opened and driven.
    runtime: Option<tokio::runtime::Handle>,
}

/// The connections of one host.
pub(crate) struct HostPool {
    key: HostKey,
    /// One permit per open connection; a connection task holds its permit.
    slots: Arc<Semaphore>,
    state: Mutex<HostState>,
    /// Signalled when a connection is handed back or an h2 connection appears.
    returned: Notify,
    /// Signalled when a session's lease ends, for sessions at their share.
    share_freed: Notify,
    idle_timeout: Duration,
    /// The host speaks HTTP/2 (configured h2c, or negotiated before): one
    /// connection serves every request, so only one is opened at a time.
    h2_expected: std::sync::atomic::AtomicBool,
}

/// Who checks out a connection, and how many of a host's connections it
/// may use at once: while several sessions exist, less than all of them,
/// so that one whose requests to a host are all slow cannot take every
/// connection to it from the others.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tenant {
    pub(crate) session: u64,
    pub(crate) share: usize,
}

/// A session's use of one HTTP/1 connection of a host; ends when dropped
/// (the connection handed back, or closed).
pub(crate) struct Lease {
    host: Arc<HostPool>,
    session: u64,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.host
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .end_lease(self.session);
        // A session waiting at its share may go on now.
        self.host.share_freed.notify_waiters();
    }
}

#[derive(Default)]
struct HostState {
    /// Idle HTTP/1 connections, most recently used last.
    idle: Vec<Idle>,
    /// A shared HTTP/2 connection, when the host speaks h2.
    h2: Option<(http2::SendRequest<ReqBody>, IpAddr)>,
    /// An HTTP/2 connection to this host is being opened.
    h2_connecting: bool,
    /// HTTP/1 connections in use, by session: no session may hold more
    /// than its share (see [`Tenant`]).
    leased: HashMap<u64, usize>,
    /// Checkouts waiting for an HTTP/1 connection (below their share), by
    /// session: a connection that comes free goes to a session holding
    /// fewer than the others first.
    waiting: HashMap<u64, usize>,
}

impl HostState {
    fn leases(&self, session: u64) -> usize {
        self.leased.get(&session).copied().unwrap_or(0)
    }

    /// Counts a lease of `session` on one of `host`'s connections.
    fn lease(&mut self, host: &Arc<HostPool>, session: u64) -> Lease {
        *self.leased.entry(session).or_default() += 1;
        Lease {
            host: host.clone(),
            session,
        }
    }

    /// Whether another session holding fewer connections than `session`
    /// is waiting for one: `session` then lets it go first.
    fn poorer_waiting(&self, session: u64) -> bool {
        let mine = self.leases(session);
        self.waiting
            .keys()
            .any(|&other| other != session && self.leases(other) < mine)
    }

    fn end_lease(&mut self, session: u64) {
        if let Some(n) = self.leased.get_mut(&session) {
            *n -= 1;
            if *n == 0 {
                self.leased.remove(&session);
            }
        }
    }
}

/// A checkout's place among the waiters of a host (see
/// [`HostState::waiting`]); leaves it when dropped.
struct Waiting<'a> {
    host: &'a HostPool,
    session: u64,
    registered: bool,
}

impl Waiting<'_> {
    fn register(&mut self, state: &mut HostState) {
        if !self.registered {
            *state.waiting.entry(self.session).or_default() += 1;
            self.registered = true;
        }
    }

    /// Leaves the waiters; the others look again (one that let this
    /// session go first may be the poorest now).
    fn leave(&mut self, state: &mut HostState) {
        if std::mem::take(&mut self.registered)
            && let Some(n) = state.waiting.get_mut(&self.session)
        {
            *n -= 1;
            if *n == 0 {
                state.waiting.remove(&self.session);
            }
            let session = self.session;
            if state.waiting.keys().any(|&other| other != session) {
                self.host.returned.notify_waiters();
            }
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.registered {
            let mut state = self.host.state.lock().unwrap_or_else(|e| e.into_inner());
            self.leave(&mut state);
        }
    }
}

struct Idle {
    sender: http1::SendRequest<ReqBody>,
    since: Instant,
    peer: Peer,
}

impl fmt::Debug for HostPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostPool")
            .field("key", &self.key)
            .field("free_slots", &self.slots.available_permits())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// `runtime`: the network thread's, where connections are opened and
    /// driven and the idle reaper runs (default: the current runtime).
    pub(crate) fn new(
        runtime: Option<tokio::runtime::Handle>,
        connector: Connector,
        per_host: usize,
        idle_timeout: Duration,
        max_header_bytes: usize,
        counters: Arc<ConnCounters>,
    ) -> Self {
        let shared = Arc::new(Shared {
            hosts: Mutex::new(HashMap::new()),
            connector,
            per_host,
            idle_timeout,
            max_header_bytes,
            counters,
            runtime: runtime.clone(),
        });
        if let Some(handle) = runtime.or_else(|| tokio::runtime::Handle::try_current().ok()) {
            handle.spawn(reap_idle(Arc::downgrade(&shared)));
        }
        Self { shared }
    }

    fn host(&self, key: &HostKey) -> Arc<HostPool> {
        let mut hosts = self.shared.hosts.lock().expect("pool lock");
        if let Some(host) = hosts.get(key) {
            return host.clone();
        }
        let host = Arc::new(HostPool {
            key: key.clone(),
            slots: Arc::new(Semaphore::new(self.shared.per_host)),
            state: Mutex::new(HostState::default()),
            returned: Notify::new(),
            share_freed: Notify::new(),
            idle_timeout: self.shared.idle_timeout,
            h2_expected: std::sync::atomic::AtomicBool::new(self.shared.connector.is_h2c(key)),
        });
        hosts.insert(key.clone(), host.clone());
        host
    }

    /// Checks out a connection to `key` whose address `policy` allows: an
    /// idle one, a new one if the host has a free slot, or else the first of
    /// those two to become available. A new connection must be made within
    /// `connect_timeout` (the tighter of the client's and the request's).
    /// An HTTP/1 connection counts against `tenant`'s share of the host
    /// while it is in use; at its share, the tenant waits for one of its
    /// own to come back.
    pub(crate) async fn checkout(
        &self,
        key: &HostKey,
        policy: &EgressPolicy,
        connect_timeout: Duration,
        tenant: Tenant,
    ) -> Result<Checkout, FetchError> {
        let host = self.host(key);
        let mut waiting = Waiting {
            host: &host,
            session: tenant.session,
            registered: false,
        };
        loop {
            let returned = host.returned.notified();
            tokio::pin!(returned);
            let share_freed = host.share_freed.notified();
            tokio::pin!(share_freed);
            let mut opening_h2 = false;
            let mut wait_for_h2 = false;
            let mut at_share = false;
            let mut defer = false;
            {
                let mut state = host.state.lock().expect("host lock");
                // Register for a hand-back (or a lease ending) before
                // releasing the lock, so one that happens in between is not
                // missed.
                returned.as_mut().enable();
                let h2 = state.h2.is_some() || host.h2_expected.load(Ordering::Relaxed);
                if !h2 && state.leases(tenant.session) >= tenant.share {
                    share_freed.as_mut().enable();
                    at_share = true;
                } else if !h2 && state.poorer_waiting(tenant.session) {
                    // A connection handed back wakes every waiter (see
                    // `put_back`): the poorer session takes it.
                    waiting.register(&mut state);
                    defer = true;
                } else if let Some(conn) = state.take_ready(host.idle_timeout, policy) {
                    waiting.leave(&mut state);
                    let lease =
                        matches!(conn, Conn::H1(..)).then(|| state.lease(&host, tenant.session));
                    return Ok(Checkout {
                        conn,
                        host: host.clone(),
                        lease,
                        reused: true,
                    });
                } else if !h2 {
                    waiting.register(&mut state);
                }
                if at_share || defer {
                    // Wait for one of this session's own to come back, or
                    // for the next hand-back.
                } else if host.h2_expected.load(Ordering::Relaxed) {
                    if state.h2_connecting {
                        wait_for_h2 = true;
                    } else {
                        state.h2_connecting = true;
                        opening_h2 = true;
                    }
                }
            }
            if at_share {
                share_freed.await;
                continue;
            }
            if wait_for_h2 || defer {
                returned.await;
                continue;
            }
            let _connecting = opening_h2.then(|| H2Connecting(&host));
            let permit = match host.slots.clone().try_acquire_owned() {
                Ok(permit) => permit,
                Err(_) => tokio::select! {
                    () = &mut returned => continue,
                    permit = host.slots.clone().acquire_owned() => {
                        let permit = permit.expect("host slots are never closed");
                        // A slot freed while a poorer session waits for
                        // one: dropping the permit hands it on to the next
                        // waiter for a slot.
                        let state = host.state.lock().expect("host lock");
                        if !opening_h2 && state.poorer_waiting(tenant.session) {
                            drop(state);
                            drop(permit);
                            continue;
                        }
                        permit
                    }
                },
            };
            {
                let mut state = host.state.lock().expect("host lock");
                waiting.leave(&mut state);
            }
            let conn = self.open(&host, permit, policy, connect_timeout).await?;
            let lease = matches!(conn, Conn::H1(..)).then(|| {
                host.state
                    .lock()
                    .expect("host lock")
                    .lease(&host, tenant.session)
            });
            return Ok(Checkout {
                conn,
                host: host.clone(),
                lease,
                reused: false,
            });
        }
    }

    /// Opens a connection holding `permit`; the permit is released when the
    /// connection closes.
    async fn open(
        &self,
        host: &Arc<HostPool>,
        permit: OwnedSemaphorePermit,
        policy: &EgressPolicy,
        connect_timeout: Duration,
    ) -> Result<Conn, FetchError> {
        // Connections live on the network thread, when there is one: their
        // sockets are then polled there, beside whatever runs here.
        match &self.shared.runtime {
            Some(network) => {
                let (shared, host, policy) = (self.shared.clone(), host.clone(), policy.clone());
                let key = host.key.clone();
                network
                    .spawn(async move {
                        open_on(&shared, &host, permit, &policy, connect_timeout).await
                    })
                    .await
                    // Only if the network thread is gone (the client is
                    // being dropped): an error, not a panic.
                    .unwrap_or_else(|e| {
                        Err(FetchError::new(
                            ErrorKind::Connect,
                            format!("connecting to {key}: the network thread stopped ({e})"),
                        ))
                    })
            }
            None => open_on(&self.shared, host, permit, policy, connect_timeout).await,
        }
    }
}

/// Opens a connection holding `permit` on the current runtime and spawns
/// its task there.
async fn open_on(
    shared: &Arc<Shared>,
    host: &Arc<HostPool>,
    permit: OwnedSemaphorePermit,
    policy: &EgressPolicy,
    connect_timeout: Duration,
) -> Result<Conn, FetchError> {
    {
        let Connection {
            stream,
            protocol,
            ip,
            forward,
        } = shared
            .connector
            .connect(&host.key, policy, connect_timeout)
            .await?;
        let counters = shared.counters.clone();
        counters.opened.fetch_add(1, Ordering::Relaxed);
        counters.open.fetch_add(1, Ordering::Relaxed);
        if let Some(traffic) = &counters.traffic {
            traffic.host(&host.key).connection_opened();
        }
        let guard = ConnGuard {
            _permit: permit,
            counters,
        };
        let io = TokioIo::new(stream);
        let handshake_err =
            |e: hyper::Error| FetchError::new(ErrorKind::Protocol, format!("{}: {e}", host.key));
        match protocol {
            Protocol::Http1 => {
                let (sender, conn) = http1::Builder::new()
                    .max_buf_size(shared.max_header_bytes.max(8192))
                    .handshake::<TokioIo<Stream>, ReqBody>(io)
                    .await
                    .map_err(handshake_err)?;
                drive(conn, guard, host.key.clone());
                Ok(Conn::H1(sender, Peer { ip, forward }))
            }
            Protocol::Http2 => {
                let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                    .timer(TokioTimer::new())
                    // Room for many streams of body at once: the defaults
                    // (64 KiB per connection) stall a crawl's fan-out.
                    .initial_stream_window_size(1 << 20)
                    .initial_connection_window_size(16 << 20)
                    .max_header_list_size(
                        u32::try_from(shared.max_header_bytes).unwrap_or(u32::MAX),
                    )
                    .handshake::<TokioIo<Stream>, ReqBody>(io)
                    .await
                    .map_err(handshake_err)?;
                drive(conn, guard, host.key.clone());
                host.h2_expected.store(true, Ordering::Relaxed);
                host.state.lock().expect("host lock").h2 = Some((sender.clone(), ip));
                host.returned.notify_waiters();
                Ok(Conn::H2(sender))
            }
        }
    }
}

impl HostState {
    /// A ready connection to an address `policy` allows. An idle connection
    /// to an address it does not allow (opened for another session) is
    /// closed if nothing else is available, so its slot can be used.
    fn take_ready(&mut self, idle_timeout: Duration, policy: &EgressPolicy) -> Option<Conn> {
        if let Some((h2, ip)) = &self.h2 {
            if h2.is_closed() {
                self.h2 = None;
            } else if policy.check_ip(*ip).is_ok() {
                return Some(Conn::H2(h2.clone()));
            }
        }
        // Idle connections are kept oldest first: the stale ones lead. (This
        // runs for every request: no pass over every idle connection.)
        let now = Instant::now();
        let stale = self
            .idle
            .iter()
            .take_while(|c| now.duration_since(c.since) >= idle_timeout)
            .count();
        self.idle.drain(..stale);
        while let Some(i) = self
            .idle
            .iter()
            .rposition(|c| policy.check_ip(c.peer.ip).is_ok())
        {
            let Idle { sender, peer, .. } = self.idle.remove(i);
            if !sender.is_closed() {
                return Some(Conn::H1(sender, peer));
            }
        }
        // None this session may use: make room for one it may.
        if !self.idle.is_empty() {
            self.idle.remove(0);
        }
        None
    }

    /// Drops closed and stale idle connections (the periodic reaper).
    fn drop_stale(&mut self, idle_timeout: Duration) {
        let now = Instant::now();
        self.idle
            .retain(|c| !c.sender.is_closed() && now.duration_since(c.since) < idle_timeout);
    }
}

impl HostPool {
    /// Hands an HTTP/1 connection back after its response body was read.
    pub(crate) fn put_back(&self, sender: http1::SendRequest<ReqBody>, peer: Peer) {
        if sender.is_closed() {
            return;
        }
        let contended = {
            let mut state = self.state.lock().expect("host lock");
            state.idle.push(Idle {
                sender,
                since: Instant::now(),
                peer,
            });
            state.waiting.len() > 1
        };
        // With several sessions waiting, every waiter looks: the one
        // holding fewest connections takes it (`HostState::poorer_waiting`).
        if contended {
            self.returned.notify_waiters();
        } else {
            self.returned.notify_one();
        }
    }
}

/// Drives a connection on a task of its own until it closes; its guard
/// then frees the host slot.
fn drive<C>(conn: C, guard: ConnGuard, key: HostKey)
where
    C: Future<Output = Result<(), hyper::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        let _guard = guard;
        if let Err(e) = conn.await {
            tracing::debug!(host = %key, "connection closed: {e}");
        }
    });
}

/// Clears `h2_connecting` when an attempt to connect ends, however it ends,
/// and wakes the requests waiting for it.
struct H2Connecting<'a>(&'a HostPool);

impl Drop for H2Connecting<'_> {
    fn drop(&mut self) {
        self.0.state.lock().expect("host lock").h2_connecting = false;
        self.0.returned.notify_waiters();
    }
}

/// Held by a connection task: frees the host slot and counts the close.
struct ConnGuard {
    _permit: OwnedSemaphorePermit,
    counters: Arc<ConnCounters>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.counters.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Closes idle connections past the idle timeout, until the pool is dropped.
async fn reap_idle(shared: Weak<Shared>) {
    let period = match shared.upgrade() {
        Some(s) => (s.idle_timeout / 2).max(Duration::from_secs(1)),
        None => return,
    };
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let hosts: Vec<_> = shared
            .hosts
            .lock()
            .expect("pool lock")
            .values()
            .cloned()
            .collect();
        for host in hosts {
            host.state
                .lock()
                .expect("host lock")
                .drop_stale(shared.idle_timeout);
        }
    }
}
