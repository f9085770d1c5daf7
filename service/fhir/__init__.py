"""FHIR R4 → PatientFacts: knows FHIR and codes, knows no rules."""
