//! The shop assistant: reading shopper messages and answering them.
pub mod intent;
pub mod sentiment;
pub mod slots;
