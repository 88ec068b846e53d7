"""The AI scanner's model side: features, triple-barrier labels and training datasets (issue 11).

Layer: above marketdata/core/settings/domain, below signals/runtime/cli (see pyproject.toml).
"""
