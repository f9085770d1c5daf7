"""Pure decision functions: PatientFacts (+ draft orders) in, Recommendations out."""
