"""The AWS emulator the tests run on: moto's server, with the project's extensions.

Each extension makes moto answer as AWS does where a test needs AWS's behaviour and moto
stores or answers something else. Each is small, named here, and listed with what it
emulates in docs/TESTING.md ("Emulator extensions"). Everything else is moto as released.

Run as moto_server is: python scripts/emulator.py -H 127.0.0.1 -p PORT
"""

import json
import sys

from moto.core.responses import ActionResult
from moto.dynamodb.models import Table, dynamodb_backends
from moto.dynamodb.responses import DynamoHandler
from moto.ec2.models.transit_gateway_route_tables import TransitGatewayRouteTableBackend
from moto.ec2.responses.transit_gateway_attachments import TransitGatewayAttachment
from moto.iam import policy_conditions
from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, PermissionResult
from moto.s3.exceptions import ReplicationConfigurationNotFoundError
from moto.s3.models import FakeBucket
from moto.s3.responses import S3Response
from moto.awslambda.models import LambdaFunction
from moto.server import main


def transit_gateway_attachment_creation_tags() -> None:
    """CreateTransitGatewayVpcAttachment keeps the tags of its TagSpecifications.

    AWS tags the attachment in the create call itself. moto reads the tags under the wrong
    resource type (transit-gateway-route-table) and drops them, so an attachment made with
    its ownership tags could never be found again by them.
    """

    def create_transit_gateway_vpc_attachment(self: TransitGatewayAttachment) -> ActionResult:
        specified = self._parse_tag_specification()
        tags = specified.get("transit-gateway-attachment", {})
        attachment = self.ec2_backend.create_transit_gateway_vpc_attachment(
            transit_gateway_id=self._get_param("TransitGatewayId"),
            tags=tags,
            vpc_id=self._get_param("VpcId"),
            subnet_ids=self._get_param("SubnetIds", []),
            options=self._get_param("Options", {}),
        )
        return ActionResult({"TransitGatewayVpcAttachment": attachment})

    TransitGatewayAttachment.create_transit_gateway_vpc_attachment = create_transit_gateway_vpc_attachment


def transit_gateway_route_attachments() -> None:
    """SearchTransitGatewayRoutes names the attachment each static route leaves by.

    AWS answers a list of attachments per route. moto keeps the one attachment as a single
    object, which its serializer drops, so every static route read back as going nowhere.
    """
    create = TransitGatewayRouteTableBackend.create_transit_gateway_route

    def create_transit_gateway_route(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        route = create(self, *args, **kwargs)
        attachments = route.get("transitGatewayAttachments")
        if isinstance(attachments, dict):
            route["transitGatewayAttachments"] = [attachments]
        return route

    TransitGatewayRouteTableBackend.create_transit_gateway_route = create_transit_gateway_route


def dynamodb_global_table_replicas() -> None:
    """UpdateTable's ReplicaUpdates (global tables, version 2019.11.21) make and remove replicas.

    On AWS, a `Create` makes the table in the replica region, with the table's keys,
    attributes, billing mode and stream, encrypted with the key the update names (or the
    table's), and DescribeTable lists each replica under `Replicas` with its status; a
    `Delete` removes that region's table. moto 5.2.5 ignores ReplicaUpdates: no replica is
    made or reported. Here a replica is ACTIVE at once, as every moto status is.
    """
    update_table = DynamoHandler.update_table
    describe = Table.describe

    def replicas_of(table: Table) -> dict:
        if not hasattr(table, "paystack_replicas"):
            table.paystack_replicas = {}
        return table.paystack_replicas

    def update_with_replicas(self: DynamoHandler) -> ActionResult:
        table = self.dynamodb_backend.get_table(self.body["TableName"])
        for update in self.body.get("ReplicaUpdates") or []:
            if "Create" in update:
                region = update["Create"]["RegionName"]
                key = update["Create"].get("KMSMasterKeyId") or (table.sse_specification or {}).get("KMSMasterKeyId")
                dynamodb_backends[self.current_account][region].create_table(
                    name=table.name,
                    schema=table.schema,
                    throughput=table.throughput,
                    attr=table.attr,
                    global_indexes=[],
                    indexes=[],
                    streams=table.stream_specification,
                    billing_mode=table.billing_mode,
                    sse_specification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key},
                    tags=[],
                    deletion_protection_enabled=False,
                    warm_throughput=None,
                )
                replicas_of(table)[region] = {"RegionName": region, "ReplicaStatus": "ACTIVE", "KMSMasterKeyId": key}
            if "Delete" in update:
                region = update["Delete"]["RegionName"]
                dynamodb_backends[self.current_account][region].delete_table(table.name)
                replicas_of(table).pop(region, None)
        return update_table(self)

    def describe_with_replicas(self: Table, base_key: str = "TableDescription") -> dict:
        results = describe(self, base_key)
        if getattr(self, "paystack_replicas", None):
            results[base_key]["Replicas"] = list(self.paystack_replicas.values())
            results[base_key]["GlobalTableVersion"] = "2019.11.21"
        return results

    DynamoHandler.update_table = update_with_replicas
    Table.describe = describe_with_replicas


