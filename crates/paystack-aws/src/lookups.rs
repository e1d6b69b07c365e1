//! What the platform uses but never makes, read before planning: the ACM certificate of the
//! HTTPS listener and the public hosted zone of the service's name. Like a Terraform data source, a lookup that finds nothing stops the run
//! before anything changes, and says what to provide.

use acm::types::CertificateStatus;
use aws_sdk_acm as acm;
use paystack_engine::ReconcileError;
use paystack_platform::Lookups;

use crate::clients::Clients;
use crate::error::{all, classify};

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("there is no issued ACM certificate for `{domain}` in {region}")]
    NoCertificate { domain: String, region: String },
    #[error("there is no public Route 53 hosted zone named `{zone}`")]
    NoZone { zone: String },
    #[error("{count} public Route 53 hosted zones are named `{zone}`")]
    AmbiguousZone { zone: String, count: usize },
    #[error("there is no rotation function `{arn}`")]
    NoRotationFunction { arn: String },
    #[error("cannot look up what the platform uses: {0}")]
    Failed(#[from] ReconcileError),
}

/// What to look up.
pub struct Wanted<'a> {
    pub region: &'a str,
    pub certificate_domain: &'a str,
    pub zone: &'a str,
    /// The database secret's rotation function, where rotation is on: the role it runs as
    /// is one of the secret's readers.
    pub rotation_function: Option<&'a str>,
}

/// Reads every lookup the blueprint needs, concurrently.
pub async fn look_up(clients: &Clients, wanted: &Wanted<'_>) -> Result<Lookups, LookupError> {
    let (certificate_arn, hosted_zone_id, rotation_role_arn) = tokio::try_join!(
        certificate(clients, wanted.region, wanted.certificate_domain),
        hosted_zone(clients, wanted.zone),
        rotation_role(clients, wanted.rotation_function),
    )?;
    Ok(Lookups {
        certificate_arn: Some(certificate_arn),
        hosted_zone_id: Some(hosted_zone_id),
        rotation_role_arn,
        ..Lookups::default()
    })
}

/// The role the rotation function runs as.
async fn rotation_role(clients: &Clients, function: Option<&str>) -> Result<Option<String>, LookupError> {
    let Some(function) = function else { return Ok(None) };
    let got = clients.lambda.get_function_configuration().function_name(function).send().await;
    match got {
        Ok(config) => match config.role() {
            Some(role) => Ok(Some(role.to_owned())),
            None => Err(LookupError::Failed(crate::error::missing("rotation function's role"))),
        },
        Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {
            Err(LookupError::NoRotationFunction { arn: function.to_owned() })
        }
        Err(e) => Err(classify("GetFunctionConfiguration", e).into()),
    }
}

async fn certificate(clients: &Clients, region: &str, certificate_domain: &str) -> Result<String, LookupError> {
    let certificates = all(
        "ListCertificates",
        clients.acm.list_certificates().certificate_statuses(CertificateStatus::Issued).into_paginator().items().send(),
    )
    .await?;
    // Several certificates may cover the domain (a renewal imported beside the old one): the
    // one that stays valid longest is used.
    let certificate = certificates
        .iter()
        .filter(|c| c.domain_name() == Some(certificate_domain))
        .max_by_key(|c| c.not_after().map(|t| t.secs()))
        .and_then(|c| c.certificate_arn())
        .ok_or_else(|| LookupError::NoCertificate {
            domain: certificate_domain.to_owned(),
            region: region.to_owned(),
        })?;
    Ok(certificate.to_owned())
}

/// The public zone named `zone`. Zones are listed by name, so the first page from the name
/// holds every zone of that name.
async fn hosted_zone(clients: &Clients, zone: &str) -> Result<String, LookupError> {
    let fqdn = format!("{}.", zone.trim_end_matches('.'));
    let listed = clients
        .route53
        .list_hosted_zones_by_name()
        .dns_name(&fqdn)
        .send()
        .await
        .map_err(|e| classify("ListHostedZonesByName", e))?;
    let public: Vec<&str> = listed
        .hosted_zones()
        .iter()
        .filter(|z| z.name().eq_ignore_ascii_case(&fqdn) && !z.config().is_some_and(|c| c.private_zone()))
        .map(|z| z.id().rsplit('/').next().unwrap_or(z.id()))
        .collect();
    match public.as_slice() {
        [id] => Ok((*id).to_owned()),
        [] => Err(LookupError::NoZone { zone: zone.to_owned() }),
        _ => Err(LookupError::AmbiguousZone { zone: zone.to_owned(), count: public.len() }),
    }
}
