//! The service's operations, one module per subject, over shared dependencies (the store, the
//! clock, the id source). Handlers and the in-process harness call these; they combine the
//! store, the pure rules of `domain` and the clock, and answer views (`ops::views`), never store
//! rows or wire bodies.
//!
//! One [`Ops`] value serves a process: `ops.jobs().lease(…)`, `ops.connectors().checkin(…)`. A
//! subject's accessor hands out a borrow of what that subject needs and nothing more: only the
//! subjects that change or read what a connector's status is computed from (connectors,
//! tenants, releases) get the facts lock (`ops::status`), so jobs, SCEP, PFX and tokens cannot
//! take it.
//!
//! Inside: `views` (what operations take and answer), `rows` (the one place rows are read and
//! written), `deps` (the shared dependencies and reads), `status` (the facts lock and
//! reconciliation), `error` (the one error type). Subject modules import those, never each
//! other, except that `tenants` uses `time` for a reset of the clock.

mod by_profile;
mod connectors;
mod deps;
mod error;
mod jobs;
mod pfx;
mod releases;
mod rows;
mod scep;
mod status;
mod tenants;
mod time;
mod tokens;
pub mod views;
mod wait;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::domain::catalog::CatalogChoice;
use crate::ids::IdSource;
use crate::store::Store;

pub use by_profile::{kind_not_by_profile, Canonical, ProfileKind, ProfileRequest};
pub use connectors::Connectors;
pub use error::{invalid, OpsError, OpsResult};
pub use jobs::{third_party_ca, Jobs};
pub use pfx::Pfx;
pub use releases::Releases;
pub use scep::Scep;
pub use tenants::Tenants;
pub use time::Time;
pub use tokens::{
    app_object_id, IssuedToken, Tokens, APP_OBJECT_ID_NAMESPACE, TOKEN_LIFETIME_SECONDS,
};
pub use views::*;
pub use wait::{MAX_WAIT, MAX_WAITING_LEASES};

use deps::Deps;
use status::Facts;

/// The operations of one service process.
#[derive(Debug)]
pub struct Ops {
    deps: Deps,
    facts: Facts,
}

impl Ops {
    pub fn new(store: Arc<dyn Store>, clock: Arc<Clock>, ids: Arc<IdSource>) -> Self {
        Ops {
            deps: Deps {
                store,
                clock,
                ids,
                waits: Default::default(),
                catalog: CatalogChoice::default(),
            },
            facts: Facts::default(),
        }
    }

    /// Evaluates against the shipped catalog `choice` (default: the extended one).
    pub fn with_catalog(mut self, choice: CatalogChoice) -> Self {
        self.deps.catalog = choice;
        self
    }

    /// The shipped catalog the rules evaluate against.
    pub fn catalog_choice(&self) -> CatalogChoice {
        self.deps.catalog
    }

    /// The service's instant now.
    pub fn now(&self) -> DateTime<Utc> {
        self.deps.now()
    }

    /// The clock itself (to move a virtual clock in process, without storing it).
    pub fn clock(&self) -> &Clock {
        &self.deps.clock
    }

    pub fn ids(&self) -> &IdSource {
        &self.deps.ids
    }

    /// The clock, shared through the database when that is shared.
    pub fn time(&self) -> Time<'_> {
        Time { deps: &self.deps }
    }

    pub fn tenants(&self) -> Tenants<'_> {
        Tenants {
            deps: &self.deps,
            facts: &self.facts,
        }
    }

    pub fn releases(&self) -> Releases<'_> {
        Releases {
            deps: &self.deps,
            facts: &self.facts,
        }
    }

    pub fn connectors(&self) -> Connectors<'_> {
        Connectors {
            deps: &self.deps,
            facts: &self.facts,
        }
    }

    pub fn jobs(&self) -> Jobs<'_> {
        Jobs { deps: &self.deps }
    }

    pub fn scep(&self) -> Scep<'_> {
        Scep { deps: &self.deps }
    }

    pub fn pfx(&self) -> Pfx<'_> {
        Pfx { deps: &self.deps }
    }

    pub fn tokens(&self) -> Tokens<'_> {
        Tokens { deps: &self.deps }
    }
}
