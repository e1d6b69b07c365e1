//! The compliance function: on each CloudTrail event EventBridge delivers, the rule set of
//! `paystack check` on the one resource the event's call changed, read through the same
//! reconcilers, and each violation published to the environment's topic. It is the same
//! code as `paystack check --event --notify` (`paystack_rules::change`), so the two cannot
//! disagree.
//!
//! Everything it knows of its environment comes from the variables the blueprint sets on
//! the function (`compliance.function`): the stack it watches, how that stack names its
//! resources, the topic, and what the rules expect there.

use paystack_aws::{Attribute, ClientPool, Clients, Target};
use paystack_config::Waits;
use paystack_core::Placement;
use paystack_engine::{Owner, Registries, Scope};
use paystack_rules::Expectations;
use paystack_rules::events::ChangeEvent;
use serde_json::Value;

/// What the function's variables say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub environment: String,
    /// The stack's key, its ownership tag's value.
    pub stack: String,
    pub name_prefix: String,
    pub name_suffix: Option<String>,
    pub topic_arn: String,
    pub expectations: Expectations,
}

/// Why the function cannot run, or could not check an event.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the function's variable {0} is not set; `paystack apply` sets it")]
    Unset(&'static str),
    #[error("PAYSTACK_EXPECTATIONS is not what this build reads: {0}; apply again with this package")]
    Expectations(serde_json::Error),
    #[error(transparent)]
    Event(#[from] paystack_rules::events::EventError),
    #[error("reading the changed resource: {0}")]
    Read(#[from] paystack_engine::ObserveError),
    #[error("publishing to {topic}: {reason}")]
    Publish { topic: String, reason: String },
}

impl Settings {
    /// The settings from variables read by `get` (the process environment on Lambda).
    pub fn from_variables(get: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let need = |key: &'static str| get(key).filter(|v| !v.is_empty()).ok_or(Error::Unset(key));
        Ok(Self {
            environment: need("PAYSTACK_ENVIRONMENT")?,
            stack: need("PAYSTACK_STACK")?,
            name_prefix: need("PAYSTACK_NAME_PREFIX")?,
            name_suffix: get("PAYSTACK_NAME_SUFFIX").filter(|s| !s.is_empty()),
            topic_arn: need("PAYSTACK_TOPIC_ARN")?,
            expectations: serde_json::from_str(&need("PAYSTACK_EXPECTATIONS")?).map_err(Error::Expectations)?,
        })
    }

    fn scope(&self) -> Scope {
        Scope::of(Owner {
            stack: self.stack.clone(),
            name_prefix: self.name_prefix.clone(),
            name_suffix: self.name_suffix.clone(),
        })
    }
}

/// What one event came to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The resources of the stack the event's call changed, by logical id: none when the
    /// call was not one the rules watch or the resource is another stack's.
    pub checked: Vec<String>,
    /// The id of each message published, one per violation.
    pub published: Vec<String>,
}

/// The function, with the clients of the account and region it runs in.
pub struct Handler {
    clients: Clients,
    region: String,
    settings: Settings,
}

impl Handler {
    /// With the credentials Lambda gives the function's role, in its region.
    pub async fn from_env(region: &str, settings: Settings) -> Result<Self, paystack_aws::AssumeRoleError> {
        let pool = ClientPool::from_env(region).await;
        let clients = pool.clients(&Target { region: region.to_owned(), role: None }).await?;
        Ok(Self { clients, region: region.to_owned(), settings })
    }

    /// Checks the resource `event` names and publishes each violation.
    pub async fn handle(&self, event: &Value) -> Result<Outcome, Error> {
        let Some(change) = ChangeEvent::read(event)? else { return Ok(Outcome::default()) };
        let registry = paystack_aws::registry(&self.clients, &Waits::default());
        let registries = Registries::at(Placement::regional(None, &self.region), registry);
        let s = &self.settings;
        let checked = paystack_rules::change::check(registries, &s.scope(), &s.expectations, Some(&change)).await?;
        let mut published = Vec::new();
        for v in &checked.violations {
            let message = v.message(&s.environment, &s.stack);
            let attributes = message.attributes.map(|(k, v)| (k, Attribute::Text(v)));
            let id = paystack_aws::publish(&self.clients, &s.topic_arn, &message.subject, &message.body, &attributes)
                .await
                .map_err(|e| Error::Publish { topic: s.topic_arn.clone(), reason: e.to_string() })?;
            published.push(id);
        }
        Ok(Outcome { checked: checked.resources.into_iter().collect(), published })
    }
}
