//! The shop assistant: conversations, tools, tiers and model budgets.

pub mod budget;
