//! The harness every integration test shares: recorded FreeSWITCH sessions
//! and helpers to start the simulator and clients on free ports.
#![allow(dead_code)] // each test binary uses its own part of the harness

pub mod capture;