def s3_versioning_configuration() -> None:
    """GetBucketVersioning answers a `VersioningConfiguration` document, as S3 does.

    moto's serializer names the document's root `GetBucketVersioningResponse`, which an SDK
    that checks the root (the Rust SDK does) refuses, so a bucket's versioning could not be
    read at all.
    """

    def get_bucket_versioning(self: S3Response):  # type: ignore[no-untyped-def]
        status = self.backend.get_bucket_versioning(self.bucket_name)
        inner = f"<Status>{status}</Status>" if status else ""
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{inner}</VersioningConfiguration>'
        )
        return 200, {}, body

    S3Response.get_bucket_versioning = get_bucket_versioning


def s3_replication_rules_as_put() -> None:
    """GetBucketReplication answers each rule as it was put.

    moto stores the whole rule but answers every one with delete-marker replication off and
    without its source selection criteria (which say whether KMS-encrypted objects are
    replicated), so a rule that replicates delete markers never read back as doing so.
    """
    kept = ("ID", "Priority", "Status", "Filter", "SourceSelectionCriteria", "DeleteMarkerReplication", "Destination")

    def get_bucket_replication(self: S3Response):  # type: ignore[no-untyped-def]
        self.data["Action"] = "GetBucketReplication"
        replication = self.backend.get_bucket_replication(self.bucket_name)
        if not replication:
            raise ReplicationConfigurationNotFoundError(bucket_name=self.bucket_name)
        rules = []
        for rule in replication["Rule"]:
            answered = {k: rule[k] for k in kept if rule.get(k) is not None}
            answered.setdefault("DeleteMarkerReplication", {"Status": "Disabled"})
            if not isinstance(answered.get("Filter"), dict) or answered["Filter"].get("Prefix") is None:
                answered["Filter"] = {"Prefix": ""}
            rules.append(answered)
        result = {"ReplicationConfiguration": {"Role": replication["Role"], "Rules": rules}}
        return self.serialized(ActionResult(result))

    S3Response.get_bucket_replication = get_bucket_replication


def s3_bucket_policies_over_tls() -> None:
    """Bucket policies see requests as made over TLS, and a statement whose condition does
    not hold does not apply.

    Every call to AWS's S3 endpoints is made over TLS (`aws:SecureTransport` is true), and
    AWS skips a statement whose condition does not hold. moto gives bucket policies no
    `aws:SecureTransport`, evaluates no `Bool` condition, and denies whenever a condition
    fails whatever the statement's effect, so a policy that denies requests made without
    TLS denied every object upload. A request denied for another reason is denied still.
    """

    def bool_equals(expected, actual: str) -> bool:  # type: ignore[no-untyped-def]
        wanted = expected if isinstance(expected, list) else [expected]
        return str(actual).lower() in [str(w).lower() for w in wanted]

    policy_conditions.CONDITION_OPERATIONS.setdefault("Bool", bool_equals)
    permitted = IAMPolicyStatement.is_action_permitted

    def is_action_permitted(self: IAMPolicyStatement, action, resource="*", principal=None, incoming_condition_values=None):  # type: ignore[no-untyped-def]
        result = permitted(self, action, resource, principal, incoming_condition_values)
        if result == PermissionResult.DENIED and not self._check_conditions(incoming_condition_values):
            return PermissionResult.NEUTRAL
        return result

    def get_permission(self: FakeBucket, action: str, resource: str):  # type: ignore[no-untyped-def]
        if self.policy is None:
            return PermissionResult.NEUTRAL
        over_tls = {"aws:SecureTransport": "true"}
        return IAMPolicy(self.policy.decode()).is_action_permitted(action, resource, None, over_tls)

    IAMPolicyStatement.is_action_permitted = is_action_permitted
    FakeBucket.get_permission = get_permission


