//! `zhangban-sandbox`: the local stand-in for the provincial government service platform (a real HTTP
//! server on loopback with its own SQLite database), and the journey demo. The binary (`main.rs`) is a
//! thin command line over this library; integration tests in `tests/` use the library directly.
pub mod agent_bench;
pub mod agents;
pub mod blobs;
pub mod cases;
pub mod catalog;
pub mod counter;
pub mod demo;
pub mod fault_writer;
pub mod faults;
pub mod issuer;
pub mod server;
pub mod transfer;
