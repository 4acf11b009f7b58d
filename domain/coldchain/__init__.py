"""coldchain: the shared domain of the cold-chain pipeline.

The wire contract (`contract`, `topics`), the fleet model (`fleet`,
`categories`, `limits`), the rule engine (`engine`, `excursion`) and storage
names (`measurements`).
This package does no I/O: the adapters in coldchain_io (adapters/) and in the
deployable parts do.
"""
