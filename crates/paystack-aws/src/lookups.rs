//! What the platform uses but never makes, read before planning: the ACM certificate of the
//! HTTPS listener. Like a Terraform data source, a lookup that finds nothing stops the run
//! before anything changes, and says what to provide.

use acm::types::CertificateStatus;
use aws_sdk_acm as acm;
use paystack_engine::ReconcileError;
use paystack_platform::Lookups;

use crate::clients::Clients;
use crate::error::all;

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("there is no issued ACM certificate for `{domain}` in {region}")]
    NoCertificate { domain: String, region: String },
    #[error("cannot look up the ACM certificate: {0}")]
    Failed(#[from] ReconcileError),
}

/// Reads every lookup the blueprint needs.
pub async fn look_up(clients: &Clients, region: &str, certificate_domain: &str) -> Result<Lookups, LookupError> {
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
    Ok(Lookups { certificate_arn: Some(certificate.to_owned()) })
}
