"""The model catalog: models and voices as data files, validated by `schema.py`."""
