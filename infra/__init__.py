"""The CDK app of Device Fleet: one stack (``stack.py``) built from small constructs.

``constants.py`` holds every name and limit, ``config.py`` the context flags,
``bundling.py`` the Docker-free asset builds; ``app.py`` wires them for ``cdk synth``.
"""
