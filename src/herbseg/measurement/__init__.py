"""Measuring masks: clean-up, traits, scales and rulers, metrics, colour refinement.

Imports only herbseg.io and herbseg.config.
"""
