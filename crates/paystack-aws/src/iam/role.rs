//! `iam.role`: a role scoped to one environment, with one inline policy and nothing else:
//! an inline policy or a managed policy added by hand is read, shown as drift and removed.
//!
//! A stack's roles live under their own path. They are read with every role of the account,
//! whole, by `GetAccountAuthorizationDetails`, and kept by that path. IAM returns policy
//! documents URL-encoded; they are decoded and parsed, so they compare with the spec's
//! documents as JSON, whatever the spacing.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_iam as iam;
use iam::types::{EntityType, Tag};
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::{self, IamRole};
use serde_json::{Value, json};

use crate::error::{all, classify, missing, unless_gone, unless_gone_since};
use crate::owned::{TagMap, cannot_update, created, desired_tags, observed, spec, updated};
use crate::tagging::{Tagging, sync_tags};

/// The name of the one inline policy paystack puts on a role.
const POLICY_NAME: &str = "paystack";
/// The most roles `GetAccountAuthorizationDetails` returns in one page.
const ROLES_PER_PAGE: i32 = 1000;

pub(crate) struct Roles {
    client: iam::Client,
}

/// A policy document as IAM returns it (URL-encoded JSON), as JSON.
fn document(encoded: &str) -> Result<Value, ReconcileError> {
    let text = percent_encoding::percent_decode_str(encoded).decode_utf8_lossy();
    serde_json::from_str(&text)
        .map_err(|e| ReconcileError::permanent(format!("IAM returned a policy that is not JSON: {e}")))
}

/// A policy document as IAM takes it: JSON text.
fn document_text(what: &str, written: serde_json::Result<String>) -> Result<String, ReconcileError> {
    written.map_err(|e| ReconcileError::permanent(format!("cannot write the {what}: {e}")))
}

fn iam_tags(tags: TagMap) -> Result<Vec<Tag>, ReconcileError> {
    tags.into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| ReconcileError::permanent(e.to_string())))
        .collect()
}

impl Roles {
    pub(crate) fn new(client: &iam::Client) -> Self {
        Self { client: client.clone() }
    }

    /// The names of the role's inline policies and the ARNs of its attached managed ones;
    /// `None` if the role went in between.
    async fn policies(&self, name: &str) -> Result<Option<(Vec<String>, Vec<String>)>, ReconcileError> {
        let (inline, managed) = tokio::join!(
            self.client
                .list_role_policies()
                .role_name(name)
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>(),
            self.client
                .list_attached_role_policies()
                .role_name(name)
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>(),
        );
        let Some(inline) = unless_gone_since("ListRolePolicies", inline, |e| e.is_no_such_entity_exception())? else {
            return Ok(None);
        };
        let Some(managed) =
            unless_gone_since("ListAttachedRolePolicies", managed, |e| e.is_no_such_entity_exception())?
        else {
            return Ok(None);
        };
        Ok(Some((inline, managed.iter().filter_map(|p| p.policy_arn().map(str::to_owned)).collect())))
    }

    /// Deletes the inline policies `names` of the role; one already gone counts as deleted.
    async fn delete_inline(&self, role: &str, names: impl IntoIterator<Item = &str>) -> Result<(), ReconcileError> {
        for policy in names {
            unless_gone(
                "DeleteRolePolicy",
                self.client.delete_role_policy().role_name(role).policy_name(policy).send().await,
                |e| e.is_no_such_entity_exception(),
                |_| false,
            )?;
        }
        Ok(())
    }

    /// Detaches the managed policies `arns` from the role; one already detached counts.
    async fn detach(&self, role: &str, arns: impl IntoIterator<Item = &str>) -> Result<(), ReconcileError> {
        for arn in arns {
            unless_gone(
                "DetachRolePolicy",
                self.client.detach_role_policy().role_name(role).policy_arn(arn).send().await,
                |e| e.is_no_such_entity_exception(),
                |_| false,
            )?;
        }
        Ok(())
    }

    async fn put_policy(&self, name: &str, desired: &Desired) -> Result<(), ReconcileError> {
        self.client
            .put_role_policy()
            .role_name(name)
            .policy_name(POLICY_NAME)
            .policy_document(document_text("policy", serde_json::to_string(&spec::<IamRole>(desired)?.policy))?)
            .send()
            .await
            .map_err(|e| classify("PutRolePolicy", e))?;
        Ok(())
    }

    async fn set_boundary(&self, name: &str, desired: &Desired) -> Result<(), ReconcileError> {
        match spec::<IamRole>(desired)?.permissions_boundary.as_deref() {
            Some(boundary) => {
                self.client
                    .put_role_permissions_boundary()
                    .role_name(name)
                    .permissions_boundary(boundary)
                    .send()
                    .await
                    .map_err(|e| classify("PutRolePermissionsBoundary", e))?;
            }
            None => unless_gone(
                "DeleteRolePermissionsBoundary",
                self.client.delete_role_permissions_boundary().role_name(name).send().await,
                |e| e.is_no_such_entity_exception(),
                |_| false,
            )?,
        }
        Ok(())
    }
}

