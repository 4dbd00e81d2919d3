"""Audio decoding, encoding and resampling with PyAV; no provider knowledge."""
