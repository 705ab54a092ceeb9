"""The Streamlit dashboard: pages render, the collector's query layer computes."""
