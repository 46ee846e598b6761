"""File formats and file handling: images, masks, COCO, Darwin Core archives, atomic writes, logs.

The lowest layer: imports nothing else from herbseg.
"""
