"""One module per workflow stage (the rule of the same name calls it).

Imports the layers below; never reporting, checks or the command line.
"""