#[async_trait]
impl Reconciler for Roles {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        // One stack's roles are under its own path; a fleet's under the root they share.
        let path = scope.single().map_or_else(|| kinds::ROLE_PATH_ROOT.to_owned(), kinds::role_path);
        // Every role of the account with its trust, boundary, tags and every policy, a
        // thousand roles a page: one request where reading each role takes four
        // (docs/PERFORMANCE.md). IAM can only filter this by entity type; the path is
        // filtered here, and only the stacks' roles are parsed.
        let pages = all(
            "GetAccountAuthorizationDetails",
            self.client
                .get_account_authorization_details()
                .filter(EntityType::Role)
                .max_items(ROLES_PER_PAGE)
                .into_paginator()
                .send(),
        )
        .await?;
        let mut out = Vec::new();
        for role in pages.iter().flat_map(|p| p.role_detail_list()) {
            if !role.path().is_some_and(|p| p.starts_with(&path)) {
                continue;
            }
            let (Some(name), Some(arn)) = (role.role_name(), role.arn()) else {
                return Err(missing("role name or ARN"));
            };
            let tags: TagMap = role.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
            let trust = role.assume_role_policy_document().map(document).transpose()?;
            let mut others = BTreeMap::new();
            for policy in role.role_policy_list() {
                let (Some(policy_name), Some(text)) = (policy.policy_name(), policy.policy_document()) else {
                    return Err(missing("inline policy name or document"));
                };
                others.insert(policy_name.to_owned(), document(text)?);
            }
            let policy = others.remove(POLICY_NAME).unwrap_or(Value::Null);
            let managed: Vec<&str> = role.attached_managed_policies().iter().filter_map(|p| p.policy_arn()).collect();
            let attributes = json!({
                "name": name,
                "path": role.path(),
                "assume_role_policy": trust,
                "policy": policy,
                "other_policies": others,
                "managed_policy_arns": managed,
                "permissions_boundary": role.permissions_boundary().and_then(|b| b.permissions_boundary_arn()),
            });
            out.extend(observed(scope, &tags, name, attributes, json!({ "arn": arn })));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: IamRole = spec(desired)?;
        let name = typed.name.as_str();
        let out = self
            .client
            .create_role()
            .role_name(name)
            .path(typed.path.as_str())
            .assume_role_policy_document(document_text(
                "trust policy",
                serde_json::to_string(&typed.assume_role_policy),
            )?)
            .set_permissions_boundary(typed.permissions_boundary.clone())
            .set_tags(Some(iam_tags(desired_tags(desired))?))
            .send()
            .await
            .map_err(|e| classify("CreateRole", e))?;
        let arn = out.role().map(|r| r.arn()).ok_or_else(|| missing("role"))?;
        self.put_policy(name, desired).await?;
        Ok(created(desired, name, json!({ "arn": arn })))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let name = current.aws_id.as_str();
        for change in changes {
            match change.field.as_str() {
                "assume_role_policy" => {
                    self.client
                        .update_assume_role_policy()
                        .role_name(name)
                        .policy_document(document_text(
                            "trust policy",
                            serde_json::to_string(&spec::<IamRole>(desired)?.assume_role_policy),
                        )?)
                        .send()
                        .await
                        .map_err(|e| classify("UpdateAssumeRolePolicy", e))?;
                }
                "policy" => self.put_policy(name, desired).await?,
                // Every spec has neither: whatever is there was added by hand.
                "other_policies" => {
                    let found = current.attributes.get("other_policies").and_then(Value::as_object);
                    let names: Vec<&str> = found.iter().flat_map(|m| m.keys()).map(String::as_str).collect();
                    self.delete_inline(name, names).await?;
                }
                "managed_policy_arns" => {
                    let found = current.attributes.get("managed_policy_arns").and_then(Value::as_array);
                    let arns: Vec<&str> = found.into_iter().flatten().filter_map(Value::as_str).collect();
                    self.detach(name, arns).await?;
                }
                "permissions_boundary" => self.set_boundary(name, desired).await?,
                "tags" => {
                    sync_tags(&self.client, name, desired, current).await?;
                }
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        // IAM refuses to delete a role that still has policies: inline ones are deleted and
        // managed ones detached first.
        let name = current.aws_id.as_str();
        if let Some((inline, managed)) = self.policies(name).await? {
            self.delete_inline(name, inline.iter().map(String::as_str)).await?;
            self.detach(name, managed.iter().map(String::as_str)).await?;
        }
        unless_gone(
            "DeleteRole",
            self.client.delete_role().role_name(name).send().await,
            |e| e.is_no_such_entity_exception(),
            |e| e.is_delete_conflict_exception() || e.is_concurrent_modification_exception(),
        )
    }
}

/// IAM tags a role by its name.
#[async_trait]
impl Tagging for iam::Client {
    async fn tag(&self, resource: &str, tags: TagMap) -> Result<(), ReconcileError> {
        self.tag_role()
            .role_name(resource)
            .set_tags(Some(iam_tags(tags)?))
            .send()
            .await
            .map_err(|e| classify("TagRole", e))?;
        Ok(())
    }

    async fn untag(&self, resource: &str, keys: Vec<String>) -> Result<(), ReconcileError> {
        self.untag_role()
            .role_name(resource)
            .set_tag_keys(Some(keys))
            .send()
            .await
            .map_err(|e| classify("UntagRole", e))?;
        Ok(())
    }
}
