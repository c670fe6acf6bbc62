//! The lab: a road of RSUs and vehicles driven on one machine (docs/LAB.md,
//! specification section 11). This far: where the vehicles are, from the
//! built-in road or from traces others wrote ([`mobility`]).

pub mod fuzz;
pub mod mobility;
