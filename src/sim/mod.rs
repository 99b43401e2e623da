//! The FreeSWITCH simulator.
