"""herbseg: leaf segmentation and leaf measurement of herbarium sheets.

The package holds all logic of the workflow; it never imports snakemake, so every stage can be
used and tested on its own.
"""

__version__ = "0.1.0"
