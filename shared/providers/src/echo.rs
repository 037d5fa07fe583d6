//! The echo model: what the local server answers with when no AI provider is configured,
//! so a bot session works offline. It streams a fixed, deterministic reply word by word and
//! says what it is.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;

use chat_core::ports::{ChatModel, ModelError, Prompt, ReplyEvent, ReplyStream, Speaker};

#[derive(Clone, Debug)]
pub struct EchoModel {
    /// The pause before each word, as a model's tokens arrive.
    pub word_delay: Duration,
}

impl Default for EchoModel {
    fn default() -> Self {
        Self {
            word_delay: Duration::from_millis(30),
        }
    }
}

impl EchoModel {
    /// The reply to `prompt`: the same prompt always gets the same words.
    pub fn reply_text(prompt: &Prompt) -> String {
        let said = prompt
            .turns
            .iter()
            .rev()
            .find(|t| t.speaker == Speaker::User)
            .map_or("", |t| t.text.as_str());
        format!(
            "This is the echo model: no AI provider is configured, so I repeat what you said. You said: {said}"
        )
    }
}

#[async_trait]
impl ChatModel for EchoModel {
    fn name(&self) -> String {
        "echo".to_owned()
    }

    async fn reply(&self, prompt: &Prompt) -> Result<ReplyStream, ModelError> {
        let text = Self::reply_text(prompt);
        let words: Vec<String> = text.split_inclusive(' ').map(str::to_owned).collect();
        let count = u32::try_from(words.len()).unwrap_or(u32::MAX);
        let delay = self.word_delay;
        let texts = futures::stream::iter(words).then(move |word| async move {
            tokio::time::sleep(delay).await;
            Ok(ReplyEvent::Text(word))
        });
        let usage = futures::stream::once(async move {
            Ok(ReplyEvent::Usage {
                output_tokens: count,
            })
        });
        Ok(texts.chain(usage).boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_core::ports::Turn;

    #[tokio::test]
    async fn the_echo_model_streams_a_deterministic_reply_word_by_word_and_names_itself() {
        let prompt = Prompt {
            system: "be brief".into(),
            turns: vec![Turn {
                speaker: Speaker::User,
                text: "hello there".into(),
            }],
            max_tokens: 100,
            model: None,
            temperature: None,
        };
        let model = EchoModel {
            word_delay: Duration::ZERO,
        };
        let events: Vec<ReplyEvent> = model
            .reply(&prompt)
            .await
            .expect("a stream")
            .map(|e| e.expect("no error"))
            .collect()
            .await;
        let text: String = events
            .iter()
            .filter_map(|e| match e {
                ReplyEvent::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, EchoModel::reply_text(&prompt));
        assert!(text.contains("echo model") && text.ends_with("You said: hello there"));
        assert!(events.len() > 5, "several chunks");
        assert!(
            matches!(events.last(), Some(ReplyEvent::Usage { output_tokens }) if *output_tokens as usize == events.len() - 1)
        );
    }
}
