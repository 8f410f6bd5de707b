"""The company dictionary: one term, one definition, one aggregation rule, one name per system."""
