"""The six stages, in the order a run takes them. Imports nothing, so the CLI's parser can offer them
as choices without loading the pipeline."""

ORDER = ("data_ingestion", "data_preparation", "preprocessing", "feature_engineering", "clustering",
         "model_training")