def s3_logging_grant_in_any_policy() -> None:
    """PutBucketLogging reads a target bucket's policy whatever its other statements hold.

    moto looks in the target's policy for a statement that lets S3's log delivery write,
    and fails with an internal error on any statement whose `Principal` is `"*"` (as a
    TLS-only policy's deny is), or whose `Action` is a string. AWS takes such policies; the
    grant is found the same way, among statements of either form.
    """
    from moto.s3.models import LOGGING_SERVICE_PRINCIPAL

    def grants_log_delivery(target_bucket: FakeBucket, target_prefix) -> bool:  # type: ignore[no-untyped-def]
        if not target_bucket.policy:
            return False
        bucket = f"arn:{target_bucket.partition}:s3:::{target_bucket.name}"
        allowed = {f"{bucket}/{target_prefix or ''}*", f"{bucket}/*", bucket}
        as_list = lambda v: v if isinstance(v, list) else [v]  # noqa: E731
        for stmt in as_list(json.loads(target_bucket.policy.decode()).get("Statement", [])):
            principal = stmt.get("Principal")
            if not isinstance(principal, dict) or LOGGING_SERVICE_PRINCIPAL not in as_list(principal.get("Service")):
                continue
            if stmt.get("Effect") != "Allow" or "s3:PutObject" not in as_list(stmt.get("Action", [])):
                continue
            if any(r in allowed for r in as_list(stmt.get("Resource"))):
                return True
        return False

    FakeBucket._log_permissions_enabled_policy = staticmethod(grants_log_delivery)


def secretsmanager_create_over_scheduled_deletion() -> None:
    """CreateSecret of a name whose secret is scheduled for deletion fails as on AWS.

    AWS keeps a deleted secret's name through its recovery window and refuses to create
    another under it with `InvalidRequestException`, until the old one is restored or gone.
    moto answered `ResourceExistsException`, as for a live secret.
    """
    from moto.secretsmanager.exceptions import InvalidRequestException
    from moto.secretsmanager.models import SecretsManagerBackend

    check = SecretsManagerBackend._check_with_existing_secrets_and_versions

    def checked(self, secret_name, client_request_token, secret_string, secret_binary, on_create=False):  # type: ignore[no-untyped-def]
        existing = self.secrets.get(secret_name) if on_create else None
        if existing is not None and existing.is_deleted():
            raise InvalidRequestException(
                "You can't create this secret because a secret with this name is already scheduled for deletion."
            )
        return check(self, secret_name, client_request_token, secret_string, secret_binary, on_create)

    SecretsManagerBackend._check_with_existing_secrets_and_versions = checked


def route53_create_after_delete() -> None:
    """A record deleted and then created again is created, as on AWS.

    moto refuses a CREATE identical to one in the zone's change journal if any record of
    the zone sorts at or after its name, whether or not the record itself still exists: an
    apply after a destroy could not make its DNS records again. The refusal now stands only
    when the record itself (name, type and set identifier) exists, which is AWS's rule.
    """
    from moto.route53.models import Route53Backend

    change = Route53Backend.change_resource_record_sets

    def changed(self, zoneid, change_list):  # type: ignore[no-untyped-def]
        zone = self.get_hosted_zone(zoneid)

        def exists(wanted) -> bool:  # type: ignore[no-untyped-def]
            name = wanted["Name"].rstrip(".") + "."
            return any(
                r.name == name and r.type == wanted["Type"] and r.set_identifier == wanted.get("SetIdentifier")
                for r in zone.rrsets
            )

        for value in change_list:
            if value["Action"] == "CREATE" and not exists(value["ResourceRecordSet"]):
                while value in zone.rr_changes:
                    zone.rr_changes.remove(value)
        return change(self, zoneid, change_list)

    Route53Backend.change_resource_record_sets = changed


