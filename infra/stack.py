"""The one stack: tables, cache network, layer, functions, HTTP API, schedules, alarms."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra import constants as c
from infra.api import FleetApi
from infra.bulkimport import BulkImport
from infra.config import StackConfig
from infra.functions import FleetFunctions
from infra.network import FleetNetwork
from infra.operations import FleetAlarms, FleetSchedules
from infra.tables import FleetTables

__all__ = ["DeviceFleetStack"]


class DeviceFleetStack(Stack):
    """Everything SPEC section 5 lists; ``config`` says which variant (stage, cache, issuer)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StackConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.tables = FleetTables(self, "Tables", config=config)
        self.network = FleetNetwork(self, "Network", config=config) if config.with_cache else None
        self.functions = FleetFunctions(
            self, "Functions", config=config, tables=self.tables, network=self.network
        )
        by_name = self.functions.by_name
        # Distributed import (infra/bulkimport.py); context bulkImport=false leaves it out.
        self.bulk_import = (
            BulkImport(
                self,
                "BulkImport",
                config=config,
                tables=self.tables,
                functions=self.functions,
                network=self.network,
            )
            if config.bulk_import
            else None
        )
        self.api = FleetApi(
            self,
            "Api",
            config=config,
            loader=by_name[c.LOADER.name],
            transfer=by_name[c.TRANSFER.name],
        )
        self.schedules = FleetSchedules(
            self,
            "Schedules",
            config=config,
            sweeper=by_name[c.SWEEPER.name],
            warmer=by_name[c.WARMER.name],
        )
        self.alarms = FleetAlarms(self, "Alarms", functions=by_name, tables=self.tables.by_name)
        self._outputs()

    def _outputs(self) -> None:
        CfnOutput(self, "ApiUrl", value=self.api.url, description="Base URL of the HTTP API")
        for definition_name, table in self.tables.by_name.items():
            CfnOutput(
                self,
                f"{definition_name.capitalize()}TableName",
                value=table.table_name,
                description=f"DynamoDB table {definition_name}",
            )
        if self.api.user_pool is not None and self.api.user_pool_client is not None:
            CfnOutput(self, "UserPoolId", value=self.api.user_pool.user_pool_id)
            CfnOutput(self, "UserPoolClientId", value=self.api.user_pool_client.user_pool_client_id)
        if self.network is not None:
            CfnOutput(self, "CacheEndpoint", value=self.network.cache.attr_endpoint_address)
