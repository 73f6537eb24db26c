"""lm-eval task configs for FusionBench; pass this folder to ``lm_eval --include_path`` (see README.md)."""
