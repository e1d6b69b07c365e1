//! Logs: through `tracing`, to stderr, off unless `PAYSTACK_LOG` says otherwise.
//!
//! At trace level the SDK logs every request it sends with its body, and request bodies are
//! where a generated password travels (CreateSecret, CreateDBCluster). That log site's trace
//! events are dropped whatever the filter says, so no secret reaches a log.

use tracing::Metadata;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Where the SDK logs the requests it sends, bodies included, at trace level.
const REQUEST_LOG: &str = "aws_smithy_runtime::client::orchestrator";

/// Whether an event may reach the log: not the SDK's trace of a request.
fn allowed(meta: &Metadata<'_>) -> bool {
    !(*meta.level() == tracing::Level::TRACE && meta.target().starts_with(REQUEST_LOG))
}

/// The log layer: `filter` (a `PAYSTACK_LOG` directive) less the SDK's request traces.
fn layer<S, W>(filter: tracing_subscriber::EnvFilter, writer: W) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_filter(filter)
        .with_filter(tracing_subscriber::filter::filter_fn(allowed))
}

/// Sends logs to stderr, filtered by `PAYSTACK_LOG` (e.g. `PAYSTACK_LOG=debug`); off without it.
pub(crate) fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PAYSTACK_LOG").unwrap_or_else(|_| "off".into());
    tracing_subscriber::registry().with(layer(filter, std::io::stderr)).init();
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A log writer into memory.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buffer {
        type Writer = Buffer;

        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    fn logged(filter: &str, emit: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::registry().with(layer(filter.parse().unwrap(), buffer.clone()));
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn the_sdk_s_request_bodies_never_reach_the_log_even_at_trace_level() {
        let text = logged("trace", || {
            tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "request body: Password=hunter2");
            tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", "sending request");
            tracing::trace!(target: "paystack_aws::rds", "describing clusters");
        });
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("sending request"), "the SDK's other events still reach the log: {text}");
        assert!(text.contains("describing clusters"), "and paystack's own traces: {text}");
    }

    #[test]
    fn logs_are_off_by_default() {
        let text = logged("off", || tracing::error!("something failed"));
        assert_eq!(text, "");
    }
}
