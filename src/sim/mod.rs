//! The FreeSWITCH simulator.
pub mod dialplan;
