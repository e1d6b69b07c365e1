//! `paystack bootstrap`: makes, or brings up to date, what `paystack_platform::bootstrap`
//! describes in an environment's account: the permissions boundary (a customer-managed
//! policy), then the deploy role with that boundary, its trust policy and its inline policy.
//! Each step reads first, and changes only what differs.

use aws_sdk_iam as iam;
use iam::types::Tag;
use paystack_engine::ReconcileError;
use paystack_platform::bootstrap::Bootstrap;
use serde_json::Value;

use crate::error::classify;
use crate::state::{InitStep, Outcome};

/// The most versions IAM keeps of a managed policy.
const MAX_POLICY_VERSIONS: usize = 5;

/// A policy document as IAM returns it (URL-encoded JSON), as JSON.
fn document(encoded: &str) -> Option<Value> {
    serde_json::from_str(&percent_encoding::percent_decode_str(encoded).decode_utf8_lossy()).ok()
}

fn step(what: String, outcome: Outcome) -> InitStep {
    InitStep { what, outcome }
}

fn tags(b: &Bootstrap) -> Result<Vec<Tag>, ReconcileError> {
    [("ManagedBy", "paystack"), ("paystack:bootstrap", b.account.as_str())]
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| ReconcileError::permanent(e.to_string())))
        .collect()
}

/// Makes or updates the boundary and the deploy role of `b`, through `client` acting in
/// `b.account`, and says what each step did.
pub async fn bootstrap(client: &iam::Client, b: &Bootstrap) -> Result<Vec<InitStep>, ReconcileError> {
    let boundary = ensure_boundary(client, b).await?;
    let mut steps = vec![boundary];
    steps.extend(ensure_role(client, b).await?);
    Ok(steps)
}

async fn ensure_boundary(client: &iam::Client, b: &Bootstrap) -> Result<InitStep, ReconcileError> {
    let what = format!("permissions boundary {}", b.boundary_arn);
    let text = b.boundary_policy.to_string();
    let found = match client.get_policy().policy_arn(&b.boundary_arn).send().await {
        Ok(out) => out.policy,
        Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_entity_exception()) => None,
        Err(e) => return Err(classify("GetPolicy", e)),
    };
    let Some(policy) = found else {
        client
            .create_policy()
            .policy_name(&b.boundary_name)
            .path(&b.boundary_path)
            .policy_document(&text)
            .description("The ceiling of every role paystack makes in this account")
            .set_tags(Some(tags(b)?))
            .send()
            .await
            .map_err(|e| classify("CreatePolicy", e))?;
        return Ok(step(what, Outcome::Created));
    };
    let default = policy.default_version_id().unwrap_or_default();
    let version = client
        .get_policy_version()
        .policy_arn(&b.boundary_arn)
        .version_id(default)
        .send()
        .await
        .map_err(|e| classify("GetPolicyVersion", e))?;
    let current = version.policy_version().and_then(|v| v.document()).and_then(document);
    if current.as_ref() == Some(&b.boundary_policy) {
        return Ok(step(what, Outcome::Unchanged));
    }
    // IAM keeps five versions: make room by deleting the oldest one that is not the default.
    let versions = client
        .list_policy_versions()
        .policy_arn(&b.boundary_arn)
        .send()
        .await
        .map_err(|e| classify("ListPolicyVersions", e))?;
    let mut old: Vec<_> = versions.versions().iter().filter(|v| !v.is_default_version()).collect();
    if versions.versions().len() >= MAX_POLICY_VERSIONS {
        old.sort_by_key(|v| v.create_date().map(|d| d.secs()));
        if let Some(oldest) = old.first().and_then(|v| v.version_id()) {
            client
                .delete_policy_version()
                .policy_arn(&b.boundary_arn)
                .version_id(oldest)
                .send()
                .await
                .map_err(|e| classify("DeletePolicyVersion", e))?;
        }
    }
    client
        .create_policy_version()
        .policy_arn(&b.boundary_arn)
        .policy_document(&text)
        .set_as_default(true)
        .send()
        .await
        .map_err(|e| classify("CreatePolicyVersion", e))?;
    Ok(step(what, Outcome::Changed))
}

async fn ensure_role(client: &iam::Client, b: &Bootstrap) -> Result<Vec<InitStep>, ReconcileError> {
    let role = format!("deploy role {}{}", b.role_path, b.role_name);
    let trust = b.trust_policy.to_string();
    let found = match client.get_role().role_name(&b.role_name).send().await {
        Ok(out) => out.role,
        Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_entity_exception()) => None,
        Err(e) => return Err(classify("GetRole", e)),
    };
    let mut steps = Vec::new();
    match found {
        None => {
            client
                .create_role()
                .role_name(&b.role_name)
                .path(&b.role_path)
                .assume_role_policy_document(&trust)
                .permissions_boundary(&b.boundary_arn)
                .description("Assumed by paystack to deploy this account's environment")
                .set_tags(Some(tags(b)?))
                .send()
                .await
                .map_err(|e| classify("CreateRole", e))?;
            steps.push(step(role.clone(), Outcome::Created));
        }
        Some(found) => {
            let same_trust =
                document(found.assume_role_policy_document().unwrap_or_default()).as_ref() == Some(&b.trust_policy);
            if !same_trust {
                client
                    .update_assume_role_policy()
                    .role_name(&b.role_name)
                    .policy_document(&trust)
                    .send()
                    .await
                    .map_err(|e| classify("UpdateAssumeRolePolicy", e))?;
            }
            let bounded = found.permissions_boundary().and_then(|p| p.permissions_boundary_arn());
            if bounded != Some(b.boundary_arn.as_str()) {
                client
                    .put_role_permissions_boundary()
                    .role_name(&b.role_name)
                    .permissions_boundary(&b.boundary_arn)
                    .send()
                    .await
                    .map_err(|e| classify("PutRolePermissionsBoundary", e))?;
            }
            let outcome = if same_trust && bounded == Some(b.boundary_arn.as_str()) {
                Outcome::Unchanged
            } else {
                Outcome::Changed
            };
            steps.push(step(format!("{role} (trust and boundary)"), outcome));
        }
    }
    let policy = match client.get_role_policy().role_name(&b.role_name).policy_name(Bootstrap::POLICY_NAME).send().await
    {
        Ok(out) => document(out.policy_document()),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_entity_exception()) => None,
        Err(e) => return Err(classify("GetRolePolicy", e)),
    };
    let what = format!("{role} policy `{}`", Bootstrap::POLICY_NAME);
    if policy.as_ref() == Some(&b.role_policy) {
        steps.push(step(what, Outcome::Unchanged));
    } else {
        client
            .put_role_policy()
            .role_name(&b.role_name)
            .policy_name(Bootstrap::POLICY_NAME)
            .policy_document(b.role_policy.to_string())
            .send()
            .await
            .map_err(|e| classify("PutRolePolicy", e))?;
        steps.push(step(what, if policy.is_some() { Outcome::Changed } else { Outcome::Created }));
    }
    Ok(steps)
}
