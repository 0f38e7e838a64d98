//! The emulator over real HTTP on 127.0.0.1, driven by a client that signs like ThreatConnect's.

mod auth;
mod client;
mod faults;
mod lifecycle;
mod limits;
mod store;
mod validation;
