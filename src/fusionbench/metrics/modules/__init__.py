"""The evaluate modules shipped with fusionbench (see ``fusionbench.metrics.path``)."""
