//! The step kinds of a scenario file, one module each: its TOML shape, its checked value, its
//! check (errors at the step's `file:line`) and what it does when the scenario runs. The list in
//! `step_kinds!` below registers them; everything that goes over all kinds (the [`Action`]
//! enum, the `[[step]]` table, reading a step, running one) is made from that list.
//!
//! To add a step kind `foo`: write `steps/foo.rs` with a `Foo` that implements
//! [`kind::StepKind`] (`stop.rs` is a small one to start from), then in this file add `mod foo;`
//! and one line `foo: Foo(FooSpec) = foo::Foo,` to the list, and describe it in
//! `scenarios/README.md`.

mod advance;
mod at;
mod block_spool;
mod crash;
mod enqueue;
mod expect_events;
mod expect_graph;
mod expect_history;
mod expect_http;
mod expect_jobs;
mod expect_log;
mod expect_spool;
mod expect_status;
mod fault;
mod install;
pub(crate) mod kind;
mod publish_release;
mod reconfigure;
mod scep_device;
mod scep_enroll;
mod scep_poll;
mod scep_target;
mod scep_untarget;
mod scep_validate;
mod set_ca;
mod start_connector;
mod stop;
mod uninstall;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use toml::Spanned;

use crate::runner::world::{PkiNeed, StepError, World};
use crate::spec::values::{DurationSpec, Source, SpecError};
use kind::{Check, StepKind};

pub use enqueue::{EnqueueSpec, PROFILES};
pub use expect_events::ExpectEvents;
pub use expect_graph::ExpectGraph;
pub use expect_history::{ExpectHistory, HistoryEntry};
pub use expect_http::{Call, ExpectHttp};
pub use expect_jobs::ExpectJobs;
pub use expect_log::ExpectLog;
pub use expect_spool::ExpectSpool;
pub use expect_status::ExpectStatus;
pub use fault::FaultSpec;
pub use install::InstallSpec;
pub use publish_release::ReleaseSpec;
pub use reconfigure::ReconfigureSpec;
pub use scep_enroll::ScepEnrollSpec;
pub use scep_poll::ScepPollSpec;
pub use scep_validate::{ScepValidateSpec, SCEP_VALIDATE_CODES, SPOILS};
pub use set_ca::{SetCaSpec, CA_NAMES};

pub use crate::runner::profiles::ScepTargetSpec;

/// One `[[step]]`: its action, and the line of the action's key.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub line: usize,
    pub note: Option<String>,
    pub action: Action,
}

