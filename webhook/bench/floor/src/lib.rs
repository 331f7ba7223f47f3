//! Only the bench: see benches/floor.rs.
