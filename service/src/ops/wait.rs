//! Leases that wait for work (long-poll, docs/behaviour.md, "Request queues and routing"): a
//! lease with `waitMs` that finds nothing waits until something may have changed for its tenant
//! (an enqueue, a move of the virtual clock), tries again, and answers what it finds or, at the
//! end of its wait, nothing. This module keeps what the waits share: one `Notify` per tenant,
//! the count of waiting leases per connector, and the shutdown that ends them all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::domain::{ConnectorId, TenantId};

/// The longest a lease may wait, in wall time.
pub const MAX_WAIT: Duration = Duration::from_secs(20);

/// Waiting leases one connector may hold at once: one per kind it can lease, and one more.
pub const MAX_WAITING_LEASES: usize = 4;

/// How often a waiting lease looks again when other processes share the database (their
/// enqueues wake no one here).
pub const SHARED_RECHECK: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub(crate) struct Waits {
    tenants: Mutex<HashMap<TenantId, Arc<Notify>>>,
    waiting: Mutex<HashMap<ConnectorId, usize>>,
    stopping: AtomicBool,
    stop: Notify,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Waits {
    /// What wakes the waiting leases of `tenant`.
    pub(crate) fn of(&self, tenant: &TenantId) -> Arc<Notify> {
        lock(&self.tenants)
            .entry(tenant.clone())
            .or_default()
            .clone()
    }

    /// Something changed for `tenant`'s queue: its waiting leases look again.
    pub(crate) fn wake(&self, tenant: &TenantId) {
        if let Some(notify) = lock(&self.tenants).get(tenant) {
            notify.notify_waiters();
        }
    }

    /// Something changed for every queue (the clock moved): every waiting lease looks again.
    pub(crate) fn wake_all(&self) {
        for notify in lock(&self.tenants).values() {
            notify.notify_waiters();
        }
    }

    /// The service is stopping: waiting leases answer what they have at once, and no lease
    /// starts waiting from now on.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.notify_waiters();
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Resolves once [`Waits::stop`] was called.
    pub(crate) async fn stopped(&self) {
        let stop = self.stop.notified();
        let mut stop = std::pin::pin!(stop);
        stop.as_mut().enable();
        if self.stopping() {
            return;
        }
        stop.await;
    }

    /// A place among `connector`'s waiting leases, held until the slot is dropped; `None` when
    /// it already holds [`MAX_WAITING_LEASES`].
    pub(crate) fn enter<'a>(&'a self, connector: &ConnectorId) -> Option<Slot<'a>> {
        let mut waiting = lock(&self.waiting);
        let count = waiting.entry(connector.clone()).or_default();
        if *count >= MAX_WAITING_LEASES {
            return None;
        }
        *count += 1;
        Some(Slot {
            waits: self,
            connector: connector.clone(),
        })
    }
}

/// One waiting lease of a connector.
pub(crate) struct Slot<'a> {
    waits: &'a Waits,
    connector: ConnectorId,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut waiting = lock(&self.waits.waiting);
        if let Some(count) = waiting.get_mut(&self.connector) {
            *count -= 1;
            if *count == 0 {
                waiting.remove(&self.connector);
            }
        }
    }
}
