//! Routing: threads each classified reply into its contact's conversation
//! (or opens one), attributes it to the journey it answers, and assigns new
//! work to the owning team and, in round-robin teams, to an agent.
//!
//! The router runs after ingest has committed, in batches, from the durable
//! `routed_at IS NULL` marker: a crash between the two loses nothing, and the
//! webhook path stays short. Every decision is written to the conversation
//! log with its reason. Owns the conversations table; does not know HTTP.

mod router;
pub mod table;

pub use router::Router;

use crate::model::Category;

/// Which category a conversation shows, given its messages: the highest
/// of them by this order. An opt-out always shows.
pub fn priority(category: Category) -> u8 {
    match category {
        Category::OptOut => 5,
        Category::Service => 4,
        Category::Interest => 3,
        Category::Confusion => 2,
        Category::Noise => 1,
    }
}

/// The category that wins between a conversation's current one and a new reply's.
pub fn combined(current: Category, new: Category) -> Category {
    if priority(new) > priority(current) {
        new
    } else {
        current
    }
}
