//! The journey demo.
mod cases;
mod forms;
mod wallet;
