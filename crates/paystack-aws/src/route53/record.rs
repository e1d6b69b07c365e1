//! `route53.record`: the service's name, an alias `A` record to the load balancer (plain, or
//! weighted for blue/green), in a hosted zone paystack looked up and does not own.
//!
//! Route 53 keeps no tags on records, so ownership is a `TXT` record beside each one (the
//! pattern of external-dns): at `{resource}.{stack}._paystack.{zone}`, naming the resource and
//! the record it owns. The two are created and deleted in one change batch, which Route 53
//! applies atomically: a record never exists without its owner, nor the other way round.
//!
//! `ListResourceRecordSets` has no SDK paginator (its position is a name, a type and a set
//! identifier), so [`Records::list_from`] pages by hand, from a starting name, and stops at
//! the end of the range it was asked for.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_route53 as route53;
use aws_smithy_runtime::client::waiters::AcceptorState;
use paystack_core::{FieldChange, Fields, Observed, ResourceId};
use paystack_engine::{Desired, ErrorClass, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::{self, DnsRecord};
use route53::operation::get_change::{GetChangeError, GetChangeOutput};
use route53::types::ChangeStatus;
use route53::types::{AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};
use serde_json::{Value, json};

use crate::error::{all, classify, classify_typed, waited};
use crate::owned::{cannot_update, resolved, spec};
use crate::wait::{Cadence, Wait};

/// An owner record's time to live; nothing resolves it but paystack.
const OWNER_TTL: i64 = 300;
/// The first word of every owner record's value.
const HERITAGE: &str = "heritage=paystack";

pub(crate) struct Records {
    client: route53::Client,
    /// How long to wait for AWS to finish making or deleting one (`[waits]`).
    wait: Wait,
}

/// What an owner record says: which of a stack's resources owns which record.
#[derive(Debug, PartialEq)]
struct Owner {
    resource: String,
    record: String,
    set_identifier: Option<String>,
}

impl Owner {
    fn of(desired: &Desired) -> Result<Self, ReconcileError> {
        let typed: DnsRecord = spec(desired)?;
        Ok(Self {
            resource: desired.id.to_string(),
            record: bare(typed.name.as_str()),
            set_identifier: typed.set_identifier,
        })
    }

    /// The record's value: one quoted string of `key=value` words.
    fn value(&self) -> String {
        let set = self.set_identifier.as_deref().map(|s| format!(",set={s}")).unwrap_or_default();
        format!("\"{HERITAGE},resource={},record={}{set}\"", self.resource, self.record)
    }

    fn parse(value: &str) -> Option<Self> {
        let words = value.trim_matches('"').strip_prefix(HERITAGE)?;
        let fields: BTreeMap<&str, &str> = words.split(',').filter_map(|w| w.split_once('=')).collect();
        Some(Self {
            resource: fields.get("resource")?.to_string(),
            record: fields.get("record")?.to_string(),
            set_identifier: fields.get("set").map(|s| s.to_string()),
        })
    }
}

/// A name as Route 53 compares it: lowercase, without the final dot.
fn bare(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// A name in the order Route 53 lists records: labels reversed (`com.example.www`).
fn listing_key(name: &str) -> String {
    bare(name).rsplit('.').collect::<Vec<_>>().join(".")
}

/// A hosted zone's id as the record APIs take it, without the `/hostedzone/` prefix.
fn zone_id(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

fn built<T>(what: &str, result: Result<T, route53::error::BuildError>) -> Result<T, ReconcileError> {
    result.map_err(|e| ReconcileError::permanent(format!("cannot build the {what}: {e}")))
}

fn alias_record(desired: &Desired) -> Result<ResourceRecordSet, ReconcileError> {
    let typed: DnsRecord = spec(desired)?;
    let target = &typed.alias_target;
    let alias = AliasTarget::builder()
        .dns_name(resolved(desired, &target.dns_name)?)
        .hosted_zone_id(resolved(desired, &target.hosted_zone_id)?)
        .evaluate_target_health(target.evaluate_target_health)
        .build();
    let record = ResourceRecordSet::builder()
        .name(typed.name.as_str())
        .r#type(RrType::A)
        .set_set_identifier(typed.set_identifier.clone())
        .set_weight(typed.weight.map(i64::from))
        .alias_target(built("alias target", alias)?)
        .build();
    built("record", record)
}

fn owner_record(name: &str, owner: &Owner) -> Result<ResourceRecordSet, ReconcileError> {
    let value = built("owner value", ResourceRecord::builder().value(owner.value()).build())?;
    built(
        "owner record",
        ResourceRecordSet::builder().name(name).r#type(RrType::Txt).ttl(OWNER_TTL).resource_records(value).build(),
    )
}

fn change(action: ChangeAction, record: ResourceRecordSet) -> Result<Change, ReconcileError> {
    built("change", Change::builder().action(action).resource_record_set(record).build())
}

/// A live alias record in the engine's terms.
fn attributes(zone: &str, record: &ResourceRecordSet, owner_name: &str) -> Value {
    let alias = record.alias_target();
    json!({
        "zone_id": zone,
        "name": bare(record.name()),
        "set_identifier": record.set_identifier(),
        "weight": record.weight(),
        "alias_target": alias.map(|a| json!({
            "dns_name": bare(a.dns_name()),
            "hosted_zone_id": a.hosted_zone_id(),
            "evaluate_target_health": a.evaluate_target_health(),
        })),
        "owner_name": bare(owner_name),
    })
}

fn outputs(name: &str, change_id: Option<&str>) -> Fields {
    let mut outputs = Fields::new();
    outputs.insert("fqdn".into(), json!(bare(name)));
    outputs.insert("url".into(), json!(format!("https://{}", bare(name))));
    if let Some(id) = change_id {
        outputs.insert(CHANGE_OUTPUT.into(), json!(id));
    }
    outputs
}

/// The change a create or update made, kept only until [`Records::wait_ready`] has seen it
/// applied.
const CHANGE_OUTPUT: &str = "change_id";

fn aws_id(zone: &str, name: &str, set_identifier: Option<&str>) -> String {
    format!("{zone}/{}/A/{}", bare(name), set_identifier.unwrap_or("-"))
}

impl Records {
    pub(crate) fn new(client: &route53::Client, wait: Wait) -> Self {
        Self { client: client.clone(), wait }
    }

    /// The records of `zone` from `(name, type)` on, while `in_range` holds.
    async fn list_from(
        &self,
        zone: &str,
        name: &str,
        record_type: RrType,
        in_range: impl Fn(&ResourceRecordSet) -> bool,
    ) -> Result<Vec<ResourceRecordSet>, ReconcileError> {
        let mut out = Vec::new();
        let mut next = (Some(name.to_owned()), Some(record_type), None::<String>);
        loop {
            let page = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(zone)
                .set_start_record_name(next.0)
                .set_start_record_type(next.1)
                .set_start_record_identifier(next.2)
                .send()
                .await
                .map_err(|e| classify("ListResourceRecordSets", e))?;
            for record in page.resource_record_sets() {
                if !in_range(record) {
                    return Ok(out);
                }
                out.push(record.clone());
            }
            if !page.is_truncated() {
                return Ok(out);
            }
            next = (
                page.next_record_name().map(str::to_owned),
                page.next_record_type().cloned(),
                page.next_record_identifier().map(str::to_owned),
            );
        }
    }

    /// The live `A` records named `name`, any set identifier.
    async fn alias_records(&self, zone: &str, name: &str) -> Result<Vec<ResourceRecordSet>, ReconcileError> {
        let want = bare(name);
        self.list_from(zone, name, RrType::A, |r| bare(r.name()) == want && r.r#type() == &RrType::A).await
    }

    /// The live owner record at `name`, if there is one.
    async fn owner_at(&self, zone: &str, name: &str) -> Result<Option<ResourceRecordSet>, ReconcileError> {
        let want = bare(name);
        let found = self.list_from(zone, name, RrType::Txt, |r| bare(r.name()) == want && r.r#type() == &RrType::Txt);
        Ok(found.await?.into_iter().next())
    }

    /// Applies `changes` atomically and returns the change's id.
    async fn apply(&self, zone: &str, desired: &Desired, changes: Vec<Change>) -> Result<String, ReconcileError> {
        let batch = built(
            "change batch",
            ChangeBatch::builder().comment(format!("paystack: {}", desired.id)).set_changes(Some(changes)).build(),
        )?;
        let out =
            self.client.change_resource_record_sets().hosted_zone_id(zone).change_batch(batch).send().await.map_err(
                |e| {
                    let refused = e.as_service_error().is_some_and(|e| e.is_invalid_change_batch());
                    let mut error =
                        classify_typed("ChangeResourceRecordSets", e, |e| e.is_prior_request_not_complete());
                    if refused {
                        // The batch is well formed, so what Route 53 refuses is the zone's content:
                        // most often a record of this name that paystack does not own.
                        error.class = ErrorClass::Conflict;
                        error.message.push_str(&format!(
                            "; if `{}` already exists outside paystack, delete it or choose another `dns.record`",
                            desired.name
                        ));
                    }
                    error
                },
            )?;
        let change = out.change_info().ok_or_else(|| crate::error::missing("change info"))?;
        Ok(change.id().to_owned())
    }
}

/// What the SDK's `ResourceRecordSetsChanged` waiter accepts: the change `INSYNC`.
fn in_sync(answer: Result<&GetChangeOutput, &GetChangeError>) -> AcceptorState {
    match answer {
        Ok(out) if out.change_info().is_some_and(|c| *c.status() == ChangeStatus::Insync) => AcceptorState::Success,
        Ok(_) => AcceptorState::Retry,
        Err(_) => AcceptorState::NoAcceptorsMatched,
    }
}

#[async_trait]
impl Reconciler for Records {
    /// One listing of the hosted zones, then per public zone one listing of the stacks' owner
    /// records (under the stack's own name, or for a fleet under the zone's owner root) and
    /// one of the records of each name they own.
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let zones = all("ListHostedZones", self.client.list_hosted_zones().into_paginator().items().send()).await?;
        let mut out = Vec::new();
        for zone in zones.iter().filter(|z| !z.config().is_some_and(|c| c.private_zone())) {
            let zone_id = zone_id(zone.id());
            let root = kinds::dns_owner_root(zone.name());
            let parent =
                scope.single().map_or_else(|| root.clone(), |stack| kinds::dns_owner_parent(stack, zone.name()));
            // Every name under `parent` sorts after it, among names sharing its listing key.
            let range = listing_key(&parent);
            let candidates =
                self.list_from(zone_id, &parent, RrType::Txt, |r| listing_key(r.name()).starts_with(&range));
            let suffix = format!(".{}", bare(&root));
            let mut by_name: BTreeMap<String, Vec<ResourceRecordSet>> = BTreeMap::new();
            for txt in candidates.await? {
                // `{id}.{stack}._paystack.{zone}`: the label before the root names the stack.
                let name = bare(txt.name());
                let stack = name.strip_suffix(&suffix).and_then(|head| head.rsplit_once('.')).map(|(_, s)| s);
                let Some(stack) = stack.filter(|s| txt.r#type() == &RrType::Txt && scope.reads(s)) else {
                    continue;
                };
                let Some(owner) = txt.resource_records().iter().find_map(|v| Owner::parse(v.value())) else {
                    continue;
                };
                if !by_name.contains_key(&owner.record) {
                    let live = self.alias_records(zone_id, &owner.record).await?;
                    by_name.insert(owner.record.clone(), live);
                }
                // An owner whose record was deleted out of band owns nothing: the resource is
                // gone, and creating it again rewrites the owner.
                let Some(record) =
                    by_name[&owner.record].iter().find(|r| r.set_identifier() == owner.set_identifier.as_deref())
                else {
                    continue;
                };
                let Value::Object(attributes) = attributes(zone_id, record, txt.name()) else { continue };
                let aws_id = aws_id(zone_id, record.name(), record.set_identifier());
                let outputs = outputs(record.name(), None);
                out.push(Observed::new(ResourceId::new(&owner.resource), aws_id, attributes, outputs).of_stack(stack));
            }
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: DnsRecord = spec(desired)?;
        let zone = typed.zone_id.as_str();
        let owner = Owner::of(desired)?;
        let owner_name = typed.owner_name.as_str();
        // CREATE, not UPSERT, for the record: Route 53 refuses it if the name is taken, so a
        // record paystack does not own is never overwritten. The owner record is paystack's.
        let changes = vec![
            change(ChangeAction::Create, alias_record(desired)?)?,
            change(ChangeAction::Upsert, owner_record(owner_name, &owner)?)?,
        ];
        let change_id = self.apply(zone, desired, changes).await?;
        let aws_id = aws_id(zone, &owner.record, owner.set_identifier.as_deref());
        let outputs = outputs(&owner.record, Some(&change_id));
        Ok(Observed { pending: true, ..Observed::new(desired.id.clone(), aws_id, desired.fields.clone(), outputs) })
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let typed: DnsRecord = spec(desired)?;
        if let Some(other) = changes.iter().find(|c| !matches!(c.field.as_str(), "weight" | "alias_target")) {
            return Err(cannot_update(desired, &other.field));
        }
        let zone = typed.zone_id.as_str();
        let change_id = self.apply(zone, desired, vec![change(ChangeAction::Upsert, alias_record(desired)?)?]).await?;
        let name = typed.name.as_str();
        Ok(Observed {
            attributes: desired.fields.clone(),
            outputs: outputs(name, Some(&change_id)),
            pending: true,
            ..current.clone()
        })
    }

    /// Deletes exactly what is live (Route 53 deletes a record only when given all of its
    /// values), the record and its owner in one batch.
    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        let text = |key: &str| {
            current
                .attributes
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| ReconcileError::permanent(format!("`{}` has no recorded `{key}`", current.id)))
        };
        let (zone, name, owner_name) = (text("zone_id")?, text("name")?, text("owner_name")?);
        let set_identifier = current.attributes.get("set_identifier").and_then(Value::as_str);
        let mut changes = Vec::new();
        let live = self.alias_records(&zone, &name).await?;
        if let Some(record) = live.into_iter().find(|r| r.set_identifier() == set_identifier) {
            changes.push(change(ChangeAction::Delete, record)?);
        }
        if let Some(owner) = self.owner_at(&zone, &owner_name).await? {
            changes.push(change(ChangeAction::Delete, owner)?);
        }
        if changes.is_empty() {
            return Ok(());
        }
        let desired =
            Desired { id: current.id.clone(), name, fields: current.attributes.clone(), token: String::new() };
        self.apply(&zone, &desired, changes).await.map(|_| ())
    }

    async fn wait_ready(&self, mut current: Observed) -> Result<Observed, ReconcileError> {
        if let Some(change_id) = current.outputs.remove(CHANGE_OUTPUT) {
            let change_id = change_id.as_str().unwrap_or_default().to_owned();
            let look = || self.client.get_change().id(&change_id).send();
            let wait = self.wait.until(Cadence::STEADY, look, in_sync).await;
            waited(&format!("waiting for Route 53 change {change_id}"), wait, None)?;
        }
        current.pending = false;
        Ok(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_values_round_trip() {
        let owner = Owner {
            resource: "edge.dns.blue".into(),
            record: "api.payments.example.com".into(),
            set_identifier: Some("blue".into()),
        };
        assert_eq!(
            owner.value(),
            "\"heritage=paystack,resource=edge.dns.blue,record=api.payments.example.com,set=blue\""
        );
        assert_eq!(Owner::parse(&owner.value()), Some(owner));
        assert_eq!(Owner::parse("\"v=spf1 -all\""), None, "a foreign TXT record owns nothing");
    }

    #[test]
    fn names_compare_and_sort_as_route53_lists_them() {
        assert_eq!(bare("API.Payments.example.com."), "api.payments.example.com");
        assert_eq!(listing_key("dev._paystack.example.com."), "com.example._paystack.dev");
        // A sibling stack whose key extends this one's sorts inside its range, and is then
        // told apart by the name's suffix.
        assert!(listing_key("x.dev-pr7._paystack.example.com").starts_with(&listing_key("dev._paystack.example.com")));
        assert_eq!(zone_id("/hostedzone/Z123"), "Z123");
        assert_eq!(zone_id("Z123"), "Z123");
    }
}
