#!/usr/bin/env python3
"""CDK entry point (cdk.json runs it): `cdk synth` / `cdk deploy -c stage=prod ...`."""

from infra.app import build_app

if __name__ == "__main__":
    app, _ = build_app()
    app.synth()
