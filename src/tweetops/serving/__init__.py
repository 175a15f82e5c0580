"""Answering with the model: the inference core, the per-process service, the prediction history, batch
inference, SageMaker's container contract, the FastAPI app and the server that runs it.
"""
