"""Bytes in and out: storage by URI (path, file://, https://, s3://), the table readers and writers,
and atomic file writes. Knows nothing of models, stages or HTTP.
"""
