"""Built-in benchmarks: generate with a pipeline, then score with :mod:`avgen.metrics` (``avgen eval v2s``). They
sit above both, so the metrics never import the generation pipelines."""
