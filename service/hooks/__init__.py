"""CDS Hooks protocol layer: knows the spec, knows nothing clinical."""
