"""The four DynamoDB tables, built from ``fleet.tables`` (the one definition of their keys)."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct
from fleet.tables import ALL_TABLES, Attribute, Index, TableDef

from infra.config import StackConfig

__all__ = ["FleetTables", "construct_id"]

_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}


def construct_id(definition: TableDef) -> str:
    """``devices`` -> ``DevicesTable``: the table's construct id and logical-id prefix."""
    return definition.logical_name.capitalize() + "Table"


def _attribute(attribute: Attribute) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=attribute.name, type=_TYPES[attribute.type])


def _index_kwargs(index: Index) -> dict[str, Any]:
    """``add_global_secondary_index`` arguments for ``index``."""
    kwargs: dict[str, Any] = {
        "index_name": index.name,
        "partition_key": _attribute(index.partition),
        "sort_key": _attribute(index.sort) if index.sort else None,
    }
    if isinstance(index.projection, tuple):
        kwargs["projection_type"] = dynamodb.ProjectionType.INCLUDE
        kwargs["non_key_attributes"] = list(index.projection)
    else:
        kwargs["projection_type"] = getattr(dynamodb.ProjectionType, index.projection)
    return kwargs


class FleetTables(Construct):
    """On-demand, encrypted (AWS managed KMS key), PITR, TTL where the definition says.

    ``prod`` keeps its tables when the stack is deleted and refuses DeleteTable;
    ``dev`` tables go with the stack.
    """

    def __init__(self, scope: Construct, construct_id_: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id_)
        self.by_name: dict[str, dynamodb.Table] = {}
        for definition in ALL_TABLES:
            self.by_name[definition.logical_name] = self._table(definition, config)

    def _table(self, definition: TableDef, config: StackConfig) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            construct_id(definition),
            partition_key=_attribute(definition.partition),
            sort_key=_attribute(definition.sort) if definition.sort else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=definition.ttl_attribute,
            deletion_protection=config.is_prod,
            removal_policy=config.removal_policy,
        )
        for index in definition.indexes:
            table.add_global_secondary_index(**_index_kwargs(index))
        return table

    def table(self, definition: TableDef) -> dynamodb.Table:
        return self.by_name[definition.logical_name]

    def environment(self) -> dict[str, str]:
        """``DEVICES_TABLE`` etc. -> deployed table name, for every function."""
        return {d.env_var: self.table(d).table_name for d in ALL_TABLES}
