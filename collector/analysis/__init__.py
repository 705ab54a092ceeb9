"""Pure analyses over the model: topology, lineage, coupling, schemas, exports."""