def wafv2_list_resources_for_web_acl() -> None:
    """ListResourcesForWebACL answers the resources a web ACL guards.

    AWS lists the load balancers (or other resources of the asked type) a web ACL is
    associated with; moto keeps the associations but has no such call. Only load balancers
    are associated here, so the type asked for is not filtered on.
    """
    from moto.wafv2.exceptions import WAFNonexistentItemException
    from moto.wafv2.responses import WAFV2Response

    def list_resources_for_web_acl(self):  # type: ignore[no-untyped-def]
        arn = json.loads(self.body)["WebACLArn"]
        web_acl = self.wafv2_backend.wacls.get(arn)
        if web_acl is None:
            raise WAFNonexistentItemException()
        return 200, {"Content-Type": "application/json"}, json.dumps({"ResourceArns": list(web_acl.associated_resources)})

    WAFV2Response.list_resources_for_web_acl = list_resources_for_web_acl


def rds_performance_insights() -> None:
    """A DB instance keeps its Performance Insights settings and reports them.

    AWS takes `EnablePerformanceInsights`, its KMS key and its retention on CreateDBInstance
    and ModifyDBInstance, and DescribeDBInstances reports them; moto dropped all three, so an
    instance always read as having it off. Turning it off clears the key and retention.
    """
    from moto.rds.models import DBInstance

    created = DBInstance.__init__
    updated = DBInstance.update

    def keep(self, kwargs):  # type: ignore[no-untyped-def]
        enabled = kwargs.pop("enable_performance_insights", None)
        if enabled is not None:
            self.performance_insights_enabled = bool(enabled)
        for key in ("performance_insights_kms_key_id", "performance_insights_retention_period"):
            value = kwargs.pop(key, None)
            if value is not None:
                setattr(self, key, value)
        if getattr(self, "performance_insights_enabled", None) is False:
            self.performance_insights_kms_key_id = None
            self.performance_insights_retention_period = None

    def init(self, backend, *args, **kwargs):  # type: ignore[no-untyped-def]
        pi = {k: kwargs.pop(k) for k in list(kwargs) if "performance_insights" in k}
        created(self, backend, *args, **kwargs)
        self.performance_insights_enabled = False
        keep(self, pi)

    def update(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        pi = {k: kwargs.pop(k) for k in list(kwargs) if "performance_insights" in k}
        updated(self, *args, **kwargs)
        keep(self, pi)

    DBInstance.__init__ = init
    DBInstance.update = update


def lambda_logging_config_and_key() -> None:
    """A function keeps its LoggingConfig, and UpdateFunctionConfiguration changes its key.

    AWS sends a function's logs to the group its LoggingConfig names and reports that
    config back; moto drops it, and ignores KMSKeyArn on update. Without this, a function
    logging to the stack's own group would show as drifted on every plan.
    """
    created = LambdaFunction.__init__
    configured = LambdaFunction.get_configuration
    update = LambdaFunction.update_configuration

    def init(self: LambdaFunction, account_id, spec, region, version=1):  # type: ignore[no-untyped-def]
        created(self, account_id, spec, region, version)
        self.logging_config = spec.get("LoggingConfig")

    def get_configuration(self: LambdaFunction, on_create: bool = False) -> dict:
        config = configured(self, on_create)
        if getattr(self, "logging_config", None):
            config["LoggingConfig"] = {"LogFormat": "Text", **self.logging_config}
        return config

    def update_configuration(self: LambdaFunction, config_updates: dict) -> dict:
        if "LoggingConfig" in config_updates:
            self.logging_config = config_updates["LoggingConfig"]
        if "KMSKeyArn" in config_updates:
            self.kms_key_arn = config_updates["KMSKeyArn"]
        return update(self, config_updates)

    LambdaFunction.__init__ = init
    LambdaFunction.get_configuration = get_configuration
    LambdaFunction.update_configuration = update_configuration


def tagging_index_lists_event_rules() -> None:
    """The Resource Groups Tagging API lists EventBridge rules with their tags.

    AWS's `GetResources` returns rules (`events:rule`) like any other tagged resource; moto
    lists only event buses. The rules' tags are the ones `TagResource` set, from the same
    tagger `ListTagsForResource` reads.
    """
    from moto.core.resource_tagging import TaggedResource
    from moto.events.models import EventsBackend

    buses_only = EventsBackend.iter_tagged_resources

    def iter_tagged_resources(self):  # type: ignore[no-untyped-def]
        yield from buses_only(self)
        for bus in self.event_buses.values():
            for rule in bus.rules.values():
                yield TaggedResource(
                    arn=rule.arn,
                    tags=self.tagger.get_tag_dict_for_resource(rule.arn),
                    resource_type="events:rule",
                )

    EventsBackend.iter_tagged_resources = iter_tagged_resources


def tagging_index_lists_rds_groups() -> None:
    """The Resource Groups Tagging API lists RDS subnet groups and cluster parameter groups.

    AWS indexes them (`rds:subgrp`, `rds:cluster-pg`) like clusters and instances; moto lists
    only clusters, instances, snapshots and proxies. Their tags are the ones
    `ListTagsForResource` returns.
    """
    from moto.core.resource_tagging import TaggedResource
    from moto.rds.models import RDSBackend

    listed = RDSBackend.iter_tagged_resources

    def iter_tagged_resources(self):  # type: ignore[no-untyped-def]
        yield from listed(self)
        groups = {"rds:subgrp": self.subnet_groups, "rds:cluster-pg": self.db_cluster_parameter_groups}
        for resource_type, resources in groups.items():
            for group in resources.values():
                yield TaggedResource(
                    arn=group.arn,
                    tags={tag["Key"]: tag["Value"] for tag in group.get_tags()},
                    resource_type=resource_type,
                )

    RDSBackend.iter_tagged_resources = iter_tagged_resources


def tagging_index_lists_cloud_map() -> None:
    """The Resource Groups Tagging API lists Cloud Map namespaces and services.

    AWS indexes them (`servicediscovery:namespace`, `servicediscovery:service`); moto's Cloud
    Map backend keeps their tags but takes no part in the index. A subclass that does is put
    in its place before any backend is made.
    """
    from moto.core.resource_tagging import TaggableResourcesMixin, TaggedResource
    from moto.servicediscovery import models

    class IndexedCloudMap(models.ServiceDiscoveryBackend, TaggableResourcesMixin):
        SERVICE_NAMESPACE = "servicediscovery"

        def iter_tagged_resources(self):  # type: ignore[no-untyped-def]
            kinds = {"servicediscovery:namespace": self.namespaces, "servicediscovery:service": self.services}
            for resource_type, resources in kinds.items():
                for resource in resources.values():
                    tags = self.tagger.get_tag_dict_for_resource(resource.arn)
                    yield TaggedResource(arn=resource.arn, tags=tags, resource_type=resource_type)

    # moto finds a service's URLs by its backend's module.
    IndexedCloudMap.__module__ = models.__name__
    models.servicediscovery_backends.backend = IndexedCloudMap


EXTENSIONS = [
    transit_gateway_attachment_creation_tags,
    transit_gateway_route_attachments,
    dynamodb_global_table_replicas,
    s3_versioning_configuration,
    s3_replication_rules_as_put,
    s3_bucket_policies_over_tls,
    s3_logging_grant_in_any_policy,
    secretsmanager_create_over_scheduled_deletion,
    route53_create_after_delete,
    wafv2_list_resources_for_web_acl,
    rds_performance_insights,
    lambda_logging_config_and_key,
    tagging_index_lists_event_rules,
    tagging_index_lists_rds_groups,
    tagging_index_lists_cloud_map,
]

if __name__ == "__main__":
    for extend in EXTENSIONS:
        extend()
    sys.exit(main(sys.argv[1:]))
