//! `zhangban-sandbox`: the local stand-in for the provincial government service platform, and the
//! journey demo. Subcommands: `serve [--addr 127.0.0.1:0]`, `demo [--report FILE]`.
mod cases;
mod catalog;
mod demo;
mod faults;
mod issuer;
mod server;

fn main() {}
