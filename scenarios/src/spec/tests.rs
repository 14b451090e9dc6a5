//! Unit tests of the scenario parser.
