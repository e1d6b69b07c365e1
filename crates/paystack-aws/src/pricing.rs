//! The AWS Price List API, for `cost --refresh-prices`: the products that match a query,
//! read through GetProducts' paginator. Which products, and what their documents say, is
//! `paystack-cost`'s to decide; this reads them.

use aws_sdk_pricing as pricing;
use pricing::types::{Filter, FilterType};

/// A query could not be asked at all.
#[derive(Debug, thiserror::Error)]
pub enum PriceListError {
    /// The API did not answer (no such endpoint, no credentials, a network failure): no
    /// query can, so the refresh stops and the table stays as it was.
    #[error("the AWS Price List API did not answer: {0}")]
    Unreachable(String),
    /// The API refused this one query (an attribute it does not know for the service).
    #[error("the Price List refused the query: {0}")]
    Refused(String),
}

/// How one filter matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    Exactly,
    Containing,
}

/// Every product document of `service_code` that matches `filters`, page by page.
pub async fn products(
    client: &pricing::Client,
    service_code: &str,
    filters: &[(&str, Match, &str)],
) -> Result<Vec<String>, PriceListError> {
    let mut request = client.get_products().service_code(service_code).format_version("aws_v1");
    for (field, how, value) in filters {
        let kind = match how {
            Match::Exactly => FilterType::TermMatch,
            Match::Containing => FilterType::Contains,
        };
        let filter = Filter::builder()
            .r#type(kind)
            .field(*field)
            .value(*value)
            .build()
            .map_err(|e| PriceListError::Refused(e.to_string()))?;
        request = request.filters(filter);
    }
    let mut pages = request.into_paginator().send();
    let mut documents = Vec::new();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => documents.extend(page.price_list().iter().cloned()),
            Err(e) => {
                let refused = e
                    .as_service_error()
                    .is_some_and(|s| s.is_invalid_parameter_exception() || s.is_not_found_exception());
                let reason = crate::error::describe(&e);
                return Err(if refused {
                    PriceListError::Refused(reason)
                } else {
                    PriceListError::Unreachable(reason)
                });
            }
        }
    }
    Ok(documents)
}
