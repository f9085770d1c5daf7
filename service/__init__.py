"""leukemia-cds: CDS Hooks 2.0 decision support for acute leukemia immunotherapy."""

__version__ = "0.1.0"
