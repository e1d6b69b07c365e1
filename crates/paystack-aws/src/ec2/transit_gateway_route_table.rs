//! `ec2.transit_gateway_route_table`: an environment's own route table on the Transit
//! Gateway, in the account that owns the gateway, with its one association (the
//! environment's attachment) and its static routes.
//!
//! Like a VPC route table's routes and subnets, the association and routes are fields of the
//! table: they are what makes it this environment's, and nothing else may change them.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_ec2 as ec2;
use ec2::types::{Filter, ResourceType, TransitGatewayRouteTableState, TransitGatewayRouteType};
use paystack_core::{FieldChange, Fields, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::TransitGatewayRouteTable;
use serde_json::{Value, json};

use super::{
    Listed, cannot_update, created, objects, owned_by, owned_of, stack_filter, sync_tags, tag_specification, updated,
};
use crate::error::{all, classify, missing, unless_not_found};
use crate::owned::{resolved, spec};

pub(crate) struct TransitGatewayRouteTables {
    client: ec2::Client,
}

/// A route's destination and the attachment it leaves by, as the spec writes it.
fn route_of(route: &Fields) -> Option<(&str, &str)> {
    Some((route.get("destination_cidr_block")?.as_str()?, route.get("transit_gateway_attachment_id")?.as_str()?))
}

impl TransitGatewayRouteTables {
    pub(crate) fn new(client: &ec2::Client) -> Self {
        Self { client: client.clone() }
    }

    /// The attachments associated with `table`.
    async fn associations(&self, table: &str) -> Result<Vec<String>, ReconcileError> {
        let listed = self
            .client
            .get_transit_gateway_route_table_associations()
            .transit_gateway_route_table_id(table)
            .into_paginator()
            .items()
            .send();
        let associations = all("GetTransitGatewayRouteTableAssociations", listed).await?;
        Ok(associations.iter().filter_map(|a| a.transit_gateway_attachment_id().map(str::to_owned)).collect())
    }

    /// The table's static routes: the ones paystack makes. Propagated routes are not
    /// paystack's, and its tables take none.
    async fn routes(&self, table: &str) -> Result<Vec<Value>, ReconcileError> {
        let out = self
            .client
            .search_transit_gateway_routes()
            .transit_gateway_route_table_id(table)
            .filters(Filter::builder().name("type").values(TransitGatewayRouteType::Static.as_str()).build())
            .send()
            .await
            .map_err(|e| classify("SearchTransitGatewayRoutes", e))?;
        Ok(out
            .routes()
            .iter()
            .filter_map(|r| {
                let attachment = r.transit_gateway_attachments().first()?.transit_gateway_attachment_id()?;
                Some(json!({
                    "destination_cidr_block": r.destination_cidr_block()?,
                    "transit_gateway_attachment_id": attachment,
                }))
            })
            .collect())
    }

    async fn associate(&self, table: &str, attachment: &str) -> Result<(), ReconcileError> {
        self.client
            .associate_transit_gateway_route_table()
            .transit_gateway_route_table_id(table)
            .transit_gateway_attachment_id(attachment)
            .send()
            .await
            .map_err(|e| classify("AssociateTransitGatewayRouteTable", e))?;
        Ok(())
    }

    async fn disassociate(&self, table: &str, attachment: &str) -> Result<(), ReconcileError> {
        unless_not_found(
            "DisassociateTransitGatewayRouteTable",
            self.client
                .disassociate_transit_gateway_route_table()
                .transit_gateway_route_table_id(table)
                .transit_gateway_attachment_id(attachment)
                .send()
                .await,
        )
    }

    async fn add_route(&self, table: &str, route: &Fields) -> Result<(), ReconcileError> {
        let (destination, attachment) = route_of(route).ok_or_else(|| {
            ReconcileError::permanent(format!(
                "Transit Gateway route table {table}: a route needs a destination and an attachment"
            ))
        })?;
        self.client
            .create_transit_gateway_route()
            .transit_gateway_route_table_id(table)
            .destination_cidr_block(destination)
            .transit_gateway_attachment_id(attachment)
            .send()
            .await
            .map_err(|e| classify("CreateTransitGatewayRoute", e))?;
        Ok(())
    }

    async fn remove_route(&self, table: &str, route: &Fields) -> Result<(), ReconcileError> {
        let Some((destination, _)) = route_of(route) else { return Ok(()) };
        unless_not_found(
            "DeleteTransitGatewayRoute",
            self.client
                .delete_transit_gateway_route()
                .transit_gateway_route_table_id(table)
                .destination_cidr_block(destination)
                .send()
                .await,
        )
    }
}

#[async_trait]
impl Reconciler for TransitGatewayRouteTables {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let listed = self
            .client
            .describe_transit_gateway_route_tables()
            .filters(stack_filter(scope))
            .into_paginator()
            .items()
            .send();
        let tables = all("DescribeTransitGatewayRouteTables", listed).await?;
        // Each table's association and routes are read only for the stack's own tables that
        // are not going away.
        let live: Vec<_> = tables
            .iter()
            .filter(|t| {
                !matches!(
                    t.state(),
                    Some(TransitGatewayRouteTableState::Deleting | TransitGatewayRouteTableState::Deleted)
                )
            })
            .filter(|t| owned_by(scope, t.tags()))
            .collect();
        let mut read = Vec::new();
        for table in &live {
            let id = table.transit_gateway_route_table_id().ok_or_else(|| missing("Transit Gateway route table id"))?;
            let associations = self.associations(id).await?;
            let routes = self.routes(id).await?;
            read.push((*table, associations, routes));
        }
        owned_of(scope, "Transit Gateway route table id", &read, |(t, associations, routes)| {
            let attributes = json!({
                "transit_gateway_id": t.transit_gateway_id(),
                // One association is what paystack makes; any other shows as a difference.
                "association": match associations.as_slice() {
                    [one] => json!(one),
                    [] => Value::Null,
                    many => json!(many),
                },
                "routes": routes,
            });
            let pending = t.state() == Some(&TransitGatewayRouteTableState::Pending);
            Some(Listed::new(t.transit_gateway_route_table_id(), t.tags(), attributes).pending(pending))
        })
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let table: TransitGatewayRouteTable = spec(desired)?;
        let out = self
            .client
            .create_transit_gateway_route_table()
            .transit_gateway_id(&table.transit_gateway_id)
            .tag_specifications(tag_specification(ResourceType::TransitGatewayRouteTable, desired))
            .send()
            .await
            .map_err(|e| classify("CreateTransitGatewayRouteTable", e))?;
        let id = out
            .transit_gateway_route_table()
            .and_then(|t| t.transit_gateway_route_table_id())
            .ok_or_else(|| missing("Transit Gateway route table id"))?;
        self.associate(id, resolved(desired, &table.association)?).await?;
        for route in objects(desired.fields.get("routes")) {
            self.add_route(id, &route).await?;
        }
        Ok(created(desired, id, json!({})))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let table = current.aws_id.as_str();
        for change in changes {
            match change.field.as_str() {
                "association" => {
                    let spec: TransitGatewayRouteTable = spec(desired)?;
                    let want = resolved(desired, &spec.association)?;
                    // An attachment has one association at a time: every other goes first.
                    let have: BTreeSet<String> = self.associations(table).await?.into_iter().collect();
                    for other in have.iter().filter(|a| *a != want) {
                        self.disassociate(table, other).await?;
                    }
                    if !have.contains(want) {
                        self.associate(table, want).await?;
                    }
                }
                "routes" => {
                    let want = objects(desired.fields.get("routes"));
                    let have = objects(current.attributes.get("routes"));
                    // Remove first: another attachment for one destination is a remove and an add.
                    for r in have.iter().filter(|r| !want.contains(r)) {
                        self.remove_route(table, r).await?;
                    }
                    for r in want.iter().filter(|r| !have.contains(r)) {
                        self.add_route(table, r).await?;
                    }
                }
                "tags" => sync_tags(&self.client, &current.aws_id, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        // AWS refuses to delete a table that still has associations.
        for attachment in self.associations(&current.aws_id).await? {
            self.disassociate(&current.aws_id, &attachment).await?;
        }
        unless_not_found(
            "DeleteTransitGatewayRouteTable",
            self.client
                .delete_transit_gateway_route_table()
                .transit_gateway_route_table_id(&current.aws_id)
                .send()
                .await,
        )
    }
}
