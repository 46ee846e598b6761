"""Figures, the report's galleries, the demo check and the result bundle (RO-Crate)."""
