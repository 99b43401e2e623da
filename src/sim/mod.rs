//! The FreeSWITCH simulator.

pub mod phone;
