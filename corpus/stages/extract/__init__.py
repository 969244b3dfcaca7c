"""The extract stage: WARC records to documents (``stage.py``), the HTML extractors it
uses (``extractors.py``) and its accuracy scoring against the sample's truth (``score.py``)."""
