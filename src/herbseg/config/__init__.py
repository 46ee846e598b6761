"""The run config outside Snakemake: the schema's defaults, config errors, stage settings.

Lowest layer with io: imports nothing else from herbseg.
"""
