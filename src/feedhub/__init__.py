"""feedhub: a self-hosted feed aggregator and publisher."""

__version__ = "0.1.0"
