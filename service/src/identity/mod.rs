//! The mock's stand-in for Entra ID's token service (docs/behaviour.md, "Tenants and connectors", "Wire shapes"): which resources a token may be asked for and what each route takes
//! (`resource`), and the RS256-signed JWTs themselves with each tenant's signing key (`jwt`).
//!
//! Pure: no IO, no clock (every instant is a parameter). The keys are kept in the store and the
//! checks are run by `ops::tokens`.

pub mod jwt;
pub mod resource;

pub use jwt::{KeyError, SigningKey, Unverified, VerifyingKey};
pub use resource::{
    app_token_claims, audience_of_scope, check_claims, Audience, Refusal, Resource, ScopeError,
    TOKEN_LIFETIME_SECONDS,
};
