"""The six stages, each a module of pure functions plus a thin `run(run)` that reads and writes through
the catalog: data_ingestion, data_preparation, preprocessing, feature_engineering, clustering,
model_training. `runner` runs them in order; `runs` holds the run's params snapshot.
"""
