//! Test kit shared by the integration tests and the benches; it is not part of the shipped
//! library or binary. Included with `#[path = "../kit/mod.rs"] mod kit;` (tests) or
//! `#[path = "../tests/kit/mod.rs"] mod kit;` (benches).

pub mod chaos;
