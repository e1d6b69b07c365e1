"""The AWS emulator the tests run on: moto's server, with the project's extensions.

Each extension makes moto answer as AWS does where a test needs AWS's behaviour and moto
stores or answers something else. Each is small, named here, and listed with what it
emulates in docs/TESTING.md ("Emulator extensions"). Everything else is moto as released.

Run as moto_server is: python scripts/emulator.py -H 127.0.0.1 -p PORT
"""

import sys

from moto.core.responses import ActionResult
from moto.ec2.models.transit_gateway_route_tables import TransitGatewayRouteTableBackend
from moto.ec2.responses.transit_gateway_attachments import TransitGatewayAttachment
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


EXTENSIONS = [transit_gateway_attachment_creation_tags, transit_gateway_route_attachments]

if __name__ == "__main__":
    for extend in EXTENSIONS:
        extend()
    sys.exit(main(sys.argv[1:]))
