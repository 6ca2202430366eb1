"""fleet: the Device Fleet command line (local stack, bulk import/export, request-items)."""
