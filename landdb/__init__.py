"""landdb — the land database of Hạ Long: parcels, parties, rights and registered changes in PostGIS."""

__version__ = "0.1.0"
