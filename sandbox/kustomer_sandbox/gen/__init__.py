"""Generators of the sandbox's data, one module per object family.

Each family module makes the record cores of its streams (ids and timestamps are assigned later
by :class:`kustomer_sandbox.data.Dataset`, which ties the families together) and builds their
JSON:API documents from a core and the record's own seeded RNG.
"""