/// Makes, from one line per step kind (`key: Variant(Spec) = module::Kind`), the [`Action`]
/// enum, the `[[step]]` table ([`RawStep`]), [`read`] and [`Action::run`]. The order of the list
/// is the order of the keys in serde's "unknown field …, expected one of" message, the order in
/// which a step's actions are checked, and the order in which a step with several actions names
/// them.
macro_rules! step_kinds {
    ($($(#[$doc:meta])* $key:ident: $variant:ident($spec:ty) = $kind:ty,)*) => {
        /// What a step does.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Action {
            $($(#[$doc])* $variant($spec),)*
        }

        impl Action {
            /// The TOML key of this action.
            pub fn kind_name(&self) -> &'static str {
                match self {
                    $(Action::$variant(_) => stringify!($key),)*
                }
            }

            /// What the scenario's PKI must hold for this step.
            pub(crate) fn pki(&self) -> PkiNeed {
                match self {
                    $(Action::$variant(spec) => <$kind as StepKind>::pki(spec),)*
                }
            }

            /// Does the step; `Ok` is the transcript's line for it.
            pub(crate) async fn run(&self, world: &mut World) -> Result<String, StepError> {
                match self {
                    $(Action::$variant(spec) => <$kind as StepKind>::run(spec, world).await,)*
                }
            }
        }

        /// A `[[step]]` table: a note and the actions (exactly one, once checked).
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct RawStep {
            note: Option<String>,
            $($key: Option<Spanned<<$kind as StepKind>::Raw>>,)*
        }

        /// Checks one `[[step]]` (its header at `header`) against the steps before it. Every
        /// message about the step names the line of its action's key (of the first, when there
        /// are several).
        pub(crate) fn read(
            raw: RawStep,
            header: usize,
            source: &Source<'_>,
            cx: &mut Check,
        ) -> Result<Step, SpecError> {
            let RawStep { note, $($key),* } = raw;
            let first = [$($key.as_ref().map(|k| k.span())),*].into_iter().flatten().next();
            let line = first.map_or(header, |span| source.line(span));
            cx.set_line(line);
            let mut actions: Vec<Action> = Vec::new();
            $(
                if let Some(raw) = $key {
                    let spec = <$kind as StepKind>::check(raw.into_inner(), cx)
                        .map_err(|m| source.err(line, m))?;
                    actions.push(Action::$variant(spec));
                }
            )*
            let action = one_action(actions, header, source)?;
            Ok(Step { line, note, action })
        }
    };
}

step_kinds! {
    /// `advance = "P6M"`: the clock moves on by a duration.
    advance: Advance(DurationSpec) = advance::Advance,
    /// `at = "2022-11-04"`: the clock moves on to an instant.
    at: At(DateTime<Utc>) = at::At,
    /// A connector (or `count` of them) is installed, or refused with `expect_error`.
    install: Install(Box<InstallSpec>) = install::Install,
    /// A connector's settings change, or the change is refused with `expect_error`.
    reconfigure: Reconfigure(ReconfigureSpec) = reconfigure::Reconfigure,
    /// A connector is uninstalled (and unregistered).
    uninstall: Uninstall(String) = uninstall::Uninstall,
    /// A connector's service stops polling; it stays registered.
    stop: Stop(String) = stop::Stop,
    /// A stopped connector starts again and polls at once.
    start_connector: StartConnector(String) = start_connector::StartConnector,
    /// A connector's service dies with what it downloaded and comes back.
    crash: Crash(String) = crash::Crash,
    /// A certification authority goes down or up, or an account's Enroll permission changes.
    set_ca: SetCa(SetCaSpec) = set_ca::SetCa,
    /// Microsoft publishes a connector release.
    publish_release: PublishRelease(ReleaseSpec) = publish_release::PublishRelease,
    /// Certificate requests are queued for a tenant's connectors.
    enqueue: Enqueue(EnqueueSpec) = enqueue::Enqueue,
    /// The service answers some calls with an error, late, or not at all.
    fault: Fault(FaultSpec) = fault::Fault,
    /// A device enrolls through a connector's SCEP endpoint.
    scep_enroll: ScepEnroll(ScepEnrollSpec) = scep_enroll::ScepEnroll,
    /// A device polls for the request its last enrollment left pending.
    scep_poll: ScepPoll(ScepPollSpec) = scep_poll::ScepPoll,
    /// A connector's SCEP module asks the service to validate a request.
    scep_validate: ScepValidate(ScepValidateSpec) = scep_validate::ScepValidate,
    /// A device is targeted by a SCEP profile: the service issues a challenge for it.
    scep_target: ScepTarget(ScepTargetSpec) = scep_target::ScepTarget,
    /// The SCEP profile no longer targets a device.
    scep_untarget: ScepUntarget(String) = scep_untarget::ScepUntarget,
    /// The connector's SCEP spool folder cannot be written any more (a file takes its place).
    block_spool: BlockSpool(String) = block_spool::BlockSpool,
    /// How many notifications wait in a connector's SCEP spool.
    expect_spool: ExpectSpool(ExpectSpool) = expect_spool::Expect,
    /// A connector's event-log files.
    expect_log: ExpectLog(ExpectLog) = expect_log::Expect,
    /// A connector's status, reasons and end dates as the service shows them.
    expect_status: ExpectStatus(ExpectStatus) = expect_status::Expect,
    /// A value in a Graph answer.
    expect_graph: ExpectGraph(ExpectGraph) = expect_graph::Expect,
    /// What a connector's call is answered.
    expect_http: ExpectHttp(ExpectHttp) = expect_http::Expect,
    /// How many of a tenant's jobs are in a state.
    expect_jobs: ExpectJobs(ExpectJobs) = expect_jobs::Expect,
    /// How many records of an event a connector wrote.
    expect_events: ExpectEvents(ExpectEvents) = expect_events::Expect,
    /// A connector's recorded status changes.
    expect_history: ExpectHistory(ExpectHistory) = expect_history::Expect,
}

/// The one action of a step, or the error that it has none or several.
fn one_action(
    mut actions: Vec<Action>,
    header: usize,
    source: &Source<'_>,
) -> Result<Action, SpecError> {
    match actions.len() {
        1 => Ok(actions.remove(0)),
        0 => Err(source.err(
            header,
            "a step needs one action (advance, at, install, …, expect_status, …)",
        )),
        _ => {
            let names: Vec<&str> = actions.iter().map(|a| a.kind_name()).collect();
            Err(source.err(
                header,
                format!(
                    "a step has exactly one action, this one has {}",
                    names.join(" and ")
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests;
