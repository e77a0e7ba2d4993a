//! Live conversation events for shoppers who keep a stream open: an admin
//! taking over, their messages, the hand back. One broadcast channel per
//! conversation, made on first subscription and dropped when nobody listens.
//!
//! Owns only the channels; what is said is stored by the engine first, so a
//! shopper who was not listening reads it from the history.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::broadcast;

/// Events a slow listener may fall behind by before it skips ahead.
const CAPACITY: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// A person from the shop joined (`by`) or handed back to the assistant (`None`).
    Handoff { by: Option<String> },
    /// A message added outside the shopper's own turn (the admin's).
    Message {
        id: i64,
        role: String,
        content: String,
        at: String,
    },
}

#[derive(Default)]
pub struct Live {
    channels: Mutex<HashMap<String, broadcast::Sender<LiveEvent>>>,
}

impl Live {
    pub fn subscribe(&self, conversation_id: &str) -> broadcast::Receiver<LiveEvent> {
        let mut channels = self.lock();
        channels.retain(|_, sender| sender.receiver_count() > 0);
        channels
            .entry(conversation_id.to_string())
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .subscribe()
    }

    /// Tells the conversation's listeners, if any.
    pub fn publish(&self, conversation_id: &str, event: LiveEvent) {
        if let Some(sender) = self.lock().get(conversation_id) {
            // No listener left is fine: the message is in the history.
            let _ = sender.send(event);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, broadcast::Sender<LiveEvent>>> {
        self.channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_of_a_conversation_hear_only_its_events() {
        let live = Live::default();
        let mut mine = live.subscribe("a");
        let mut other = live.subscribe("b");
        live.publish(
            "a",
            LiveEvent::Handoff {
                by: Some("Ana".into()),
            },
        );
        assert_eq!(
            mine.try_recv().unwrap(),
            LiveEvent::Handoff {
                by: Some("Ana".into())
            }
        );
        assert!(other.try_recv().is_err());
        live.publish("nobody-listens", LiveEvent::Handoff { by: None });
    }
}
