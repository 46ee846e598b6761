"""The synthetic herbarium: sheets, plants, damage and scales with exact truth.

Imports only herbseg.io, herbseg.config and herbseg.measurement.
"""
