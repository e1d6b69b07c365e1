//! `ec2.route_table`: a route table with its default route and its subnet associations.
//!
//! Routes and associations are fields of the table rather than resources of their own: they
//! are read back by the same Describe call, so the inventory stays one call for the kind.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_ec2 as ec2;
use ec2::types::{ResourceType, Route, RouteTable};
use paystack_core::{FieldChange, Fields, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::RouteTable as RouteTableSpec;
use serde_json::{Value, json};

use super::{
    Listed, cannot_update, created, objects, owned_of, stack_filter, strings, sync_tags, tag_specification, updated,
};
use crate::error::{all, classify, missing, unless_not_found};
use crate::owned::{resolved, spec};

pub(crate) struct RouteTables {
    client: ec2::Client,
}

/// A route's destination and its target, as the spec writes it.
fn route_key(route: &Fields) -> Option<(String, &'static str, String)> {
    let dest = route.get("destination_cidr_block")?.as_str()?.to_owned();
    for target in ["gateway_id", "nat_gateway_id", "transit_gateway_id"] {
        if let Some(t) = route.get(target).and_then(Value::as_str) {
            return Some((dest, target, t.to_owned()));
        }
    }
    None
}

/// The routes paystack manages: IPv4 routes to an internet, NAT or Transit Gateway. The
/// `local` route and the routes a gateway endpoint adds belong to AWS.
fn managed_route(r: &Route) -> Option<Value> {
    let dest = r.destination_cidr_block()?;
    if let Some(nat) = r.nat_gateway_id() {
        return Some(json!({ "destination_cidr_block": dest, "nat_gateway_id": nat }));
    }
    if let Some(tgw) = r.transit_gateway_id() {
        return Some(json!({ "destination_cidr_block": dest, "transit_gateway_id": tgw }));
    }
    let gw = r.gateway_id().filter(|g| g.starts_with("igw-"))?;
    Some(json!({ "destination_cidr_block": dest, "gateway_id": gw }))
}

/// Subnet id → association id, for the table's explicit associations.
fn associations(t: &RouteTable) -> BTreeMap<String, String> {
    t.associations()
        .iter()
        .filter(|a| !a.main().unwrap_or(false))
        .filter_map(|a| Some((a.subnet_id()?.to_owned(), a.route_table_association_id()?.to_owned())))
        .collect()
}

impl RouteTables {
    pub(crate) fn new(client: &ec2::Client) -> Self {
        Self { client: client.clone() }
    }

    async fn add_route(&self, table: &str, route: &Fields) -> Result<(), ReconcileError> {
        let (dest, target, id) = route_key(route).ok_or_else(|| {
            ReconcileError::permanent(format!("route table {table}: a route needs a destination and a target"))
        })?;
        let call = self.client.create_route().route_table_id(table).destination_cidr_block(dest);
        let call = match target {
            "nat_gateway_id" => call.nat_gateway_id(id),
            "transit_gateway_id" => call.transit_gateway_id(id),
            _ => call.gateway_id(id),
        };
        call.send().await.map_err(|e| classify("CreateRoute", e))?;
        Ok(())
    }

    async fn remove_route(&self, table: &str, route: &Fields) -> Result<(), ReconcileError> {
        let Some((dest, ..)) = route_key(route) else { return Ok(()) };
        unless_not_found(
            "DeleteRoute",
            self.client.delete_route().route_table_id(table).destination_cidr_block(dest).send().await,
        )
    }

    async fn associate(&self, table: &str, subnet: &str) -> Result<String, ReconcileError> {
        let out = self
            .client
            .associate_route_table()
            .route_table_id(table)
            .subnet_id(subnet)
            .send()
            .await
            .map_err(|e| classify("AssociateRouteTable", e))?;
        out.association_id().map(str::to_owned).ok_or_else(|| missing("route table association id"))
    }

    async fn disassociate(&self, association: &str) -> Result<(), ReconcileError> {
        unless_not_found(
            "DisassociateRouteTable",
            self.client.disassociate_route_table().association_id(association).send().await,
        )
    }

    fn known_associations(current: &Observed) -> BTreeMap<String, String> {
        current
            .outputs
            .get("associations")
            .and_then(Value::as_object)
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
            .unwrap_or_default()
    }
}

#[async_trait]
impl Reconciler for RouteTables {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let listed = self.client.describe_route_tables().filters(stack_filter(scope)).into_paginator().items().send();
        let tables = all("DescribeRouteTables", listed).await?;
        owned_of(scope, "route table id", &tables, |t| {
            let assoc = associations(t);
            let attributes = json!({
                "vpc_id": t.vpc_id(),
                "routes": t.routes().iter().filter_map(managed_route).collect::<Vec<_>>(),
                "subnet_ids": assoc.keys().collect::<Vec<_>>(),
            });
            Some(Listed::new(t.route_table_id(), t.tags(), attributes).outputs(json!({ "associations": assoc })))
        })
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let table: RouteTableSpec = spec(desired)?;
        let out = self
            .client
            .create_route_table()
            .set_client_token(crate::owned::client_token(desired))
            .vpc_id(resolved(desired, &table.vpc_id)?)
            .tag_specifications(tag_specification(ResourceType::RouteTable, desired))
            .send()
            .await
            .map_err(|e| classify("CreateRouteTable", e))?;
        let id = out.route_table().and_then(|t| t.route_table_id()).ok_or_else(|| missing("route table id"))?;
        for route in objects(desired.fields.get("routes")) {
            self.add_route(id, &route).await?;
        }
        let mut assoc = BTreeMap::new();
        for subnet in strings(desired.fields.get("subnet_ids")) {
            let association = self.associate(id, &subnet).await?;
            assoc.insert(subnet, association);
        }
        Ok(created(desired, id, json!({ "associations": assoc })))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let table = current.aws_id.as_str();
        let mut assoc = Self::known_associations(current);
        for change in changes {
            match change.field.as_str() {
                "routes" => {
                    let want = objects(desired.fields.get("routes"));
                    let have = objects(current.attributes.get("routes"));
                    // Remove first: a changed target for one destination is a remove and an add.
                    for r in have.iter().filter(|r| !want.contains(r)) {
                        self.remove_route(table, r).await?;
                    }
                    for r in want.iter().filter(|r| !have.contains(r)) {
                        self.add_route(table, r).await?;
                    }
                }
                "subnet_ids" => {
                    let want: BTreeSet<String> = strings(desired.fields.get("subnet_ids")).into_iter().collect();
                    for (subnet, association) in assoc.clone() {
                        if !want.contains(&subnet) {
                            self.disassociate(&association).await?;
                            assoc.remove(&subnet);
                        }
                    }
                    for subnet in want {
                        if let std::collections::btree_map::Entry::Vacant(slot) = assoc.entry(subnet) {
                            let association = self.associate(table, slot.key()).await?;
                            slot.insert(association);
                        }
                    }
                }
                "tags" => sync_tags(&self.client, &current.aws_id, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        let mut next = updated(desired, current);
        next.outputs.insert("associations".into(), json!(assoc));
        Ok(next)
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        for association in Self::known_associations(current).values() {
            self.disassociate(association).await?;
        }
        unless_not_found(
            "DeleteRouteTable",
            self.client.delete_route_table().route_table_id(&current.aws_id).send().await,
        )
    }
}
