"""The networks: building, ImageNet weights, checkpoints and cards, data, inference.

Imports only the layers below it (io, config, measurement, synth).
"""
