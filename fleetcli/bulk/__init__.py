"""Bulk tools of the command line: import, export and apply, with their file formats."""
